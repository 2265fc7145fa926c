// The admin knowledge page's calls: list, upload and delete knowledge-base documents,
// preview a search, list the questions the bot could not answer (or export them as CSV) and
// write curated answers for them, each with the admin's bearer token. (Not in lib/api.ts:
// that module is shared with the chat page, whose size counts against the widget budget.)
import { apiFetch, apiJson, NetworkError } from "../lib/api";
import type {
  CuratedAnswerInput,
  CuratedAnswerList,
  CuratedSaved,
  DocumentPage,
  Ingested,
  SearchMode,
  SearchResults,
  UnansweredReport,
} from "../lib/types";
import { uploadWithProgress } from "../lib/upload";

export const DOCUMENT_PAGE_SIZE = 50;
export const SEARCH_LIMIT = 10;

export function listDocuments(token: string, cursor: string | null): Promise<DocumentPage> {
  const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
  return apiJson<DocumentPage>(`/api/kb/documents?limit=${DOCUMENT_PAGE_SIZE}${after}`, { token });
}

export function deleteDocument(token: string, id: string): Promise<void> {
  return apiJson<void>(`/api/kb/documents/${encodeURIComponent(id)}`, { method: "DELETE", token });
}

export interface DocumentUpload {
  file: File;
  title?: string;
  sourceUrl?: string;
}

export function uploadDocument(
  token: string,
  upload: DocumentUpload,
  onProgress: (fraction: number) => void,
): Promise<Ingested> {
  return uploadWithProgress<Ingested>({
    url: "/api/kb/documents",
    file: upload.file,
    // The file name is the document's external id, as kb-loader uses the file's path: a
    // new version of the same file replaces the old one instead of adding a second copy.
    fields: { external_id: upload.file.name, title: upload.title, source_url: upload.sourceUrl },
    token,
    onProgress,
  });
}

export function searchKnowledge(token: string, query: string, mode: SearchMode): Promise<SearchResults> {
  return apiJson<SearchResults>("/api/kb/search", {
    method: "POST",
    token,
    json: { query, mode, limit: SEARCH_LIMIT },
  });
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** A time range in unix milliseconds, as the unanswered-questions report takes it. */
export interface Period {
  since: number;
  until: number;
}

/** The last `days` days up to `now`. */
export function lastDays(days: number, now: number = Date.now()): Period {
  return { since: now - days * DAY_MS, until: now };
}

function unansweredUrl(period: Period, format?: "csv"): string {
  const csv = format ? `&format=${format}` : "";
  return `/api/kb/unanswered?since=${Math.floor(period.since)}&until=${Math.floor(period.until)}${csv}`;
}

/** The questions the bot declined, handed off or that were rated not helpful, grouped. */
export function listUnanswered(token: string, period: Period, signal?: AbortSignal): Promise<UnansweredReport> {
  return apiJson<UnansweredReport>(unansweredUrl(period), { token, signal });
}

/** The same report as a CSV file (to save with `saveBlob`). */
export async function exportUnansweredCsv(token: string, period: Period): Promise<Blob> {
  const res = await apiFetch(unansweredUrl(period, "csv"), { token, accept: "text/csv" });
  try {
    return await res.blob();
  } catch {
    throw new NetworkError("the answer was cut off");
  }
}

export function listCurated(token: string): Promise<CuratedAnswerList> {
  return apiJson<CuratedAnswerList>("/api/kb/curated", { token });
}

/** Saves a curated answer: a new one, or the new text of the answer with the same question. */
export function saveCurated(token: string, input: CuratedAnswerInput): Promise<CuratedSaved> {
  return apiJson<CuratedSaved>("/api/kb/curated", { method: "POST", token, json: input });
}

/**
 * Saves a blob as a download named `filename`: the CSV export is fetched with the bearer
 * token in a header, so a plain link to the URL would not be authorised.
 */
export function saveBlob(blob: Blob, filename: string, doc: Document = document): void {
  const url = URL.createObjectURL(blob);
  const link = doc.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  doc.body.appendChild(link);
  try {
    link.click();
  } finally {
    link.remove();
    // Some browsers start the download after click() returns: revoke a little later.
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
}
