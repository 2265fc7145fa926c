// Tests of the long-poll loop: cursor handling, backoff after failures, fatal errors and
// waking up when the browser comes back online.
import { describe, expect, it, vi } from "vitest";
import { ApiError, NetworkError } from "./api";
import { EventFeed, backoffDelay, eventsPath, type FeedState } from "./event-feed";
import type { FeedBatch, FeedEvent } from "./types";

const event = (cursor: number): FeedEvent => ({ cursor, type: "message", data: { id: `m${cursor}` }, created_at: 0 });

/** A poll function answering from a script of results; the poll after the last one stops the feed. */
function scripted(results: (FeedBatch | Error)[], feed: () => EventFeed) {
  const afters: number[] = [];
  const poll = vi.fn(async (after: number) => {
    const next = results.shift();
    if (next === undefined) {
      feed().stop();
      throw new DOMException("stopped", "AbortError");
    }
    afters.push(after);
    if (next instanceof Error) throw next;
    return next;
  });
  return { poll, afters };
}

describe("backoffDelay", () => {
  it("doubles from one second and stops at thirty", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(backoffDelay)).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
  });
});

describe("eventsPath", () => {
  it("asks for events after the cursor with a 25 second wait", () => {
    expect(eventsPath("s/1", 7)).toBe("/api/sessions/s%2F1/events?after=7&wait=25");
  });
});

describe("EventFeed", () => {
  it("resumes from the stored cursor and continues from each batch's cursor", async () => {
    let feed!: EventFeed;
    const batches: FeedBatch[] = [];
    const { poll, afters } = scripted(
      [{ events: [event(4), event(5)], cursor: 5 }, { events: [], cursor: 5 }, { events: [event(6)], cursor: 6 }],
      () => feed,
    );
    feed = new EventFeed({ after: 3, poll, onBatch: (b) => batches.push(b), onState: () => {} });
    await feed.start();
    expect(afters).toEqual([3, 5, 5]);
    expect(batches.map((b) => b.cursor)).toEqual([5, 6]);
    expect(feed.cursor).toBe(6);
  });

  it("backs off 1 s, 2 s, 4 s while failing, says it is reconnecting, and resumes from the same cursor", async () => {
    let feed!: EventFeed;
    const states: FeedState[] = [];
    const delays: number[] = [];
    const { poll, afters } = scripted(
      [new NetworkError(), new NetworkError(), new ApiError(502, null), { events: [event(9)], cursor: 9 }],
      () => feed,
    );
    feed = new EventFeed({
      after: 8,
      poll,
      onBatch: () => {},
      onState: (s) => states.push(s),
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    await feed.start();
    expect(delays).toEqual([1000, 2000, 4000]);
    expect(afters).toEqual([8, 8, 8, 8]);
    expect(states).toEqual(["reconnecting", "live"]);
  });

  it("starts the backoff over after a successful poll", async () => {
    let feed!: EventFeed;
    const delays: number[] = [];
    const { poll } = scripted(
      [new NetworkError(), new NetworkError(), { events: [], cursor: 0 }, new NetworkError(), { events: [], cursor: 0 }],
      () => feed,
    );
    feed = new EventFeed({ after: 0, poll, onBatch: () => {}, onState: () => {}, sleep: async (ms) => void delays.push(ms) });
    await feed.start();
    expect(delays).toEqual([1000, 2000, 1000]);
  });

  it("waits at least the server's Retry-After when rate limited", async () => {
    let feed!: EventFeed;
    const delays: number[] = [];
    const { poll } = scripted([new ApiError(429, null, 12), { events: [], cursor: 0 }], () => feed);
    feed = new EventFeed({ after: 0, poll, onBatch: () => {}, onState: () => {}, sleep: async (ms) => void delays.push(ms) });
    await feed.start();
    expect(delays).toEqual([12000]);
  });

  it("stops and reports a fatal error instead of retrying it", async () => {
    const gone = new ApiError(404, null);
    const poll = vi.fn(async () => Promise.reject(gone));
    const onFatal = vi.fn();
    const feed = new EventFeed({
      after: 0,
      poll,
      onBatch: () => {},
      onState: () => {},
      isFatal: (e) => e instanceof ApiError && e.status === 404,
      onFatal,
    });
    await feed.start();
    expect(poll).toHaveBeenCalledTimes(1);
    expect(onFatal).toHaveBeenCalledWith(gone);
  });

  it("waits while offline and polls again as soon as it is woken", async () => {
    let online = false;
    const states: FeedState[] = [];
    let feed!: EventFeed;
    const poll = vi.fn(async () => {
      if (poll.mock.calls.length > 1) {
        feed.stop();
        throw new DOMException("stopped", "AbortError");
      }
      return { events: [], cursor: 0 };
    });
    feed = new EventFeed({
      after: 0,
      poll,
      onBatch: () => {},
      onState: (s) => states.push(s),
      isOnline: () => online,
      sleep: (_ms, signal) =>
        new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve())),
    });
    const done = feed.start();
    await vi.waitFor(() => expect(states).toEqual(["offline"]));
    expect(poll).not.toHaveBeenCalled();
    online = true;
    feed.wake();
    await done;
    expect(poll).toHaveBeenCalledTimes(2);
    expect(states).toEqual(["offline", "live"]);
  });

  it("aborts the poll in flight when stopped", async () => {
    let signalSeen: AbortSignal | null = null;
    const feed = new EventFeed({
      after: 0,
      poll: (_after, signal) =>
        new Promise<FeedBatch>((_resolve, reject) => {
          signalSeen = signal;
          signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        }),
      onBatch: () => {},
      onState: () => {},
    });
    const done = feed.start();
    await vi.waitFor(() => expect(signalSeen).not.toBeNull());
    feed.stop();
    await done;
    expect(signalSeen!.aborted).toBe(true);
  });
});
