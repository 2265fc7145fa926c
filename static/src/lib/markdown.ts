// Bot and agent replies as safe HTML. Markdown (GFM, single newlines as line breaks) is
// rendered by `marked` with raw HTML escaped, never rendered, and links kept only for
// http(s) and mailto; DOMPurify then sanitises the output as a second guard and makes every
// link open in a new tab with rel="noopener noreferrer". `[n]` citation markers become small
// superscripts. Visitor text never comes here: it is shown as plain text.
import DOMPurify from "dompurify";
import { Marked, type Tokens } from "marked";

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** The link target if it is an absolute http(s) or mailto URL; otherwise null. */
export function safeHref(href: string | null | undefined): string | null {
  if (!href) return null;
  try {
    const url = new URL(href.trim());
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function anchor(href: string, title: string | null | undefined, inner: string): string {
  const titleAttr = title ? ` title="${escapeHtml(title)}"` : "";
  return `<a href="${escapeHtml(href)}"${titleAttr} target="_blank" rel="noopener noreferrer">${inner}</a>`;
}

const markdown = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  extensions: [
    {
      name: "citationMarker",
      level: "inline",
      start: (src: string) => src.match(/\[\d{1,3}\](?!\()/)?.index,
      tokenizer(src: string) {
        const match = /^\[(\d{1,3})\](?!\()/.exec(src);
        return match ? { type: "citationMarker", raw: match[0], marker: match[1] } : undefined;
      },
      renderer(token) {
        return `<sup class="citation-marker">[${escapeHtml(String(token.marker))}]</sup>`;
      },
    },
  ],
  renderer: {
    html(token: Tokens.HTML | Tokens.Tag) {
      return escapeHtml(token.text);
    },
    link(token: Tokens.Link) {
      const inner = this.parser.parseInline(token.tokens);
      const href = safeHref(token.href);
      return href ? anchor(href, token.title, inner) : inner;
    },
    image(token: Tokens.Image) {
      const alt = escapeHtml(token.text || "image");
      const href = safeHref(token.href);
      return href ? anchor(href, token.title, alt) : alt;
    },
  },
});

const ALLOWED_TAGS = [
  "a", "p", "br", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li",
  "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td",
  "sup", "span",
];

let purifier: ReturnType<typeof DOMPurify> | null = null;

function sanitizer(): ReturnType<typeof DOMPurify> {
  if (purifier) return purifier;
  purifier = DOMPurify(window);
  purifier.addHook("afterSanitizeAttributes", (node) => {
    if (node instanceof Element && node.tagName === "A") {
      if (!safeHref(node.getAttribute("href"))) node.removeAttribute("href");
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });
  return purifier;
}

/** The reply's Markdown as sanitised HTML, safe to assign to innerHTML. */
export function renderMarkdown(text: string): string {
  const html = markdown.parse(text) as string;
  return sanitizer().sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR: ["href", "title", "target", "rel", "class", "start", "align"],
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
    RETURN_TRUSTED_TYPE: false,
  }) as string;
}
