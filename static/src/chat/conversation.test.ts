// Tests of the chat's state transitions: a streamed turn, dedupe against history and the
// event feed, notices for actions and status changes, failure and retry.
import { describe, expect, it } from "vitest";
import {
  CLARIFY_NOTICE,
  CLOSED_NOTICE,
  ESCALATED_NOTICE,
  HANDED_BACK_NOTICE,
  HANDED_OFF_NOTICE,
  OFFER_HANDOFF_NOTICE,
  RESOLVED_NOTICE,
  abandonTurn,
  addMessages,
  addRatings,
  applyFeed,
  applyStatus,
  asksResolved,
  failTurn,
  finishTurn,
  initialChat,
  isTyping,
  retryTurn,
  startTurn,
  streamingReply,
  turnAction,
  turnCitations,
  turnNotice,
  turnStored,
  turnToken,
  type ChatState,
} from "./conversation";
import { CONVERSATION } from "../lib/feedback";
import type { Citation, Feedback, FeedEvent, Message } from "../lib/types";

const message = (id: string, author: Message["author"], text: string, extra: Partial<Message> = {}): Message => ({
  id,
  author,
  text,
  citations: [],
  action: null,
  reply_to: null,
  responder: null,
  created_at: 1,
  ...extra,
});

const citation: Citation = {
  marker: 1,
  chunk_id: "c1",
  document_id: "d1",
  title: "Refund policy",
  heading_path: ["Billing", "Refunds"],
  source_url: null,
  quote: "Refunds take 5 days.",
};

const feedMessage = (cursor: number, m: Message): FeedEvent => ({ cursor, type: "message", data: { ...m }, created_at: 1 });
const feedStatus = (cursor: number, data: Record<string, unknown>): FeedEvent => ({ cursor, type: "status", data, created_at: 1 });

const feedRating = (cursor: number, f: Partial<Feedback> | Record<string, unknown>, updatedAt = cursor): FeedEvent => ({
  cursor,
  type: "feedback",
  data: { comment: null, created_at: 1, updated_at: updatedAt, ...f },
  created_at: 1,
});

function started(text = "How long do refunds take?"): ChatState {
  return startTurn(initialChat(), { localId: "local-1", idempotencyKey: "key-1", text, attachmentIds: [], now: 5 });
}

const texts = (s: ChatState) => s.items.map((i) => (i.kind === "message" ? `${i.message.author}:${i.message.text}` : `notice:${i.text}`));

