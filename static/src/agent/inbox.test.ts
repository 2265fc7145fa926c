// Tests of the inbox's API calls and of following a conversation's transcript live.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../lib/api";
import { CONVERSATION, type Ratings } from "../lib/feedback";
import { FakeApi, feedback, json, message, problem } from "../test/fake-api";
import {
  claimConversation,
  getTranscript,
  handBackConversation,
  listQueue,
  pollEvents,
  replyToConversation,
  resolveConversation,
} from "./inbox-api";
import { TranscriptFollower } from "./transcript";
import type { Message } from "../lib/types";

let api: FakeApi;
beforeEach(() => {
  api = new FakeApi();
  vi.stubGlobal("fetch", api.fetch);
});

describe("inbox API", () => {
  it("lists a queue tab by ticket status with the agent's token", async () => {
    api.on("GET", /^\/api\/agent\/conversations\?status=pending$/, () => json({ status: "pending", conversations: [] }));
    await expect(listQueue("agent-tok", "pending")).resolves.toEqual({ status: "pending", conversations: [] });
    expect(api.requests[0]!.headers.Authorization).toBe("Bearer agent-tok");
  });

  it("posts claim, resolve and hand-back without a body", async () => {
    api.on("POST", /^\/api\/agent\/conversations\/s1\/(claim|resolve|handback)$/, () => json({ ticket: {} }));
    await claimConversation("t", "s1");
    await resolveConversation("t", "s1");
    await handBackConversation("t", "s1");
    expect(api.requests.map((r) => [r.method, r.url, r.body])).toEqual([
      ["POST", "/api/agent/conversations/s1/claim", undefined],
      ["POST", "/api/agent/conversations/s1/resolve", undefined],
      ["POST", "/api/agent/conversations/s1/handback", undefined],
    ]);
  });

  it("sends a reply with its Idempotency-Key", async () => {
    api.on("POST", /\/messages$/, () => json({ message: message("a1", "agent", "On it.") }, 201));
    await replyToConversation("t", "s1", "On it.", "reply-key");
    const [req] = api.requests;
    expect(req!.url).toBe("/api/agent/conversations/s1/messages");
    expect(req!.body).toEqual({ text: "On it." });
    expect(req!.headers["Idempotency-Key"]).toBe("reply-key");
  });

  it("loads the transcript in one page of 200", async () => {
    api.on("GET", /\/messages\?limit=200$/, () => json({ messages: [], next_cursor: null }));
    await getTranscript("t", "s1");
    expect(api.requests[0]!.url).toBe("/api/sessions/s1/messages?limit=200");
  });

  it("surfaces a lost claim race as a 409", async () => {
    api.on("POST", /claim$/, () => problem(409, "another agent has claimed this conversation"));
    const error = await claimConversation("t", "s1").catch((e: unknown) => e);
    expect((error as ApiError).status).toBe(409);
  });
});

describe("TranscriptFollower", () => {
  let follower: TranscriptFollower | null = null;
  afterEach(() => follower?.stop());

  function follow(onStatus = vi.fn(), onError = vi.fn()) {
    const shown: Message[][] = [];
    const rated: Ratings[] = [];
    follower = new TranscriptFollower(
      {
        transcript: () => getTranscript("t", "s1"),
        poll: (after, signal) => pollEvents("t", "s1", after, signal),
      },
      { onMessages: (m) => shown.push(m), onRatings: (r) => rated.push(r), onStatus, onState: () => {}, onError },
      { sleep: async () => {} },
    );
    return { shown, rated, onStatus, onError };
  }

  it("shows the transcript with citations, then new feed messages once each", async () => {
    const citation = { marker: 1, chunk_id: "c", document_id: "d", title: "Refunds", heading_path: [], source_url: null, quote: "q" };
    api.on("GET", /\/messages\?limit=200$/, () =>
      json({ messages: [message("v1", "visitor", "Hi"), message("b1", "bot", "Hello [1]", { citations: [citation] })], next_cursor: null }),
    );
    const { shown, onStatus } = follow();
    await follower!.start();
    expect(shown.at(-1)!.map((m) => m.id)).toEqual(["v1", "b1"]);
    expect(shown.at(-1)![1]!.citations[0]!.title).toBe("Refunds");
    api.pushEvents([
      { cursor: 1, type: "message", data: { ...message("v1", "visitor", "Hi") }, created_at: 1 },
      { cursor: 2, type: "message", data: { ...message("b1", "bot", "Hello [1]", { citations: [citation] }) }, created_at: 1 },
      { cursor: 3, type: "status", data: { status: "handed_off" }, created_at: 1 },
      { cursor: 4, type: "message", data: { ...message("v2", "visitor", "Still there?") }, created_at: 1 },
    ]);
    await vi.waitFor(() => expect(shown.at(-1)!.map((m) => m.id)).toEqual(["v1", "b1", "v2"]));
    expect(onStatus).toHaveBeenCalledWith({ status: "handed_off" });
    expect(api.requestsTo("GET", /events/)[0]!.url).toBe("/api/sessions/s1/events?after=0&wait=25");
  });

  it("shows the history's ratings, then the feed's new and changed ones", async () => {
    api.on("GET", /\/messages\?limit=200$/, () =>
      json({
        messages: [message("v1", "visitor", "Hi"), message("b1", "bot", "Hello"), message("b2", "bot", "Bye")],
        next_cursor: null,
        feedback: [feedback({ message_id: "b1", helpful: true })],
      }),
    );
    const { rated } = follow();
    await follower!.start();
    expect(rated).toHaveLength(1);
    expect(rated[0]!.b1).toMatchObject({ helpful: true });
    api.pushEvents([
      { cursor: 1, type: "feedback", data: { ...feedback({ message_id: "b1", helpful: false, comment: "vague" }, 5) }, created_at: 5 },
      { cursor: 2, type: "feedback", data: { ...feedback({ resolved: false }, 6) }, created_at: 6 },
    ]);
    await vi.waitFor(() => expect(rated).toHaveLength(2));
    expect(rated[1]!.b1).toMatchObject({ helpful: false, comment: "vague" });
    expect(rated[1]![CONVERSATION]).toMatchObject({ resolved: false });
  });

  it("reports an expired sign-in instead of retrying forever", async () => {
    api.on("GET", /\/messages\?limit=200$/, () => problem(401, "expired"));
    const { onError } = follow();
    await follower!.start();
    expect((onError.mock.calls[0]![0] as ApiError).status).toBe(401);
    expect(api.requestsTo("GET", /events/)).toHaveLength(0);
  });
});
