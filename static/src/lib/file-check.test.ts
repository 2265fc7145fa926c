// Tests of the upload checks: accepted types by extension or MIME type, and the size limit.
import { describe, expect, it } from "vitest";
import { MAX_ATTACHMENT_BYTES, MAX_DOCUMENT_BYTES, extensionOf, fileProblem, formatBytes } from "./file-check";

const file = (name: string, type = "", size = 100) => ({ name, type, size });

describe("fileProblem", () => {
  it("accepts every supported extension whatever the browser says the type is", () => {
    for (const name of ["a.pdf", "b.docx", "c.html", "d.htm", "e.md", "f.markdown", "g.csv", "h.json", "i.txt", "J.PDF"]) {
      expect(fileProblem(file(name, "application/octet-stream"))).toBeNull();
    }
  });

  it("accepts a supported MIME type when the name has no known extension", () => {
    expect(fileProblem(file("notes", "text/plain"))).toBeNull();
    expect(fileProblem(file("report", "application/pdf"))).toBeNull();
  });

  it("refuses other types with a message naming the file and what is accepted", () => {
    const problem = fileProblem(file("setup.exe", "application/x-msdownload"));
    expect(problem).toContain("setup.exe");
    expect(problem).toContain("PDF");
    expect(fileProblem(file("photo.png", "image/png"))).not.toBeNull();
    expect(fileProblem(file("old.doc", "application/msword"))).not.toBeNull();
  });

  it("refuses attachments over 10 MiB and accepts exactly 10 MiB", () => {
    expect(fileProblem(file("big.pdf", "application/pdf", MAX_ATTACHMENT_BYTES))).toBeNull();
    const problem = fileProblem(file("big.pdf", "application/pdf", MAX_ATTACHMENT_BYTES + 1));
    expect(problem).toContain("at most 10 MB");
    expect(problem).toContain("big.pdf");
  });

  it("lets knowledge-base documents be up to 20 MiB", () => {
    expect(fileProblem(file("manual.pdf", "application/pdf", 15 * 1024 * 1024), MAX_DOCUMENT_BYTES)).toBeNull();
    expect(fileProblem(file("manual.pdf", "application/pdf", MAX_DOCUMENT_BYTES + 1), MAX_DOCUMENT_BYTES)).toContain(
      "at most 20 MB",
    );
  });

  it("refuses empty files", () => {
    expect(fileProblem(file("empty.txt", "text/plain", 0))).toContain("empty");
  });
});

describe("helpers", () => {
  it("reads extensions case-insensitively and ignores dotfiles", () => {
    expect(extensionOf("Guide.Final.MD")).toBe("md");
    expect(extensionOf(".env")).toBe("");
    expect(extensionOf("README")).toBe("");
  });

  it("formats sizes for people", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(12 * 1024 * 1024 + 300_000)).toBe("12.3 MB");
  });
});
