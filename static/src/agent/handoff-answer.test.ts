// Tests of what a solved handoff offers as a curated answer: the visitor's question the ticket
// was opened on and the agent's first reply to it.
import { describe, expect, it } from "vitest";
import { message } from "../test/fake-api";
import { handoffAnswer } from "./handoff-answer";

describe("handoffAnswer", () => {
  it("takes the visitor's last message before the ticket opened and the agent's first reply after it", () => {
    const messages = [
      message("v1", "visitor", "Hi", { created_at: 10 }),
      message("b1", "bot", "Hello!", { created_at: 11 }),
      message("v2", "visitor", "  Can I return a gift without the receipt?  ", { created_at: 20 }),
      message("s1", "system", "An agent will join shortly.", { created_at: 21 }),
      message("v3", "visitor", "Hello?", { created_at: 40 }),
      message("a1", "agent", "Yes, with the order number.\n", { created_at: 50 }),
      message("a2", "agent", "Anything else?", { created_at: 51 }),
    ];
    expect(handoffAnswer(messages, { created_at: 25 })).toEqual({
      questionId: "v2",
      question: "Can I return a gift without the receipt?",
      answer: "Yes, with the order number.",
    });
  });

  it("falls back to the visitor's last message before the first agent message", () => {
    const messages = [
      message("v1", "visitor", "Refunds?", { created_at: 100 }),
      message("v2", "visitor", "Do you refund shipping?", { created_at: 101 }),
      message("a1", "agent", "Only for damaged items.", { created_at: 102 }),
      message("v3", "visitor", "Thanks", { created_at: 103 }),
    ];
    expect(handoffAnswer(messages, { created_at: 0 })).toEqual({
      questionId: "v2",
      question: "Do you refund shipping?",
      answer: "Only for damaged items.",
    });
  });

  it("leaves the answer empty without an agent reply, and finds nothing without a visitor message", () => {
    expect(handoffAnswer([message("v1", "visitor", "Help", { created_at: 5 })], { created_at: 6 })).toEqual({
      questionId: "v1",
      question: "Help",
      answer: "",
    });
    expect(handoffAnswer([message("b1", "bot", "Hi"), message("a1", "agent", "Hello")], { created_at: 6 })).toBeNull();
    expect(handoffAnswer([], { created_at: 6 })).toBeNull();
  });
});
