// The agent inbox's calls to the handoff API (`/api/agent/conversations…`) and the session
// transcript, each with the agent's bearer token.
import { apiJson } from "../lib/api";
import type { Conversation, FeedBatch, Message, MessagePage, Queue, Solved, Ticket, TicketStatus } from "../lib/types";
import { eventsPath } from "../lib/event-feed";

/** The whole transcript in one page (the API's maximum). */
export const TRANSCRIPT_LIMIT = 200;

const conversationPath = (sessionId: string, action = "") =>
  `/api/agent/conversations/${encodeURIComponent(sessionId)}${action ? `/${action}` : ""}`;

export function listQueue(token: string, status: TicketStatus, signal?: AbortSignal): Promise<Queue> {
  return apiJson<Queue>(`/api/agent/conversations?status=${status}`, { token, ...(signal ? { signal } : {}) });
}

export function getConversation(token: string, sessionId: string): Promise<Conversation> {
  return apiJson<Conversation>(conversationPath(sessionId), { token });
}

export function getTranscript(token: string, sessionId: string): Promise<MessagePage> {
  return apiJson<MessagePage>(
    `/api/sessions/${encodeURIComponent(sessionId)}/messages?limit=${TRANSCRIPT_LIMIT}`,
    { token },
  );
}

export function pollEvents(token: string, sessionId: string, after: number, signal: AbortSignal): Promise<FeedBatch> {
  return apiJson<FeedBatch>(eventsPath(sessionId, after), { token, signal });
}

export function claimConversation(token: string, sessionId: string): Promise<{ ticket: Ticket }> {
  return apiJson(conversationPath(sessionId, "claim"), { method: "POST", token });
}

/** The agent's reply; retries of one reply reuse its `idempotencyKey`. */
export function replyToConversation(
  token: string,
  sessionId: string,
  text: string,
  idempotencyKey: string,
): Promise<{ message: Message }> {
  return apiJson(conversationPath(sessionId, "messages"), { method: "POST", token, json: { text }, idempotencyKey });
}

export function resolveConversation(token: string, sessionId: string): Promise<Solved> {
  return apiJson(conversationPath(sessionId, "resolve"), { method: "POST", token });
}

export function handBackConversation(token: string, sessionId: string): Promise<Solved> {
  return apiJson(conversationPath(sessionId, "handback"), { method: "POST", token });
}
