// What the chat shows, as plain data and pure transitions: the messages and notices in
// order, the turn being sent and streamed, and whether a person has the conversation.
// Messages are deduplicated by id (the turn's own answer, history and the event feed all
// deliver the same messages); while a turn streams, feed events are held back and applied
// when it ends, so the streamed reply is not shown twice or out of order. The visitor's
// stored ratings (of replies, and of the conversation) come from history, the feed and the
// rating calls' answers. The controller (controller.ts) does the I/O and calls these;
// components only render the result.
import { feedbackFromEventData, mergeRatings, type Ratings } from "../lib/feedback";
import { messageFromEventData } from "../lib/messages";
import type { Action, Citation, Feedback, FeedEvent, Message } from "../lib/types";

export type ChatItem =
  | { kind: "message"; key: string; message: Message; delivery?: "sending" | "failed" }
  | { kind: "notice"; key: string; text: string; offerHandoff: boolean; options?: string[] };

export interface ActiveTurn {
  /** The key of the visitor's message shown before the server stored it. */
  localId: string;
  /** Reused by every retry of this turn, so the server never answers it twice. */
  idempotencyKey: string;
  text: string;
  attachmentIds: string[];
  /** The stored visitor message's id, once the stream's `message` event said it. */
  visitorMessageId: string | null;
  /** The reply streamed so far. */
  reply: string;
  citations: Citation[];
  action: Action | null;
  /** The server sent a `notice` (no reply: a person has the conversation). */
  noticeShown: boolean;
  failed: boolean;
}

export interface ChatState {
  items: ChatItem[];
  turn: ActiveTurn | null;
  /** Feed events that arrived while the turn was streaming. */
  deferred: FeedEvent[];
  handedOff: boolean;
  noticeCount: number;
  /** The visitor's stored ratings, by target (a bot reply's id, or the conversation). */
  ratings: Ratings;
}

export const ESCALATED_NOTICE = "A person from our support team will take over this conversation and reply here.";
export const OFFER_HANDOFF_NOTICE = "I couldn't find a good answer to that. Would you like to talk to a person?";
export const CLARIFY_NOTICE = "Pick one, or say it in your own words:";
export const HANDED_OFF_NOTICE = "You're now connected with our support team. A person will reply here.";
export const RESOLVED_NOTICE = "Our support team marked this conversation as resolved. The assistant can help again.";
export const HANDED_BACK_NOTICE = "You're back with the assistant.";
export const CLOSED_NOTICE = "This conversation has ended.";

export function initialChat(): ChatState {
  return { items: [], turn: null, deferred: [], handedOff: false, noticeCount: 0, ratings: {} };
}

export function addNotice(state: ChatState, text: string, offerHandoff = false): ChatState {
  const key = `notice:${state.noticeCount + 1}`;
  return {
    ...state,
    noticeCount: state.noticeCount + 1,
    items: [...state.items, { kind: "notice", key, text, offerHandoff }],
  };
}

/** The notice a bot message's action calls for, if any. */
function actionNotice(message: Message, serverNotice: string | null): ChatItem | null {
  if (message.author !== "bot" || !message.action) return null;
  const key = `${message.id}:action`;
  switch (message.action.type) {
    case "escalate":
      return { kind: "notice", key, text: serverNotice ?? ESCALATED_NOTICE, offerHandoff: false };
    case "offer_handoff":
      return { kind: "notice", key, text: serverNotice ?? OFFER_HANDOFF_NOTICE, offerHandoff: true };
    case "clarify": {
      // With no titles to offer, the reply's own question is the whole prompt.
      const options = message.action.options ?? [];
      return options.length > 0 ? { kind: "notice", key, text: CLARIFY_NOTICE, offerHandoff: false, options } : null;
    }
    default:
      return serverNotice ? { kind: "notice", key, text: serverNotice, offerHandoff: false } : null;
  }
}

function isPendingVisitorCopy(item: ChatItem, message: Message): boolean {
  return (
    item.kind === "message" &&
    item.delivery !== undefined &&
    message.author === "visitor" &&
    item.message.author === "visitor" &&
    item.message.text.trim() === message.text.trim()
  );
}

/**
 * Adds a stored message: replaces the copy with the same id, or the visitor's not-yet-stored
 * copy of the same text; otherwise appends it with the notice its action calls for.
 */
