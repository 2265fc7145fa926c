// The entry of `widget.js`, the loader a customer's page includes with
// `<script src="https://app.example/widget.js" data-widget-key="wk_…" async></script>`.
// Built as a classic script (vite.config.ts wraps it) with no imports: it mounts the widget
// as soon as the page has a body.
import { bootWidget, findLoaderScript } from "./mount";

// currentScript is only set while the script first runs; find it before waiting.
const script = findLoaderScript(document);

if (document.body) bootWidget(document, script);
else document.addEventListener("DOMContentLoaded", () => bootWidget(document, script), { once: true });
