// Tests of the admin page's unanswered questions and curated answers as rendered: groups with
// their reasons and best passage, the period filter, "Write answer" (prefilled with an
// agent's reply) that marks the row addressed, the CSV export with the token, editing a
// curated answer, and errors shown inline.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { STAFF_TOKEN_KEY } from "../lib/staff-auth";
import type { CuratedAnswer, UnansweredGroup, UnansweredReport } from "../lib/types";
import { FakeApi, json, problem, type RecordedRequest } from "../test/fake-api";
import { allByTestId, byTestId, click, mount, selectOption, typeInto } from "../test/render";
import { AdminApp } from "./AdminApp";
import { ADMIN_ONLY } from "./format";

const TOKEN = "e30.e30.sig";
const DAY = 86_400_000;

const group = (id: string, question: string, extra: Partial<UnansweredGroup> = {}): UnansweredGroup => ({
  id,
  question,
  count: 1,
  first_asked: Date.UTC(2025, 10, 1),
  last_asked: Date.UTC(2025, 10, 20),
  reasons: { declined: 1, not_helpful: 0, escalated: 0 },
  examples: [question],
  message_ids: [`m-${id}`],
  passages: [],
  agent_reply: null,
  addressed_by: null,
  ...extra,
});

const giftWrap = group("g1", "Do you offer gift wrapping?", {
  count: 4,
  reasons: { declined: 2, not_helpful: 1, escalated: 1 },
  examples: ["Do you offer gift wrapping?", "can you gift wrap my order [number]", "gift wrap?"],
  message_ids: ["m1", "m2", "m3", "m4"],
  passages: [
    { document_id: "d-ship", title: "Shipping", score: 0.31, quote: "We ship worldwide." },
    { document_id: "d-pack", title: "Packaging", score: 0.42, quote: "Orders ship in recycled boxes." },
  ],
  agent_reply: "Yes, gift wrapping is $5 per order.",
});
const pets = group("g2", "Can I bring my dog to the store?", { count: 2, addressed_by: "curated:pets" });
const invoice = group("g3", "Where is my invoice?");

const report = (groups: UnansweredGroup[], extra: Partial<UnansweredReport> = {}): UnansweredReport => ({
  since: Date.UTC(2025, 9, 21),
  until: Date.UTC(2025, 10, 20),
  grouping: "embeddings",
  questions: groups.reduce((n, g) => n + g.count, 0),
  groups,
  ...extra,
});

const curated = (id: string, question: string, answer: string): CuratedAnswer => ({
  document_id: id,
  question,
  answer,
  created_at: Date.UTC(2025, 10, 2),
  updated_at: Date.UTC(2025, 10, 3),
});

let api: FakeApi;
let answers: CuratedAnswer[];
beforeEach(() => {
  sessionStorage.clear();
  history.replaceState(null, "", "/admin/");
  sessionStorage.setItem(STAFF_TOKEN_KEY, TOKEN);
  api = new FakeApi();
  vi.stubGlobal("fetch", api.fetch);
  answers = [curated("curated:pets", "Can I bring my dog?", "\n**Dogs** are welcome on a leash.\nNot in the café.")];
  api.on("GET", /^\/api\/kb\/documents\?/, () => json({ documents: [], next_cursor: null }));
  api.on("GET", /^\/api\/kb\/unanswered\?/, () => json(report([giftWrap, pets, invoice])));
  api.on("GET", /^\/api\/kb\/curated$/, () => json({ answers }));
});

function section(root: HTMLElement, heading: "unanswered-heading" | "curated-heading"): HTMLElement {
  const el = root.querySelector<HTMLElement>(`section[aria-labelledby="${heading}"]`);
  if (!el) throw new Error(`no section ${heading}`);
  return el;
}

function row(root: HTMLElement, id: string): HTMLElement {
  const el = root.querySelector<HTMLElement>(`[data-testid="unanswered-group"][data-group-id="${id}"]`);
  if (!el) throw new Error(`no group ${id}`);
  return el;
}

function params(req: RecordedRequest): URLSearchParams {
  return new URL(req.url, "http://app.test").searchParams;
}

async function loaded(): Promise<HTMLElement> {
  const root = mount(<AdminApp />);
  await vi.waitFor(() => expect(allByTestId(root, "unanswered-group")).toHaveLength(3));
  await vi.waitFor(() => expect(allByTestId(root, "curated-item")).toHaveLength(1));
  return root;
}

