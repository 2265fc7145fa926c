// Tests of the SSE parser: framing as the server writes it (components/message, event_stream),
// and the same bytes cut anywhere, with CRLF, CR, multi-line data and comments.
import { describe, expect, it } from "vitest";
import { SseParser, readSse, type SseEvent } from "./sse";

const SERVER_STREAM =
  'event: message\ndata: {"id":"m1","author":"visitor"}\n\n' +
  'event: token\ndata: {"text":"Refunds "}\n\n' +
  'event: token\ndata: {"text":"take 5 days [1]."}\n\n' +
  'event: citations\ndata: {"citations":[]}\n\n' +
  'event: action\ndata: {"action":null}\n\n' +
  'event: done\ndata: {"reply":null,"degraded":false}\n\n';

function parseInPieces(text: string, cuts: number[]): SseEvent[] {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  let start = 0;
  for (const cut of [...cuts, text.length]) {
    events.push(...parser.push(text.slice(start, cut)));
    start = cut;
  }
  events.push(...parser.end());
  return events;
}

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
}

describe("SseParser", () => {
  it("reads the server's events in order with their names and data", () => {
    const events = parseInPieces(SERVER_STREAM, []);
    expect(events.map((e) => e.event)).toEqual(["message", "token", "token", "citations", "action", "done"]);
    expect(JSON.parse(events[1]!.data)).toEqual({ text: "Refunds " });
  });

  it("gives the same events however the text is cut into pieces", () => {
    const whole = parseInPieces(SERVER_STREAM, []);
    for (let cut = 1; cut < SERVER_STREAM.length; cut++) {
      expect(parseInPieces(SERVER_STREAM, [cut])).toEqual(whole);
    }
    const everyChar = Array.from({ length: SERVER_STREAM.length - 1 }, (_, i) => i + 1);
    expect(parseInPieces(SERVER_STREAM, everyChar)).toEqual(whole);
  });

  it("accepts CRLF and lone CR line ends, also when CR and LF arrive in different pieces", () => {
    const crlf = SERVER_STREAM.replace(/\n/g, "\r\n");
    const whole = parseInPieces(SERVER_STREAM, []);
    expect(parseInPieces(crlf, [])).toEqual(whole);
    for (let cut = 1; cut < crlf.length; cut++) {
      expect(parseInPieces(crlf, [cut])).toEqual(whole);
    }
    expect(parseInPieces(SERVER_STREAM.replace(/\n/g, "\r"), [])).toEqual(whole);
  });

  it("joins multi-line data with newlines and strips one leading space only", () => {
    const events = parseInPieces("event: token\ndata: first\ndata:  second\ndata:\n\n", []);
    expect(events).toEqual([{ event: "token", data: "first\n second\n" }]);
  });

  it("ignores comments, unknown fields and events without data", () => {
    const events = parseInPieces(": keep-alive\nretry: 10\nfoo: bar\n\nevent: ping\n\ndata: x\n\n", []);
    expect(events).toEqual([{ event: "message", data: "x" }]);
  });

  it("delivers a final event that lacks its blank line when the stream ends", () => {
    expect(parseInPieces('event: done\ndata: {"reply":null}', [])).toEqual([
      { event: "done", data: '{"reply":null}' },
    ]);
  });

  it("resets the event name between events", () => {
    const events = parseInPieces("event: token\ndata: a\n\ndata: b\n\n", []);
    expect(events.map((e) => e.event)).toEqual(["token", "message"]);
  });
});

describe("readSse", () => {
  it("decodes UTF-8 characters split across chunks", async () => {
    const bytes = new TextEncoder().encode('event: token\ndata: {"text":"Grüße 👋"}\n\n');
    const chunks = Array.from(bytes, (b) => new Uint8Array([b]));
    const events: SseEvent[] = [];
    for await (const e of readSse(streamOf(chunks))) events.push(e);
    expect(events).toEqual([{ event: "token", data: '{"text":"Grüße 👋"}' }]);
  });
});
