// Tests of the chat controller against a fake API: session start and resume, token
// refresh, streamed sending, retries with the same Idempotency-Key, the event feed,
// escalation, attachments and the visitor's ratings.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { OFFLINE_MESSAGE } from "../lib/api";
import { CONVERSATION } from "../lib/feedback";
import { storageKey, type StoredSession } from "../lib/session-store";
import type { UploadRequest } from "../lib/upload";
import { FakeApi, echoRating, feedback, json, message, problem, sse } from "../test/fake-api";
import {
  ChatController,
  MISSING_KEY_MESSAGE,
  NEW_SESSION_NOTICE,
  RATING_OFFLINE_MESSAGE,
  ratingChoice,
  type ChatEnvironment,
} from "./controller";
import { isTyping, streamingReply } from "./conversation";

const NOW = 1_700_000_000_000;
const HOUR = 3600_000;

const session = (id = "s1") => ({
  id,
  status: "open",
  visitor: { id: "v", name: null, email: null, locale: null },
  created_at: NOW,
  updated_at: NOW,
});

const citation = {
  marker: 1,
  chunk_id: "c1",
  document_id: "d1",
  title: "Refund policy",
  heading_path: ["Billing", "Refunds"],
  source_url: "https://help.example/refunds",
  quote: "Refunds take 5 days.",
};

function replyStream(visitorText: string, replyText = "Refunds take 5 days [1].") {
  const visitor = message("v1", "visitor", visitorText);
  const reply = message("b1", "bot", replyText, { citations: [citation], reply_to: "v1", responder: "extractive" });
  return sse([
    ["message", visitor],
    ...replyText.split(/(?<= )/).map((piece): [string, unknown] => ["token", { text: piece }]),
    ["citations", { citations: [citation] }],
    ["action", { action: null }],
    ["done", { reply, degraded: false }],
  ]);
}

let api: FakeApi;
let online: boolean;
let windowEvents: EventTarget;
let ids: number;
let uploads: UploadRequest[];
let uploadResult: (req: UploadRequest) => Promise<unknown>;

function environment(widgetKey = "wk_demo"): ChatEnvironment {
  return {
    widgetKey,
    storage: localStorage,
    now: () => NOW,
    newId: () => `id-${++ids}`,
    isOnline: () => online,
    events: windowEvents as unknown as Window,
    upload: <T>(req: UploadRequest) => {
      uploads.push(req);
      return uploadResult(req) as Promise<T>;
    },
    sleep: async () => {},
  };
}

function storeSession(stored: Partial<StoredSession> = {}) {
  localStorage.setItem(
    storageKey("wk_demo"),
    JSON.stringify({ sessionId: "s1", token: "tok-old", expiresAt: NOW + HOUR, cursor: 4, ...stored }),
  );
}

async function started(controller: ChatController) {
  await controller.start();
  expect(controller.view.phase).toBe("ready");
  return controller;
}

const shown = (c: ChatController) =>
  c.view.chat.items.map((i) => (i.kind === "message" ? `${i.message.author}:${i.message.text}` : `notice:${i.text}`));

beforeEach(() => {
  localStorage.clear();
  api = new FakeApi();
  online = true;
  windowEvents = new EventTarget();
  ids = 0;
  uploads = [];
  uploadResult = async () => ({ attachment: { id: "att-1", title: "order.pdf" }, status: "created", vector_index: "indexed" });
  vi.stubGlobal("fetch", api.fetch);
  api.on("POST", /^\/api\/sessions$/, () =>
    json({ session: session("s-new"), token: "tok-new", expires_at: NOW + HOUR }, 201),
  );
  api.on("GET", /^\/api\/sessions\/s1\/messages/, () =>
    json({ messages: [message("v0", "visitor", "Hi"), message("b0", "bot", "Hello! How can I help?")], next_cursor: null }),
  );
  api.on("GET", /^\/api\/sessions\/s1$/, () => json({ session: session("s1") }));
});

let controllers: ChatController[] = [];
function controllerFor(widgetKey = "wk_demo") {
  const c = new ChatController(environment(widgetKey));
  controllers.push(c);
  return c;
}
afterEach(() => {
  for (const c of controllers) c.dispose();
  controllers = [];
});