describe("unanswered questions", () => {
  it("lists the groups as the server sorts them, with count, reasons, best passage and state", async () => {
    const root = await loaded();
    const rows = allByTestId(root, "unanswered-group");
    expect(rows.map((r) => [r.dataset.groupId, r.dataset.count, r.dataset.addressed])).toEqual([
      ["g1", "4", "false"],
      ["g2", "2", "true"],
      ["g3", "1", "false"],
    ]);
    const first = rows[0]!;
    expect(Array.from(first.querySelectorAll(".badge"), (b) => b.textContent)).toEqual([
      "Declined 2",
      "Escalated 1",
      "Not helpful 1",
    ]);
    const passage = first.querySelector(".unanswered__passage")!.textContent;
    expect(passage).toContain("Packaging");
    expect(passage).toContain("score 0.420");
    expect(passage).not.toContain("Shipping");
    expect(first.querySelector("summary")!.textContent).toBe("3 examples");
    expect(Array.from(first.querySelectorAll("details li"), (li) => li.textContent)).toContain(
      "can you gift wrap my order [number]",
    );
    expect(byTestId(first, "write-answer").getAttribute("aria-label")).toBe("Write an answer to “Do you offer gift wrapping?”");
    expect(rows[1]!.textContent).toContain("Addressed");
    expect(rows[1]!.textContent).toContain("curated:pets");
    expect(rows[1]!.querySelector('[data-testid="write-answer"]')).toBeNull();
    expect(rows[2]!.textContent).toContain("No passage");
    expect(section(root, "unanswered-heading").textContent).toContain("7 questions in 3 groups");

    const req = api.requestsTo("GET", /unanswered/)[0]!;
    expect(req.headers.Authorization).toBe(`Bearer ${TOKEN}`);
    const since = Number(params(req).get("since"));
    const until = Number(params(req).get("until"));
    expect(until - since).toBe(30 * DAY);
    expect(Math.abs(until - Date.now())).toBeLessThan(60_000);
  });

  it("asks for another period when the filter changes", async () => {
    const root = await loaded();
    const period = byTestId<HTMLSelectElement>(root, "unanswered-period");
    expect(period.value).toBe("30");
    selectOption(period, "7");
    await vi.waitFor(() => expect(api.requestsTo("GET", /unanswered/)).toHaveLength(2));
    const last = params(api.requestsTo("GET", /unanswered/)[1]!);
    expect(Number(last.get("until")) - Number(last.get("since"))).toBe(7 * DAY);
    expect(last.get("format")).toBeNull();
    selectOption(period, "90");
    await vi.waitFor(() => expect(api.requestsTo("GET", /unanswered/)).toHaveLength(3));
    const third = params(api.requestsTo("GET", /unanswered/)[2]!);
    expect(Number(third.get("until")) - Number(third.get("since"))).toBe(90 * DAY);
  });

  it("says so when the period has no unanswered questions", async () => {
    api.on("GET", /^\/api\/kb\/unanswered\?/, () => json(report([])));
    const root = mount(<AdminApp />);
    const unanswered = section(root, "unanswered-heading");
    await vi.waitFor(() => expect(unanswered.textContent).toContain("No unanswered questions in this period"));
    expect(allByTestId(root, "unanswered-group")).toHaveLength(0);
    expect(unanswered.querySelector("table")).toBeNull();
  });

  it("writes an answer from an agent's reply, saves it with the group's message ids and marks the row addressed", async () => {
    let saved = false;
    api.on("POST", /^\/api\/kb\/curated$/, (req) => {
      const body = req.body as { question: string; answer: string };
      const answer = curated("curated:gift", body.question, body.answer);
      answers = [answer, ...answers];
      saved = true;
      return json({ answer, addressed: 4 }, 201);
    });
    api.on("GET", /^\/api\/kb\/unanswered\?/, () =>
      json(report([{ ...giftWrap, addressed_by: saved ? "curated:gift" : null }, pets, invoice])),
    );
    const root = await loaded();
    const write = byTestId(row(root, "g1"), "write-answer");
    click(write);
    expect(write.getAttribute("aria-expanded")).toBe("true");
    const question = byTestId<HTMLInputElement>(root, "curated-question");
    const answer = byTestId<HTMLTextAreaElement>(root, "curated-answer");
    expect(question.value).toBe("Do you offer gift wrapping?");
    expect(question.readOnly).toBe(false);
    expect(answer.value).toBe("Yes, gift wrapping is $5 per order.");
    typeInto(question, "  Do you offer gift wrapping?  ");
    typeInto(answer, "Yes — **$5** per order, chosen at checkout.\n");
    click(byTestId(root, "curated-save"));

    await vi.waitFor(() => expect(row(root, "g1").dataset.addressed).toBe("true"));
    expect(api.requestsTo("POST", /curated/)).toHaveLength(1);
    expect(api.requestsTo("POST", /curated/)[0]!.body).toEqual({
      question: "Do you offer gift wrapping?",
      answer: "Yes — **$5** per order, chosen at checkout.",
      message_ids: ["m1", "m2", "m3", "m4"],
    });
    expect(api.requestsTo("POST", /curated/)[0]!.headers.Authorization).toBe(`Bearer ${TOKEN}`);
    expect(root.querySelector('[data-testid="curated-question"]')).toBeNull();
    expect(row(root, "g1").textContent).toContain("curated:gift");
    expect(section(root, "unanswered-heading").querySelector('[role="status"]')!.textContent).toBe(
      "Saved the answer to “Do you offer gift wrapping?”. 4 unanswered questions are now marked as addressed.",
    );
    // The report, the curated answers and the documents are loaded again.
    await vi.waitFor(() => expect(api.requestsTo("GET", /unanswered/)).toHaveLength(2));
    await vi.waitFor(() => expect(allByTestId(root, "curated-item")).toHaveLength(2));
    expect(api.requestsTo("GET", /documents/).length).toBeGreaterThanOrEqual(2);
    expect(row(root, "g1").dataset.addressed).toBe("true");
  });

  it("starts from an empty answer without an agent's reply, and saves only when both are filled", async () => {
    const root = await loaded();
    click(byTestId(row(root, "g3"), "write-answer"));
    const answer = byTestId<HTMLTextAreaElement>(root, "curated-answer");
    const save = byTestId<HTMLButtonElement>(root, "curated-save");
    expect(answer.value).toBe("");
    expect(save.disabled).toBe(true);
    typeInto(answer, "   ");
    expect(save.disabled).toBe(true);
    typeInto(answer, "In your account, under Orders.");
    expect(save.disabled).toBe(false);
    typeInto(byTestId<HTMLInputElement>(root, "curated-question"), " ");
    expect(save.disabled).toBe(true);
    // Write answer again closes the editor; on another group it moves there.
    click(byTestId(row(root, "g3"), "write-answer"));
    expect(root.querySelector('[data-testid="curated-answer"]')).toBeNull();
    click(byTestId(row(root, "g3"), "write-answer"));
    click(byTestId(row(root, "g1"), "write-answer"));
    expect(allByTestId(root, "curated-answer")).toHaveLength(1);
    expect(byTestId<HTMLTextAreaElement>(root, "curated-answer").value).toBe("Yes, gift wrapping is $5 per order.");
  });

  it("exports the period as CSV, fetched with the token and saved as unanswered.csv", async () => {
    api.on("GET", /format=csv/, () => new Response("question,count\n", { headers: { "content-type": "text/csv" } }));
    const created = vi.fn((_blob: Blob) => "blob:unanswered");
    const revoked = vi.fn();
    vi.stubGlobal("URL", Object.assign(class extends URL {}, { createObjectURL: created, revokeObjectURL: revoked }));
    const downloads: { name: string; href: string | null }[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      downloads.push({ name: this.download, href: this.getAttribute("href") });
    });
    const root = await loaded();
    selectOption(byTestId<HTMLSelectElement>(root, "unanswered-period"), "7");
    click(byTestId(root, "unanswered-export"));
    await vi.waitFor(() => expect(downloads).toEqual([{ name: "unanswered.csv", href: "blob:unanswered" }]));
    const req = api.requestsTo("GET", /format=csv/)[0]!;
    expect(req.headers).toMatchObject({ Authorization: `Bearer ${TOKEN}`, Accept: "text/csv" });
    expect(params(req).get("format")).toBe("csv");
    expect(Number(params(req).get("until")) - Number(params(req).get("since"))).toBe(7 * DAY);
    expect(await created.mock.calls[0]![0].text()).toBe("question,count\n");
  });

  it("shows a failed load, export or save inline", async () => {
    api.on("GET", /^\/api\/kb\/unanswered\?/, () => problem(500, "boom"));
    const root = mount(<AdminApp />);
    const unanswered = section(root, "unanswered-heading");
    await vi.waitFor(() =>
      expect(unanswered.querySelector('[role="alert"]')?.textContent).toBe("Something went wrong on our side. Please try again."),
    );
    expect(unanswered.textContent).not.toContain("No unanswered questions");

    api.on("GET", /^\/api\/kb\/unanswered\?/, () => json(report([giftWrap])));
    api.on("GET", /format=csv/, () => problem(403, "forbidden"));
    click(Array.from(unanswered.querySelectorAll("button")).find((b) => b.textContent === "Refresh")!);
    await vi.waitFor(() => expect(allByTestId(root, "unanswered-group")).toHaveLength(1));
    expect(unanswered.querySelector('[role="alert"]')).toBeNull();
    click(byTestId(root, "unanswered-export"));
    await vi.waitFor(() => expect(unanswered.querySelector('[role="alert"]')?.textContent).toBe(ADMIN_ONLY));

    api.on("POST", /^\/api\/kb\/curated$/, () => problem(422, "answer: must be at most 5000 characters"));
    click(byTestId(row(root, "g1"), "write-answer"));
    click(byTestId(root, "curated-save"));
    const editor = root.querySelector<HTMLElement>("form.editor")!;
    await vi.waitFor(() =>
      expect(editor.querySelector('[role="alert"]')?.textContent).toBe("answer: must be at most 5000 characters"),
    );
    expect(byTestId<HTMLButtonElement>(root, "curated-save").disabled).toBe(false);
    expect(row(root, "g1").dataset.addressed).toBe("false");
  });

  it("signs out when the token is no longer accepted", async () => {
    api.on("GET", /^\/api\/kb\/unanswered\?/, () => problem(401, "expired"));
    const root = mount(<AdminApp />);
    await vi.waitFor(() => expect(byTestId(root, "signin-token")).toBeTruthy());
  });
});

