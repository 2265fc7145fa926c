// Tests of the chat page as rendered: the selector contract's test ids and roles, a
// streamed answer with citations, Enter versus Shift+Enter, errors as alerts, and rating
// replies and the conversation.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { storageKey } from "../lib/session-store";
import type { Feedback, Message } from "../lib/types";
import { FakeApi, echoRating, feedback, json, message, problem, sse } from "../test/fake-api";
import { allByTestId, byTestId, click, mount, pressKey, typeInto } from "../test/render";
import { ChatApp, initials } from "./ChatApp";

const citation = {
  marker: 1,
  chunk_id: "c1",
  document_id: "d1",
  title: "Refund policy",
  heading_path: ["Billing", "Refunds"],
  source_url: "https://help.example/refunds",
  quote: "Refunds take 5 days.",
};

let api: FakeApi;
beforeEach(() => {
  localStorage.clear();
  api = new FakeApi();
  vi.stubGlobal("fetch", api.fetch);
  api.on("POST", /^\/api\/sessions$/, () =>
    json({ session: { id: "s1", status: "open", visitor: { id: "v" }, created_at: 0, updated_at: 0 }, token: "tok", expires_at: Date.now() + 3600_000 }, 201),
  );
});

async function ready(embedded = false) {
  const root = mount(<ChatApp widgetKey="wk_demo" embedded={embedded} />);
  await vi.waitFor(() => expect(api.requestsTo("GET", /events/)).toHaveLength(1));
  return root;
}

