// Tests of the admin page's API calls and of how it words upload and search results.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { FakeApi, json } from "../test/fake-api";
import { deleteDocument, listDocuments, searchKnowledge } from "./admin-api";
import { retrieverCell, searchMetaText, uploadStatusText } from "./format";
import type { Ingested, KbDocument } from "../lib/types";

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
});
