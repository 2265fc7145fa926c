// Tests of uploads with progress against a stand-in XMLHttpRequest.
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, NetworkError } from "./api";
import { uploadWithProgress } from "./upload";

class FakeXhr {
  static last: FakeXhr;
  method = "";
  url = "";
  headers: Record<string, string> = {};
  body: FormData | null = null;
  status = 0;
  responseText = "";
  responseHeaders: Record<string, string> = {};
  upload: { onprogress: ((e: { lengthComputable: boolean; loaded: number; total: number }) => void) | null } = {
    onprogress: null,
  };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  constructor() {
    FakeXhr.last = this;
  }
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  getResponseHeader(name: string) {
    return this.responseHeaders[name.toLowerCase()] ?? null;
  }
  send(body: FormData) {
    this.body = body;
  }
  abort() {
    this.onabort?.();
  }
  answer(status: number, body: unknown, headers: Record<string, string> = {}) {
    this.status = status;
    this.responseText = typeof body === "string" ? body : JSON.stringify(body);
    this.responseHeaders = headers;
    this.onload?.();
  }
}

const file = () => new File(["# Refunds\nFive days."], "refunds.md", { type: "text/markdown" });

describe("uploadWithProgress", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("posts the file as the multipart `file` part with the bearer token and reports progress", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const progress: number[] = [];
    const done = uploadWithProgress<{ status: string }>({
      url: "/api/kb/documents",
      file: file(),
      fields: { title: " Refunds ", source_url: "" },
      token: "adm",
      onProgress: (f) => progress.push(f),
    });
    const xhr = FakeXhr.last;
    expect(xhr.method).toBe("POST");
    expect(xhr.url).toBe("/api/kb/documents");
    expect(xhr.headers.Authorization).toBe("Bearer adm");
    expect((xhr.body!.get("file") as File).name).toBe("refunds.md");
    expect(xhr.body!.get("title")).toBe("Refunds");
    expect(xhr.body!.has("source_url")).toBe(false);
    xhr.upload.onprogress?.({ lengthComputable: true, loaded: 50, total: 100 });
    xhr.answer(201, { status: "created" });
    await expect(done).resolves.toEqual({ status: "created" });
    expect(progress).toEqual([0.5, 1]);
  });

  it("rejects with the problem of an error answer", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const done = uploadWithProgress({ url: "/u", file: file(), token: "t" });
    FakeXhr.last.answer(415, { type: "t", title: "Unsupported", status: 415, detail: "Images are not supported." });
    const error = (await done.catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.problem?.detail).toBe("Images are not supported.");
  });

  it("rejects with a NetworkError when the connection fails", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const done = uploadWithProgress({ url: "/u", file: file(), token: "t" });
    FakeXhr.last.onerror?.();
    await expect(done).rejects.toBeInstanceOf(NetworkError);
  });

  it("cancels the request when the signal aborts", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const abort = new AbortController();
    const done = uploadWithProgress({ url: "/u", file: file(), token: "t", signal: abort.signal });
    abort.abort();
    await expect(done).rejects.toMatchObject({ name: "AbortError" });
  });
});
