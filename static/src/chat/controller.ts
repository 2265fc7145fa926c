// The chat's I/O, driving the pure state of conversation.ts: starting or resuming the
// visitor's session (kept in localStorage per widget key, token refreshed near expiry, a
// new session when the old one is gone), sending a message and reading its event stream,
// retrying with the same Idempotency-Key, following the session's event feed, escalating,
// uploading attachments, and the visitor's ratings of replies and of the conversation. Components subscribe to `view` and call the methods; they
// hold no logic of their own.
import {
  ApiError,
  NetworkError,
  OFFLINE_MESSAGE,
  apiFetch,
  apiJson,
  friendlyMessage,
  isAbort,
  isSessionGone,
  rate as putRating,
} from "../lib/api";
import { EventFeed, eventsPath, type FeedState } from "../lib/event-feed";
import { CONVERSATION } from "../lib/feedback";
import { fileProblem } from "../lib/file-check";
import { randomId } from "../lib/ids";
import { readSse } from "../lib/sse";
import {
  clearSession,
  loadSession,
  needsRefresh,
  saveSession,
  withCursor,
  type StoredSession,
} from "../lib/session-store";
import type {
  Action,
  Attachment,
  Citation,
  Escalated,
  FeedBatch,
  Message,
  MessagePage,
  Rating,
  Session,
  SessionWithToken,
  Turn,
} from "../lib/types";
import { uploadWithProgress, type UploadRequest } from "../lib/upload";
import {
  abandonTurn,
  addMessages,
  addNotice,
  addRatings,
  applyFeed,
  failTurn,
  finishTurn,
  initialChat,
  retryTurn,
  startTurn,
  turnAction,
  turnCitations,
  turnNotice,
  turnStored,
  turnToken,
  type ChatState,
} from "./conversation";

/** At most this many attachments go with one message (the API's maxItems). */
export const MAX_ATTACHMENTS_PER_MESSAGE = 5;
export const HISTORY_PAGE = 50;
export const NEW_SESSION_NOTICE = "Your previous conversation has expired, so we started a new one.";
export const RATING_OFFLINE_MESSAGE = "You're offline, so your feedback was not sent. Please try again.";
export const MISSING_KEY_MESSAGE = "This chat link is missing its widget key (?key=…).";

export type Connection = "connecting" | FeedState;

export interface AttachmentChip {
  localId: string;
  name: string;
  state: "uploading" | "ready" | "error";
  /** Fraction uploaded, 0..1. */
  progress: number;
  attachmentId: string | null;
  error: string | null;
}

export interface ChatError {
  text: string;
  /** Whether "Try again" can help (the failed turn, or starting the session). */
  retry: boolean;
}

/** A rating the visitor is giving (of a bot reply, or of the conversation). */
export interface RatingState {
  /** The choice on its way to the server, shown as chosen already; null when none is. */
  sending: boolean | null;
  /** The optional comment box (opened by "Not helpful" or "No"). */
  commenting: boolean;
  comment: string;
  /** A comment went: say thanks. */
  thanked: boolean;
  /** The last rating did not go; the stored choice shows again. */
  error: string | null;
}

export const NO_RATING: RatingState = { sending: null, commenting: false, comment: "", thanked: false, error: null };

export interface ChatView {
  phase: "starting" | "ready" | "failed";
  chat: ChatState;
  connection: Connection;
  error: ChatError | null;
  attachments: AttachmentChip[];
  draft: string;
  escalating: boolean;
  /** Ratings being given, by target: a bot reply's id, or `CONVERSATION`. */
  rating: Record<string, RatingState>;
}

/** The choice a rating button shows as pressed: the one being sent, else the stored one. */
export function ratingChoice(view: ChatView, target: string): boolean | null {
  const sending = view.rating[target]?.sending;
  if (sending != null) return sending;
  const stored = view.chat.ratings[target];
  return (target === CONVERSATION ? stored?.resolved : stored?.helpful) ?? null;
}

