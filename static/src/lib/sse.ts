// Server-Sent Events read from a fetch body (the chat's POST answers with an event stream,
// so EventSource, which only GETs, cannot be used). `SseParser` applies the WHATWG framing
// to text arriving in arbitrary pieces: lines end in LF, CRLF or CR (even split across
// pieces), `data:` lines join with "\n", a blank line dispatches, `:` lines are comments.
// Not for reconnection (`retry:`/Last-Event-ID): a chat turn is one request.

export interface SseEvent {
  /** The `event:` name; "message" when the event named none. */
  event: string;
  data: string;
  id?: string;
}

export class SseParser {
  private buffer = "";
  /** The previous piece ended in CR: a LF starting the next piece belongs to that line end. */
  private afterCr = false;
  private eventName = "";
  private dataLines: string[] = [];
  private hasData = false;
  private lastId: string | undefined;

  /** Feeds the next piece of text; returns the events it completed. */
  push(text: string): SseEvent[] {
    if (text === "") return [];
    if (this.afterCr && text.startsWith("\n")) text = text.slice(1);
    this.afterCr = false;
    this.buffer += text;
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (c !== "\n" && c !== "\r") continue;
      this.line(this.buffer.slice(start, i), events);
      if (c === "\r") {
        if (i + 1 === this.buffer.length) this.afterCr = true;
        else if (this.buffer[i + 1] === "\n") i++;
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /**
   * The stream ended. A final event without its blank line is still delivered: the server
   * always ends with one, and losing the last `done` to a proxy's trimming would be worse.
   */
  end(): SseEvent[] {
    const events: SseEvent[] = [];
    if (this.buffer !== "") this.line(this.buffer, events);
    this.buffer = "";
    this.dispatch(events);
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === "") {
      this.dispatch(events);
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventName = value;
        break;
      case "data":
        this.dataLines.push(value);
        this.hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      default:
        // `retry` and unknown fields are ignored, as the standard says.
        break;
    }
  }

  private dispatch(events: SseEvent[]): void {
    if (this.hasData) {
      const event: SseEvent = { event: this.eventName || "message", data: this.dataLines.join("\n") };
      if (this.lastId !== undefined) event.id = this.lastId;
      events.push(event);
    }
    this.eventName = "";
    this.dataLines = [];
    this.hasData = false;
  }
}

/** The events of a response body, decoded as UTF-8 (characters split across chunks included). */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    yield* parser.push(decoder.decode());
    yield* parser.end();
  } finally {
    reader.releaseLock();
  }
}
