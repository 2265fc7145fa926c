// A session's event feed followed by long-polling `GET /api/sessions/{id}/events`: resume
// from a cursor, hand each batch over, move the cursor, and on failure back off (1 s, 2 s,
// 4 s … at most 30 s, or longer when the server sends Retry-After) before resuming from the
// same cursor. Offline, it waits for `wake()` (the page's `online` event). Used by the chat
// and the agent inbox; what an event means is theirs to decide.
import { ApiError, isAbort } from "./api";
import type { FeedBatch } from "./types";

export const MAX_BACKOFF_MS = 30_000;
/** Seconds the server may hold a poll open (the API's maximum). */
export const LONG_POLL_SECONDS = 25;

/** The wait before retrying after `failures` consecutive failed polls (1-based). */
export function backoffDelay(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(failures - 1, 15));
}

export function eventsPath(sessionId: string, after: number, waitSeconds = LONG_POLL_SECONDS): string {
  return `/api/sessions/${encodeURIComponent(sessionId)}/events?after=${after}&wait=${waitSeconds}`;
}

export type FeedState = "live" | "reconnecting" | "offline";

export interface EventFeedOptions {
  /** Where to resume: the last cursor already applied. */
  after: number;
  poll(after: number, signal: AbortSignal): Promise<FeedBatch>;
  /** A batch with its new cursor; called only when something new arrived. */
  onBatch(batch: FeedBatch): void;
  onState(state: FeedState): void;
  /** Errors that end the feed instead of being retried (a session that is gone). */
  isFatal?(error: unknown): boolean;
  onFatal?(error: unknown): void;
  isOnline?(): boolean;
  /** Waits `ms`, or less when `signal` aborts; replaceable in tests. */
  sleep?(ms: number, signal: AbortSignal): Promise<void>;
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

export class EventFeed {
  private cursorValue: number;
  private stopped = true;
  private failures = 0;
  private pollAbort: AbortController | null = null;
  private sleepAbort: AbortController | null = null;
  private state: FeedState | null = null;
  private loop: Promise<void> | null = null;

  constructor(private readonly options: EventFeedOptions) {
    this.cursorValue = options.after;
  }

  get cursor(): number {
    return this.cursorValue;
  }

  /** Starts polling; the returned promise settles when the feed stops. */
  start(): Promise<void> {
    if (!this.stopped && this.loop) return this.loop;
    this.stopped = false;
    this.loop = this.run();
    return this.loop;
  }

  stop(): void {
    this.stopped = true;
    this.pollAbort?.abort();
    this.sleepAbort?.abort();
  }

  /** Cuts a backoff or an offline wait short (the browser came back online). */
  wake(): void {
    this.sleepAbort?.abort();
  }

  private setState(state: FeedState): void {
    if (state === this.state) return;
    this.state = state;
    this.options.onState(state);
  }

  private async pause(ms: number): Promise<void> {
    this.sleepAbort = new AbortController();
    await (this.options.sleep ?? defaultSleep)(ms, this.sleepAbort.signal);
    this.sleepAbort = null;
  }

  private async run(): Promise<void> {
    const isOnline = this.options.isOnline ?? (() => true);
    while (!this.stopped) {
      if (!isOnline()) {
        this.setState("offline");
        await this.pause(MAX_BACKOFF_MS);
        continue;
      }
      this.pollAbort = new AbortController();
      try {
        const batch = await this.options.poll(this.cursorValue, this.pollAbort.signal);
        if (this.stopped) break;
        this.failures = 0;
        this.setState("live");
        if (batch.events.length > 0 || batch.cursor > this.cursorValue) {
          this.cursorValue = Math.max(this.cursorValue, batch.cursor);
          this.options.onBatch({ events: batch.events, cursor: this.cursorValue });
        }
      } catch (error) {
        if (this.stopped || isAbort(error)) break;
        if (this.options.isFatal?.(error)) {
          this.stopped = true;
          this.options.onFatal?.(error);
          break;
        }
        this.failures += 1;
        this.setState(isOnline() ? "reconnecting" : "offline");
        const retryAfter = error instanceof ApiError && error.retryAfterSeconds ? error.retryAfterSeconds * 1000 : 0;
        await this.pause(Math.max(backoffDelay(this.failures), retryAfter));
      } finally {
        this.pollAbort = null;
      }
    }
  }
}