export function addMessage(state: ChatState, message: Message, serverNotice: string | null = null): ChatState {
  const items = state.items.slice();
  const known = items.findIndex((i) => i.kind === "message" && i.message.id === message.id);
  if (known !== -1) {
    items[known] = { kind: "message", key: items[known]!.key, message };
    return { ...state, items };
  }
  const pending = items.findIndex((i) => isPendingVisitorCopy(i, message));
  if (pending !== -1) {
    items[pending] = { kind: "message", key: items[pending]!.key, message };
    return { ...state, items };
  }
  items.push({ kind: "message", key: message.id, message });
  const notice = actionNotice(message, serverNotice);
  if (notice) items.push(notice);
  const escalated = message.author === "bot" && message.action?.type === "escalate";
  return { ...state, items, handedOff: state.handedOff || escalated };
}

export function addMessages(state: ChatState, messages: readonly Message[]): ChatState {
  return messages.reduce((s, m) => addMessage(s, m), state);
}

/** A `status` event: a person took over, gave the conversation back, or it was closed. */
export function applyStatus(state: ChatState, data: Record<string, unknown>): ChatState {
  switch (data.status) {
    case "handed_off":
      return state.handedOff ? state : { ...addNotice(state, HANDED_OFF_NOTICE), handedOff: true };
    case "open":
      if (!state.handedOff) return state;
      return {
        ...addNotice(state, data.resolution === "handed_back" ? HANDED_BACK_NOTICE : RESOLVED_NOTICE),
        handedOff: false,
      };
    case "closed":
      return addNotice(state, CLOSED_NOTICE);
    default:
      return state;
  }
}

/** Stored ratings (history's `feedback`, a rating's answer, a `feedback` event). */
export function addRatings(state: ChatState, feedback: readonly Feedback[] | undefined): ChatState {
  const ratings = mergeRatings(state.ratings, feedback);
  return ratings === state.ratings ? state : { ...state, ratings };
}

function applyEvents(state: ChatState, events: readonly FeedEvent[]): ChatState {
  let next = state;
  for (const event of events) {
    if (event.type === "message") {
      const message = messageFromEventData(event.data);
      if (message) next = addMessage(next, message);
    } else if (event.type === "status") {
      next = applyStatus(next, event.data);
    } else if (event.type === "feedback") {
      const feedback = feedbackFromEventData(event.data);
      if (feedback) next = addRatings(next, [feedback]);
    }
  }
  return next;
}

/** Feed events: applied now, or held back while a turn is streaming. */
export function applyFeed(state: ChatState, events: readonly FeedEvent[]): ChatState {
  if (state.turn && !state.turn.failed) return { ...state, deferred: [...state.deferred, ...events] };
  return applyEvents(state, events);
}

function flushDeferred(state: ChatState): ChatState {
  const deferred = state.deferred;
  return applyEvents({ ...state, deferred: [] }, deferred);
}

export function startTurn(
  state: ChatState,
  turn: { localId: string; idempotencyKey: string; text: string; attachmentIds: string[]; now: number },
): ChatState {
  const optimistic: Message = {
    id: turn.localId,
    author: "visitor",
    text: turn.text,
    citations: [],
    action: null,
    reply_to: null,
    responder: null,
    created_at: turn.now,
  };
  return {
    ...state,
    items: [...state.items, { kind: "message", key: turn.localId, message: optimistic, delivery: "sending" }],
    turn: {
      localId: turn.localId,
      idempotencyKey: turn.idempotencyKey,
      text: turn.text,
      attachmentIds: turn.attachmentIds,
      visitorMessageId: null,
      reply: "",
      citations: [],
      action: null,
      noticeShown: false,
      failed: false,
    },
  };
}

function withTurn(state: ChatState, change: (turn: ActiveTurn) => Partial<ActiveTurn>): ChatState {
  return state.turn ? { ...state, turn: { ...state.turn, ...change(state.turn) } } : state;
}

/** The stream's `message` event: the visitor's message as stored. */
export function turnStored(state: ChatState, message: Message): ChatState {
  if (!state.turn) return addMessage(state, message);
  const localId = state.turn.localId;
  const items = state.items
    .filter((i) => !(i.kind === "message" && i.message.id === message.id && i.key !== localId))
    .map((i): ChatItem => (i.kind === "message" && i.key === localId ? { kind: "message", key: localId, message } : i));
  return withTurn({ ...state, items }, () => ({ visitorMessageId: message.id }));
}

