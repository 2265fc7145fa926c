// Build of the web UI: four pages (demo landing, chat, agent inbox, admin knowledge) as a
// Vite multi-page app, plus the widget loader as its own entry with the stable name
// `widget.js` at the dist root, wrapped so it runs as a classic <script> on any host page.
// Also the Vitest settings (jsdom, tests next to the code they test).
/// <reference types="vitest/config" />
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

/** The entry name of the widget loader; its chunk becomes `dist/widget.js`. */
const WIDGET_ENTRY = "widget";

/**
 * Host pages load `widget.js` with a plain (non-module) <script>, so the chunk must import
 * and export nothing, and its top-level names must not become globals of the host page:
 * it is checked and wrapped in a function scope after bundling.
 */
function classicWidgetScript(): Plugin {
  return {
    name: "support-agent:classic-widget-script",
    apply: "build",
    enforce: "post",
    generateBundle(_options, bundle) {
      const chunk = bundle["widget.js"];
      if (!chunk || chunk.type !== "chunk") {
        this.error("the widget loader chunk widget.js was not emitted");
      }
      if (chunk.imports.length > 0 || chunk.dynamicImports.length > 0 || chunk.exports.length > 0) {
        this.error(
          `widget.js must be self-contained (imports: ${chunk.imports.join(", ")}; exports: ${chunk.exports.join(", ")})`,
        );
      }
      chunk.code = `(function(){${chunk.code}\n})();\n`;
    },
  };
}

export default defineConfig({
  root,
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  plugins: [classicWidgetScript()],
  build: {
    outDir: resolve(root, "dist"),
    emptyOutDir: true,
    target: "es2020",
    modulePreload: { polyfill: false },
    rolldownOptions: {
      input: {
        index: resolve(root, "index.html"),
        chat: resolve(root, "chat/index.html"),
        agent: resolve(root, "agent/index.html"),
        admin: resolve(root, "admin/index.html"),
        [WIDGET_ENTRY]: resolve(root, "src/widget/loader.ts"),
      },
      output: {
        entryFileNames: (chunk) =>
          chunk.name === WIDGET_ENTRY ? "widget.js" : "assets/[name]-[hash].js",
        chunkFileNames: "assets/[name]-[hash].js",
        // Preact, marked and DOMPurify in one named chunk, shared by the pages.
        codeSplitting: { groups: [{ name: "vendor", test: /[\\/]node_modules[\\/]/ }] },
        assetFileNames: "assets/[name]-[hash][extname]",
      },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    restoreMocks: true,
    unstubGlobals: true,
  },
});
