// Tests of the agent inbox as rendered: sign-in from the URL fragment and back to the form
// on 401, the queue, the buttons following the ticket's status through claim and reply, and
// the visitor's ratings in the transcript.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { STAFF_TOKEN_KEY } from "../lib/staff-auth";
import type { Ticket } from "../lib/types";
import { FakeApi, feedback, json, message, problem } from "../test/fake-api";
import { byTestId, click, mount, typeInto } from "../test/render";
import { InboxApp } from "./InboxApp";

const jwt = (claims: Record<string, unknown>) =>
  `e30.${btoa(JSON.stringify(claims)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_")}.sig`;
const ANN = jwt({ sub: "agent:ann", role: "agent", exp: 9_999_999_999 });

let ticket: Ticket;
let api: FakeApi;

beforeEach(() => {
  sessionStorage.clear();
  history.replaceState(null, "", "/agent/");
  ticket = {
    id: "t1",
    session_id: "s1",
    status: "open",
    reason: "human_requested",
    intent: "refund",
    priority: "high",
    summary: "The visitor asked for a person.",
    opened_by: "visitor",
    assignee: null,
    resolution: null,
    created_at: 0,
    updated_at: 0,
    wait_seconds: 125,
  };
  api = new FakeApi();
  vi.stubGlobal("fetch", api.fetch);
  api.on("GET", /^\/api\/agent\/conversations\?status=/, (req) => {
    const status = new URL(req.url, "http://x").searchParams.get("status");
    return json({ status, conversations: ticket.status === status ? [{ session_id: "s1", ticket }] : [] });
  });
  api.on("GET", /^\/api\/agent\/conversations\/s1$/, () =>
    json({ session_id: "s1", session_status: "handed_off", visitor: { name: "Jane", email: null, locale: null }, ticket }),
  );
  api.on("GET", /^\/api\/sessions\/s1\/messages/, () =>
    json({ messages: [message("v1", "visitor", "I want a refund")], next_cursor: null }),
  );
  api.on("POST", /claim$/, () => {
    ticket = { ...ticket, status: "pending", assignee: "agent:ann" };
    return json({ ticket });
  });
  api.on("POST", /\/api\/agent\/conversations\/s1\/messages$/, (req) =>
    json({ message: message("a1", "agent", (req.body as { text: string }).text) }, 201),
  );
});

const button = (root: HTMLElement, id: string) => byTestId<HTMLButtonElement>(root, id);

