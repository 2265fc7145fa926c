// How the admin page words and formats API results: upload outcomes, document rows, each
// retriever's rank and score in a search preview, and the search's degraded/confidence line.
import type { Ingested, RetrieverRank, SearchResults } from "../lib/types";

const CONTENT_TYPES: Record<string, string> = {
  pdf: "PDF",
  docx: "Word",
  html: "HTML",
  markdown: "Markdown",
  csv: "CSV",
  json: "JSON",
  text: "Text",
};

export function contentTypeLabel(type: string): string {
  return CONTENT_TYPES[type] ?? type;
}

export function formatScore(score: number): string {
  return Number.isFinite(score) ? score.toFixed(3) : "—";
}

/** "#2 · 0.812" for a retriever that found the passage; "—" for one that did not. */
export function retrieverCell(rank: RetrieverRank | null): string {
  return rank ? `#${rank.rank} · ${formatScore(rank.score)}` : "—";
}

export function formatDate(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** "“Refunds”: created — 12 chunks, vector index: indexed." (the API's own status words). */
export function uploadStatusText(result: Ingested): string {
  const chunks = result.document.chunk_count === 1 ? "1 chunk" : `${result.document.chunk_count} chunks`;
  const vector =
    result.vector_index === "pending"
      ? "vector index: pending (keyword search has it; upload again to retry)"
      : "vector index: indexed";
  return `“${result.document.title}”: ${result.status} — ${chunks}, ${vector}.`;
}

/** "Confidence 0.82 · 3 results" plus what was missing when the search was degraded. */
export function searchMetaText(results: SearchResults): string {
  const parts = [
    `Confidence ${results.confidence.toFixed(2)}`,
    results.results.length === 1 ? "1 result" : `${results.results.length} results`,
  ];
  if (results.degraded) {
    const missing = results.missing.length > 0 ? results.missing.join(" and ") : "a retriever";
    parts.push(`degraded: ${missing} unavailable`);
  }
  return parts.join(" · ");
}
