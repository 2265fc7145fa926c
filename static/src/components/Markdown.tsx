// A bot or agent reply's Markdown, rendered through lib/markdown (escaped raw HTML, safe
// links, DOMPurify); the only place the UI sets innerHTML.
import { useMemo } from "preact/hooks";
import { renderMarkdown } from "../lib/markdown";

export function Markdown({ text }: { text: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div class="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}
