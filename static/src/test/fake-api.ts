// A stand-in for the support-agent API in unit tests: routes fetch calls to handlers by
// method and path, records every request, and serves the event feed as a long-poll that
// answers from a queue of batches (or waits until the test pushes one, or aborts).
import { vi } from "vitest";
import type { Feedback, FeedBatch, FeedEvent, Message } from "../lib/types";

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

type Handler = (req: RecordedRequest) => Response | Promise<Response>;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

export function problem(status: number, detail: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ type: "urn:support-agent:problem:x", title: "Problem", status, detail }), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}

/** An SSE response from `event: name / data: json` pairs, optionally cut into small chunks. */
export function sse(events: [string, unknown][], chunkSize = 7): Response {
  const text = events.map(([name, data]) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`).join("");
  const bytes = new TextEncoder().encode(text);
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += chunkSize) controller.enqueue(bytes.slice(i, i + chunkSize));
      controller.close();
    },
  });
  return new Response(stream, { status: 200, headers: { "content-type": "text/event-stream" } });
}

export function message(id: string, author: Message["author"], text: string, extra: Partial<Message> = {}): Message {
  return { id, author, text, citations: [], action: null, reply_to: null, responder: null, created_at: 1, ...extra };
}

/** A stored rating: of a bot reply (`{ message_id, helpful }`) or of the conversation (`{ resolved }`). */
export function feedback(rating: Partial<Feedback>, updatedAt = 1): Feedback {
  return { comment: null, created_at: updatedAt, updated_at: updatedAt, ...rating };
}

/** A PUT /feedback handler that stores and answers whatever rating it is sent. */
export function echoRating(req: RecordedRequest): Response {
  const body = req.body as Partial<Feedback>;
  return json({ feedback: feedback({ ...body, comment: body.comment ?? null }), changed: true });
}

export class FakeApi {
  readonly requests: RecordedRequest[] = [];
  private handlers: { method: string; path: RegExp; handler: Handler }[] = [];
  private feedBatches: FeedBatch[] = [];
  private feedWaiters: (() => void)[] = [];
  readonly fetch = vi.fn(this.handle.bind(this));

  on(method: string, path: RegExp, handler: Handler): this {
    this.handlers.unshift({ method, path, handler });
    return this;
  }

  /** Queues a batch for the next events poll. */
  pushEvents(events: FeedEvent[], cursor = events.at(-1)?.cursor ?? 0): void {
    this.feedBatches.push({ events, cursor });
    for (const wake of this.feedWaiters.splice(0)) wake();
  }

  requestsTo(method: string, path: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.url));
  }

  private async handle(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    const url = String(input);
    const method = init.method ?? "GET";
    const headers = { ...(init.headers as Record<string, string>) };
    const body = typeof init.body === "string" ? JSON.parse(init.body) : init.body;
    const req: RecordedRequest = { method, url, headers, body };
    this.requests.push(req);
    if (method === "GET" && /\/events\?/.test(url) && !this.handlers.some((h) => h.method === "GET" && h.path.test(url))) {
      return this.poll(init.signal ?? undefined);
    }
    const route = this.handlers.find((h) => h.method === method && h.path.test(url));
    if (!route) return problem(404, `no fake route for ${method} ${url}`);
    return route.handler(req);
  }

  private async poll(signal?: AbortSignal): Promise<Response> {
    while (this.feedBatches.length === 0) {
      await new Promise<void>((resolve, reject) => {
        this.feedWaiters.push(resolve);
        signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")), { once: true });
      });
    }
    return json(this.feedBatches.shift());
  }
}
