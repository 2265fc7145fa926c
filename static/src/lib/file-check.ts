// What a visitor or admin may upload, checked before any byte is sent: the types the server
// parses (PDF, DOCX, HTML, Markdown, CSV, JSON, plain text; by extension or MIME type) and
// the size limit (10 MiB for a chat attachment, 20 MiB for a knowledge-base document). The
// server reads the real type from the bytes; this is only the early, friendly refusal.

/** components/message: MAX_ATTACHMENT_BYTES. */
export const MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024;
/** components/ingest: MAX_DOCUMENT_BYTES. */
export const MAX_DOCUMENT_BYTES = 20 * 1024 * 1024;

export const ALLOWED_EXTENSIONS = ["pdf", "docx", "html", "htm", "md", "markdown", "csv", "json", "txt"];

const ALLOWED_MIME_TYPES = new Set([
  "application/pdf",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  "text/html",
  "text/markdown",
  "text/x-markdown",
  "text/csv",
  "application/json",
  "text/plain",
]);

/** The value for an <input type=file accept=...>. */
export const ACCEPT_ATTRIBUTE = [
  ...ALLOWED_EXTENSIONS.map((e) => `.${e}`),
  ...ALLOWED_MIME_TYPES,
].join(",");

export function extensionOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  const mb = bytes / (1024 * 1024);
  return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
}

/** Why this file cannot be uploaded, or null when it can. */
export function fileProblem(
  file: { name: string; type: string; size: number },
  maxBytes: number = MAX_ATTACHMENT_BYTES,
): string | null {
  const ext = extensionOf(file.name);
  const mime = file.type.split(";")[0]!.trim().toLowerCase();
  const typeOk = ALLOWED_EXTENSIONS.includes(ext) || ALLOWED_MIME_TYPES.has(mime);
  if (!typeOk) {
    return `“${file.name}” can't be uploaded: only PDF, Word (.docx), HTML, Markdown, CSV, JSON and text files are accepted.`;
  }
  if (file.size > maxBytes) {
    return `“${file.name}” is ${formatBytes(file.size)}; files can be at most ${formatBytes(maxBytes)}.`;
  }
  if (file.size === 0) return `“${file.name}” is empty.`;
  return null;
}