export interface ChatEnvironment {
  widgetKey: string;
  storage: Storage;
  now(): number;
  newId(): string;
  isOnline(): boolean;
  /** Where `online`/`offline` events are heard (the window). */
  events: Pick<Window, "addEventListener" | "removeEventListener">;
  upload<T>(req: UploadRequest): Promise<T>;
  /** The event feed's wait between retries; replaceable in tests. */
  sleep?(ms: number, signal: AbortSignal): Promise<void>;
}

export function browserEnvironment(widgetKey: string): ChatEnvironment {
  return {
    widgetKey,
    storage: window.localStorage,
    now: () => Date.now(),
    newId: randomId,
    isOnline: () => navigator.onLine !== false,
    events: window,
    upload: uploadWithProgress,
  };
}

function sessionPath(sessionId: string, rest = ""): string {
  return `/api/sessions/${encodeURIComponent(sessionId)}${rest}`;
}

export class ChatController {
  private current: ChatView = {
    phase: "starting",
    chat: initialChat(),
    connection: "connecting",
    error: null,
    attachments: [],
    draft: "",
    escalating: false,
    rating: {},
  };
  private listeners = new Set<(view: ChatView) => void>();
  private session: StoredSession | null = null;
  private refreshing: Promise<void> | null = null;
  private feed: EventFeed | null = null;
  private disposed = false;
  private turnAbort: AbortController | null = null;
  /** The failed turn waits for the browser to come back online. */
  private retryWhenOnline = false;
  private uploads = new Map<string, AbortController>();
  private restarting: Promise<void> | null = null;
  /** Sent or attached before the session was ready: done as soon as it is. */
  private sendWhenReady = false;
  private filesWhenReady: File[] = [];
  /** Targets with a rating on its way, and the rating to send next once it is answered. */
  private ratingsInFlight = new Map<string, { rating: Rating; withComment: boolean } | null>();

  constructor(private readonly env: ChatEnvironment) {}

  get view(): ChatView {
    return this.current;
  }

