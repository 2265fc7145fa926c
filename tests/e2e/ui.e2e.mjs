// Browser tests of the web UI: playwright-core driving Debian's Chromium against the app as
// `make run` starts it (tests/ui.rs starts scripts/run-local.sh and runs this with
// `node --test`). The steps share one story, so they run in order:
// a visitor asks a sample-KB question → uploads a PDF and asks about it → asks for a person;
// an agent, in a second browser context, claims and replies → the visitor sees the reply;
// the admin page lists, searches, uploads and deletes; the widget works on a plain host page
// of another origin whose CSS tries to break it.
//
// Environment: BASE_URL, WIDGET_KEY, AGENT_TOKEN, ADMIN_TOKEN, CHROMIUM, SCREENSHOT_DIR.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (tests/ui.rs sets it)`);
  return value;
};
const BASE = env("BASE_URL");
const KEY = env("WIDGET_KEY");
const SHOTS = env("SCREENSHOT_DIR");
mkdirSync(SHOTS, { recursive: true });

// Generous: the first answer warms the sidecar and Chroma.
const ANSWER_MS = 60_000;

let browser;
let visitor; // the visitor's page, kept across steps
let sessionId;
const browserErrors = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: env("CHROMIUM"),
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
});

after(async () => {
  await browser?.close();
});

/** A new context and page; page errors (uncaught exceptions) fail the run. */
async function open(url, viewport = { width: 1280, height: 860 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("pageerror", (e) => browserErrors.push(`${url}: ${e.message}`));
  await page.goto(url);
  return page;
}

async function ask(page, text) {
  const before = await page.getByTestId("message").count();
  await page.getByTestId("chat-input").fill(text);
  await page.getByTestId("chat-send").click();
  // The visitor's own message, then the bot's reply after it.
  const reply = page.getByTestId("message").and(page.locator('[data-author="bot"]')).last();
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="message"]').length >= n + 2,
    before,
    { timeout: ANSWER_MS },
  );
  return reply;
}

/** support_conversations_total by outcome, read from /metrics (which settles idle ones). */
async function conversations() {
  const resp = await fetch(`${BASE}/metrics`, {
    headers: { authorization: `Bearer ${env("METRICS_TOKEN")}` },
  });
  assert.equal(resp.status, 200);
  const text = await resp.text();
  const value = (outcome) => {
    const series = `support_conversations_total{outcome="${outcome}"} `;
    const line = text.split("\n").find((l) => l.startsWith(series));
    return line ? Number(line.slice(series.length)) : 0;
  };
  return { resolved: value("resolved"), unresolved: value("unresolved") };
}