describe("a streamed turn", () => {
  it("shows the visitor's message at once and the typing indicator until the first token", () => {
    let s = started();
    expect(texts(s)).toEqual(["visitor:How long do refunds take?"]);
    expect(s.items[0]).toMatchObject({ delivery: "sending" });
    expect(isTyping(s)).toBe(true);
    s = turnStored(s, message("v1", "visitor", "How long do refunds take?"));
    expect(isTyping(s)).toBe(true);
    s = turnToken(s, "Refunds ");
    expect(isTyping(s)).toBe(false);
    expect(streamingReply(s)?.text).toBe("Refunds ");
  });

  it("concatenates tokens, attaches citations, and ends with the stored reply shown once", () => {
    let s = started();
    s = turnStored(s, message("v1", "visitor", "How long do refunds take?"));
    s = turnToken(s, "Refunds ");
    s = turnToken(s, "take 5 days [1].");
    s = turnCitations(s, [citation]);
    expect(streamingReply(s)).toMatchObject({ text: "Refunds take 5 days [1].", citations: [citation] });
    s = turnAction(s, null);
    s = finishTurn(s, message("b1", "bot", "Refunds take 5 days [1].", { citations: [citation], reply_to: "v1" }));
    expect(streamingReply(s)).toBeNull();
    expect(texts(s)).toEqual(["visitor:How long do refunds take?", "bot:Refunds take 5 days [1]."]);
    expect(s.items[0]).not.toHaveProperty("delivery");
  });

  it("holds feed events back while streaming and dedupes them afterwards", () => {
    let s = started();
    const visitor = message("v1", "visitor", "How long do refunds take?");
    const bot = message("b1", "bot", "Five days.", { reply_to: "v1" });
    s = turnStored(s, visitor);
    s = applyFeed(s, [feedMessage(1, visitor), feedMessage(2, bot)]);
    expect(texts(s)).toEqual(["visitor:How long do refunds take?"]);
    s = turnToken(s, "Five days.");
    s = finishTurn(s, bot);
    expect(texts(s)).toEqual(["visitor:How long do refunds take?", "bot:Five days."]);
    expect(s.deferred).toEqual([]);
  });

  it("shows the server's notice and no reply when a person has the conversation", () => {
    let s = started("Hello?");
    s = turnStored(s, message("v1", "visitor", "Hello?"));
    s = turnNotice(s, "A support agent will answer you here.");
    expect(isTyping(s)).toBe(false);
    s = turnAction(s, { type: "handed_off" });
    s = finishTurn(s, null);
    expect(texts(s)).toEqual(["visitor:Hello?", "notice:A support agent will answer you here."]);
    expect(s.handedOff).toBe(true);
  });

  it("adds a handoff offer after a reply with offer_handoff", () => {
    let s = started("Do you sell boats?");
    s = turnToken(s, "I don't know.");
    s = finishTurn(s, message("b1", "bot", "I don't know.", { action: { type: "offer_handoff", reason: "not_in_knowledge_base" } }));
    const notice = s.items[2];
    expect(notice).toMatchObject({ kind: "notice", text: OFFER_HANDOFF_NOTICE, offerHandoff: true });
  });

  it("offers the options of a clarifying question", () => {
    let s = started("What does this library offer?");
    s = finishTurn(
      s,
      message("b1", "bot", "Which one do you mean: Sutro Library or California State Library?", {
        action: { type: "clarify", options: ["Sutro Library", "California State Library"] },
      }),
    );
    expect(s.items[2]).toMatchObject({
      kind: "notice",
      text: CLARIFY_NOTICE,
      offerHandoff: false,
      options: ["Sutro Library", "California State Library"],
    });
  });

  it("adds no notice to a clarifying question with nothing to pick", () => {
    let s = started("Does this animal have antlers?");
    s = finishTurn(
      s,
      message("b1", "bot", 'Could you tell me which one you mean by "this animal"?', {
        action: { type: "clarify", options: [] },
      }),
    );
    expect(s.items).toHaveLength(2);
  });

  it("says a person will take over after an escalating reply, and not again when the status event follows", () => {
    let s = started("I want a refund now!");
    s = turnToken(s, "Let me get someone.");
    s = applyFeed(s, [feedStatus(3, { status: "handed_off", reason: "frustration" })]);
    s = finishTurn(s, message("b1", "bot", "Let me get someone.", { action: { type: "escalate", reason: "frustration" } }));
    expect(texts(s).filter((t) => t.startsWith("notice:"))).toEqual([`notice:${ESCALATED_NOTICE}`]);
    expect(s.handedOff).toBe(true);
  });

  it("uses the JSON answer's notice text when it has one", () => {
    let s = started();
    s = finishTurn(s, message("b1", "bot", "Connecting you.", { action: { type: "escalate" } }), "Ann will be with you shortly.");
    expect(texts(s)).toContain("notice:Ann will be with you shortly.");
  });
});

describe("failure and retry", () => {
  it("keeps a failed message marked, and a retry keeps the same idempotency key", () => {
    let s = started();
    s = turnToken(s, "Refu");
    s = failTurn(s);
    expect(s.items[0]).toMatchObject({ delivery: "failed" });
    expect(streamingReply(s)).toBeNull();
    expect(isTyping(s)).toBe(false);
    s = retryTurn(s);
    expect(s.turn?.idempotencyKey).toBe("key-1");
    expect(s.items[0]).toMatchObject({ delivery: "sending" });
    expect(isTyping(s)).toBe(true);
  });

  it("applies feed events at once while a turn has failed, matching the unsent copy by text", () => {
    let s = failTurn(started("Hi there"));
    s = applyFeed(s, [feedMessage(1, message("v9", "visitor", "Hi there"))]);
    expect(s.items).toHaveLength(1);
    expect(s.items[0]).toMatchObject({ key: "local-1", message: { id: "v9" } });
    expect(s.items[0]).not.toHaveProperty("delivery");
  });

  it("removes an abandoned turn's message", () => {
    const s = abandonTurn(started());
    expect(s.items).toEqual([]);
    expect(s.turn).toBeNull();
  });
});

describe("history and the event feed", () => {
  it("shows each message once whether it came from history or the feed", () => {
    let s = addMessages(initialChat(), [message("v1", "visitor", "Hi"), message("b1", "bot", "Hello!")]);
    s = applyFeed(s, [feedMessage(1, message("v1", "visitor", "Hi")), feedMessage(2, message("b1", "bot", "Hello!")), feedMessage(3, message("a1", "agent", "Ann here."))]);
    expect(texts(s)).toEqual(["visitor:Hi", "bot:Hello!", "agent:Ann here."]);
  });

  it("re-creates action notices for history messages", () => {
    const s = addMessages(initialChat(), [message("b1", "bot", "Hmm.", { action: { type: "offer_handoff" } })]);
    expect(s.items[1]).toMatchObject({ kind: "notice", offerHandoff: true });
  });

  it("announces a handoff, a resolution and a hand-back once each", () => {
    let s = applyStatus(initialChat(), { status: "handed_off" });
    s = applyStatus(s, { status: "handed_off" });
    expect(texts(s)).toEqual([`notice:${HANDED_OFF_NOTICE}`]);
    s = applyStatus(s, { status: "open", resolution: "resolved" });
    s = applyStatus(s, { status: "open", resolution: "resolved" });
    expect(texts(s)).toEqual([`notice:${HANDED_OFF_NOTICE}`, `notice:${RESOLVED_NOTICE}`]);
    s = applyStatus(applyStatus(s, { status: "handed_off" }), { status: "open", resolution: "handed_back" });
    expect(texts(s).at(-1)).toBe(`notice:${HANDED_BACK_NOTICE}`);
    expect(texts(applyStatus(s, { status: "closed" })).at(-1)).toBe(`notice:${CLOSED_NOTICE}`);
  });

  it("gives every notice its own key", () => {
    let s = applyStatus(initialChat(), { status: "closed" });
    s = applyStatus(s, { status: "closed" });
    expect(new Set(s.items.map((i) => i.key)).size).toBe(2);
  });
});

