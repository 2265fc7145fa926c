// Tests of message merging (dedupe by id) and event-data decoding.
import { describe, expect, it } from "vitest";
import { headingPathLabel, mergeMessages, messageFromEventData } from "./messages";
import type { Message } from "./types";

const msg = (id: string, text = id): Message => ({
  id,
  author: "bot",
  text,
  citations: [],
  action: null,
  reply_to: null,
  responder: null,
  created_at: 0,
});

describe("mergeMessages", () => {
  it("shows a message delivered twice only once", () => {
    const merged = mergeMessages([msg("a"), msg("b")], [msg("b"), msg("c")]);
    expect(merged.map((m) => m.id)).toEqual(["a", "b", "c"]);
  });

  it("replaces a known message in place with its newer copy", () => {
    const merged = mergeMessages([msg("a", "old"), msg("b")], [msg("a", "new")]);
    expect(merged.map((m) => m.text)).toEqual(["new", "b"]);
  });

  it("dedupes within one batch too", () => {
    expect(mergeMessages([], [msg("a"), msg("a")])).toHaveLength(1);
  });
});

describe("messageFromEventData", () => {
  it("accepts a stored message and fills optional fields", () => {
    expect(messageFromEventData({ id: "m1", author: "agent", text: "Hi" })).toEqual({
      ...msg("m1", "Hi"),
      author: "agent",
    });
  });

  it("rejects data that is not a message", () => {
    expect(messageFromEventData({ status: "open" })).toBeNull();
    expect(messageFromEventData(null)).toBeNull();
  });
});

describe("headingPathLabel", () => {
  it("joins headings with a chevron", () => {
    expect(headingPathLabel({ heading_path: ["Billing", "Refunds", ""] })).toBe("Billing › Refunds");
  });
});
