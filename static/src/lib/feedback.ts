// The visitor's ratings as the chat and the inbox transcript keep them: one per target (a
// bot reply's id, or the conversation), the most recently changed one winning, whether it
// came from history, a PUT's answer or a `feedback` event of the session feed.
import type { Feedback } from "./types";

/** The target key of the conversation's rating ("did this solve your problem?"). */
export const CONVERSATION = "conversation";

/** Ratings by target: a bot reply's message id, or `CONVERSATION`. */
export type Ratings = Readonly<Record<string, Feedback>>;

/** What a rating is about: the rated reply's id, or `CONVERSATION`. */
export function ratingTarget(feedback: Feedback): string {
  return feedback.message_id ?? CONVERSATION;
}

/** `ratings` with `incoming` added in order; an older copy of a stored rating is ignored. */
export function mergeRatings(ratings: Ratings, incoming: readonly Feedback[] | undefined): Ratings {
  if (!incoming || incoming.length === 0) return ratings;
  const result: Record<string, Feedback> = { ...ratings };
  for (const feedback of incoming) {
    const target = ratingTarget(feedback);
    const known = result[target];
    if (!known || feedback.updated_at >= known.updated_at) result[target] = feedback;
  }
  return result;
}

/** A `feedback` event's data as a Feedback, or null when it is not one. */
export function feedbackFromEventData(data: unknown): Feedback | null {
  const f = data as Partial<Feedback> | null;
  if (!f || typeof f !== "object") return null;
  const reply = typeof f.message_id === "string" && typeof f.helpful === "boolean";
  const conversation = f.message_id == null && typeof f.resolved === "boolean";
  if (!reply && !conversation) return null;
  return {
    ...(reply ? { message_id: f.message_id!, helpful: f.helpful! } : { resolved: f.resolved! }),
    comment: typeof f.comment === "string" && f.comment.trim() !== "" ? f.comment : null,
    created_at: typeof f.created_at === "number" ? f.created_at : 0,
    updated_at: typeof f.updated_at === "number" ? f.updated_at : 0,
  };
}
