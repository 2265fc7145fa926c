// The embeddable widget: a round launcher button at the bottom-right of any web page that
// opens the chat page (`/chat/?key=…&embed=1`, served by the app) in an iframe panel. All of
// it lives in an open shadow root whose `:host { all: initial }` keeps the host page's CSS
// out and ours in. Dependency-free and small: it is bundled into the classic-script loader
// (loader.ts), never with Preact.

/** The chat page asks its parent to close the panel with this message. */
export const CLOSE_MESSAGE_TYPE = "support-agent:close";
export const HOST_ATTRIBUTE = "data-support-agent-widget";

export interface WidgetOptions {
  widgetKey: string;
  /** The app's origin (scheme://host:port), from the loader script's own URL. */
  appOrigin: string;
  /** The company's name for the chat's header and greeting (`data-name`), if given. */
  name?: string;
}

export interface WidgetHandle {
  host: HTMLElement;
  open(): void;
  close(): void;
  readonly isOpen: boolean;
}

/** The loader's own <script>: the current one, or the one whose src ends in widget.js. */
export function findLoaderScript(doc: Document): HTMLScriptElement | null {
  const current = doc.currentScript;
  if (current instanceof HTMLScriptElement && current.src) return current;
  const scripts = Array.from(doc.querySelectorAll<HTMLScriptElement>("script[src]"));
  return scripts.reverse().find((s) => /\/widget\.js(?:[?#].*)?$/.test(s.src)) ?? null;
}

/** The widget key and app origin from the loader script; null when unusable. */
export function optionsFromScript(script: HTMLScriptElement | null): WidgetOptions | null {
  const widgetKey = script?.getAttribute("data-widget-key")?.trim();
  if (!script || !widgetKey) return null;
  const name = script.getAttribute("data-name")?.trim();
  try {
    const appOrigin = new URL(script.src, script.ownerDocument.baseURI).origin;
    return name ? { widgetKey, appOrigin, name } : { widgetKey, appOrigin };
  } catch {
    return null;
  }
}

export function chatUrl(options: WidgetOptions): string {
  const name = options.name ? `&name=${encodeURIComponent(options.name)}` : "";
  return `${options.appOrigin}/chat/?key=${encodeURIComponent(options.widgetKey)}${name}&embed=1`;
}

const STYLES = `
:host{all:initial}
.launcher{all:unset;box-sizing:border-box;position:fixed;right:20px;bottom:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;background:#2457d6;color:#fff;display:flex;align-items:center;justify-content:center;cursor:pointer;box-shadow:0 4px 14px rgba(16,24,40,.28);transition:transform .15s ease}
.launcher:hover{transform:scale(1.05)}
.launcher:focus-visible{outline:3px solid #9cb8ff;outline-offset:3px}
.launcher svg{width:26px;height:26px;fill:currentColor}
.panel{position:fixed;right:20px;bottom:88px;z-index:2147483000;width:380px;height:600px;max-height:calc(100vh - 108px);border-radius:14px;overflow:hidden;background:#fff;box-shadow:0 12px 40px rgba(16,24,40,.3)}
.panel[hidden]{display:none}
.panel iframe{border:0;width:100%;height:100%;display:block}
@media (max-width:480px){.panel{inset:0;width:100%;height:100%;max-height:none;border-radius:0}}
@media (prefers-reduced-motion:reduce){.launcher{transition:none}}
`;

const CHAT_ICON =
  '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2zm0 0"/></svg>';
const CLOSE_ICON =
  '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z"/></svg>';

function addStyles(root: ShadowRoot, doc: Document): void {
  const win = doc.defaultView;
  // Constructed sheets are not subject to a host page's style-src CSP; <style> is the fallback.
  if (win && "adoptedStyleSheets" in root && typeof win.CSSStyleSheet === "function") {
    try {
      const sheet = new win.CSSStyleSheet();
      sheet.replaceSync(STYLES);
      root.adoptedStyleSheets = [sheet];
      return;
    } catch {
      // Fall through to a <style> element.
    }
  }
  const style = doc.createElement("style");
  style.textContent = STYLES;
  root.appendChild(style);
}

/** Adds the launcher and its (closed) chat panel to the page. */
export function mountWidget(doc: Document, options: WidgetOptions): WidgetHandle {
  const host = doc.createElement("div");
  host.setAttribute(HOST_ATTRIBUTE, "");
  const root = host.attachShadow({ mode: "open" });
  addStyles(root, doc);

  const panel = doc.createElement("div");
  panel.className = "panel";
  panel.id = "support-agent-panel";
  panel.hidden = true;

  const launcher = doc.createElement("button");
  launcher.type = "button";
  launcher.className = "launcher";
  launcher.setAttribute("aria-label", "Open chat");
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", panel.id);
  launcher.setAttribute("data-testid", "launcher");
  launcher.innerHTML = CHAT_ICON;

  root.append(panel, launcher);

  let iframe: HTMLIFrameElement | null = null;
  let isOpen = false;

  function open(): void {
    if (isOpen) return;
    if (!iframe) {
      // Created on first open, so a page view that never chats loads nothing more.
      iframe = doc.createElement("iframe");
      iframe.title = "Support chat";
      iframe.src = chatUrl(options);
      iframe.setAttribute("allow", "clipboard-write");
      panel.appendChild(iframe);
    }
    isOpen = true;
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.innerHTML = CLOSE_ICON;
    iframe.focus();
  }

  function close(): void {
    if (!isOpen) return;
    isOpen = false;
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.innerHTML = CHAT_ICON;
    launcher.focus();
  }

  launcher.addEventListener("click", () => (isOpen ? close() : open()));
  doc.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && isOpen) close();
  });
  doc.defaultView?.addEventListener("message", (event: MessageEvent) => {
    if (event.origin !== options.appOrigin) return;
    const data = event.data as { type?: unknown } | null;
    if (data && typeof data === "object" && data.type === CLOSE_MESSAGE_TYPE) close();
  });

  (doc.body ?? doc.documentElement).appendChild(host);
  return {
    host,
    open,
    close,
    get isOpen() {
      return isOpen;
    },
  };
}

/** Reads the loader script's options and mounts the widget, once per page. */
export function bootWidget(doc: Document, script: HTMLScriptElement | null): WidgetHandle | null {
  if (doc.querySelector(`[${HOST_ATTRIBUTE}]`)) return null;
  const options = optionsFromScript(script);
  if (!options) {
    console.warn("support-agent widget: add data-widget-key to the widget.js <script> tag");
    return null;
  }
  return mountWidget(doc, options);
}