export function turnToken(state: ChatState, text: string): ChatState {
  return withTurn(state, (t) => ({ reply: t.reply + text }));
}

export function turnCitations(state: ChatState, citations: Citation[]): ChatState {
  return withTurn(state, () => ({ citations }));
}

/** The stream's `notice` (no reply): shown now; a person has the conversation. */
export function turnNotice(state: ChatState, text: string): ChatState {
  return withTurn({ ...addNotice(state, text), handedOff: true }, () => ({ noticeShown: true }));
}

export function turnAction(state: ChatState, action: Action | null): ChatState {
  return withTurn(state, () => ({ action }));
}

/**
 * The stream's `done`: the stored reply replaces the streamed text, held events apply.
 * `serverNotice` is the JSON answer's `notice` (a stream sends it as its own event).
 */
export function finishTurn(state: ChatState, reply: Message | null, serverNotice: string | null = null): ChatState {
  const turn = state.turn;
  let next: ChatState = { ...state, turn: null };
  if (turn) {
    next = {
      ...next,
      items: next.items.map((i): ChatItem =>
        i.kind === "message" && i.key === turn.localId ? { kind: "message", key: i.key, message: i.message } : i,
      ),
    };
  }
  if (reply) next = addMessage(next, reply, serverNotice);
  const action = reply?.action ?? turn?.action ?? null;
  if (action && (action.type === "escalate" || action.type === "handed_off")) next = { ...next, handedOff: true };
  if (!reply && !turn?.noticeShown) {
    if (serverNotice) next = addNotice(next, serverNotice);
    else if (action?.type === "escalate") next = addNotice(next, ESCALATED_NOTICE);
    else if (action?.type === "handed_off") next = addNotice(next, HANDED_OFF_NOTICE);
  }
  return flushDeferred(next);
}

/** Sending failed; the visitor's message stays, marked, ready for `retryTurn`. */
export function failTurn(state: ChatState): ChatState {
  const turn = state.turn;
  if (!turn) return state;
  const items = state.items.map((i): ChatItem =>
    i.kind === "message" && i.key === turn.localId ? { ...i, delivery: "failed" } : i,
  );
  return flushDeferred({ ...state, items, turn: { ...turn, failed: true, reply: "", citations: [] } });
}

export function retryTurn(state: ChatState): ChatState {
  const turn = state.turn;
  if (!turn) return state;
  const items = state.items.map((i): ChatItem =>
    i.kind === "message" && i.key === turn.localId && i.delivery ? { ...i, delivery: "sending" } : i,
  );
  return { ...state, items, turn: { ...turn, failed: false, reply: "", citations: [], noticeShown: false } };
}

/** The turn is given up (its text goes back to the input): its unsent message disappears. */
export function abandonTurn(state: ChatState): ChatState {
  const turn = state.turn;
  if (!turn) return state;
  const items = state.items.filter((i) => !(i.kind === "message" && i.key === turn.localId && i.delivery));
  return flushDeferred({ ...state, items, turn: null });
}

/**
 * Whether "Did this solve your problem?" shows: the newest message is the bot's answer (not a
 * clarifying question, not its reply to a greeting), no message of the visitor is on its way, and no person has the
 * conversation.
 */
export function asksResolved(state: ChatState): boolean {
  if (state.turn || state.handedOff) return false;
  for (let i = state.items.length - 1; i >= 0; i--) {
    const item = state.items[i]!;
    if (item.kind !== "message" || item.message.author === "system") continue;
    const action = item.message.action;
    return (
      item.message.author === "bot" &&
      action?.type !== "clarify" &&
      !(action?.type === "small_talk" && action.kind === "greeting")
    );
  }
  return false;
}

/** Whether the typing indicator shows: a turn is waiting for its first token. */
export function isTyping(state: ChatState): boolean {
  return !!state.turn && !state.turn.failed && state.turn.reply === "" && !state.turn.noticeShown;
}

/** The reply being streamed, as a message to render after the items; null when none. */
export function streamingReply(state: ChatState): Message | null {
  const turn = state.turn;
  if (!turn || turn.failed || turn.reply === "") return null;
  return {
    id: `stream:${turn.localId}`,
    author: "bot",
    text: turn.reply,
    citations: turn.citations,
    action: null,
    reply_to: turn.visitorMessageId,
    responder: null,
    created_at: 0,
  };
}