describe("ratings", () => {
  const answered = () => addMessages(initialChat(), [message("v1", "visitor", "Refunds?"), message("b1", "bot", "Five days.")]);

  it("keeps history's ratings and the feed's changes by target", () => {
    let s = addRatings(answered(), [
      { message_id: "b1", helpful: true, comment: null, created_at: 1, updated_at: 1 },
      { resolved: false, comment: "still broken", created_at: 2, updated_at: 2 },
    ]);
    expect(s.ratings.b1).toMatchObject({ helpful: true });
    expect(s.ratings[CONVERSATION]).toMatchObject({ resolved: false, comment: "still broken" });
    s = applyFeed(s, [feedRating(7, { message_id: "b1", helpful: false, comment: "vague" }), feedRating(8, { nonsense: 1 })]);
    expect(s.ratings.b1).toMatchObject({ helpful: false, comment: "vague" });
    expect(Object.keys(s.ratings)).toHaveLength(2);
  });

  it("holds a feed rating back while a turn streams, like any event", () => {
    let s = startTurn(answered(), { localId: "local-2", idempotencyKey: "k", text: "More?", attachmentIds: [], now: 5 });
    s = applyFeed(s, [feedRating(3, { message_id: "b1", helpful: true })]);
    expect(s.ratings).toEqual({});
    s = finishTurn(s, message("b2", "bot", "Sure."));
    expect(s.ratings.b1).toMatchObject({ helpful: true });
  });
});

describe("asksResolved", () => {
  it("asks once the newest message is the bot's answer", () => {
    expect(asksResolved(initialChat())).toBe(false);
    expect(asksResolved(addMessages(initialChat(), [message("v1", "visitor", "Hi")]))).toBe(false);
    const answered = addMessages(initialChat(), [message("v1", "visitor", "Hi"), message("b1", "bot", "Hello!")]);
    expect(asksResolved(answered)).toBe(true);
    expect(asksResolved(addMessages(answered, [message("y1", "system", "Ticket opened")]))).toBe(true);
  });

  it("does not ask while a reply is on its way, after a clarifying question or a greeting, or with a person", () => {
    const answered = addMessages(initialChat(), [message("v1", "visitor", "Hi"), message("b1", "bot", "Hello!")]);
    const pending = startTurn(answered, { localId: "local-2", idempotencyKey: "k", text: "More?", attachmentIds: [], now: 5 });
    expect(asksResolved(pending)).toBe(false);
    expect(asksResolved(turnToken(pending, "Su"))).toBe(false);
    expect(asksResolved(finishTurn(turnToken(pending, "Sure."), message("b2", "bot", "Sure.")))).toBe(true);
    const clarify = addMessages(answered, [
      message("v2", "visitor", "The library?"),
      message("b2", "bot", "Which one?", { action: { type: "clarify", options: ["A", "B"] } }),
    ]);
    expect(asksResolved(clarify)).toBe(false);
    const greeted = addMessages(initialChat(), [
      message("v1", "visitor", "Hi there!"),
      message("b1", "bot", "Hello! What can I help you with?", { action: { type: "small_talk", kind: "greeting" } }),
    ]);
    expect(asksResolved(greeted)).toBe(false);
    const thanked = addMessages(answered, [
      message("v2", "visitor", "Thanks!"),
      message("b2", "bot", "You're welcome!", { action: { type: "small_talk", kind: "thanks" } }),
    ]);
    expect(asksResolved(thanked)).toBe(true);
    expect(asksResolved(applyStatus(answered, { status: "handed_off" }))).toBe(false);
    const handedBack = applyStatus(applyStatus(answered, { status: "handed_off" }), { status: "open", resolution: "handed_back" });
    expect(asksResolved(handedBack)).toBe(true);
    expect(asksResolved(addMessages(handedBack, [message("a1", "agent", "Bye!")]))).toBe(false);
  });
});