/** Controls a screen reader could not name (no label, aria-label, title or text). */
function unnamedControls(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("button, input:not([type=hidden]), textarea, select, a[href]")]
      .filter((el) => {
        const labelled = el.labels && el.labels.length > 0;
        const named = ["aria-label", "aria-labelledby", "title"].some((a) => el.getAttribute(a));
        return !labelled && !named && !el.textContent.trim();
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}

describe("the web UI", () => {
  test("a visitor asks a sample-KB question and sees an answer with a citation", async () => {
    visitor = await open(`${BASE}/chat/?key=${KEY}`, { width: 390, height: 844 });
    const reply = await ask(visitor, "How much does the Pro plan cost per year?");
    await assert.doesNotReject(
      reply.getByTestId("citation").first().waitFor({ timeout: ANSWER_MS }),
    );
    await visitor.waitForFunction(() => {
      const bots = document.querySelectorAll('[data-testid="message"][data-author="bot"]');
      return bots.length > 0 && bots[bots.length - 1].textContent.includes("$99");
    }, null, { timeout: ANSWER_MS });
    const citation = await reply.getByTestId("citation").first().textContent();
    assert.match(citation, /plans and pricing/i);
    // The visitor rates the answer (kept: the reload below shows it from the history).
    await reply.getByTestId("rate-helpful").click();
    await reply
      .locator('[data-testid="rate-helpful"][aria-pressed="true"]')
      .waitFor({ timeout: 10_000 });
    // Phone-sized: nothing scrolls sideways.
    const overflow = await visitor.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    assert.ok(overflow <= 0, `the chat scrolls sideways by ${overflow}px at 390px`);
    sessionId = await visitor.evaluate(() => {
      for (let i = 0; i < localStorage.length; i++) {
        const value = localStorage.getItem(localStorage.key(i));
        const match = value && value.match(/"sessionId":"([^"]+)"/);
        if (match) return match[1];
      }
      return null;
    });
    assert.ok(sessionId, "the session is kept in localStorage");
    assert.deepEqual(await unnamedControls(visitor), []);
    assert.equal(await visitor.getByRole("log").count(), 1, "the messages are a live log");
    await visitor.screenshot({ path: join(SHOTS, "chat.png"), fullPage: true });
  });

  test("the session survives a page reload", async () => {
    const shown = await visitor.getByTestId("message").count();
    await visitor.reload();
    await visitor.waitForFunction(
      (n) => document.querySelectorAll('[data-testid="message"]').length >= n,
      shown,
      { timeout: 15_000 },
    );
    const text = await visitor.getByTestId("message").first().textContent();
    assert.match(text, /Pro plan/);
    await visitor
      .locator('[data-testid="rate-helpful"][aria-pressed="true"]')
      .first()
      .waitFor({ timeout: 15_000 });
  });

  test("a file of a type the chat does not take is refused before upload", async () => {
    await visitor.getByTestId("file-input").setInputFiles({
      name: "program.exe",
      mimeType: "application/octet-stream",
      buffer: Buffer.from("MZ not a document"),
    });
    await visitor.getByTestId("chat-error").waitFor({ timeout: 5_000 });
  });

  test("the visitor uploads a PDF and gets an answer from it", async () => {
    // A real PDF, printed by Chromium itself.
    const printer = await browser.newPage();
    await printer.setContent(`<h1>Order 55120</h1>
      <p>The warranty code for your Zorblax 9000 blender is WX-4471. Keep it for repairs.</p>`);
    const pdf = join(tmpdir(), `zorblax-${process.pid}.pdf`);
    writeFileSync(pdf, await printer.pdf({ format: "A4" }));
    await printer.close();

    await visitor.getByTestId("file-input").setInputFiles(pdf);
    const chip = visitor.getByTestId("attachment-chip").last();
    await visitor.waitForFunction(
      () => {
        const chips = document.querySelectorAll('[data-testid="attachment-chip"]');
        return chips.length > 0 && chips[chips.length - 1].dataset.state === "ready";
      },
      null,
      { timeout: ANSWER_MS },
    );
    assert.equal(await chip.getAttribute("data-state"), "ready");
    await ask(visitor, "What is the warranty code for my Zorblax 9000 blender?");
    // pdf-extract reads Chromium's kerned "WX-4471" as "WX -4471".
    await visitor.waitForFunction(() => {
      const bots = document.querySelectorAll('[data-testid="message"][data-author="bot"]');
      return bots.length > 0 && /WX ?-4471/.test(bots[bots.length - 1].textContent);
    }, null, { timeout: ANSWER_MS });
    const cited = await visitor.getByTestId("citation").last().textContent();
    assert.match(cited, /zorblax/i);
  });

  test("a file dropped onto the chat is uploaded", async () => {
    const chips = await visitor.getByTestId("attachment-chip").count();
    const files = await visitor.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["# Gate\n\nThe gate code is 4821.\n"], "gate.md", { type: "text/markdown" }));
      return dt;
    });
    for (const type of ["dragenter", "dragover", "drop"]) {
      await visitor.dispatchEvent(".chat", type, { dataTransfer: files });
    }
    await visitor.waitForFunction(
      (n) => {
        const all = document.querySelectorAll('[data-testid="attachment-chip"]');
        return all.length > n && all[all.length - 1].dataset.state === "ready";
      },
      chips,
      { timeout: ANSWER_MS },
    );
    assert.match(await visitor.getByTestId("attachment-chip").last().textContent(), /gate\.md/);
  });

  test("the visitor asks for a person and sees the notice", async () => {
    await visitor.getByTestId("handoff-button").first().click();
    await visitor.getByTestId("notice").first().waitFor({ timeout: 15_000 });
    const notices = await visitor.getByTestId("notice").allTextContents();
    assert.ok(
      notices.some((n) => /person|agent|human/i.test(n)),
      `no hand-off notice in ${JSON.stringify(notices)}`,
    );
  });

  test("an agent claims the conversation and replies; the visitor sees the reply", async () => {
    const agent = await open(`${BASE}/agent/#token=${env("AGENT_TOKEN")}`);
    const item = agent.locator(`[data-testid="queue-item"][data-session-id="${sessionId}"]`);
    await item.waitFor({ timeout: 20_000 });
    await item.click();
    await agent.getByTestId("transcript").getByText("Zorblax").first().waitFor({ timeout: 15_000 });
    // The bot's answers show their citations in the transcript, and the visitor's rating.
    await agent.getByTestId("transcript").getByTestId("citation").first().waitFor();
    await agent
      .getByTestId("transcript")
      .locator('[data-testid="reply-rating"][data-helpful="true"]')
      .first()
      .waitFor({ timeout: 15_000 });
    await agent.getByTestId("claim-button").click();
    await agent.waitForFunction(
      () => /pending/i.test(document.querySelector('[data-testid="ticket-status"]')?.textContent ?? ""),
      null,
      { timeout: 15_000 },
    );
    const words = "Hi, this is Sam from Northwind support. I can help with that.";
    await agent.getByTestId("reply-input").fill(words);
    await agent.getByTestId("reply-send").click();
    await agent
      .getByTestId("transcript")
      .locator('[data-testid="message"][data-author="agent"]')
      .filter({ hasText: "Sam from Northwind" })
      .waitFor({ timeout: 15_000 });
    await agent.screenshot({ path: join(SHOTS, "inbox.png"), fullPage: true });
    assert.deepEqual(await unnamedControls(agent), []);

    // The visitor's page hears it through the event feed, as a person's message.
    await visitor
      .locator('[data-testid="message"][data-author="agent"]')
      .filter({ hasText: "Sam from Northwind" })
      .waitFor({ timeout: 40_000 });

    // The visitor goes offline: a message written meanwhile is sent once back online (with
    // the same idempotency key), and the agent's reply sent meanwhile arrives from the event
    // feed's cursor.
    await visitor.context().setOffline(true);
    await visitor
      .getByTestId("connection-status")
      .filter({ hasText: /offline/i })
      .waitFor({ timeout: 10_000 });
    await visitor.getByTestId("chat-input").fill("Thanks Sam, my order number is 55120.");
    await visitor.getByTestId("chat-send").click();
    await agent.getByTestId("reply-input").fill("Your replacement ships today.");
    await agent.getByTestId("reply-send").click();
    await visitor.waitForTimeout(1_000);
    await visitor.context().setOffline(false);
    await visitor
      .locator('[data-testid="message"][data-author="agent"]')
      .filter({ hasText: "replacement ships today" })
      .waitFor({ timeout: 40_000 });
    // While a person has the conversation the bot stays silent; the agent sees the message.
    await agent
      .getByTestId("transcript")
      .getByText("my order number is 55120")
      .waitFor({ timeout: 40_000 });
    assert.equal(
      await agent.getByTestId("transcript").getByText("my order number is 55120").count(),
      1,
      "the message sent while offline arrived once",
    );

    await agent.getByTestId("resolve-button").click();
    await agent.waitForFunction(
      () => /solved/i.test(document.querySelector('[data-testid="ticket-status"]')?.textContent ?? ""),
      null,
      { timeout: 15_000 },
    );
    await agent.context().close();
  });

  test("the admin page lists documents, searches with per-retriever scores, uploads and deletes", async () => {
    const admin = await open(`${BASE}/admin/#token=${env("ADMIN_TOKEN")}`);
    await admin.getByTestId("doc-row").first().waitFor({ timeout: 15_000 });
    assert.ok((await admin.getByTestId("doc-row").count()) >= 10, "the sample KB is listed");

    await admin.getByTestId("search-input").fill("how long does express delivery take");
    await admin.getByTestId("search-mode").selectOption("hybrid");
    await admin.getByTestId("search-submit").click();
    await admin.getByTestId("search-result").first().waitFor({ timeout: 20_000 });
    const first = await admin.getByTestId("search-result").first().textContent();
    assert.match(first, /deliver/i);
    assert.equal(await admin.getByTestId("search-result").first().getAttribute("data-rank"), "1");
    await admin.getByTestId("search-meta").waitFor();

    await admin.getByTestId("upload-input").setInputFiles({
      name: "e2e-gift-wrap.md",
      mimeType: "text/markdown",
      buffer: Buffer.from("# Gift wrapping\n\nWe wrap any order in recycled paper for $3.\n"),
    });
    await admin.getByTestId("upload-submit").click();
    await admin.getByTestId("upload-status").filter({ hasText: /created|updated|unchanged/i }).waitFor({
      timeout: 30_000,
    });
    const row = admin.getByTestId("doc-row").filter({ hasText: "e2e-gift-wrap" });
    await row.waitFor({ timeout: 15_000 });
    await admin.screenshot({ path: join(SHOTS, "admin.png"), fullPage: true });
    assert.deepEqual(await unnamedControls(admin), []);
    admin.once("dialog", (d) => d.accept());
    await row.getByTestId("delete-button").click();
    await row.waitFor({ state: "detached", timeout: 15_000 });
    await admin.context().close();
  });

  test("a question the bot did not help with becomes a curated answer the next visitor gets", async () => {
    // Conversations settle when /metrics is scraped (outcome_idle_secs 0 in this run): this
    // scrape settles every earlier one, so the next counts only this test's two.
    const before = await conversations();
    const question = "Do you offer summer internships for students?";
    const asker = await open(`${BASE}/chat/?key=${KEY}`);
    const reply = await ask(asker, question);
    // Declined or answered, the visitor says it did not help: it is on the admin's list.
    await reply.getByTestId("rate-not-helpful").click();
    await reply
      .locator('[data-testid="rate-not-helpful"][aria-pressed="true"]')
      .waitFor({ timeout: 10_000 });
    await asker.waitForTimeout(500);
    await asker.context().close();

    const admin = await open(`${BASE}/admin/#token=${env("ADMIN_TOKEN")}`);
    const group = admin.getByTestId("unanswered-group").filter({ hasText: "summer internships" });
    await group.waitFor({ timeout: 20_000 });
    assert.equal(await group.getAttribute("data-addressed"), "false");
    await group.getByTestId("write-answer").click();
    await admin.getByTestId("curated-answer").fill(
      "Yes: every summer we take six students for a paid ten-week internship. Apply from January.",
    );
    await admin.getByTestId("curated-save").click();
    await admin
      .locator('[data-testid="unanswered-group"][data-addressed="true"]')
      .filter({ hasText: "summer internships" })
      .waitFor({ timeout: 30_000 });
    await admin.getByTestId("curated-item").filter({ hasText: "summer internships" }).waitFor();
    assert.deepEqual(await unnamedControls(admin), []);
    await admin.context().close();

    const next = await open(`${BASE}/chat/?key=${KEY}`);
    const answer = await ask(next, "Are there internships for students in the summer?");
    await next.waitForFunction(() => {
      const bots = document.querySelectorAll('[data-testid="message"][data-author="bot"]');
      return bots.length > 0 && bots[bots.length - 1].textContent.includes("ten-week internship");
    }, null, { timeout: ANSWER_MS });
    const cited = await answer.getByTestId("citation").first().textContent();
    assert.match(cited, /summer internships/i);
    await next.context().close();

    // The metric moved: the rated conversation is unresolved, the answered one resolved.
    const after = await conversations();
    assert.equal(after.unresolved - before.unresolved, 1, JSON.stringify({ before, after }));
    assert.equal(after.resolved - before.resolved, 1, JSON.stringify({ before, after }));
  });

  test("the widget works on a plain host page of another origin whose CSS tries to break it", async () => {
    const hostile = `<!doctype html><html><head><title>Someone's shop</title>
      <style>
        * { font-family: "Comic Sans MS", cursive !important; }
        button { display: none !important; }
        iframe { border: 20px solid red !important; width: 10px !important; }
        div { background: hotpink !important; }
        h1 { color: rgb(1, 2, 3); }
      </style></head>
      <body><h1>Someone's shop</h1><p>Our products.</p>
      <script src="${BASE}/widget.js" data-widget-key="${KEY}" data-name="Someone's shop" async></script></body></html>`;
    const server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(hostile);
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const page = await open(`http://127.0.0.1:${server.address().port}/`);
      const launcher = page.getByTestId("launcher");
      await launcher.waitFor({ state: "visible", timeout: 15_000 });
      // The host's styles are untouched by the widget.
      assert.equal(
        await page.evaluate(() => getComputedStyle(document.querySelector("h1")).color),
        "rgb(1, 2, 3)",
      );
      // Keyboard only: the launcher opens with Enter, the message goes with Enter.
      await launcher.focus();
      await page.keyboard.press("Enter");
      assert.equal(await launcher.getAttribute("aria-expanded"), "true");
      const frame = page.frameLocator('iframe[title="Support chat"]');
      const box = await page.locator('iframe[title="Support chat"]').boundingBox();
      assert.ok(box && box.width >= 300, `the host's CSS squeezed the chat to ${box?.width}px`);
      await frame.getByRole("heading", { name: "Someone's shop support" }).waitFor({ timeout: 10_000 });
      await frame.getByTestId("chat-input").focus();
      await page.keyboard.type("How long does standard delivery take?");
      await page.keyboard.press("Enter");
      await frame
        .locator('[data-testid="message"][data-author="bot"]')
        .first()
        .waitFor({ timeout: ANSWER_MS });
      await frame.getByTestId("citation").first().waitFor({ timeout: ANSWER_MS });
      await page.screenshot({ path: join(SHOTS, "widget.png") });
      await page.context().close();
    } finally {
      server.close();
    }
  });

  test("no page threw an uncaught error", () => {
    assert.deepEqual(browserErrors, []);
  });
});