describe("starting", () => {
  it("creates a session with the widget key and keeps it for the next page load", async () => {
    const c = await started(controllerFor());
    expect(api.requestsTo("POST", /^\/api\/sessions$/)[0]!.body).toEqual({ widget_key: "wk_demo" });
    expect(JSON.parse(localStorage.getItem(storageKey("wk_demo"))!)).toEqual({
      sessionId: "s-new",
      token: "tok-new",
      expiresAt: NOW + HOUR,
      cursor: 0,
    });
    await vi.waitFor(() => expect(api.requestsTo("GET", /\/api\/sessions\/s-new\/events\?after=0&wait=25/)).toHaveLength(1));
    expect(c.view.connection).not.toBe("reconnecting");
  });

  it("resumes a stored session: its history, and the feed from the stored cursor", async () => {
    storeSession();
    const c = await started(controllerFor());
    expect(api.requestsTo("POST", /^\/api\/sessions$/)).toHaveLength(0);
    expect(shown(c)).toEqual(["visitor:Hi", "bot:Hello! How can I help?"]);
    expect(api.requestsTo("GET", /messages/)[0]!.headers.Authorization).toBe("Bearer tok-old");
    await vi.waitFor(() => expect(api.requestsTo("GET", /\/api\/sessions\/s1\/events\?after=4&wait=25/)).toHaveLength(1));
  });

  it("refreshes a token within five minutes of expiry before using it", async () => {
    storeSession({ expiresAt: NOW + 60_000 });
    api.on("POST", /^\/api\/sessions\/s1\/token$/, () =>
      json({ session: session("s1"), token: "tok-fresh", expires_at: NOW + HOUR }),
    );
    await started(controllerFor());
    const refresh = api.requestsTo("POST", /\/token$/);
    expect(refresh).toHaveLength(1);
    expect(refresh[0]!.headers.Authorization).toBe("Bearer tok-old");
    expect(api.requestsTo("GET", /messages/)[0]!.headers.Authorization).toBe("Bearer tok-fresh");
    expect(JSON.parse(localStorage.getItem(storageKey("wk_demo"))!).token).toBe("tok-fresh");
  });

  it("starts a new session and says so when the stored one is gone", async () => {
    storeSession({ expiresAt: NOW - 1000 });
    api.on("POST", /^\/api\/sessions\/s1\/token$/, () => problem(401, "expired"));
    const c = await started(controllerFor());
    expect(api.requestsTo("POST", /^\/api\/sessions$/)).toHaveLength(1);
    expect(shown(c)).toEqual([`notice:${NEW_SESSION_NOTICE}`]);
    expect(JSON.parse(localStorage.getItem(storageKey("wk_demo"))!).sessionId).toBe("s-new");
  });

  it("says what is wrong when the page has no widget key", async () => {
    const c = controllerFor("");
    await c.start();
    expect(c.view.phase).toBe("failed");
    expect(c.view.error?.text).toBe(MISSING_KEY_MESSAGE);
    expect(api.requests).toHaveLength(0);
  });
});