describe("ChatApp", () => {
  it("renders the controls of the selector contract with labels and an accessible log", async () => {
    const root = await ready();
    for (const id of ["chat-input", "chat-send", "file-input", "connection-status", "handoff-button"]) {
      expect(byTestId(root, id)).toBeTruthy();
    }
    expect(byTestId(root, "file-input").getAttribute("type")).toBe("file");
    expect(byTestId(root, "chat-input").tagName).toBe("TEXTAREA");
    expect(byTestId(root, "chat-input").getAttribute("aria-label")).toBe("Message");
    expect(byTestId(root, "chat-send").getAttribute("aria-label")).toBe("Send");
    const log = root.querySelector('[role="log"]')!;
    expect(log.getAttribute("aria-live")).toBe("polite");
    expect(allByTestId(root, "handoff-button")).toHaveLength(1);
    expect(root.querySelector('[aria-label="Close chat"]')).toBeNull();
  });

  it("names the company the page was given, and no company without one", async () => {
    const root = await ready();
    expect(root.querySelector("h1")!.textContent).toBe("Support");
    expect(root.textContent).not.toContain("Demo Company");
    const named = mount(<ChatApp widgetKey="wk_demo" embedded={false} company="Northwind Gadgets" />);
    expect(named.querySelector("h1")!.textContent).toBe("Northwind Gadgets support");
    expect(named.querySelector(".chat__avatar")!.textContent).toBe("NG");
    expect(initials("  ")).toBe("?");
    expect(initials("3M")).toBe("?");
    expect(initials("émile & fils")).toBe("ÉF");
  });

  it("shows a close button only when embedded in the widget", async () => {
    const root = await ready(true);
    expect(root.querySelector('[aria-label="Close chat"]')).not.toBeNull();
  });

  it("sends on Enter, streams the answer into a bot message, and lists its citations", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    api.on("POST", /\/messages$/, async () => {
      await gate;
      return sse([
        ["message", message("v1", "visitor", "Refunds?")],
        ["token", { text: "Refunds take " }],
        ["token", { text: "5 days [1]. <script>alert(1)</script>" }],
        ["citations", { citations: [citation] }],
        ["action", { action: null }],
        ["done", { reply: message("b1", "bot", "Refunds take 5 days [1]. <script>alert(1)</script>", { citations: [citation] }), degraded: false }],
      ]);
    });
    const root = await ready();
    const input = byTestId<HTMLTextAreaElement>(root, "chat-input");
    typeInto(input, "Refunds?");
    pressKey(input, "Enter");
    await vi.waitFor(() => expect(byTestId(root, "typing-indicator")).toBeTruthy());
    expect(root.querySelector('[data-testid="message"][data-author="visitor"]')!.textContent).toContain("Refunds?");
    release();
    await vi.waitFor(() => expect(root.querySelector('[data-testid="message"][data-author="bot"]')?.textContent).toContain("Refunds take 5 days"));
    await vi.waitFor(() => expect(root.querySelector('[data-testid="typing-indicator"]')).toBeNull());
    const bot = root.querySelector('[data-testid="message"][data-author="bot"]')!;
    expect(bot.querySelector("script")).toBeNull();
    const cite = byTestId(bot, "citation");
    expect(cite.textContent).toContain("Refund policy");
    expect(cite.textContent).toContain("Billing › Refunds");
    expect(cite.textContent).toContain("Refunds take 5 days.");
    expect(cite.querySelector("a")!.getAttribute("rel")).toBe("noopener noreferrer");
    expect(input.value).toBe("");
  });

  it("keeps Shift+Enter as a newline instead of sending", async () => {
    const root = await ready();
    const input = byTestId<HTMLTextAreaElement>(root, "chat-input");
    typeInto(input, "line one");
    pressKey(input, "Enter", { shiftKey: true });
    expect(api.requestsTo("POST", /\/messages$/)).toHaveLength(0);
  });

  it("shows the agent's messages with a Support agent label and notices as status", async () => {
    const root = await ready();
    api.pushEvents([
      { cursor: 1, type: "status", data: { status: "handed_off" }, created_at: 1 },
      { cursor: 2, type: "message", data: { ...message("a1", "agent", "Hi, Ann here.") }, created_at: 1 },
    ]);
    await vi.waitFor(() => expect(root.querySelector('[data-author="agent"]')).not.toBeNull());
    expect(root.querySelector('[data-author="agent"]')!.textContent).toContain("Support agent");
    const notice = byTestId(root, "notice");
    expect(notice.getAttribute("role")).toBe("status");
  });

  it("shows a failed send as an alert", async () => {
    api.on("POST", /\/messages$/, () => problem(429, "slow down", { "retry-after": "3" }));
    const root = await ready();
    typeInto(byTestId(root, "chat-input"), "hello");
    click(byTestId(root, "chat-send"));
    await vi.waitFor(() => expect(byTestId(root, "chat-error").textContent).toContain("please wait 3 seconds"));
    expect(byTestId(root, "chat-error").getAttribute("role")).toBe("alert");
  });

  it("shows an uploading attachment chip that turns ready", async () => {
    const root = await ready();
    let finishUpload!: () => void;
    class InstantXhr {
      upload = { onprogress: null };
      status = 201;
      responseText = JSON.stringify({ attachment: { id: "att1", title: "a.pdf" }, status: "created", vector_index: "indexed" });
      onload: (() => void) | null = null;
      open() {}
      setRequestHeader() {}
      getResponseHeader() {
        return null;
      }
      send() {
        finishUpload = () => this.onload?.();
      }
    }
    vi.stubGlobal("XMLHttpRequest", InstantXhr);
    const input = byTestId<HTMLInputElement>(root, "file-input");
    Object.defineProperty(input, "files", { value: [new File(["%PDF"], "a.pdf", { type: "application/pdf" })], configurable: true });
    input.dispatchEvent(new Event("change", { bubbles: true }));
    await vi.waitFor(() => expect(byTestId(root, "attachment-chip").dataset.state).toBe("uploading"));
    await vi.waitFor(() => expect(finishUpload).toBeTypeOf("function"));
    finishUpload();
    await vi.waitFor(() => expect(byTestId(root, "attachment-chip").dataset.state).toBe("ready"));
  });
});

