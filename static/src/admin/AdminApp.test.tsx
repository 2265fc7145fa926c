// Tests of the admin knowledge page as rendered: document rows, delete after confirming,
// and a search preview with each retriever's rank ("—" when it did not find the passage).
import { beforeEach, describe, expect, it, vi } from "vitest";
import { STAFF_TOKEN_KEY } from "../lib/staff-auth";
import type { KbDocument } from "../lib/types";
import { FakeApi, json } from "../test/fake-api";
import { allByTestId, byTestId, click, mount, selectOption, typeInto } from "../test/render";
import { AdminApp } from "./AdminApp";

const doc = (id: string, title: string): KbDocument => ({
  id,
  external_id: `${id}.md`,
  title,
  source_url: null,
  content_type: "markdown",
  content_hash: "ab",
  chunk_count: 3,
  vector_status: "indexed",
  created_at: 0,
  updated_at: 0,
});

let api: FakeApi;
beforeEach(() => {
  sessionStorage.clear();
  history.replaceState(null, "", "/admin/");
  sessionStorage.setItem(STAFF_TOKEN_KEY, "e30.e30.sig");
  api = new FakeApi();
  vi.stubGlobal("fetch", api.fetch);
  api.on("GET", /^\/api\/kb\/documents\?limit=50$/, () => json({ documents: [doc("d1", "Refunds"), doc("d2", "Shipping")], next_cursor: "next" }));
  api.on("GET", /^\/api\/kb\/documents\?limit=50&cursor=next$/, () => json({ documents: [doc("d3", "Billing")], next_cursor: null }));
  api.on("DELETE", /^\/api\/kb\/documents\/d2$/, () => new Response(null, { status: 204 }));
});

describe("AdminApp", () => {
  it("lists documents and loads more", async () => {
    const root = mount(<AdminApp />);
    await vi.waitFor(() => expect(allByTestId(root, "doc-row")).toHaveLength(2));
    const more = Array.from(root.querySelectorAll("button")).find((b) => b.textContent === "Load more")!;
    click(more);
    await vi.waitFor(() => expect(allByTestId(root, "doc-row").map((r) => r.dataset.docId)).toEqual(["d1", "d2", "d3"]));
  });

  it("deletes a row only after it is confirmed", async () => {
    const root = mount(<AdminApp />);
    await vi.waitFor(() => expect(allByTestId(root, "doc-row")).toHaveLength(2));
    const confirm = vi.spyOn(window, "confirm").mockReturnValueOnce(false).mockReturnValueOnce(true);
    const row = () => root.querySelector<HTMLElement>('[data-testid="doc-row"][data-doc-id="d2"]');
    click(byTestId(row()!, "delete-button"));
    expect(api.requestsTo("DELETE", /documents/)).toHaveLength(0);
    click(byTestId(row()!, "delete-button"));
    await vi.waitFor(() => expect(row()).toBeNull());
    expect(confirm).toHaveBeenCalledTimes(2);
    expect(api.requestsTo("DELETE", /documents/)[0]!.url).toBe("/api/kb/documents/d2");
  });

  it("shows search results with each retriever's rank and the confidence line", async () => {
    api.on("POST", /^\/api\/kb\/search$/, () =>
      json({
        results: [
          {
            chunk_id: "c1",
            document_id: "d1",
            external_id: "d1.md",
            title: "Refunds",
            heading_path: ["Billing", "Refunds"],
            source_url: null,
            text: "Refunds take 5 days.",
            rank: 1,
            score: 0.0325,
            vector: null,
            keyword: { rank: 1, score: 7.2 },
          },
        ],
        degraded: true,
        missing: ["vector"],
        confidence: 0.61,
      }),
    );
    const root = mount(<AdminApp />);
    typeInto(byTestId(root, "search-input"), "refund");
    selectOption(byTestId<HTMLSelectElement>(root, "search-mode"), "keyword");
    click(byTestId(root, "search-submit"));
    await vi.waitFor(() => expect(byTestId(root, "search-result").dataset.rank).toBe("1"));
    expect(api.requestsTo("POST", /search/)[0]!.body).toEqual({ query: "refund", mode: "keyword", limit: 10 });
    const cells = Array.from(byTestId(root, "search-result").querySelectorAll("td"), (td) => td.textContent);
    expect(cells[0]).toBe("#1 · 0.033");
    expect(cells[1]).toBe("—");
    expect(cells[2]).toBe("#1 · 7.200");
    expect(cells[3]).toContain("Billing › Refunds");
    expect(byTestId(root, "search-meta").textContent).toBe("Confidence 0.61 · 1 result · degraded: vector unavailable");
  });
});
