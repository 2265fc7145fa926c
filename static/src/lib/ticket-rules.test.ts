// Tests of which inbox actions are enabled for a ticket, and of the queue's labels.
import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import { claimFailureMessage, formatWait, intentLabel, reasonLabel, ticketActions } from "./ticket-rules";

const ann = { subject: "agent:ann", role: "agent" };

describe("ticketActions", () => {
  it("lets anyone claim a waiting ticket but not reply to it", () => {
    expect(ticketActions({ status: "open", assignee: null }, ann)).toEqual({
      claim: true,
      reply: false,
      resolve: true,
      handback: true,
    });
  });

  it("lets the holder of a pending ticket reply, resolve and hand back, but not claim again", () => {
    expect(ticketActions({ status: "pending", assignee: "agent:ann" }, ann)).toEqual({
      claim: false,
      reply: true,
      resolve: true,
      handback: true,
    });
  });

  it("keeps another agent's pending ticket read-only", () => {
    expect(ticketActions({ status: "pending", assignee: "agent:bob" }, ann)).toEqual({
      claim: false,
      reply: false,
      resolve: false,
      handback: false,
    });
  });

  it("lets an admin close another agent's ticket without replying in their place", () => {
    const admin = { subject: "admin:zoe", role: "admin" };
    expect(ticketActions({ status: "pending", assignee: "agent:bob" }, admin)).toMatchObject({
      reply: false,
      resolve: true,
      handback: true,
    });
  });

  it("allows nothing on a solved ticket", () => {
    expect(ticketActions({ status: "solved", assignee: "agent:ann" }, ann)).toEqual({
      claim: false,
      reply: false,
      resolve: false,
      handback: false,
    });
  });

  it("leaves the decision to the server when the caller's subject is unknown", () => {
    expect(ticketActions({ status: "pending", assignee: "agent:bob" }, { subject: null, role: null }).reply).toBe(true);
  });
});

describe("labels", () => {
  it("names reasons and intents for people", () => {
    expect(reasonLabel("human_requested")).toBe("Asked for a person");
    expect(reasonLabel("something_new")).toBe("something new");
    expect(intentLabel("account_deletion")).toBe("Account deletion");
    expect(intentLabel(undefined)).toBeNull();
  });

  it("formats wait times", () => {
    expect(formatWait(42)).toBe("42 s");
    expect(formatWait(125)).toBe("2 min");
    expect(formatWait(3 * 3600 + 300)).toBe("3 h 5 min");
    expect(formatWait(7200)).toBe("2 h");
    expect(formatWait(2 * 86400 + 4 * 3600)).toBe("2 d 4 h");
  });
});

describe("claimFailureMessage", () => {
  it("says someone else claimed it on 409", () => {
    const problem = { type: "t", title: "Conflict", status: 409, detail: "another agent has claimed this conversation" };
    expect(claimFailureMessage(new ApiError(409, problem))).toBe("Someone else claimed it.");
    expect(claimFailureMessage(new ApiError(409, { ...problem, detail: "the conversation is resolved" }))).toBe(
      "This conversation is already resolved.",
    );
    expect(claimFailureMessage(new ApiError(500, null))).toBeNull();
  });
});
