// Measures what a host page downloads for the embeddable widget — the loader `widget.js`
// plus every JS and CSS file the chat page (`chat/index.html`, shown in the widget's
// iframe) loads, following static and dynamic imports between chunks — gzipped, and fails
// (exit 1) above the 60 KB budget. Run after `vite build`: `npm run size`.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const BUDGET_KB = 60;
const dist = resolve(dirname(fileURLToPath(import.meta.url)), "..", "dist");

function fail(message) {
  console.error(`size: ${message}`);
  process.exit(1);
}

/** A site path (`/assets/x.js`, or relative to `fromFile`) as a file under dist. */
function distFile(ref, fromFile) {
  const clean = ref.split(/[?#]/)[0];
  if (/^[a-z]+:|^\/\//i.test(clean)) return null; // another origin: not ours to count
  const site = clean.startsWith("/")
    ? clean
    : posix.join(posix.dirname("/" + relative(dist, fromFile).split("\\").join("/")), clean);
  return join(dist, ...site.split("/").filter(Boolean));
}

/** Scripts, module preloads and stylesheets an HTML page references. */
function pageAssets(htmlFile) {
  const html = readFileSync(htmlFile, "utf8");
  const refs = [];
  for (const tag of html.match(/<(script|link)\b[^>]*>/gi) ?? []) {
    const isLink = /^<link/i.test(tag);
    const rel = /\brel\s*=\s*["']?([^"'\s>]+)/i.exec(tag)?.[1]?.toLowerCase();
    if (isLink && rel !== "stylesheet" && rel !== "modulepreload") continue;
    const ref = (isLink ? /\bhref\s*=\s*["']([^"']+)/i : /\bsrc\s*=\s*["']([^"']+)/i).exec(tag)?.[1];
    if (ref) refs.push(ref);
  }
  return refs.map((ref) => distFile(ref, htmlFile)).filter(Boolean);
}

/** Chunks a JS file imports (static `import … from "./x.js"`, side-effect and dynamic imports). */
function jsImports(jsFile) {
  const code = readFileSync(jsFile, "utf8");
  const refs = new Set();
  const patterns = [/\bfrom\s*["']([^"']+\.js)["']/g, /\bimport\s*["']([^"']+\.js)["']/g, /\bimport\s*\(\s*["']([^"']+\.js)["']\s*\)/g];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) refs.add(m[1]);
  return [...refs].map((ref) => distFile(ref, jsFile)).filter(Boolean);
}

const loader = join(dist, "widget.js");
const chatPage = join(dist, "chat", "index.html");
for (const required of [loader, chatPage]) {
  if (!existsSync(required)) fail(`${relative(dist, required)} is missing: run \`npm run build\` first`);
}

const files = new Set([loader]);
const queue = [...pageAssets(chatPage)];
while (queue.length > 0) {
  const file = queue.shift();
  if (files.has(file)) continue;
  if (!existsSync(file)) fail(`chat/index.html loads ${relative(dist, file)}, which is not in dist`);
  files.add(file);
  if (file.endsWith(".js")) queue.push(...jsImports(file));
}

let total = 0;
const rows = [...files].map((file) => {
  const bytes = readFileSync(file);
  const gz = gzipSync(bytes, { level: 9 }).length;
  total += gz;
  return { file: relative(dist, file), raw: bytes.length, gz };
});
const kb = (n) => (n / 1024).toFixed(2);
for (const row of rows) {
  console.log(`${row.file.padEnd(40)} ${kb(row.raw).padStart(8)} KB  ${kb(row.gz).padStart(7)} KB gz`);
}
const totalKb = total / 1024;
console.log(`widget total (widget.js + chat page): ${totalKb.toFixed(2)} KB gzipped (budget ${BUDGET_KB} KB)`);
if (totalKb > BUDGET_KB) fail(`${totalKb.toFixed(2)} KB gzipped is over the ${BUDGET_KB} KB budget`);