describe("curated answers", () => {
  it("lists each answer's question and first line, and edits one keeping its question", async () => {
    api.on("POST", /^\/api\/kb\/curated$/, (req) => {
      const body = req.body as { question: string; answer: string };
      answers = [curated("curated:pets", body.question, body.answer)];
      return json({ answer: answers[0], addressed: 0 });
    });
    const root = await loaded();
    const item = byTestId(root, "curated-item");
    expect(item.dataset.docId).toBe("curated:pets");
    expect(item.querySelector(".curated__question")!.textContent).toBe("Can I bring my dog?");
    expect(item.querySelector(".curated__first")!.textContent).toBe("**Dogs** are welcome on a leash.");

    const edit = item.querySelector<HTMLButtonElement>('button[aria-label="Edit the answer to “Can I bring my dog?”"]')!;
    click(edit);
    const question = byTestId<HTMLInputElement>(item, "curated-question");
    const answer = byTestId<HTMLTextAreaElement>(item, "curated-answer");
    expect(question.value).toBe("Can I bring my dog?");
    expect(question.readOnly).toBe(true);
    expect(answer.value).toBe("\n**Dogs** are welcome on a leash.\nNot in the café.");
    typeInto(answer, "Dogs on a leash are welcome, except in the café.");
    click(byTestId(item, "curated-save"));

    await vi.waitFor(() =>
      expect(byTestId(root, "curated-item").querySelector(".curated__first")!.textContent).toBe(
        "Dogs on a leash are welcome, except in the café.",
      ),
    );
    expect(api.requestsTo("POST", /curated/)[0]!.body).toEqual({
      question: "Can I bring my dog?",
      answer: "Dogs on a leash are welcome, except in the café.",
    });
    expect(root.querySelector('[data-testid="curated-answer"]')).toBeNull();
    expect(section(root, "curated-heading").querySelector('[role="status"]')!.textContent).toBe(
      "Saved the answer to “Can I bring my dog?”.",
    );
  });

  it("says when there are none, and shows a failed load", async () => {
    answers = [];
    const root = mount(<AdminApp />);
    const list = section(root, "curated-heading");
    await vi.waitFor(() => expect(list.textContent).toContain("No curated answers yet."));
    api.on("GET", /^\/api\/kb\/curated$/, () => problem(403, "nope"));
    click(Array.from(list.querySelectorAll("button")).find((b) => b.textContent === "Refresh")!);
    await vi.waitFor(() => expect(list.querySelector('[role="alert"]')?.textContent).toBe(ADMIN_ONLY));
  });
});

it("names every control (label, aria-label, title or text), with an editor open", async () => {
  const root = await loaded();
  click(byTestId(row(root, "g1"), "write-answer"));
  const unnamed = Array.from(root.querySelectorAll<HTMLElement>("button, input:not([type=hidden]), textarea, select, a[href]"))
    .filter((el) => {
      const labels = (el as HTMLInputElement).labels;
      const labelled = labels != null && labels.length > 0;
      const named = ["aria-label", "aria-labelledby", "title"].some((a) => el.getAttribute(a));
      return !labelled && !named && !el.textContent?.trim();
    })
    .map((el) => el.outerHTML.slice(0, 120));
  expect(unnamed).toEqual([]);
});