describe("InboxApp", () => {
  it("asks for a token first, then shows the waiting queue", async () => {
    const root = mount(<InboxApp />);
    typeInto(byTestId(root, "signin-token"), ANN);
    click(byTestId(root, "signin-submit"));
    expect(sessionStorage.getItem(STAFF_TOKEN_KEY)).toBe(ANN);
    await vi.waitFor(() => expect(byTestId(root, "queue-item").dataset.sessionId).toBe("s1"));
    const item = byTestId(root, "queue-item").textContent!;
    expect(item).toContain("Asked for a person");
    expect(item).toContain("Refund");
    expect(item).toContain("high");
    expect(item).toContain("2 min");
    expect(item).toContain("The visitor asked for a person.");
    for (const status of ["open", "pending", "solved"]) expect(byTestId(root, `queue-tab-${status}`)).toBeTruthy();
  });

  it("takes the token from the URL fragment and removes it from the address bar", async () => {
    history.replaceState(null, "", `/agent/#token=${ANN}`);
    const root = mount(<InboxApp />);
    expect(location.hash).toBe("");
    await vi.waitFor(() => expect(byTestId(root, "queue-item")).toBeTruthy());
    expect(api.requests[0]!.headers.Authorization).toBe(`Bearer ${ANN}`);
  });

  it("goes back to the sign-in form with a message on 401", async () => {
    sessionStorage.setItem(STAFF_TOKEN_KEY, ANN);
    api.on("GET", /^\/api\/agent\/conversations\?status=/, () => problem(401, "expired"));
    const root = mount(<InboxApp />);
    await vi.waitFor(() => expect(byTestId(root, "signin-token")).toBeTruthy());
    expect(root.textContent).toContain("Please sign in again");
    expect(sessionStorage.getItem(STAFF_TOKEN_KEY)).toBeNull();
  });

  it("enables claim on a waiting ticket, then reply once claimed, and shows the status", async () => {
    sessionStorage.setItem(STAFF_TOKEN_KEY, ANN);
    const root = mount(<InboxApp />);
    await vi.waitFor(() => expect(byTestId(root, "queue-item")).toBeTruthy());
    click(byTestId(root, "queue-item"));
    await vi.waitFor(() => expect(byTestId(root, "ticket-status").textContent).toBe("open"));
    await vi.waitFor(() => expect(byTestId(root, "transcript").querySelector('[data-author="visitor"]')).not.toBeNull());
    expect(button(root, "claim-button").disabled).toBe(false);
    expect(byTestId<HTMLTextAreaElement>(root, "reply-input").disabled).toBe(true);
    click(button(root, "claim-button"));
    await vi.waitFor(() => expect(byTestId(root, "ticket-status").textContent).toBe("pending"));
    expect(button(root, "claim-button").disabled).toBe(true);
    const reply = byTestId<HTMLTextAreaElement>(root, "reply-input");
    expect(reply.disabled).toBe(false);
    typeInto(reply, "Hi Jane, I can help.");
    click(button(root, "reply-send"));
    await vi.waitFor(() => expect(byTestId(root, "transcript").querySelector('[data-author="agent"]')?.textContent).toContain("Hi Jane"));
    const sent = api.requestsTo("POST", /\/api\/agent\/conversations\/s1\/messages$/)[0]!;
    expect(sent.headers["Idempotency-Key"]).toBeTruthy();
    expect(sent.body).toEqual({ text: "Hi Jane, I can help." });
  });

  it("shows the visitor's ratings in the transcript, and changes of them live", async () => {
    sessionStorage.setItem(STAFF_TOKEN_KEY, ANN);
    api.on("GET", /^\/api\/sessions\/s1\/messages/, () =>
      json({
        messages: [
          message("v1", "visitor", "Refunds?"),
          message("b1", "bot", "Five days."),
          message("v2", "visitor", "Exchanges?"),
          message("b2", "bot", "Also five days."),
        ],
        next_cursor: null,
        feedback: [feedback({ message_id: "b1", helpful: false, comment: "Five days from when?" })],
      }),
    );
    const root = mount(<InboxApp />);
    await vi.waitFor(() => expect(byTestId(root, "queue-item")).toBeTruthy());
    click(byTestId(root, "queue-item"));
    await vi.waitFor(() => expect(byTestId(root, "reply-rating")).toBeTruthy());
    const transcript = byTestId(root, "transcript");
    const bots = () => Array.from(transcript.querySelectorAll<HTMLElement>('[data-testid="message"][data-author="bot"]'));
    const first = byTestId(bots()[0]!, "reply-rating");
    expect(first.dataset.helpful).toBe("false");
    expect(first.textContent).toContain("👎");
    expect(first.textContent).toContain("Not helpful");
    expect(first.textContent).toContain("Five days from when?");
    expect(bots()[1]!.querySelector('[data-testid="reply-rating"]')).toBeNull();
    expect(root.querySelector('[data-testid="conversation-rating"]')).toBeNull();
    api.pushEvents([
      { cursor: 1, type: "feedback", data: { ...feedback({ message_id: "b2", helpful: true }, 5) }, created_at: 5 },
      { cursor: 2, type: "feedback", data: { ...feedback({ resolved: true, comment: "Thanks!" }, 6) }, created_at: 6 },
    ]);
    await vi.waitFor(() => expect(byTestId(root, "conversation-rating").dataset.resolved).toBe("true"));
    expect(byTestId(root, "conversation-rating").textContent).toContain("solved their problem");
    expect(byTestId(root, "conversation-rating").textContent).toContain("Thanks!");
    const second = byTestId(bots()[1]!, "reply-rating");
    expect(second.dataset.helpful).toBe("true");
    expect(second.textContent).toContain("👍");
  });

  it("says someone else claimed it when the claim loses the race", async () => {
    sessionStorage.setItem(STAFF_TOKEN_KEY, ANN);
    api.on("POST", /claim$/, () => problem(409, "another agent has claimed this conversation"));
    const root = mount(<InboxApp />);
    await vi.waitFor(() => expect(byTestId(root, "queue-item")).toBeTruthy());
    click(byTestId(root, "queue-item"));
    await vi.waitFor(() => expect(button(root, "claim-button").disabled).toBe(false));
    click(button(root, "claim-button"));
    await vi.waitFor(() => expect(root.querySelector('[role="alert"]')?.textContent).toBe("Someone else claimed it."));
  });
});
