// The admin knowledge page: upload a document (with progress), the documents table with
// "Load more" and per-row delete, a search preview showing each retriever's rank and
// score, and the unanswered questions with their curated answers (Curation.tsx). API calls
// live in admin-api.ts, wording in format.ts; this file wires them up.
import { useCallback, useEffect, useState } from "preact/hooks";
import { StaffGate, useStaffFailure, type StaffAuth } from "../components/StaffGate";
import { ACCEPT_ATTRIBUTE, MAX_DOCUMENT_BYTES, fileProblem } from "../lib/file-check";
import { headingPathLabel } from "../lib/messages";
import { safeHref } from "../lib/markdown";
import type { KbDocument, SearchMode, SearchResults } from "../lib/types";
import { deleteDocument, listDocuments, searchKnowledge, uploadDocument } from "./admin-api";
import { Curation } from "./Curation";
import {
  ADMIN_ONLY,
  contentTypeLabel,
  formatDate,
  formatScore,
  retrieverCell,
  searchMetaText,
  uploadStatusText,
} from "./format";

function useFailure(auth: StaffAuth) {
  return useStaffFailure(auth, ADMIN_ONLY);
}

function UploadForm({ auth, onUploaded }: { auth: StaffAuth; onUploaded(): void }) {
  const [file, setFile] = useState<File | null>(null);
  const [title, setTitle] = useState("");
  const [sourceUrl, setSourceUrl] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  const [status, setStatus] = useState<{ text: string; error: boolean } | null>(null);
  const [inputKey, setInputKey] = useState(0);
  const failure = useFailure(auth);

  const submit = async () => {
    if (!file) return;
    const problem = fileProblem(file, MAX_DOCUMENT_BYTES);
    if (problem) {
      setStatus({ text: problem, error: true });
      return;
    }
    setStatus(null);
    setProgress(0);
    try {
      const result = await uploadDocument(auth.token, { file, title, sourceUrl }, setProgress);
      setStatus({ text: uploadStatusText(result), error: false });
      setFile(null);
      setTitle("");
      setSourceUrl("");
      setInputKey((k) => k + 1);
      onUploaded();
    } catch (e) {
      const text = failure(e);
      if (text) setStatus({ text, error: true });
    } finally {
      setProgress(null);
    }
  };

  return (
    <section class="card" aria-labelledby="upload-heading">
      <h2 id="upload-heading">Upload a document</h2>
      <form
        class="upload"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label class="field">
          <span>File (PDF, Word, HTML, Markdown, CSV, JSON or text; up to 20 MB)</span>
          <input
            key={inputKey}
            type="file"
            data-testid="upload-input"
            accept={ACCEPT_ATTRIBUTE}
            onChange={(e) => {
              setFile(e.currentTarget.files?.[0] ?? null);
              setStatus(null);
            }}
          />
        </label>
        <div class="upload__row">
          <label class="field">
            <span>Title (optional)</span>
            <input type="text" value={title} maxLength={300} onInput={(e) => setTitle(e.currentTarget.value)} />
          </label>
          <label class="field">
            <span>Source URL (optional)</span>
            <input
              type="url"
              value={sourceUrl}
              placeholder="https://"
              onInput={(e) => setSourceUrl(e.currentTarget.value)}
            />
          </label>
        </div>
        <div class="upload__actions">
          <button type="submit" class="btn btn--primary" data-testid="upload-submit" disabled={!file || progress !== null}>
            Upload
          </button>
          {progress !== null && (
            <progress max={1} value={progress} aria-label="Upload progress" class="upload__progress" />
          )}
        </div>
        <p
          class={`upload__status${status?.error ? " upload__status--error" : ""}`}
          data-testid="upload-status"
          role="status"
        >
          {progress !== null ? `Uploading… ${Math.round(progress * 100)}%` : (status?.text ?? "")}
        </p>
      </form>
    </section>
  );
}

