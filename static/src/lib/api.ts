// The one HTTP client of the web UI: same-origin `/api/...` requests with a bearer token,
// JSON bodies and an optional Idempotency-Key; failures become `ApiError` (the server's
// problem+json) or `NetworkError` (no answer at all), and `friendlyMessage` turns either
// into the sentence a person sees. Also the visitor's one rating call (`rate`). Uploads with
// progress live in upload.ts.
import type { Problem, Rated, Rating } from "./types";

/** The server answered with an error status (its body is problem+json when it can be). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
    /** Seconds from the `Retry-After` header (429, 503), when the server sent one. */
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.name = "ApiError";
  }
}

/** No answer: offline, DNS, connection reset, or a body cut off midway. */
export class NetworkError extends Error {
  constructor(message = "network error") {
    super(message);
    this.name = "NetworkError";
  }
}

export interface ApiRequest {
  method?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string | null;
  /** Serialised as the JSON body. */
  json?: unknown;
  idempotencyKey?: string;
  accept?: string;
  signal?: AbortSignal;
}

/** Whether an error is the caller's own cancellation (AbortController), not a failure. */
export function isAbort(error: unknown): boolean {
  return error instanceof DOMException
    ? error.name === "AbortError"
    : (error as { name?: string } | null)?.name === "AbortError";
}

/** A session that no longer exists for this token: start a new one. */
export function isSessionGone(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 401 || error.status === 404);
}

/** `Retry-After` as whole seconds from now: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, nowMs: number = Date.now()): number | null {
  if (value == null || value.trim() === "") return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

function asProblem(body: unknown): Problem | null {
  if (body && typeof body === "object") {
    const p = body as Partial<Problem>;
    if (typeof p.status === "number" || typeof p.detail === "string" || typeof p.title === "string") {
      return {
        type: String(p.type ?? "about:blank"),
        title: String(p.title ?? ""),
        status: Number(p.status ?? 0),
        detail: String(p.detail ?? ""),
      };
    }
  }
  return null;
}

/** Builds the `ApiError` of a failed response from its status, body text and headers. */
export function apiErrorFrom(status: number, bodyText: string, retryAfter: string | null): ApiError {
  let problem: Problem | null = null;
  try {
    problem = asProblem(JSON.parse(bodyText));
  } catch {
    problem = null;
  }
  return new ApiError(status, problem, parseRetryAfter(retryAfter));
}

export async function errorFromResponse(res: Response): Promise<ApiError> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    text = "";
  }
  return apiErrorFrom(res.status, text, res.headers.get("retry-after"));
}

/** Sends a request; resolves with a successful response, rejects with ApiError or NetworkError. */
export async function apiFetch(path: string, req: ApiRequest = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: req.accept ?? "application/json" };
  if (req.token) headers.Authorization = `Bearer ${req.token}`;
  if (req.idempotencyKey) headers["Idempotency-Key"] = req.idempotencyKey;
  let body: string | undefined;
  if (req.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(req.json);
  }
  let res: Response;
  try {
    res = await fetch(path, {
      method: req.method ?? (body === undefined ? "GET" : "POST"),
      headers,
      body,
      signal: req.signal,
      credentials: "same-origin",
    });
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new NetworkError(error instanceof Error ? error.message : String(error));
  }
  if (!res.ok) throw await errorFromResponse(res);
  return res;
}

/** `apiFetch` and the JSON body of the answer (`undefined` for 204 No Content). */
export async function apiJson<T>(path: string, req: ApiRequest = {}): Promise<T> {
  const res = await apiFetch(path, req);
  if (res.status === 204) return undefined as T;
  try {
    return (await res.json()) as T;
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new NetworkError("the answer was cut off");
  }
}

/**
 * The visitor rates a bot reply (`{message_id, helpful}`) or the conversation
 * (`{resolved}`), optionally with a comment; a second rating of the same target replaces it.
 */
export function rate(token: string, sessionId: string, rating: Rating): Promise<Rated> {
  return apiJson<Rated>(`/api/sessions/${encodeURIComponent(sessionId)}/feedback`, {
    method: "PUT",
    token,
    json: rating,
  });
}

export const OFFLINE_MESSAGE = "You're offline. We'll send it when you're back.";
export const SERVER_ERROR_MESSAGE = "Something went wrong on our side. Please try again.";

function seconds(n: number): string {
  return n === 1 ? "1 second" : `${n} seconds`;
}

/** The sentence a visitor or an agent sees for a failed request. */
export function friendlyMessage(error: unknown): string {
  if (error instanceof NetworkError) return OFFLINE_MESSAGE;
  if (error instanceof ApiError) {
    const { status, problem } = error;
    if (status === 429) {
      const wait = Math.max(1, error.retryAfterSeconds ?? 5);
      return `You're sending messages quickly — please wait ${seconds(wait)}.`;
    }
    if (status >= 500) return SERVER_ERROR_MESSAGE;
    const detail = problem?.detail?.trim() || problem?.title?.trim();
    if (status === 413) return detail || "That is too large to send.";
    if (status === 415) return detail || "That type of content is not accepted.";
    if (status === 422) return detail || "That could not be accepted. Please check it and try again.";
    if (status === 401) return detail || "You need to sign in again.";
    if (status === 403) return detail || "You are not allowed to do that.";
    if (status === 404) return detail || "That no longer exists.";
    return detail || "That did not work. Please try again.";
  }
  return SERVER_ERROR_MESSAGE;
}
