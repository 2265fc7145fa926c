// The admin knowledge page's calls: list, upload and delete knowledge-base documents, and
// preview a search, each with the admin's bearer token.
import { apiJson } from "../lib/api";
import type { DocumentPage, Ingested, SearchMode, SearchResults } from "../lib/types";
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
