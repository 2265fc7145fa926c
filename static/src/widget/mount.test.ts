// Tests of the embeddable widget: finding its script and options, the launcher and panel in
// an open shadow root, opening and closing (click, Escape, the chat's close message from
// the app's origin only), and styles kept out of the host page.
import { afterEach, describe, expect, it, vi } from "vitest";
import { CLOSE_MESSAGE_TYPE, bootWidget, chatUrl, findLoaderScript, mountWidget, optionsFromScript } from "./mount";

const options = { widgetKey: "wk_demo", appOrigin: "https://support.example" };

function addScript(src: string, key?: string): HTMLScriptElement {
  const script = document.createElement("script");
  script.src = src;
  if (key !== undefined) script.setAttribute("data-widget-key", key);
  document.head.appendChild(script);
  return script;
}

function parts(host: HTMLElement) {
  const root = host.shadowRoot!;
  return {
    root,
    launcher: root.querySelector<HTMLButtonElement>('button[aria-label="Open chat"]')!,
    panel: root.querySelector<HTMLElement>(".panel")!,
    iframe: () => root.querySelector<HTMLIFrameElement>('iframe[title="Support chat"]'),
  };
}

afterEach(() => {
  document.head.innerHTML = "";
  document.body.innerHTML = "";
});

describe("finding the loader script", () => {
  it("finds the script whose src ends in widget.js and reads its key and origin", () => {
    addScript("https://cdn.example/other.js");
    const script = addScript("https://support.example:8443/widget.js?v=2", "wk_demo");
    expect(findLoaderScript(document)).toBe(script);
    expect(optionsFromScript(script)).toEqual({ widgetKey: "wk_demo", appOrigin: "https://support.example:8443" });
  });

  it("needs a widget key", () => {
    expect(optionsFromScript(addScript("https://support.example/widget.js"))).toBeNull();
    expect(optionsFromScript(addScript("https://support.example/widget.js", "  "))).toBeNull();
  });

  it("builds the embedded chat URL on the app's origin with the key escaped", () => {
    expect(chatUrl({ widgetKey: "wk demo&x", appOrigin: "https://support.example" })).toBe(
      "https://support.example/chat/?key=wk%20demo%26x&embed=1",
    );
  });

  it("passes the company name from data-name to the chat", () => {
    const script = addScript("https://support.example/widget.js", "wk_demo");
    script.setAttribute("data-name", " Northwind & Co ");
    const options = optionsFromScript(script)!;
    expect(options.name).toBe("Northwind & Co");
    expect(chatUrl(options)).toBe("https://support.example/chat/?key=wk_demo&name=Northwind%20%26%20Co&embed=1");
  });
});

describe("the widget", () => {
  it("puts a launcher in an open shadow root and keeps all its CSS inside it", () => {
    const { host } = mountWidget(document, options);
    const { root, launcher, panel } = parts(host);
    expect(host.shadowRoot).not.toBeNull();
    expect(launcher.getAttribute("data-testid")).toBe("launcher");
    expect(launcher.getAttribute("aria-expanded")).toBe("false");
    expect(panel.hidden).toBe(true);
    expect(document.head.querySelector("style")).toBeNull();
    expect(document.querySelectorAll("style")).toHaveLength(0);
    const css = root.adoptedStyleSheets?.length
      ? Array.from(root.adoptedStyleSheets[0]!.cssRules, (r) => r.cssText).join("")
      : root.querySelector("style")!.textContent!;
    expect(css).toContain(":host");
    expect(css).toMatch(/all:\s*initial/);
  });

  it("opens the chat iframe on click with the key and embed flag, and closes on a second click", () => {
    const { host } = mountWidget(document, options);
    const { launcher, panel, iframe } = parts(host);
    expect(iframe()).toBeNull();
    launcher.click();
    expect(panel.hidden).toBe(false);
    expect(launcher.getAttribute("aria-expanded")).toBe("true");
    expect(iframe()!.src).toBe("https://support.example/chat/?key=wk_demo&embed=1");
    launcher.click();
    expect(panel.hidden).toBe(true);
    expect(launcher.getAttribute("aria-expanded")).toBe("false");
    launcher.click();
    expect(parts(host).root.querySelectorAll("iframe")).toHaveLength(1);
  });

  it("closes on Escape", () => {
    const widget = mountWidget(document, options);
    widget.open();
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" }));
    expect(widget.isOpen).toBe(false);
  });

  it("closes on the chat's close message from the app's origin only", () => {
    const widget = mountWidget(document, options);
    widget.open();
    window.dispatchEvent(new MessageEvent("message", { origin: "https://evil.example", data: { type: CLOSE_MESSAGE_TYPE } }));
    expect(widget.isOpen).toBe(true);
    window.dispatchEvent(new MessageEvent("message", { origin: options.appOrigin, data: { type: "other" } }));
    expect(widget.isOpen).toBe(true);
    window.dispatchEvent(new MessageEvent("message", { origin: options.appOrigin, data: { type: CLOSE_MESSAGE_TYPE } }));
    expect(widget.isOpen).toBe(false);
  });

  it("mounts once even when the loader is included twice", () => {
    const script = addScript("https://support.example/widget.js", "wk_demo");
    expect(bootWidget(document, script)).not.toBeNull();
    expect(bootWidget(document, script)).toBeNull();
    expect(document.querySelectorAll("[data-support-agent-widget]")).toHaveLength(1);
  });

  it("mounts nothing without a widget key", () => {
    const script = addScript("https://support.example/widget.js");
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(bootWidget(document, script)).toBeNull();
    expect(warn).toHaveBeenCalledOnce();
    expect(document.querySelector("[data-support-agent-widget]")).toBeNull();
  });
});
