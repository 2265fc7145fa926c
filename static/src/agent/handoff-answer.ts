// What a solved handoff offers as a curated answer (an admin's "Save as curated answer" in the
// inbox): the visitor's question the ticket was opened on and the agent's first reply to it.
import type { Message, Ticket } from "../lib/types";

export interface HandoffAnswer {
  /** The visitor message's id (marked as addressed by the saved answer). */
  questionId: string;
  question: string;
  /** The agent's first reply after the question; empty when there was none. */
  answer: string;
}

function lastVisitorIndex(messages: readonly Message[], end: number, before: (m: Message) => boolean): number {
  for (let i = end - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.author === "visitor" && m.text.trim() !== "" && before(m)) return i;
  }
  return -1;
}

/**
 * The question and reply of a handoff, from its transcript (in order) and its ticket: the
 * visitor's last message at or before the ticket was opened, or, when no message is that
 * old (clocks, a transcript without times), the visitor's last message before the first
 * agent message. Null when there is no such visitor message.
 */
export function handoffAnswer(messages: readonly Message[], ticket: Pick<Ticket, "created_at">): HandoffAnswer | null {
  let at = lastVisitorIndex(messages, messages.length, (m) => m.created_at > 0 && m.created_at <= ticket.created_at);
  if (at < 0) {
    const firstAgent = messages.findIndex((m) => m.author === "agent");
    at = lastVisitorIndex(messages, firstAgent < 0 ? messages.length : firstAgent, () => true);
  }
  if (at < 0) return null;
  const question = messages[at]!;
  const reply = messages.slice(at + 1).find((m) => m.author === "agent" && m.text.trim() !== "");
  return { questionId: question.id, question: question.text.trim(), answer: reply?.text.trim() ?? "" };
}