describe("ChatApp feedback", () => {
  const HISTORY = [message("v1", "visitor", "How long do refunds take?"), message("b1", "bot", "Five days.")];

  /** A returning visitor: the stored session, its history and its stored ratings. */
  async function resumed(messages: Message[] = HISTORY, ratings: Feedback[] = []) {
    localStorage.setItem(
      storageKey("wk_demo"),
      JSON.stringify({ sessionId: "s1", token: "tok", expiresAt: Date.now() + 3600_000, cursor: 0 }),
    );
    api.on("GET", /^\/api\/sessions\/s1\/messages/, () => json({ messages, next_cursor: null, feedback: ratings }));
    api.on("GET", /^\/api\/sessions\/s1$/, () =>
      json({ session: { id: "s1", status: "open", visitor: { id: "v" }, created_at: 0, updated_at: 0 } }),
    );
    api.on("PUT", /^\/api\/sessions\/s1\/feedback$/, echoRating);
    return ready();
  }

  const bot = (root: HTMLElement) => root.querySelector<HTMLElement>('[data-testid="message"][data-author="bot"]')!;
  const pressed = (el: HTMLElement) => el.getAttribute("aria-pressed");
  const puts = () => api.requestsTo("PUT", /\/feedback$/).map((r) => r.body);

  it("rates a bot reply with a thumb, and shows the choice as pressed", async () => {
    const root = await resumed();
    expect(root.querySelector('[data-author="visitor"] [data-testid="rating"]')).toBeNull();
    const helpful = byTestId(bot(root), "rate-helpful");
    const notHelpful = byTestId(bot(root), "rate-not-helpful");
    expect(helpful.getAttribute("aria-label")).toBe("Helpful");
    expect(notHelpful.getAttribute("aria-label")).toBe("Not helpful");
    expect(notHelpful.textContent).toBe("Not helpful");
    expect([pressed(helpful), pressed(notHelpful)]).toEqual(["false", "false"]);
    click(helpful);
    expect([pressed(helpful), pressed(notHelpful)]).toEqual(["true", "false"]);
    await vi.waitFor(() => expect(puts()).toEqual([{ message_id: "b1", helpful: true }]));
    expect(api.requestsTo("PUT", /\/feedback$/)[0]!.headers.Authorization).toBe("Bearer tok");
    expect(root.querySelector('[data-testid="rating-comment"]')).toBeNull();
  });

  it("offers an optional comment after Not helpful and sends it with the same rating", async () => {
    const root = await resumed();
    click(byTestId(bot(root), "rate-not-helpful"));
    expect(pressed(byTestId(bot(root), "rate-not-helpful"))).toBe("true");
    await vi.waitFor(() => expect(puts()).toEqual([{ message_id: "b1", helpful: false }]));
    const comment = byTestId<HTMLInputElement>(bot(root), "rating-comment");
    expect(comment.getAttribute("aria-label")).toBe("What was missing? (optional)");
    const send = byTestId<HTMLButtonElement>(bot(root), "rating-comment-send");
    await vi.waitFor(() => expect(send.disabled).toBe(true));
    typeInto(comment, "It did not say when the 5 days start.");
    expect(send.disabled).toBe(false);
    click(send);
    await vi.waitFor(() => expect(byTestId(bot(root), "rating-thanks").textContent).toBe("Thanks for your feedback."));
    expect(puts()[1]).toEqual({ message_id: "b1", helpful: false, comment: "It did not say when the 5 days start." });
    expect(root.querySelector('[data-testid="rating-comment"]')).toBeNull();
    // The choice can be changed.
    click(byTestId(bot(root), "rate-helpful"));
    await vi.waitFor(() => expect(puts()[2]).toEqual({ message_id: "b1", helpful: true }));
    expect(pressed(byTestId(bot(root), "rate-not-helpful"))).toBe("false");
  });

  it("asks whether it solved the problem after a bot answer, not while one is pending, and not with a person", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    api.on("POST", /\/messages$/, async () => {
      await gate;
      return sse([
        ["message", message("v1", "visitor", "Refunds?")],
        ["token", { text: "Five days." }],
        ["done", { reply: message("b1", "bot", "Five days."), degraded: false }],
      ]);
    });
    api.on("PUT", /\/feedback$/, echoRating);
    const root = await ready();
    expect(root.querySelector('[data-testid="resolved-question"]')).toBeNull();
    typeInto(byTestId(root, "chat-input"), "Refunds?");
    click(byTestId(root, "chat-send"));
    await vi.waitFor(() => expect(byTestId(root, "typing-indicator")).toBeTruthy());
    expect(root.querySelector('[data-testid="resolved-question"]')).toBeNull();
    release();
    await vi.waitFor(() => expect(byTestId(root, "resolved-question").textContent).toContain("Did this solve your problem?"));
    expect(root.querySelector('[data-testid="resolved-question"] [data-testid="rating-thanks"]')).toBeNull();
    click(byTestId(root, "resolved-yes"));
    expect(pressed(byTestId(root, "resolved-yes"))).toBe("true");
    await vi.waitFor(() =>
      expect(byTestId(byTestId(root, "resolved-question"), "rating-thanks").textContent).toBe("Thanks for your feedback."),
    );
    expect(puts()).toEqual([{ resolved: true }]);
    expect(root.querySelector('[data-testid="resolved-question"] [data-testid="rating-comment"]')).toBeNull();
    api.pushEvents([{ cursor: 1, type: "status", data: { status: "handed_off" }, created_at: 1 }]);
    await vi.waitFor(() => expect(root.querySelector('[data-testid="resolved-question"]')).toBeNull());
  });

  it("offers an optional comment after No", async () => {
    const root = await resumed();
    click(byTestId(root, "resolved-no"));
    await vi.waitFor(() => expect(puts()).toEqual([{ resolved: false }]));
    const question = byTestId(root, "resolved-question");
    await vi.waitFor(() => expect(byTestId(question, "rating-thanks")).toBeTruthy());
    typeInto(byTestId(question, "rating-comment"), "I still can't log in");
    click(byTestId(question, "rating-comment-send"));
    await vi.waitFor(() => expect(puts()[1]).toEqual({ resolved: false, comment: "I still can't log in" }));
    await vi.waitFor(() => expect(question.querySelector('[data-testid="rating-comment"]')).toBeNull());
  });

  it("marks the ratings stored before a reload", async () => {
    const root = await resumed(
      [...HISTORY, message("v2", "visitor", "And exchanges?"), message("b2", "bot", "Also five days.")],
      [feedback({ message_id: "b1", helpful: false, comment: "vague" }), feedback({ resolved: true }, 2)],
    );
    const [first, second] = allByTestId(root, "message").filter((m) => m.dataset.author === "bot");
    expect(pressed(byTestId(first!, "rate-not-helpful"))).toBe("true");
    expect(pressed(byTestId(first!, "rate-helpful"))).toBe("false");
    expect(first!.querySelector('[data-testid="rating-comment"]')).toBeNull();
    expect(pressed(byTestId(second!, "rate-helpful"))).toBe("false");
    expect(pressed(byTestId(second!, "rate-not-helpful"))).toBe("false");
    expect(pressed(byTestId(root, "resolved-yes"))).toBe("true");
    expect(byTestId(byTestId(root, "resolved-question"), "rating-thanks")).toBeTruthy();
    // A rating given in another tab arrives through the feed.
    api.pushEvents([{ cursor: 1, type: "feedback", data: feedback({ message_id: "b2", helpful: true }, 3) as unknown as Record<string, unknown>, created_at: 3 }]);
    await vi.waitFor(() => expect(pressed(byTestId(second!, "rate-helpful"))).toBe("true"));
  });

  it("shows a failed rating as a small inline error and keeps the chat", async () => {
    const root = await resumed();
    api.on("PUT", /\/feedback$/, () => problem(503, "down"));
    click(byTestId(bot(root), "rate-helpful"));
    await vi.waitFor(() => expect(byTestId(bot(root), "rating-error").textContent).toBe("Something went wrong on our side. Please try again."));
    expect(byTestId(bot(root), "rating-error").getAttribute("role")).toBe("alert");
    expect(pressed(byTestId(bot(root), "rate-helpful"))).toBe("false");
    expect(root.querySelector('[data-testid="chat-error"]')).toBeNull();
    expect(allByTestId(root, "message")).toHaveLength(2);
  });
});
