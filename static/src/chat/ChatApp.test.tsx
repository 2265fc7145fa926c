// Tests of the chat page as rendered: the selector contract's test ids and roles, a
// streamed answer with citations, Enter versus Shift+Enter, and errors as alerts.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { FakeApi, json, message, problem, sse } from "../test/fake-api";
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
