// Tests of reply rendering: Markdown becomes HTML, and nothing in a reply can run script,
// load an image with a handler, or link anywhere but http(s)/mailto.
import { describe, expect, it } from "vitest";
import { renderMarkdown, safeHref } from "./markdown";

function dom(html: string): HTMLElement {
  const div = document.createElement("div");
  div.innerHTML = html;
  return div;
}

describe("renderMarkdown", () => {
  it("renders emphasis, lists and code", () => {
    const el = dom(renderMarkdown("**Refunds** take *5 days*.\n\n- one\n- two\n\n`code`"));
    expect(el.querySelector("strong")?.textContent).toBe("Refunds");
    expect(el.querySelector("em")?.textContent).toBe("5 days");
    expect(el.querySelectorAll("li")).toHaveLength(2);
    expect(el.querySelector("code")?.textContent).toBe("code");
  });

  it("shows a <script> in an answer as text and never as an element", () => {
    const html = renderMarkdown("Hello <script>alert(1)</script> there");
    const el = dom(html);
    expect(el.querySelector("script")).toBeNull();
    expect(el.textContent).toContain("<script>alert(1)</script>");
  });

  it("neutralises a block of raw HTML with an onerror handler", () => {
    const el = dom(renderMarkdown('<img src=x onerror="alert(1)">\n\nafter'));
    expect(el.querySelector("img")).toBeNull();
    expect(el.querySelector("[onerror]")).toBeNull();
    expect(el.textContent).toContain('<img src=x onerror="alert(1)">');
  });

  it("drops javascript: links but keeps their text", () => {
    const el = dom(renderMarkdown("[click me](javascript:alert(1)) and [data](data:text/html,<b>x</b>)"));
    expect(el.querySelector("a")).toBeNull();
    expect(el.textContent).toContain("click me");
    expect(el.innerHTML).not.toContain("javascript:");
  });

  it("drops obfuscated javascript: links", () => {
    const el = dom(renderMarkdown("[x](  JaVaScRiPt:alert(1)) [y](java&#115;cript:alert(1))"));
    for (const a of Array.from(el.querySelectorAll("a"))) {
      expect(a.getAttribute("href") ?? "").toMatch(/^(https?:|mailto:)/);
    }
    expect(el.innerHTML.toLowerCase()).not.toContain("javascript:");
  });

  it("opens http(s) and mailto links in a new tab without an opener", () => {
    const el = dom(renderMarkdown("See [the policy](https://example.com/refunds) or mail support@example.com"));
    const link = el.querySelector("a")!;
    expect(link.getAttribute("href")).toBe("https://example.com/refunds");
    expect(link.getAttribute("target")).toBe("_blank");
    expect(link.getAttribute("rel")).toBe("noopener noreferrer");
    const mail = el.querySelectorAll("a")[1];
    expect(mail?.getAttribute("href")).toBe("mailto:support@example.com");
  });

  it("does not render images, so no request leaves with the page", () => {
    const el = dom(renderMarkdown("![tracker](https://evil.example/p.gif) ![bad](javascript:alert(1))"));
    expect(el.querySelector("img")).toBeNull();
    expect(el.textContent).toContain("tracker");
  });

  it("marks [n] citation markers and leaves ordinary links alone", () => {
    const el = dom(renderMarkdown("Refunds take 5 days [1][2]. See [docs](https://example.com)."));
    const markers = Array.from(el.querySelectorAll("sup.citation-marker"), (s) => s.textContent);
    expect(markers).toEqual(["[1]", "[2]"]);
    expect(el.querySelector("a")?.textContent).toBe("docs");
  });

  it("keeps newlines of a plain reply as line breaks", () => {
    expect(dom(renderMarkdown("line one\nline two")).querySelectorAll("br")).toHaveLength(1);
  });
});

describe("safeHref", () => {
  it("accepts only absolute http, https and mailto URLs", () => {
    expect(safeHref("https://a.example/x")).toBe("https://a.example/x");
    expect(safeHref("mailto:a@b.example")).toBe("mailto:a@b.example");
    expect(safeHref("javascript:alert(1)")).toBeNull();
    expect(safeHref("/relative")).toBeNull();
    expect(safeHref("vbscript:x")).toBeNull();
    expect(safeHref("")).toBeNull();
  });
});
