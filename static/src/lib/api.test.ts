// Tests of the HTTP client: request headers, problem+json errors, and the sentences shown
// for each kind of failure.
import { describe, expect, it, vi } from "vitest";
import {
  ApiError,
  NetworkError,
  apiFetch,
  apiJson,
  friendlyMessage,
  isSessionGone,
  parseRetryAfter,
  rate,
} from "./api";

function problemResponse(status: number, detail: string, headers: Record<string, string> = {}) {
  return new Response(
    JSON.stringify({ type: "urn:support-agent:problem:x", title: "Title", status, detail }),
    { status, headers: { "content-type": "application/problem+json", ...headers } },
  );
}

describe("apiFetch", () => {
  it("sends the bearer token, idempotency key and JSON body", async () => {
    const fetchMock = vi.fn(async () => new Response("{}", { status: 201 }));
    vi.stubGlobal("fetch", fetchMock);
    await apiFetch("/api/sessions/s1/messages", { token: "t0k", idempotencyKey: "k-1", json: { text: "hi" } });
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    const headers = init.headers as Record<string, string>;
    expect(url).toBe("/api/sessions/s1/messages");
    expect(init.method).toBe("POST");
    expect(headers.Authorization).toBe("Bearer t0k");
    expect(headers["Idempotency-Key"]).toBe("k-1");
    expect(headers["Content-Type"]).toBe("application/json");
    expect(init.body).toBe('{"text":"hi"}');
  });

  it("uses GET and no body when there is nothing to send", async () => {
    const fetchMock = vi.fn(async () => new Response("{}"));
    vi.stubGlobal("fetch", fetchMock);
    await apiFetch("/api/kb/documents");
    const init = (fetchMock.mock.calls[0] as unknown as [string, RequestInit])[1];
    expect(init.method).toBe("GET");
    expect(init.body).toBeUndefined();
    expect((init.headers as Record<string, string>).Authorization).toBeUndefined();
  });

  it("turns a problem+json answer into an ApiError with its detail and Retry-After", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => problemResponse(429, "slow down", { "retry-after": "7" })));
    const error = await apiFetch("/api/x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(429);
    expect((error as ApiError).problem?.detail).toBe("slow down");
    expect((error as ApiError).retryAfterSeconds).toBe(7);
  });

  it("keeps the status of an error whose body is not JSON", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response("<html>bad gateway</html>", { status: 502 })));
    const error = (await apiFetch("/api/x").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(502);
    expect(error.problem).toBeNull();
  });

  it("turns a failed fetch into a NetworkError", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(apiFetch("/api/x")).rejects.toBeInstanceOf(NetworkError);
  });

  it("passes the caller's abort through untouched", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new DOMException("aborted", "AbortError"))));
    const error = await apiFetch("/api/x").catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(NetworkError);
    expect((error as Error).name).toBe("AbortError");
  });
});

describe("apiJson", () => {
  it("returns the parsed body, and undefined for 204", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response('{"a":1}')));
    expect(await apiJson<{ a: number }>("/api/x")).toEqual({ a: 1 });
    vi.stubGlobal("fetch", vi.fn(async () => new Response(null, { status: 204 })));
    expect(await apiJson("/api/x", { method: "DELETE" })).toBeUndefined();
  });
});

describe("parseRetryAfter", () => {
  it("reads delta seconds and HTTP dates", () => {
    expect(parseRetryAfter("12")).toBe(12);
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(parseRetryAfter("Wed, 01 Jan 2025 00:00:30 GMT", now)).toBe(30);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter("soon")).toBeNull();
  });
});

describe("friendlyMessage", () => {
  const apiError = (status: number, detail = "the detail", retryAfter: number | null = null) =>
    new ApiError(status, { type: "t", title: "T", status, detail }, retryAfter);

  it("asks to wait the Retry-After seconds on 429", () => {
    expect(friendlyMessage(apiError(429, "x", 12))).toBe(
      "You're sending messages quickly — please wait 12 seconds.",
    );
    expect(friendlyMessage(apiError(429, "x", 1))).toContain("please wait 1 second.");
  });

  it("says the visitor is offline on a network failure", () => {
    expect(friendlyMessage(new NetworkError())).toBe("You're offline. We'll send it when you're back.");
  });

  it("shows the problem's detail for 413, 415 and 422", () => {
    expect(friendlyMessage(apiError(413, "The file is larger than 10 MiB."))).toBe("The file is larger than 10 MiB.");
    expect(friendlyMessage(apiError(415, "Unsupported type."))).toBe("Unsupported type.");
    expect(friendlyMessage(apiError(422, "text must not be empty"))).toBe("text must not be empty");
  });

  it("never shows server internals for 5xx", () => {
    expect(friendlyMessage(apiError(500, "panic at db.rs:42"))).toBe(
      "Something went wrong on our side. Please try again.",
    );
    expect(friendlyMessage(apiError(503))).toBe("Something went wrong on our side. Please try again.");
  });
});

describe("isSessionGone", () => {
  it("is true only for 401 and 404", () => {
    expect(isSessionGone(new ApiError(401, null))).toBe(true);
    expect(isSessionGone(new ApiError(404, null))).toBe(true);
    expect(isSessionGone(new ApiError(409, null))).toBe(false);
    expect(isSessionGone(new NetworkError())).toBe(false);
  });
});

describe("rate", () => {
  it("puts the visitor's rating of a reply or of the conversation with the session token", async () => {
    const stored = { message_id: "b1", helpful: false, comment: "vague", created_at: 1, updated_at: 1 };
    const fetchMock = vi.fn(async () => new Response(JSON.stringify({ feedback: stored, changed: true })));
    vi.stubGlobal("fetch", fetchMock);
    await expect(rate("t0k", "s/1", { message_id: "b1", helpful: false, comment: "vague" })).resolves.toEqual({
      feedback: stored,
      changed: true,
    });
    await rate("t0k", "s1", { resolved: true });
    const calls = fetchMock.mock.calls as unknown as [string, RequestInit][];
    expect(calls.map(([url, init]) => [url, init.method, init.body])).toEqual([
      ["/api/sessions/s%2F1/feedback", "PUT", '{"message_id":"b1","helpful":false,"comment":"vague"}'],
      ["/api/sessions/s1/feedback", "PUT", '{"resolved":true}'],
    ]);
    expect((calls[0]![1].headers as Record<string, string>).Authorization).toBe("Bearer t0k");
  });
});