  subscribe(listener: (view: ChatView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private update(change: Partial<ChatView>): void {
    if (this.disposed) return;
    this.current = { ...this.current, ...change };
    for (const listener of this.listeners) listener(this.current);
  }

  private updateChat(change: (chat: ChatState) => ChatState): void {
    this.update({ chat: change(this.current.chat) });
  }

  private readonly onOnline = (): void => {
    this.feed?.wake();
    if (this.current.phase === "failed" && this.env.widgetKey) {
      void this.start();
    } else if (this.retryWhenOnline) {
      this.retry();
    }
  };

  private readonly onOffline = (): void => {
    this.update({ connection: "offline" });
  };

  // ---- session ------------------------------------------------------------

  /** Starts or resumes the visitor's session, loads its history and follows its feed. */
  async start(): Promise<void> {
    if (!this.env.widgetKey) {
      this.update({ phase: "failed", error: { text: MISSING_KEY_MESSAGE, retry: false } });
      return;
    }
    this.env.events.addEventListener("online", this.onOnline);
    this.env.events.addEventListener("offline", this.onOffline);
    this.update({ phase: "starting", error: null });
    try {
      await this.openSession();
      if (this.disposed) return;
      this.update({ phase: "ready" });
      this.followFeed();
      const files = this.filesWhenReady.splice(0);
      if (files.length > 0) this.attach(files);
      if (this.sendWhenReady) {
        this.sendWhenReady = false;
        this.send();
      }
    } catch (error) {
      if (isAbort(error) || this.disposed) return;
      this.update({ phase: "failed", error: { text: friendlyMessage(error), retry: true } });
    }
  }

  private async openSession(): Promise<void> {
    const stored = loadSession(this.env.storage, this.env.widgetKey);
    if (stored) {
      this.session = stored;
      try {
        await this.ensureToken();
        await this.loadHistory();
        return;
      } catch (error) {
        if (!isSessionGone(error)) throw error;
        this.forgetSession();
        await this.createSession();
        this.updateChat((chat) => addNotice(chat, NEW_SESSION_NOTICE));
        return;
      }
    }
    await this.createSession();
  }

  private async createSession(): Promise<void> {
    const created = await apiJson<SessionWithToken>("/api/sessions", {
      method: "POST",
      json: { widget_key: this.env.widgetKey },
    });
    this.remember({ sessionId: created.session.id, token: created.token, expiresAt: created.expires_at, cursor: 0 });
  }

  private remember(session: StoredSession): void {
    this.session = session;
    saveSession(this.env.storage, this.env.widgetKey, session);
  }

  private forgetSession(): void {
    this.session = null;
    clearSession(this.env.storage, this.env.widgetKey);
  }

  /** Refreshes the visitor token when it is within five minutes of expiring (once at a time). */
  private ensureToken(): Promise<void> {
    const session = this.session;
    if (!session) return Promise.reject(new ApiError(401, null));
    if (!needsRefresh(session, this.env.now())) return Promise.resolve();
    this.refreshing ??= apiJson<SessionWithToken>(sessionPath(session.sessionId, "/token"), {
      method: "POST",
      token: session.token,
    })
      .then((fresh) => {
        if (this.session?.sessionId === session.sessionId) {
          this.remember({ ...this.session, token: fresh.token, expiresAt: fresh.expires_at });
        }
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private async loadHistory(): Promise<void> {
    const session = this.session!;
    const [page, current] = await Promise.all([
      apiJson<MessagePage>(sessionPath(session.sessionId, `/messages?limit=${HISTORY_PAGE}`), { token: session.token }),
      apiJson<{ session: Session }>(sessionPath(session.sessionId), { token: session.token }),
    ]);
    this.updateChat((chat) => ({
      ...addRatings(addMessages(chat, page.messages), page.feedback),
      handedOff: current.session.status === "handed_off",
    }));
  }

  /** The session is gone (expired, erased): start a new one and say so (once at a time). */
  private restartSession(): Promise<void> {
    this.restarting ??= this.replaceSession().finally(() => {
      this.restarting = null;
    });
    return this.restarting;
  }

  private async replaceSession(): Promise<void> {
    this.feed?.stop();
    this.feed = null;
    this.forgetSession();
    try {
      await this.createSession();
      this.update({ rating: {} });
      this.updateChat((chat) => ({ ...addNotice(chat, NEW_SESSION_NOTICE), handedOff: false, ratings: {} }));
      this.followFeed();
    } catch (error) {
      if (!isAbort(error)) this.update({ phase: "failed", error: { text: friendlyMessage(error), retry: true } });
    }
  }

  private followFeed(): void {
    const session = this.session;
    if (!session || this.disposed) return;
    const feed = new EventFeed({
      after: session.cursor,
      poll: async (after, signal) => {
        await this.ensureToken();
        return apiJson<FeedBatch>(eventsPath(session.sessionId, after), { token: this.session!.token, signal });
      },
      onBatch: (batch) => {
        this.updateChat((chat) => applyFeed(chat, batch.events));
        if (this.session?.sessionId === session.sessionId) this.remember(withCursor(this.session, batch.cursor));
      },
      onState: (state) => this.update({ connection: state }),
      isFatal: isSessionGone,
      onFatal: () => void this.restartSession(),
      isOnline: this.env.isOnline,
      ...(this.env.sleep ? { sleep: this.env.sleep } : {}),
    });
    this.feed = feed;
    void feed.start();
  }

  // ---- sending ------------------------------------------------------------

  setDraft(text: string): void {
    this.update({ draft: text });
  }

  /** A draft can go when the session is ready and no other message is on its way. */
  get canSend(): boolean {
    const v = this.current;
    return v.phase === "ready" && v.draft.trim() !== "" && !(v.chat.turn && !v.chat.turn.failed);
  }

  /**
   * Sends the draft; false when it cannot be sent now. Pressed while the session is still
   * starting, it is sent as soon as the session is ready.
   */
  send(): boolean {
    if (this.current.phase === "starting" && this.current.draft.trim() !== "") {
      this.sendWhenReady = true;
      return false;
    }
    if (!this.canSend) return false;
    const text = this.current.draft.trim();
    if (this.current.chat.turn?.failed) this.updateChat(abandonTurn);
    // Only attachments already uploaded go with it; ones still uploading wait for the next.
    const attachmentIds = this.current.attachments
      .filter((a) => a.state === "ready" && a.attachmentId)
      .map((a) => a.attachmentId!)
      .slice(0, MAX_ATTACHMENTS_PER_MESSAGE);
    const localId = `local:${this.env.newId()}`;
    this.update({
      draft: "",
      error: null,
      chat: startTurn(this.current.chat, {
        localId,
        idempotencyKey: this.env.newId(),
        text,
        attachmentIds,
        now: this.env.now(),
      }),
    });
    void this.runTurn();
    return true;
  }

  /** Tries the failed turn again with the same Idempotency-Key, or starting the session. */
  retry(): void {
    if (this.current.phase === "failed") {
      void this.start();
      return;
    }
    const turn = this.current.chat.turn;
    if (!turn?.failed) return;
    this.retryWhenOnline = false;
    this.update({ error: null, chat: retryTurn(this.current.chat) });
    void this.runTurn();
  }

  private async runTurn(): Promise<void> {
    const turn = this.current.chat.turn;
    if (!turn) return;
    this.turnAbort = new AbortController();
    try {
      await this.ensureToken();
      const session = this.session!;
      const body: { text: string; attachments?: string[] } = { text: turn.text };
      if (turn.attachmentIds.length > 0) body.attachments = turn.attachmentIds;
      const res = await apiFetch(sessionPath(session.sessionId, "/messages"), {
        method: "POST",
        token: session.token,
        idempotencyKey: turn.idempotencyKey,
        json: body,
        accept: "text/event-stream",
        signal: this.turnAbort.signal,
      });
      if ((res.headers.get("content-type") ?? "").includes("text/event-stream") && res.body) {
        await this.readTurnStream(res.body);
      } else {
        const answer = (await res.json()) as Turn;
        this.updateChat((chat) => finishTurn(turnStored(chat, answer.message), answer.reply, answer.notice));
      }
      const sent = new Set(turn.attachmentIds);
      this.update({ attachments: this.current.attachments.filter((a) => !a.attachmentId || !sent.has(a.attachmentId)) });
    } catch (error) {
      if (this.disposed || isAbort(error)) return;
      this.turnFailed(error, turn.text);
    } finally {
      this.turnAbort = null;
    }
  }

  private async readTurnStream(body: ReadableStream<Uint8Array>): Promise<void> {
    let finished = false;
    try {
      for await (const event of readSse(body)) {
        const data = JSON.parse(event.data) as Record<string, unknown>;
        switch (event.event) {
          case "message":
            this.updateChat((chat) => turnStored(chat, data as unknown as Message));
            break;
          case "token":
            this.updateChat((chat) => turnToken(chat, String(data.text ?? "")));
            break;
          case "citations":
            this.updateChat((chat) => turnCitations(chat, (data.citations as Citation[] | undefined) ?? []));
            break;
          case "notice":
            this.updateChat((chat) => turnNotice(chat, String(data.text ?? "")));
            break;
          case "action":
            this.updateChat((chat) => turnAction(chat, (data.action as Action | null | undefined) ?? null));
            break;
          case "done":
            finished = true;
            this.updateChat((chat) => finishTurn(chat, (data.reply as Message | null | undefined) ?? null));
            break;
          default:
            break;
        }
      }
    } catch (error) {
      if (isAbort(error)) throw error;
      throw new NetworkError("the reply was cut off");
    }
    // The server stored the turn before answering: a retry with the same key replays it.
    if (!finished) throw new NetworkError("the reply was cut off");
  }

  private turnFailed(error: unknown, text: string): void {
    if (isSessionGone(error)) {
      this.update({ chat: abandonTurn(this.current.chat), draft: text });
      void this.restartSession();
      return;
    }
    const retryable =
      error instanceof NetworkError ||
      !(error instanceof ApiError) ||
      error.status === 429 ||
      error.status >= 500;
    if (retryable) {
      this.retryWhenOnline = error instanceof NetworkError;
      this.update({
        chat: failTurn(this.current.chat),
        error: { text: error instanceof NetworkError ? OFFLINE_MESSAGE : friendlyMessage(error), retry: true },
      });
      return;
    }
    // The message itself was refused (too long, closed session …): give the text back to edit.
    this.update({
      chat: abandonTurn(this.current.chat),
      draft: this.current.draft === "" ? text : this.current.draft,
      error: { text: friendlyMessage(error), retry: false },
    });
  }

  // ---- handoff ------------------------------------------------------------

  /** "Talk to a person": opens (or finds) the session's ticket and shows the server's notice. */
  async escalate(): Promise<void> {
    if (this.current.phase !== "ready" || this.current.escalating) return;
    const wasHandedOff = this.current.chat.handedOff;
    // Set first, so the feed's `handed_off` status does not announce the same thing twice.
    this.update({ escalating: true, error: null, chat: { ...this.current.chat, handedOff: true } });
    try {
      await this.ensureToken();
      const session = this.session!;
      const result = await apiJson<Escalated>(sessionPath(session.sessionId, "/escalate"), {
        method: "POST",
        token: session.token,
      });
      this.updateChat((chat) => ({ ...addNotice(chat, result.notice), handedOff: true }));
    } catch (error) {
      if (isAbort(error)) return;
      this.updateChat((chat) => ({ ...chat, handedOff: wasHandedOff }));
      if (isSessionGone(error)) {
        void this.restartSession();
        return;
      }
      this.update({ error: { text: friendlyMessage(error), retry: false } });
    } finally {
      this.update({ escalating: false });
    }
  }

  // ---- feedback -----------------------------------------------------------

  private changeRating(target: string, change: Partial<RatingState>): void {
    const known = this.current.rating[target] ?? NO_RATING;
    this.update({ rating: { ...this.current.rating, [target]: { ...known, ...change } } });
  }

  private ratingOf(target: string, choice: boolean, comment: string | null): Rating {
    const rating: Rating = target === CONVERSATION ? { resolved: choice } : { message_id: target, helpful: choice };
    return comment === null ? rating : { ...rating, comment };
  }

  /**
   * Rates a bot reply (`target` is its id: helpful or not) or the conversation (`target` is
   * `CONVERSATION`: solved or not). Shown as chosen at once; "Not helpful" and "No" open the
   * comment box. A change of mind while one is on its way is sent after it.
   */
  rate(target: string, choice: boolean): void {
    if (this.current.phase !== "ready") return;
    this.changeRating(target, {
      sending: choice,
      error: null,
      commenting: !choice,
      thanked: false,
    });
    this.sendRating(target, { rating: this.ratingOf(target, choice, null), withComment: false });
  }

  setRatingComment(target: string, text: string): void {
    this.changeRating(target, { comment: text });
  }

  /** Sends the comment box's text with the current (negative) choice. */
  sendRatingComment(target: string): void {
    const state = this.current.rating[target];
    const comment = state?.comment.trim() ?? "";
    if (this.current.phase !== "ready" || !state?.commenting || comment === "") return;
    const choice = ratingChoice(this.current, target) ?? false;
    this.changeRating(target, { sending: choice, error: null });
    this.sendRating(target, { rating: this.ratingOf(target, choice, comment), withComment: true });
  }

  private sendRating(target: string, request: { rating: Rating; withComment: boolean }): void {
    if (this.ratingsInFlight.has(target)) {
      this.ratingsInFlight.set(target, request);
      return;
    }
    this.ratingsInFlight.set(target, null);
    void this.runRatings(target, request);
  }

  /** Sends one target's ratings one after another, so the last choice is the one stored. */
  private async runRatings(target: string, first: { rating: Rating; withComment: boolean }): Promise<void> {
    let request: { rating: Rating; withComment: boolean } | null = first;
    try {
      while (request) {
        await this.ensureToken();
        const session = this.session!;
        const { feedback } = await putRating(session.token, session.sessionId, request.rating);
        if (this.disposed || this.session?.sessionId !== session.sessionId) return;
        this.updateChat((chat) => addRatings(chat, [feedback]));
        if (request.withComment) this.changeRating(target, { commenting: false, comment: "", thanked: true });
        request = this.ratingsInFlight.get(target) ?? null;
        this.ratingsInFlight.set(target, null);
      }
      this.changeRating(target, { sending: null });
    } catch (error) {
      if (isAbort(error)) return;
      const text = error instanceof NetworkError ? RATING_OFFLINE_MESSAGE : friendlyMessage(error);
      this.changeRating(target, { sending: null, error: text });
    } finally {
      this.ratingsInFlight.delete(target);
    }
  }

  // ---- attachments --------------------------------------------------------

  /** Checks and uploads files; each gets a chip that ends `ready` or `error`. */
  attach(files: readonly File[]): void {
    if (this.current.phase === "starting") {
      this.filesWhenReady.push(...files);
      return;
    }
    if (this.current.phase !== "ready") return;
    for (const file of files) {
      const localId = `file:${this.env.newId()}`;
      const live = this.current.attachments.filter((a) => a.state !== "error").length;
      let problem = fileProblem(file);
      if (!problem && live >= MAX_ATTACHMENTS_PER_MESSAGE) {
        problem = `You can attach up to ${MAX_ATTACHMENTS_PER_MESSAGE} files to a message.`;
      }
      const chip: AttachmentChip = {
        localId,
        name: file.name,
        state: problem ? "error" : "uploading",
        progress: 0,
        attachmentId: null,
        error: problem,
      };
      this.update({
        attachments: [...this.current.attachments, chip],
        ...(problem ? { error: { text: problem, retry: false } } : {}),
      });
      if (!problem) void this.upload(localId, file);
    }
  }

  private changeChip(localId: string, change: Partial<AttachmentChip>): void {
    this.update({
      attachments: this.current.attachments.map((a) => (a.localId === localId ? { ...a, ...change } : a)),
    });
  }

  private async upload(localId: string, file: File): Promise<void> {
    const abort = new AbortController();
    this.uploads.set(localId, abort);
    try {
      await this.ensureToken();
      const session = this.session!;
      const result = await this.env.upload<Attachment>({
        url: sessionPath(session.sessionId, "/attachments"),
        file,
        token: session.token,
        signal: abort.signal,
        onProgress: (progress) => this.changeChip(localId, { progress }),
      });
      this.changeChip(localId, { state: "ready", progress: 1, attachmentId: result.attachment.id });
    } catch (error) {
      if (isAbort(error)) return;
      const text = friendlyMessage(error);
      this.changeChip(localId, { state: "error", error: text });
      this.update({ error: { text: `“${file.name}” could not be attached: ${text}`, retry: false } });
    } finally {
      this.uploads.delete(localId);
    }
  }

  removeAttachment(localId: string): void {
    this.uploads.get(localId)?.abort();
    this.update({ attachments: this.current.attachments.filter((a) => a.localId !== localId) });
  }

  dismissError(): void {
    this.update({ error: null });
  }

  dispose(): void {
    this.feed?.stop();
    this.turnAbort?.abort();
    for (const abort of this.uploads.values()) abort.abort();
    this.env.events.removeEventListener("online", this.onOnline);
    this.env.events.removeEventListener("offline", this.onOffline);
    this.disposed = true;
    this.listeners.clear();
  }
}