describe("sending", () => {
  it("posts the message as an event stream with the token and an Idempotency-Key, and streams the reply", async () => {
    storeSession();
    api.on("POST", /^\/api\/sessions\/s1\/messages$/, () => replyStream("How long do refunds take?"));
    const c = await started(controllerFor());
    const states: { typing: boolean; streamed: string | null }[] = [];
    c.subscribe((v) => states.push({ typing: isTyping(v.chat), streamed: streamingReply(v.chat)?.text ?? null }));
    c.setDraft("  How long do refunds take?  ");
    expect(c.send()).toBe(true);
    expect(c.view.draft).toBe("");
    await vi.waitFor(() => expect(c.view.chat.turn).toBeNull());
    const post = api.requestsTo("POST", /\/messages$/)[0]!;
    expect(post.headers.Accept).toBe("text/event-stream");
    expect(post.headers.Authorization).toBe("Bearer tok-old");
    expect(post.headers["Idempotency-Key"]).toMatch(/^id-\d+$/);
    expect(post.body).toEqual({ text: "How long do refunds take?" });
    const firstTyping = states.findIndex((s) => s.typing);
    const firstToken = states.findIndex((s) => s.streamed === "Refunds ");
    expect(firstTyping).toBeGreaterThan(-1);
    expect(firstToken).toBeGreaterThan(firstTyping);
    expect(states.slice(firstToken).some((s) => s.typing)).toBe(false);
    expect(shown(c).slice(-2)).toEqual(["visitor:How long do refunds take?", "bot:Refunds take 5 days [1]."]);
    const reply = c.view.chat.items.at(-1)!;
    expect(reply.kind === "message" && reply.message.citations[0]!.title).toBe("Refund policy");
  });

  it("accepts a plain JSON answer as well", async () => {
    storeSession();
    api.on("POST", /\/messages$/, () =>
      json({
        message: message("v1", "visitor", "Hello?"),
        reply: null,
        action: { type: "handed_off" },
        notice: "A support agent will answer you here.",
        degraded: false,
      }, 201),
    );
    const c = await started(controllerFor());
    c.setDraft("Hello?");
    c.send();
    await vi.waitFor(() => expect(c.view.chat.turn).toBeNull());
    expect(shown(c).slice(-2)).toEqual(["visitor:Hello?", "notice:A support agent will answer you here."]);
  });

  it("does not send an empty draft or a second message while one is streaming", async () => {
    storeSession();
    let answer!: (r: Response) => void;
    api.on("POST", /\/messages$/, () => new Promise<Response>((resolve) => (answer = resolve)));
    const c = await started(controllerFor());
    c.setDraft("   ");
    expect(c.send()).toBe(false);
    c.setDraft("first");
    expect(c.send()).toBe(true);
    c.setDraft("second");
    expect(c.send()).toBe(false);
    await vi.waitFor(() => expect(answer).toBeTypeOf("function"));
    answer(replyStream("first"));
    await vi.waitFor(() => expect(c.view.chat.turn).toBeNull());
    expect(c.send()).toBe(true);
  });

  it("retries after a network failure with the same Idempotency-Key, when the browser is back online", async () => {
    storeSession();
    let calls = 0;
    api.on("POST", /\/messages$/, async () => {
      calls += 1;
      if (calls === 1) throw new TypeError("Failed to fetch");
      return replyStream("Are you there?");
    });
    const c = await started(controllerFor());
    c.setDraft("Are you there?");
    c.send();
    await vi.waitFor(() => expect(c.view.error?.text).toBe(OFFLINE_MESSAGE));
    expect(c.view.chat.items.at(-1)).toMatchObject({ delivery: "failed" });
    windowEvents.dispatchEvent(new Event("online"));
    await vi.waitFor(() => expect(c.view.chat.turn).toBeNull());
    const keys = api.requestsTo("POST", /\/messages$/).map((r) => r.headers["Idempotency-Key"]);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBe(keys[1]);
    expect(c.view.error).toBeNull();
    expect(shown(c).filter((t) => t === "visitor:Are you there?")).toHaveLength(1);
  });

  it("treats a stream cut off before `done` as a failure to retry with the same key", async () => {
    storeSession();
    let calls = 0;
    api.on("POST", /\/messages$/, () => {
      calls += 1;
      return calls === 1
        ? sse([["message", message("v1", "visitor", "Hi")], ["token", { text: "Hel" }]])
        : replyStream("Hi", "Hello there.");
    });
    const c = await started(controllerFor());
    c.setDraft("Hi");
    c.send();
    await vi.waitFor(() => expect(c.view.error?.retry).toBe(true));
    c.retry();
    await vi.waitFor(() => expect(c.view.chat.turn).toBeNull());
    const keys = api.requestsTo("POST", /\/messages$/).map((r) => r.headers["Idempotency-Key"]);
    expect(new Set(keys).size).toBe(1);
    expect(shown(c).filter((t) => t.startsWith("bot:Hello there"))).toHaveLength(1);
  });

  it("asks the visitor to wait the Retry-After seconds when rate limited", async () => {
    storeSession();
    api.on("POST", /\/messages$/, () => problem(429, "too many", { "retry-after": "12" }));
    const c = await started(controllerFor());
    c.setDraft("hello");
    c.send();
    await vi.waitFor(() => expect(c.view.error?.text).toBe("You're sending messages quickly — please wait 12 seconds."));
    expect(c.view.error?.retry).toBe(true);
  });

  it("gives a refused message back to edit, with the server's reason", async () => {
    storeSession();
    api.on("POST", /\/messages$/, () => problem(422, "The message is longer than 4000 characters."));
    const c = await started(controllerFor());
    c.setDraft("x".repeat(10));
    c.send();
    await vi.waitFor(() => expect(c.view.error?.text).toBe("The message is longer than 4000 characters."));
    expect(c.view.draft).toBe("x".repeat(10));
    expect(c.view.chat.turn).toBeNull();
    expect(shown(c)).not.toContain("visitor:xxxxxxxxxx");
  });

  it("shows a kind message, not internals, on a server error", async () => {
    storeSession();
    api.on("POST", /\/messages$/, () => problem(500, "sqlite: disk I/O error"));
    const c = await started(controllerFor());
    c.setDraft("hello");
    c.send();
    await vi.waitFor(() => expect(c.view.error?.text).toBe("Something went wrong on our side. Please try again."));
  });
});

