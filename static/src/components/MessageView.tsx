// One message bubble, as the chat and the inbox transcript show it: visitor and system text
// as plain text, bot and agent replies as safe Markdown, human agents in their own colour
// with a "Support agent" label, and a bot answer's citations (title, heading path, quoted
// passage, link) under it. Carries the `message`/`citation` test ids of the selector contract.
// Children go under the bubble (the chat's rating buttons, the inbox's rating of a reply).
import type { ComponentChildren } from "preact";
import { headingPathLabel } from "../lib/messages";
import { safeHref } from "../lib/markdown";
import type { Citation, Message } from "../lib/types";
import { Markdown } from "./Markdown";

const AUTHOR_LABELS: Record<Message["author"], string> = {
  visitor: "Visitor",
  bot: "Assistant",
  agent: "Support agent",
  system: "System",
};

export interface MessageViewProps {
  message: Message;
  delivery?: "sending" | "failed" | undefined;
  /** Label every author (the inbox); the chat labels only human agents. */
  labelAll?: boolean;
  streaming?: boolean;
  /** Shown under the bubble. */
  children?: ComponentChildren;
}

export function CitationView({ citation }: { citation: Citation }) {
  const href = safeHref(citation.source_url);
  const path = headingPathLabel(citation);
  return (
    <li class="citation" data-testid="citation" data-marker={citation.marker}>
      <div class="citation__head">
        <span class="citation__marker">[{citation.marker}]</span>{" "}
        {href ? (
          <a class="citation__title" href={href} target="_blank" rel="noopener noreferrer">
            {citation.title}
          </a>
        ) : (
          <span class="citation__title">{citation.title}</span>
        )}
      </div>
      {path && <div class="citation__path">{path}</div>}
      {citation.quote && <blockquote class="citation__quote">{citation.quote}</blockquote>}
    </li>
  );
}

export function MessageView({ message, delivery, labelAll = false, streaming = false, children }: MessageViewProps) {
  const { author } = message;
  const rich = author === "bot" || author === "agent";
  const label = labelAll || author === "agent" ? AUTHOR_LABELS[author] : null;
  return (
    <div
      class={`message message--${author}${delivery ? ` message--${delivery}` : ""}`}
      data-testid="message"
      data-author={author}
      data-message-id={message.id}
      aria-busy={streaming || delivery === "sending" ? "true" : undefined}
    >
      {label ? <div class="message__label">{label}</div> : <span class="sr-only">{AUTHOR_LABELS[author]}: </span>}
      <div class="message__bubble">
        {rich ? <Markdown text={message.text} /> : <p class="message__text">{message.text}</p>}
        {author === "bot" && message.citations.length > 0 && (
          <ol class="citations" aria-label="Sources">
            {message.citations.map((c) => (
              <CitationView key={`${c.marker}:${c.chunk_id}`} citation={c} />
            ))}
          </ol>
        )}
      </div>
      {delivery === "failed" && <div class="message__delivery">Not sent</div>}
      {children}
    </div>
  );
}
