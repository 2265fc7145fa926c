// How the admin page words and formats API results: upload outcomes, document rows, each
// retriever's rank and score in a search preview, the search's degraded/confidence line,
// and the unanswered-questions report and curated answers.
import type {
  CuratedSaved,
  Ingested,
  RetrieverRank,
  SearchResults,
  UnansweredPassage,
  UnansweredReasons,
  UnansweredReport,
} from "../lib/types";

/** What the admin page says to a signed-in token without the admin role (403). */
export const ADMIN_ONLY = "This page needs an access token with the admin role.";

const CONTENT_TYPES: Record<string, string> = {
  pdf: "PDF",
  docx: "Word",
  html: "HTML",
  markdown: "Markdown",
  csv: "CSV",
  json: "JSON",
  text: "Text",
  curated: "Curated answer",
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

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function formatDay(ms: number): string {
  return new Date(ms).toLocaleDateString(undefined, { dateStyle: "medium" });
}

const REASONS: { key: keyof UnansweredReasons; label: string; title: string }[] = [
  { key: "declined", label: "Declined", title: "The bot did not answer and offered a person" },
  { key: "escalated", label: "Escalated", title: "Handed off to a person because the bot could not answer" },
  { key: "not_helpful", label: "Not helpful", title: "The visitor rated the reply not helpful" },
];

/** A badge per reason that counted at least once: "Declined 3". */
export function reasonBadges(reasons: UnansweredReasons): { key: string; text: string; title: string }[] {
  return REASONS.filter((r) => (reasons[r.key] ?? 0) > 0).map((r) => ({
    key: r.key,
    text: `${r.label} ${reasons[r.key]}`,
    title: r.title,
  }));
}

/** The passage with the highest score (what the bot had best), or null when none was found. */
export function bestPassage(passages: UnansweredPassage[] | null): UnansweredPassage | null {
  let best: UnansweredPassage | null = null;
  for (const p of passages ?? []) if (!best || p.score > best.score) best = p;
  return best;
}

export function examplesLabel(count: number): string {
  return count === 1 ? "1 example" : `${count} examples`;
}

/** "14 questions in 5 groups · 6 Nov 2025 – 6 Dec 2025 · grouped by meaning". */
export function unansweredMetaText(report: UnansweredReport): string {
  const grouping = report.grouping === "embeddings" ? "grouped by meaning" : "grouped by shared words";
  return [
    `${plural(report.questions, "question", "questions")} in ${plural(report.groups.length, "group", "groups")}`,
    `${formatDay(report.since)} – ${formatDay(report.until)}`,
    grouping,
  ].join(" · ");
}

/** The first non-empty line of a (Markdown) text, cut at `max` characters. */
export function firstLine(text: string, max = 140): string {
  const line = text.split(/\r?\n/).find((l) => l.trim() !== "")?.trim() ?? "";
  return line.length > max ? `${line.slice(0, max - 1).trimEnd()}…` : line;
}

/** "Saved the answer to “…”. 3 unanswered questions are now marked as addressed." */
export function curatedSavedText(saved: CuratedSaved): string {
  const text = `Saved the answer to “${saved.answer.question}”.`;
  if (saved.addressed <= 0) return text;
  const marked = saved.addressed === 1 ? "1 unanswered question is" : `${saved.addressed} unanswered questions are`;
  return `${text} ${marked} now marked as addressed.`;
}