describe("event feed", () => {
  it("shows agent messages and status changes, dedupes, and stores the cursor", async () => {
    storeSession();
    const c = await started(controllerFor());
    api.pushEvents([
      { cursor: 5, type: "message", data: { ...message("b0", "bot", "Hello! How can I help?") }, created_at: 1 },
      { cursor: 6, type: "status", data: { status: "handed_off", reason: "human_requested" }, created_at: 1 },
      { cursor: 7, type: "message", data: { ...message("a1", "agent", "Hi, I'm Ann.") }, created_at: 1 },
    ]);
    await vi.waitFor(() => expect(shown(c).at(-1)).toBe("agent:Hi, I'm Ann."));
    expect(shown(c).filter((t) => t === "bot:Hello! How can I help?")).toHaveLength(1);
    expect(c.view.chat.handedOff).toBe(true);
    expect(JSON.parse(localStorage.getItem(storageKey("wk_demo"))!).cursor).toBe(7);
    await vi.waitFor(() => expect(api.requestsTo("GET", /events\?after=7/)).toHaveLength(1));
  });

  it("says it is reconnecting after a failed poll and resumes from the same cursor", async () => {
    storeSession();
    let failures = 0;
    api.on("GET", /\/events\?/, async () => {
      failures += 1;
      if (failures === 1) return problem(502, "bad gateway");
      return new Promise<Response>(() => {});
    });
    const states: string[] = [];
    const c = controllerFor();
    c.subscribe((v) => states.push(v.connection));
    await started(c);
    await vi.waitFor(() => expect(api.requestsTo("GET", /events/)).toHaveLength(2));
    expect(states).toContain("reconnecting");
    expect(api.requestsTo("GET", /events/).map((r) => r.url)).toEqual([
      "/api/sessions/s1/events?after=4&wait=25",
      "/api/sessions/s1/events?after=4&wait=25",
    ]);
  });

  it("starts a new session when the feed says the session is gone", async () => {
    storeSession();
    api.on("GET", /\/api\/sessions\/s1\/events\?/, () => problem(404, "no such session"));
    const c = await started(controllerFor());
    await vi.waitFor(() => expect(shown(c).at(-1)).toBe(`notice:${NEW_SESSION_NOTICE}`));
    await vi.waitFor(() => expect(api.requestsTo("GET", /\/api\/sessions\/s-new\/events/)).toHaveLength(1));
  });
});

describe("talking to a person", () => {
  it("escalates with no body and shows the server's notice once", async () => {
    storeSession();
    api.on("POST", /\/api\/sessions\/s1\/escalate$/, () =>
      json({ ticket: { id: "t1", status: "open", created_at: NOW }, notice: "A person will join shortly.", opened: true }, 201),
    );
    const c = await started(controllerFor());
    await c.escalate();
    const post = api.requestsTo("POST", /escalate$/)[0]!;
    expect(post.body).toBeUndefined();
    expect(post.headers.Authorization).toBe("Bearer tok-old");
    api.pushEvents([{ cursor: 5, type: "status", data: { status: "handed_off" }, created_at: 1 }]);
    await vi.waitFor(() => expect(JSON.parse(localStorage.getItem(storageKey("wk_demo"))!).cursor).toBe(5));
    expect(shown(c).filter((t) => t.startsWith("notice:"))).toEqual(["notice:A person will join shortly."]);
  });

  it("shows why escalation is not possible", async () => {
    storeSession();
    api.on("POST", /escalate$/, () => problem(409, "Handing off to a person is not available."));
    const c = await started(controllerFor());
    await c.escalate();
    expect(c.view.error?.text).toBe("Handing off to a person is not available.");
    expect(c.view.chat.handedOff).toBe(false);
  });
});

