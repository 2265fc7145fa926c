// Message lists as the chat and the inbox transcript keep them: merged by message id, so a
// message seen twice (the turn's answer, then the event feed; history, then the feed) is
// shown once. Plus how citations are labelled.
import type { Citation, Message } from "./types";

/** `list` with `incoming` added in order; one whose id is already there replaces it in place. */
export function mergeMessages(list: readonly Message[], incoming: readonly Message[]): Message[] {
  const result = list.slice();
  const index = new Map(result.map((m, i) => [m.id, i]));
  for (const message of incoming) {
    const at = index.get(message.id);
    if (at === undefined) {
      index.set(message.id, result.length);
      result.push(message);
    } else {
      result[at] = message;
    }
  }
  return result;
}

/** A `message` event's data as a Message, or null when it is not one. */
export function messageFromEventData(data: unknown): Message | null {
  const m = data as Partial<Message> | null;
  if (!m || typeof m.id !== "string" || typeof m.author !== "string" || typeof m.text !== "string") return null;
  return {
    id: m.id,
    author: m.author,
    text: m.text,
    citations: Array.isArray(m.citations) ? m.citations : [],
    action: m.action ?? null,
    reply_to: m.reply_to ?? null,
    responder: m.responder ?? null,
    created_at: typeof m.created_at === "number" ? m.created_at : 0,
  };
}

/** "Billing › Refunds › Timing". */
export function headingPathLabel(citation: Pick<Citation, "heading_path">): string {
  return citation.heading_path.filter((h) => h.trim() !== "").join(" › ");
}
