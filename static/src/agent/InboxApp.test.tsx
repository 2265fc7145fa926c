// Tests of the agent inbox as rendered: sign-in from the URL fragment and back to the form
// on 401, the queue, the buttons following the ticket's status through claim and reply, and
// the visitor's ratings in the transcript, and an admin's "Save as curated answer" on a solved
// handoff.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { STAFF_TOKEN_KEY } from "../lib/staff-auth";
import type { Ticket } from "../lib/types";
import { FakeApi, feedback, json, message, problem } from "../test/fake-api";
import { byTestId, click, mount, typeInto } from "../test/render";
import { CURATED_ADMIN_ONLY, InboxApp } from "./InboxApp";

const jwt = (claims: Record<string, unknown>) =>
  `e30.${btoa(JSON.stringify(claims)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_")}.sig`;
const ANN = jwt({ sub: "agent:ann", role: "agent", exp: 9_999_999_999 });
const ADA = jwt({ sub: "admin:ada", role: "admin", exp: 9_999_999_999 });

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

  describe("save as curated answer", () => {
    const SOLVED_TRANSCRIPT = [
      message("v1", "visitor", "Hi", { created_at: 10 }),
      message("b1", "bot", "Hello! How can I help?", { created_at: 11 }),
      message("v2", "visitor", "Can I return a gift without the receipt?", { created_at: 20 }),
      message("b2", "bot", "Let me get a person for you.", { created_at: 21 }),
      message("a1", "agent", "Yes — with the order number, within 30 days.", { created_at: 40 }),
      message("a2", "agent", "Anything else?", { created_at: 41 }),
    ];

    const openSolved = async (token: string, status: Ticket["status"] = "solved") => {
      ticket = { ...ticket, status, created_at: 25, assignee: "agent:ann", resolution: status === "solved" ? "resolved" : null };
      api.on("GET", /^\/api\/sessions\/s1\/messages/, () => json({ messages: SOLVED_TRANSCRIPT, next_cursor: null }));
      sessionStorage.setItem(STAFF_TOKEN_KEY, token);
      const root = mount(<InboxApp />);
      click(byTestId(root, `queue-tab-${status}`));
      await vi.waitFor(() => expect(byTestId(root, "queue-item")).toBeTruthy());
      click(byTestId(root, "queue-item"));
      await vi.waitFor(() => expect(byTestId(root, "ticket-status").textContent).toBe(status));
      await vi.waitFor(() => expect(byTestId(root, "transcript").querySelectorAll('[data-testid="message"]')).toHaveLength(6));
      return root;
    };

    const curatedAnswer = (question: string, answer: string) => ({
      document_id: "d1",
      question,
      answer,
      created_at: 50,
      updated_at: 50,
    });

    it("shows an admin, on a solved ticket, the editor prefilled with the question and the agent's reply, and saves it", async () => {
      api.on("POST", /^\/api\/kb\/curated$/, (req) => {
        const body = req.body as { question: string; answer: string };
        return json(
          { answer: curatedAnswer(body.question, body.answer), status: "created", document: {}, vector_index: "indexed", addressed: 1 },
          201,
        );
      });
      const root = await openSolved(ADA);
      const save = button(root, "save-curated");
      expect(save.textContent).toBe("Save as curated answer");
      expect(save.getAttribute("aria-expanded")).toBe("false");
      expect(root.querySelector('[data-testid="curated-question"]')).toBeNull();
      click(save);
      expect(save.getAttribute("aria-expanded")).toBe("true");
      const question = byTestId<HTMLInputElement>(root, "curated-question");
      const answer = byTestId<HTMLTextAreaElement>(root, "curated-answer");
      expect(question.value).toBe("Can I return a gift without the receipt?");
      expect(question.readOnly).toBe(false);
      expect(answer.value).toBe("Yes — with the order number, within 30 days.");
      expect(question.closest("label")!.textContent).toContain("Question");
      expect(answer.closest("label")!.textContent).toContain("Answer");
      typeInto(answer, "Yes — with the **order number**, within 30 days.\n");
      click(button(root, "curated-save"));

      await vi.waitFor(() => expect(byTestId(root, "curated-saved").textContent).toBe("Saved as a curated answer"));
      expect(byTestId(root, "curated-saved").getAttribute("role")).toBe("status");
      const posts = api.requestsTo("POST", /^\/api\/kb\/curated$/);
      expect(posts).toHaveLength(1);
      expect(posts[0]!.body).toEqual({
        question: "Can I return a gift without the receipt?",
        answer: "Yes — with the **order number**, within 30 days.",
        message_ids: ["v2"],
      });
      expect(posts[0]!.headers.Authorization).toBe(`Bearer ${ADA}`);
      expect(root.querySelector('[data-testid="curated-question"]')).toBeNull();
      expect(save.getAttribute("aria-expanded")).toBe("false");
    });

    it("shows a failed save inline and keeps the editor open", async () => {
      api.on("POST", /^\/api\/kb\/curated$/, () => problem(422, "answer: must not be blank"));
      const root = await openSolved(ADA);
      click(button(root, "save-curated"));
      click(button(root, "curated-save"));
      const form = () => byTestId(root, "curated-question").closest("form")!;
      await vi.waitFor(() => expect(form().querySelector('[role="alert"]')).not.toBeNull());
      expect(form().querySelector('[role="alert"]')!.textContent).not.toBe("");
      expect(root.querySelector('[data-testid="curated-saved"]')).toBeNull();
      expect(button(root, "curated-save").disabled).toBe(false);
    });

    it("says a 403 needs the admin role", async () => {
      api.on("POST", /^\/api\/kb\/curated$/, () => problem(403, "admin only"));
      const root = await openSolved(ADA);
      click(button(root, "save-curated"));
      click(button(root, "curated-save"));
      await vi.waitFor(() =>
        expect(byTestId(root, "curated-question").closest("form")!.querySelector('[role="alert"]')?.textContent).toBe(
          CURATED_ADMIN_ONLY,
        ),
      );
    });

    it("is not offered to an agent, nor on a ticket that is not solved", async () => {
      let root = await openSolved(ANN);
      expect(root.querySelector('[data-testid="save-curated"]')).toBeNull();
      root.remove();
      root = await openSolved(ADA, "pending");
      expect(root.querySelector('[data-testid="save-curated"]')).toBeNull();
      expect(api.requestsTo("POST", /curated/)).toHaveLength(0);
    });
  });
});