describe("attachments", () => {
  const pdf = () => new File(["%PDF-1.7"], "order.pdf", { type: "application/pdf" });

  it("refuses an unsupported file before uploading it", async () => {
    storeSession();
    const c = await started(controllerFor());
    c.attach([new File(["x"], "virus.exe", { type: "application/x-msdownload" })]);
    expect(uploads).toHaveLength(0);
    expect(c.view.attachments[0]).toMatchObject({ state: "error", name: "virus.exe" });
    expect(c.view.error?.text).toContain("virus.exe");
  });

  it("uploads to the session with progress, and sends only the ready attachments' ids with the next message", async () => {
    storeSession();
    const finish: Record<string, () => void> = {};
    uploadResult = (req) =>
      new Promise((resolve) => {
        req.onProgress?.(0.4);
        finish[req.file.name] = () =>
          resolve({ attachment: { id: `att-${req.file.name}`, title: req.file.name }, status: "created", vector_index: "indexed" });
      });
    api.on("POST", /\/messages$/, () => replyStream("What does my order say?"));
    const c = await started(controllerFor());
    c.attach([pdf(), new File(["%PDF"], "second.pdf", { type: "application/pdf" })]);
    await vi.waitFor(() => expect(c.view.attachments[0]).toMatchObject({ state: "uploading", progress: 0.4 }));
    expect(uploads[0]).toMatchObject({ url: "/api/sessions/s1/attachments", token: "tok-old" });
    finish["order.pdf"]!();
    await vi.waitFor(() => expect(c.view.attachments[0]).toMatchObject({ state: "ready", attachmentId: "att-order.pdf" }));
    c.setDraft("What does my order say?");
    expect(c.send()).toBe(true);
    await vi.waitFor(() => expect(c.view.chat.turn).toBeNull());
    expect(api.requestsTo("POST", /\/messages$/)[0]!.body).toEqual({ text: "What does my order say?", attachments: ["att-order.pdf"] });
    expect(c.view.attachments.map((a) => [a.name, a.state])).toEqual([["second.pdf", "uploading"]]);
  });

  it("marks a chip as failed with the server's reason", async () => {
    storeSession();
    const { ApiError } = await import("../lib/api");
    uploadResult = async () => {
      throw new ApiError(415, { type: "t", title: "Unsupported", status: 415, detail: "The file is not a PDF." });
    };
    const c = await started(controllerFor());
    c.attach([pdf()]);
    await vi.waitFor(() => expect(c.view.attachments[0]).toMatchObject({ state: "error", error: "The file is not a PDF." }));
    expect(c.view.error?.text).toContain("The file is not a PDF.");
  });
});

describe("before the session is ready", () => {
  it("sends a message and uploads files given while the session was still starting", async () => {
    let answer!: () => void;
    api.on("POST", /^\/api\/sessions$/, async () => {
      await new Promise<void>((resolve) => (answer = resolve));
      return json({ session: session("s-new"), token: "tok-new", expires_at: NOW + HOUR }, 201);
    });
    api.on("POST", /^\/api\/sessions\/s-new\/messages$/, () => replyStream("Early question"));
    const c = controllerFor();
    const starting = c.start();
    c.setDraft("Early question");
    expect(c.send()).toBe(false);
    c.attach([new File(["%PDF"], "early.pdf", { type: "application/pdf" })]);
    expect(uploads).toHaveLength(0);
    await vi.waitFor(() => expect(answer).toBeTypeOf("function"));
    answer();
    await starting;
    await vi.waitFor(() => expect(c.view.chat.turn).toBeNull());
    expect(api.requestsTo("POST", /s-new\/messages$/)[0]!.body).toEqual({ text: "Early question" });
    expect(uploads[0]!.url).toBe("/api/sessions/s-new/attachments");
  });
});

