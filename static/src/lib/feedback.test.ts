// Tests of keeping ratings by target (newest change wins) and decoding `feedback` events.
import { describe, expect, it } from "vitest";
import { CONVERSATION, feedbackFromEventData, mergeRatings, ratingTarget } from "./feedback";
import type { Feedback } from "./types";

const rated = (rating: Partial<Feedback>, updatedAt: number): Feedback => ({
  comment: null,
  created_at: 1,
  updated_at: updatedAt,
  ...rating,
});

describe("mergeRatings", () => {
  it("keeps one rating per reply and one for the conversation, the latest change winning", () => {
    const merged = mergeRatings({}, [
      rated({ message_id: "b1", helpful: true }, 1),
      rated({ resolved: false }, 2),
      rated({ message_id: "b1", helpful: false, comment: "too vague" }, 3),
      rated({ message_id: "b2", helpful: true }, 4),
    ]);
    expect(Object.keys(merged).sort()).toEqual(["b1", "b2", CONVERSATION]);
    expect(merged.b1).toMatchObject({ helpful: false, comment: "too vague" });
    expect(merged[CONVERSATION]).toMatchObject({ resolved: false });
  });

  it("ignores an older copy that arrives late, and returns the same object when nothing came", () => {
    const now = mergeRatings({}, [rated({ message_id: "b1", helpful: false }, 5)]);
    expect(mergeRatings(now, [rated({ message_id: "b1", helpful: true }, 4)]).b1!.helpful).toBe(false);
    expect(mergeRatings(now, [])).toBe(now);
    expect(mergeRatings(now, undefined)).toBe(now);
  });

  it("names the target of a rating", () => {
    expect(ratingTarget(rated({ message_id: "b1", helpful: true }, 1))).toBe("b1");
    expect(ratingTarget(rated({ resolved: true }, 1))).toBe(CONVERSATION);
  });
});

describe("feedbackFromEventData", () => {
  it("reads a reply's rating and the conversation's, and nothing else", () => {
    expect(feedbackFromEventData({ message_id: "b1", helpful: false, comment: "old", created_at: 1, updated_at: 2 })).toEqual(
      { message_id: "b1", helpful: false, comment: "old", created_at: 1, updated_at: 2 },
    );
    expect(feedbackFromEventData({ resolved: true, comment: "  ", created_at: 1, updated_at: 1 })).toEqual({
      resolved: true,
      comment: null,
      created_at: 1,
      updated_at: 1,
    });
    expect(feedbackFromEventData({ message_id: "b1" })).toBeNull();
    expect(feedbackFromEventData({ status: "open" })).toBeNull();
    expect(feedbackFromEventData(null)).toBeNull();
  });
});
