// Tests of the admin page's API calls and of how it words upload and search results, the
// unanswered-questions report and saved curated answers.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../lib/api";
import { FakeApi, json, problem } from "../test/fake-api";
import {
  deleteDocument,
  exportUnansweredCsv,
  lastDays,
  listCurated,
  listDocuments,
  listUnanswered,
  saveBlob,
  saveCurated,
  searchKnowledge,
} from "./admin-api";
import {
  bestPassage,
  curatedSavedText,
  firstLine,
  reasonBadges,
  retrieverCell,
  searchMetaText,
  unansweredMetaText,
  uploadStatusText,
} from "./format";
import type { CuratedAnswer, Ingested, KbDocument } from "../lib/types";

const doc: KbDocument = {
  id: "d1",
  external_id: "billing/refunds.md",
  title: "Refunds",
  source_url: null,
  content_type: "markdown",
  content_hash: "ab",
  chunk_count: 12,
  vector_status: "indexed",
  created_at: 0,
  updated_at: 0,
};

let api: FakeApi;
beforeEach(() => {
  api = new FakeApi();
  vi.stubGlobal("fetch", api.fetch);
});

describe("admin API", () => {
  it("pages through documents 50 at a time with the cursor", async () => {
    api.on("GET", /^\/api\/kb\/documents/, () => json({ documents: [doc], next_cursor: "c2" }));
    await listDocuments("adm", null);
    await listDocuments("adm", "c/2");
    expect(api.requests.map((r) => r.url)).toEqual([
      "/api/kb/documents?limit=50",
      "/api/kb/documents?limit=50&cursor=c%2F2",
    ]);
    expect(api.requests[0]!.headers.Authorization).toBe("Bearer adm");
  });

  it("deletes a document by its id", async () => {
    api.on("DELETE", /^\/api\/kb\/documents\//, () => new Response(null, { status: 204 }));
    await deleteDocument("adm", "sha256:ab");
    expect(api.requests[0]).toMatchObject({ method: "DELETE", url: "/api/kb/documents/sha256%3Aab" });
  });

  it("searches with the query, mode and a limit of 10", async () => {
    api.on("POST", /^\/api\/kb\/search$/, () => json({ results: [], degraded: false, missing: [], confidence: 0 }));
    await searchKnowledge("adm", "refund window", "keyword");
    expect(api.requests[0]!.body).toEqual({ query: "refund window", mode: "keyword", limit: 10 });
  });
});

describe("unanswered questions and curated answers API", () => {
  const DAY = 86_400_000;

  it("asks for the last n days up to now", () => {
    expect(lastDays(7, 1_000 * DAY)).toEqual({ since: 993 * DAY, until: 1_000 * DAY });
  });

  it("lists unanswered questions for a period with the admin token", async () => {
    api.on("GET", /^\/api\/kb\/unanswered/, () => json({ since: 1, until: 2, grouping: "keywords", questions: 0, groups: [] }));
    await listUnanswered("adm", { since: 1_000, until: 2_000.7 });
    expect(api.requests[0]!.url).toBe("/api/kb/unanswered?since=1000&until=2000");
    expect(api.requests[0]!.headers.Authorization).toBe("Bearer adm");
  });

  it("exports the same report as CSV with the token in a header", async () => {
    api.on("GET", /format=csv/, () => new Response("question,count\nRefund?,3\n", { headers: { "content-type": "text/csv" } }));
    const blob = await exportUnansweredCsv("adm", { since: 5, until: 9 });
    expect(await blob.text()).toBe("question,count\nRefund?,3\n");
    expect(api.requests[0]!.url).toBe("/api/kb/unanswered?since=5&until=9&format=csv");
    expect(api.requests[0]!.headers).toMatchObject({ Authorization: "Bearer adm", Accept: "text/csv" });
  });

  it("turns a failed export into an ApiError with the problem's detail", async () => {
    api.on("GET", /format=csv/, () => problem(403, "admin role required"));
    await expect(exportUnansweredCsv("agt", { since: 5, until: 9 })).rejects.toMatchObject({
      status: 403,
      message: "admin role required",
    });
    await expect(exportUnansweredCsv("agt", { since: 5, until: 9 })).rejects.toBeInstanceOf(ApiError);
  });

  it("saves a curated answer and lists them", async () => {
    const answer: CuratedAnswer = { document_id: "cur1", question: "Q?", answer: "A.", created_at: 1, updated_at: 1 };
    api.on("POST", /^\/api\/kb\/curated$/, () => json({ answer, addressed: 2 }, 201));
    api.on("GET", /^\/api\/kb\/curated$/, () => json({ answers: [answer] }));
    expect(await saveCurated("adm", { question: "Q?", answer: "A.", message_ids: ["m1", "m2"] })).toEqual({ answer, addressed: 2 });
    expect(api.requests[0]).toMatchObject({
      method: "POST",
      url: "/api/kb/curated",
      body: { question: "Q?", answer: "A.", message_ids: ["m1", "m2"] },
    });
    expect((await listCurated("adm")).answers).toEqual([answer]);
    expect(api.requests[1]!.headers.Authorization).toBe("Bearer adm");
  });

  it("saves a blob through a temporary download link", async () => {
    const created = vi.fn(() => "blob:csv");
    const revoked = vi.fn();
    vi.stubGlobal("URL", Object.assign(class extends URL {}, { createObjectURL: created, revokeObjectURL: revoked }));
    const clicked: HTMLAnchorElement[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push(this);
    });
    vi.useFakeTimers();
    try {
      const blob = new Blob(["a,b\n"], { type: "text/csv" });
      saveBlob(blob, "unanswered.csv");
      expect(created).toHaveBeenCalledWith(blob);
      expect(clicked).toHaveLength(1);
      expect(clicked[0]!.download).toBe("unanswered.csv");
      expect(clicked[0]!.getAttribute("href")).toBe("blob:csv");
      expect(clicked[0]!.isConnected).toBe(false);
      expect(revoked).not.toHaveBeenCalled();
      vi.runAllTimers();
      expect(revoked).toHaveBeenCalledWith("blob:csv");
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("wording", () => {
  it("describes an upload's outcome and vector index state", () => {
    const result: Ingested = { document: doc, status: "created", vector_index: "indexed" };
    expect(uploadStatusText(result)).toBe("“Refunds”: created — 12 chunks, vector index: indexed.");
    expect(uploadStatusText({ ...result, status: "unchanged" })).toContain(": unchanged —");
    expect(uploadStatusText({ ...result, vector_index: "pending" })).toContain("pending");
  });

  it("shows a dash for a retriever that did not find the passage", () => {
    expect(retrieverCell(null)).toBe("—");
    expect(retrieverCell({ rank: 2, score: 0.81234 })).toBe("#2 · 0.812");
  });

  it("says which retriever was missing when the search was degraded", () => {
    expect(searchMetaText({ results: [], degraded: false, missing: [], confidence: 0.823 })).toBe("Confidence 0.82 · 0 results");
    expect(searchMetaText({ results: [], degraded: true, missing: ["vector"], confidence: 0.5 })).toBe(
      "Confidence 0.50 · 0 results · degraded: vector unavailable",
    );
  });

  it("shows a badge per reason that counted, in a fixed order", () => {
    expect(reasonBadges({ declined: 0, not_helpful: 2, escalated: 1 }).map((b) => b.text)).toEqual([
      "Escalated 1",
      "Not helpful 2",
    ]);
    expect(reasonBadges({ declined: 0, not_helpful: 0, escalated: 0 })).toEqual([]);
  });

  it("picks the passage with the highest score", () => {
    const p = (title: string, score: number) => ({ document_id: title, title, score, quote: "" });
    expect(bestPassage([p("a", 0.2), p("b", 0.6), p("c", 0.4)])?.title).toBe("b");
    expect(bestPassage([])).toBeNull();
  });

  it("sums up the report: questions, groups, the period and how they were grouped", () => {
    const report = { since: Date.UTC(2025, 0, 1), until: Date.UTC(2025, 0, 31), questions: 1, groups: [] };
    const text = unansweredMetaText({ ...report, grouping: "embeddings" });
    expect(text).toMatch(/^1 question in 0 groups · .+ – .+ · grouped by meaning$/);
    expect(unansweredMetaText({ ...report, questions: 5, grouping: "keywords" })).toMatch(/^5 questions .* grouped by shared words$/);
  });

  it("shows the first non-empty line of an answer, cut when long", () => {
    expect(firstLine("\n\n  **Refunds** take 5 days.\r\nSecond line")).toBe("**Refunds** take 5 days.");
    expect(firstLine("x".repeat(200), 10)).toBe("xxxxxxxxx…");
    expect(firstLine("")).toBe("");
  });

  it("says how many questions a saved answer addressed", () => {
    const answer: CuratedAnswer = { document_id: "c", question: "Gift wrap?", answer: "Yes.", created_at: 1, updated_at: 1 };
    expect(curatedSavedText({ answer, addressed: 0 })).toBe("Saved the answer to “Gift wrap?”.");
    expect(curatedSavedText({ answer, addressed: 1 })).toBe(
      "Saved the answer to “Gift wrap?”. 1 unanswered question is now marked as addressed.",
    );
    expect(curatedSavedText({ answer, addressed: 3 })).toContain("3 unanswered questions are now");
  });
});