describe("feedback", () => {
  const puts = () => api.requestsTo("PUT", /^\/api\/sessions\/s1\/feedback$/);

  it("shows the ratings stored with the history", async () => {
    storeSession();
    api.on("GET", /^\/api\/sessions\/s1\/messages/, () =>
      json({
        messages: [message("v0", "visitor", "Hi"), message("b0", "bot", "Hello!")],
        next_cursor: null,
        feedback: [feedback({ message_id: "b0", helpful: false, comment: "vague" }), feedback({ resolved: true })],
      }),
    );
    const c = await started(controllerFor());
    expect(ratingChoice(c.view, "b0")).toBe(false);
    expect(ratingChoice(c.view, CONVERSATION)).toBe(true);
    expect(ratingChoice(c.view, "b-other")).toBeNull();
  });

  it("puts a reply's rating with the token, shown as chosen at once and stored from the answer", async () => {
    storeSession();
    let answer!: () => void;
    api.on("PUT", /\/feedback$/, async (req) => {
      await new Promise<void>((resolve) => (answer = resolve));
      return echoRating(req);
    });
    const c = await started(controllerFor());
    c.rate("b0", true);
    expect(ratingChoice(c.view, "b0")).toBe(true);
    expect(c.view.rating.b0).toMatchObject({ sending: true, commenting: false });
    await vi.waitFor(() => expect(answer).toBeTypeOf("function"));
    expect(puts()[0]!.body).toEqual({ message_id: "b0", helpful: true });
    expect(puts()[0]!.headers.Authorization).toBe("Bearer tok-old");
    answer();
    await vi.waitFor(() => expect(c.view.rating.b0!.sending).toBeNull());
    expect(c.view.chat.ratings.b0).toMatchObject({ helpful: true });
    expect(ratingChoice(c.view, "b0")).toBe(true);
  });

  it("opens the comment box on Not helpful and sends the comment with the same rating", async () => {
    storeSession();
    api.on("PUT", /\/feedback$/, echoRating);
    const c = await started(controllerFor());
    c.rate("b0", false);
    expect(c.view.rating.b0!.commenting).toBe(true);
    await vi.waitFor(() => expect(c.view.chat.ratings.b0).toMatchObject({ helpful: false }));
    c.sendRatingComment("b0");
    expect(puts()).toHaveLength(1);
    c.setRatingComment("b0", "  It did not say how long.  ");
    c.sendRatingComment("b0");
    await vi.waitFor(() => expect(c.view.rating.b0).toMatchObject({ commenting: false, comment: "", thanked: true }));
    expect(puts().map((r) => r.body)).toEqual([
      { message_id: "b0", helpful: false },
      { message_id: "b0", helpful: false, comment: "It did not say how long." },
    ]);
    expect(c.view.chat.ratings.b0).toMatchObject({ helpful: false, comment: "It did not say how long." });
  });

  it("sends a change of mind after the rating on its way, so the last choice is stored", async () => {
    storeSession();
    const answers: (() => void)[] = [];
    api.on("PUT", /\/feedback$/, async (req) => {
      await new Promise<void>((resolve) => answers.push(resolve));
      return echoRating(req);
    });
    const c = await started(controllerFor());
    c.rate("b0", true);
    c.rate("b0", false);
    c.rate("b0", true);
    expect(ratingChoice(c.view, "b0")).toBe(true);
    await vi.waitFor(() => expect(answers).toHaveLength(1));
    answers[0]!();
    await vi.waitFor(() => expect(answers).toHaveLength(2));
    expect(ratingChoice(c.view, "b0")).toBe(true);
    answers[1]!();
    await vi.waitFor(() => expect(c.view.rating.b0!.sending).toBeNull());
    expect(puts().map((r) => (r.body as { helpful: boolean }).helpful)).toEqual([true, true]);
    expect(c.view.chat.ratings.b0).toMatchObject({ helpful: true });
  });

  it("answers the conversation's question with `resolved`", async () => {
    storeSession();
    api.on("PUT", /\/feedback$/, echoRating);
    const c = await started(controllerFor());
    c.rate(CONVERSATION, false);
    expect(c.view.rating[CONVERSATION]!.commenting).toBe(true);
    await vi.waitFor(() => expect(c.view.chat.ratings[CONVERSATION]).toMatchObject({ resolved: false }));
    c.setRatingComment(CONVERSATION, "Still cannot log in");
    c.sendRatingComment(CONVERSATION);
    await vi.waitFor(() => expect(c.view.rating[CONVERSATION]!.thanked).toBe(true));
    expect(puts().map((r) => r.body)).toEqual([{ resolved: false }, { resolved: false, comment: "Still cannot log in" }]);
  });

  it("shows a failed rating as its own error, back to the stored choice, and keeps the chat", async () => {
    storeSession();
    api.on("PUT", /\/feedback$/, () => problem(422, "Only the bot's replies can be rated."));
    const c = await started(controllerFor());
    const before = shown(c);
    c.rate("b0", true);
    await vi.waitFor(() => expect(c.view.rating.b0!.error).toBe("Only the bot's replies can be rated."));
    expect(ratingChoice(c.view, "b0")).toBeNull();
    expect(c.view.error).toBeNull();
    expect(shown(c)).toEqual(before);
    expect(c.view.phase).toBe("ready");
    api.on("PUT", /\/feedback$/, async () => {
      throw new TypeError("Failed to fetch");
    });
    c.rate("b0", false);
    expect(c.view.rating.b0!.error).toBeNull();
    await vi.waitFor(() => expect(c.view.rating.b0!.error).toBe(RATING_OFFLINE_MESSAGE));
    expect(api.requestsTo("POST", /^\/api\/sessions$/)).toHaveLength(0);
  });
});