function DocumentsTable({ auth, refreshKey }: { auth: StaffAuth; refreshKey: number }) {
  const [documents, setDocuments] = useState<KbDocument[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);
  const failure = useFailure(auth);

  const load = useCallback(
    async (after: string | null) => {
      setLoading(true);
      try {
        const page = await listDocuments(auth.token, after);
        setDocuments((docs) => (after ? [...docs, ...page.documents.filter((d) => !docs.some((x) => x.id === d.id))] : page.documents));
        setCursor(page.next_cursor);
        setError(null);
      } catch (e) {
        setError(failure(e));
      } finally {
        setLoading(false);
      }
    },
    [auth.token, failure],
  );

  useEffect(() => {
    void load(null);
  }, [load, refreshKey]);

  const remove = async (doc: KbDocument) => {
    if (!window.confirm(`Delete “${doc.title}” from the knowledge base? This cannot be undone.`)) return;
    setDeleting(doc.id);
    try {
      await deleteDocument(auth.token, doc.id);
      setDocuments((docs) => docs.filter((d) => d.id !== doc.id));
    } catch (e) {
      setError(failure(e));
    } finally {
      setDeleting(null);
    }
  };

  return (
    <section class="card" aria-labelledby="documents-heading">
      <div class="card__head">
        <h2 id="documents-heading">Documents</h2>
        <button type="button" class="btn btn--small" onClick={() => void load(null)} disabled={loading}>
          Refresh
        </button>
      </div>
      {error && (
        <p class="alert" role="alert">
          {error}
        </p>
      )}
      <div class="table-wrap">
        <table class="table">
          <thead>
            <tr>
              <th scope="col">Title</th>
              <th scope="col">External id</th>
              <th scope="col">Type</th>
              <th scope="col" class="num">Chunks</th>
              <th scope="col">Vector index</th>
              <th scope="col">Updated</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {documents.map((doc) => {
              const href = safeHref(doc.source_url);
              return (
                <tr key={doc.id} data-testid="doc-row" data-doc-id={doc.id}>
                  <td>
                    {href ? (
                      <a href={href} target="_blank" rel="noopener noreferrer">
                        {doc.title}
                      </a>
                    ) : (
                      doc.title
                    )}
                  </td>
                  <td class="mono">{doc.external_id}</td>
                  <td>{contentTypeLabel(doc.content_type)}</td>
                  <td class="num">{doc.chunk_count}</td>
                  <td>
                    <span class={`badge${doc.vector_status === "pending" ? " badge--warning" : ""}`}>{doc.vector_status}</span>
                  </td>
                  <td class="nowrap">{formatDate(doc.updated_at)}</td>
                  <td>
                    <button
                      type="button"
                      class="btn btn--small btn--danger"
                      data-testid="delete-button"
                      aria-label={`Delete ${doc.title}`}
                      disabled={deleting === doc.id}
                      onClick={() => void remove(doc)}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {!loading && documents.length === 0 && !error && <p class="muted">No documents yet. Upload one above.</p>}
      {loading && <p class="muted">Loading…</p>}
      {cursor && !loading && (
        <button type="button" class="btn" onClick={() => void load(cursor)}>
          Load more
        </button>
      )}
    </section>
  );
}

function SearchPreview({ auth }: { auth: StaffAuth }) {
  const [query, setQuery] = useState("");
  const [mode, setMode] = useState<SearchMode>("hybrid");
  const [results, setResults] = useState<SearchResults | null>(null);
  const [searching, setSearching] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const failure = useFailure(auth);

  const search = async () => {
    if (!query.trim()) return;
    setSearching(true);
    setError(null);
    try {
      setResults(await searchKnowledge(auth.token, query.trim(), mode));
    } catch (e) {
      setError(failure(e));
    } finally {
      setSearching(false);
    }
  };

  return (
    <section class="card" aria-labelledby="search-heading">
      <h2 id="search-heading">Try a search</h2>
      <form
        class="search"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <input
          type="search"
          data-testid="search-input"
          aria-label="Search query"
          placeholder="How long do refunds take?"
          maxLength={2000}
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
        />
        <select
          data-testid="search-mode"
          aria-label="Search mode"
          value={mode}
          onChange={(e) => setMode(e.currentTarget.value as SearchMode)}
        >
          <option value="hybrid">Hybrid</option>
          <option value="vector">Vector</option>
          <option value="keyword">Keyword</option>
        </select>
        <button type="submit" class="btn btn--primary" data-testid="search-submit" disabled={searching || !query.trim()}>
          Search
        </button>
      </form>
      {error && (
        <p class="alert" role="alert">
          {error}
        </p>
      )}
      {results && (
        <>
          <p class={`search__meta${results.degraded ? " search__meta--degraded" : ""}`} data-testid="search-meta">
            {searchMetaText(results)}
          </p>
          <div class="table-wrap">
            <table class="table">
              <thead>
                <tr>
                  <th scope="col">Rank · fused score</th>
                  <th scope="col">Vector</th>
                  <th scope="col">Keyword</th>
                  <th scope="col">Passage</th>
                </tr>
              </thead>
              <tbody>
                {results.results.map((r) => {
                  const href = safeHref(r.source_url);
                  const path = headingPathLabel(r);
                  return (
                    <tr key={r.chunk_id} data-testid="search-result" data-rank={r.rank}>
                      <td class="nowrap">
                        #{r.rank} · {formatScore(r.score)}
                      </td>
                      <td class="nowrap">{retrieverCell(r.vector)}</td>
                      <td class="nowrap">{retrieverCell(r.keyword)}</td>
                      <td class="passage">
                        <div class="passage__title">
                          {href ? (
                            <a href={href} target="_blank" rel="noopener noreferrer">
                              {r.title}
                            </a>
                          ) : (
                            r.title
                          )}
                          {r.page ? <span class="muted"> · page {r.page}</span> : null}
                        </div>
                        {path && <div class="passage__path muted">{path}</div>}
                        <div class="passage__text">{r.text}</div>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          {results.results.length === 0 && <p class="muted">No passages matched.</p>}
        </>
      )}
    </section>
  );
}

function Knowledge({ auth }: { auth: StaffAuth }) {
  const [refreshKey, setRefreshKey] = useState(0);
  return (
    <main class="admin">
      <UploadForm auth={auth} onUploaded={() => setRefreshKey((k) => k + 1)} />
      <DocumentsTable auth={auth} refreshKey={refreshKey} />
      <SearchPreview auth={auth} />
      <Curation auth={auth} onSaved={() => setRefreshKey((k) => k + 1)} />
    </main>
  );
}

export function AdminApp() {
  return (
    <StaffGate title="Knowledge base" role="admin">
      {(auth) => <Knowledge auth={auth} />}
    </StaffGate>
  );
}
