// The chat page (full page, or inside the widget's iframe with `embed=1`): header with the
// connection state and "Talk to a person", the message log (with "Helpful" / "Not helpful"
// under each bot reply, and "Did this solve your problem?" after the bot's latest answer),
// errors, attachment chips and the composer. Renders ChatController's view and forwards
// events to it; no logic here.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { MessageView } from "../components/MessageView";
import { CONVERSATION } from "../lib/feedback";
import { ACCEPT_ATTRIBUTE } from "../lib/file-check";
import { asksResolved, isTyping, streamingReply, type ChatItem } from "./conversation";
import { requestClose } from "./embed";
import {
  ChatController,
  NO_RATING,
  browserEnvironment,
  ratingChoice,
  type AttachmentChip,
  type ChatView,
  type Connection,
  type RatingState,
} from "./controller";

const CONNECTION_LABELS: Record<Connection, string> = {
  connecting: "Connecting…",
  live: "Online",
  reconnecting: "Reconnecting…",
  offline: "You're offline",
};

function useView(controller: ChatController): ChatView {
  const [view, setView] = useState(controller.view);
  useEffect(() => controller.subscribe(setView), [controller]);
  return view;
}

/** One rating (of a bot reply, or of the conversation) as the buttons and comment box see it. */
interface RatingProps {
  choice: boolean | null;
  state: RatingState;
  onRate(choice: boolean): void;
  onComment(text: string): void;
  onSendComment(): void;
}

const THUMB_UP = (
  <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">
    <path d="M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z" />
  </svg>
);
const THUMB_DOWN = (
  <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">
    <path d="M15 3H6c-.83 0-1.54.5-1.84 1.22l-3.02 7.05c-.09.23-.14.47-.14.73v2c0 1.1.9 2 2 2h6.31l-.95 4.57-.03.32c0 .41.17.79.44 1.06L9.83 23l6.59-6.59c.36-.36.58-.86.58-1.41V5c0-1.1-.9-2-2-2zm4 0v12h4V3h-4z" />
  </svg>
);

export const THANKS_TEXT = "Thanks for your feedback.";

/** The optional comment after "Not helpful" or "No", sent with the same rating. */
function CommentBox({ rating, label }: { rating: RatingProps; label: string }) {
  const { state } = rating;
  return (
    <form
      class="rating__comment"
      onSubmit={(e) => {
        e.preventDefault();
        rating.onSendComment();
      }}
    >
      <input
        type="text"
        class="rating__input"
        data-testid="rating-comment"
        aria-label={label}
        placeholder={label}
        maxLength={1000}
        value={state.comment}
        onInput={(e) => rating.onComment(e.currentTarget.value)}
      />
      <button
        type="submit"
        class="btn btn--small"
        data-testid="rating-comment-send"
        disabled={state.sending !== null || state.comment.trim() === ""}
      >
        Send
      </button>
    </form>
  );
}

function RatingError({ state }: { state: RatingState }) {
  if (!state.error) return null;
  return (
    <span class="rating__error" data-testid="rating-error" role="alert">
      {state.error}
    </span>
  );
}

/** "Helpful" / "Not helpful" under a bot reply. */
function ReplyRating({ rating }: { rating: RatingProps }) {
  const { choice, state } = rating;
  return (
    <div class="rating" data-testid="rating" aria-busy={state.sending !== null ? "true" : undefined}>
      <div class="rating__buttons" role="group" aria-label="Was this reply helpful?">
        <button
          type="button"
          class="rating__button"
          data-testid="rate-helpful"
          aria-label="Helpful"
          title="Helpful"
          aria-pressed={choice === true}
          onClick={() => rating.onRate(true)}
        >
          {THUMB_UP}
          <span class="sr-only">Helpful</span>
        </button>
        <button
          type="button"
          class="rating__button"
          data-testid="rate-not-helpful"
          aria-label="Not helpful"
          title="Not helpful"
          aria-pressed={choice === false}
          onClick={() => rating.onRate(false)}
        >
          {THUMB_DOWN}
          <span class="sr-only">Not helpful</span>
        </button>
      </div>
      {state.commenting && choice === false && <CommentBox rating={rating} label="What was missing? (optional)" />}
      {state.thanked && !state.commenting && (
        <span class="rating__thanks" data-testid="rating-thanks" role="status">
          {THANKS_TEXT}
        </span>
      )}
      <RatingError state={state} />
    </div>
  );
}

/** "Did this solve your problem?" after the bot's latest answer. */
function ResolvedQuestion({ rating }: { rating: RatingProps }) {
  const { choice, state } = rating;
  const answered = choice !== null && state.sending === null && !state.error;
  return (
    <div class="resolved" data-testid="resolved-question" aria-busy={state.sending !== null ? "true" : undefined}>
      {/* One question at most on the page, so a fixed id is unique. */}
      <div class="resolved__ask" role="group" aria-labelledby="resolved-question-label">
        <span id="resolved-question-label">Did this solve your problem?</span>
        <span class="resolved__buttons">
          <button
            type="button"
            class="btn btn--small btn--ghost"
            data-testid="resolved-yes"
            aria-pressed={choice === true}
            onClick={() => rating.onRate(true)}
          >
            Yes
          </button>
          <button
            type="button"
            class="btn btn--small btn--ghost"
            data-testid="resolved-no"
            aria-pressed={choice === false}
            onClick={() => rating.onRate(false)}
          >
            No
          </button>
        </span>
      </div>
      {answered && (
        <span class="rating__thanks" data-testid="rating-thanks" role="status">
          {THANKS_TEXT}
        </span>
      )}
      {state.commenting && choice === false && <CommentBox rating={rating} label="What went wrong? (optional)" />}
      <RatingError state={state} />
    </div>
  );
}

interface ItemProps {
  item: ChatItem;
  onHandoff(): void;
  onChoose(option: string): void;
  escalating: boolean;
  ratingFor(target: string): RatingProps;
}

function ItemView({ item, onHandoff, onChoose, escalating, ratingFor }: ItemProps) {
  if (item.kind === "message") {
    const rateable = item.message.author === "bot" && !item.delivery;
    return (
      <MessageView message={item.message} delivery={item.delivery}>
        {rateable && <ReplyRating rating={ratingFor(item.message.id)} />}
      </MessageView>
    );
  }
  return (
    <div class="notice" data-testid="notice" role="status">
      <span>{item.text}</span>
      {item.options?.map((option) => (
        <button type="button" class="btn btn--small" data-testid="clarify-option" key={option} onClick={() => onChoose(option)}>
          {option}
        </button>
      ))}
      {item.offerHandoff && (
        <button type="button" class="btn btn--small" data-testid="offer-handoff-button" disabled={escalating} onClick={onHandoff}>
          Talk to a person
        </button>
      )}
    </div>
  );
}

function Chip({ chip, onRemove }: { chip: AttachmentChip; onRemove(): void }) {
  const status =
    chip.state === "uploading" ? `${Math.round(chip.progress * 100)}%` : chip.state === "ready" ? "ready" : "failed";
  return (
    <li class={`chip chip--${chip.state}`} data-testid="attachment-chip" data-state={chip.state} title={chip.error ?? chip.name}>
      <span class="chip__name">{chip.name}</span>
      <span class="chip__status">{status}</span>
      {chip.state === "uploading" && (
        <progress class="chip__progress" max={1} value={chip.progress} aria-label={`Uploading ${chip.name}`} />
      )}
      <button type="button" class="chip__remove" aria-label={`Remove ${chip.name}`} onClick={onRemove}>
        ×
      </button>
    </li>
  );
}

const PAPERCLIP = (
  <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">
    <path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z" />
  </svg>
);
const SEND = (
  <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">
    <path d="M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z" />
  </svg>
);

/** The header's initials for a company name ("Northwind Gadgets" → "NG"). */
export function initials(name: string): string {
  const letters = name
    .split(/\s+/)
    .filter((w) => /^\p{L}/u.test(w))
    .map((w) => w[0]!.toUpperCase());
  return letters.slice(0, 2).join("") || "?";
}

export interface ChatAppProps {
  widgetKey: string;
  embedded: boolean;
  /** The company's name (the page's `?name=`); the header says "Support" without one. */
  company?: string;
}

export function ChatApp({ widgetKey, embedded, company }: ChatAppProps) {
  const controller = useMemo(() => new ChatController(browserEnvironment(widgetKey)), [widgetKey]);
  const view = useView(controller);
  const logRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const [dragging, setDragging] = useState(false);
  // dragenter/dragleave fire for every child crossed; count them to know when the file left.
  const dragDepth = useRef(0);

  useEffect(() => {
    void controller.start();
    return () => controller.dispose();
  }, [controller]);

  useEffect(() => {
    if (!embedded) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") requestClose();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [embedded]);

  const streamed = streamingReply(view.chat);
  const typing = isTyping(view.chat);
  const askResolved = asksResolved(view.chat);
  const resolvedState = view.rating[CONVERSATION] ?? NO_RATING;

  // Follow the conversation while the reader is at (or near) the bottom.
  const wasAtBottom = useRef(true);
  const log = logRef.current;
  if (log) wasAtBottom.current = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  useLayoutEffect(() => {
    const el = logRef.current;
    if (el && wasAtBottom.current) el.scrollTop = el.scrollHeight;
  }, [view.chat.items.length, streamed?.text, typing, askResolved, resolvedState.commenting]);

  // The composer grows with its text, up to a few lines.
  useLayoutEffect(() => {
    const el = inputRef.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 140)}px`;
  }, [view.draft]);

  const send = () => {
    if (controller.send()) inputRef.current?.focus();
  };
  const escalate = () => void controller.escalate();
  const ratingFor = (target: string): RatingProps => ({
    choice: ratingChoice(view, target),
    state: view.rating[target] ?? NO_RATING,
    onRate: (choice) => controller.rate(target, choice),
    onComment: (text) => controller.setRatingComment(target, text),
    onSendComment: () => controller.sendRatingComment(target),
  });
  // A clarifying question's option is sent as the visitor's answer.
  const choose = (option: string) => {
    controller.setDraft(option);
    send();
  };

  return (
    <div
      class={`chat${embedded ? " chat--embedded" : ""}${dragging ? " chat--dragging" : ""}`}
      onDragEnter={(e) => {
        if (!e.dataTransfer?.types.includes("Files")) return;
        dragDepth.current += 1;
        setDragging(true);
      }}
      onDragOver={(e) => {
        if (e.dataTransfer?.types.includes("Files")) e.preventDefault();
      }}
      onDragLeave={() => {
        dragDepth.current = Math.max(0, dragDepth.current - 1);
        if (dragDepth.current === 0) setDragging(false);
      }}
      onDrop={(e) => {
        e.preventDefault();
        dragDepth.current = 0;
        setDragging(false);
        const files = Array.from(e.dataTransfer?.files ?? []);
        if (files.length > 0) controller.attach(files);
      }}
    >
      <header class="chat__header">
        <div class="chat__brand">
          <span class="chat__avatar" aria-hidden="true">
            {company ? initials(company) : "?"}
          </span>
          <div>
            <h1 class="chat__title">{company ? `${company} support` : "Support"}</h1>
            <p class={`chat__connection chat__connection--${view.connection}`} data-testid="connection-status" aria-live="polite">
              {CONNECTION_LABELS[view.connection]}
            </p>
          </div>
        </div>
        <div class="chat__header-actions">
          <button
            type="button"
            class="btn btn--small btn--ghost"
            data-testid="handoff-button"
            disabled={view.phase !== "ready" || view.escalating}
            onClick={escalate}
          >
            Talk to a person
          </button>
          {embedded && (
            <button type="button" class="icon-btn" aria-label="Close chat" onClick={() => requestClose()}>
              <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">
                <path d="M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z" />
              </svg>
            </button>
          )}
        </div>
      </header>

      <div class="chat__log" ref={logRef} role="log" aria-live="polite" aria-label="Conversation" tabIndex={0}>
        <p class="chat__intro">
          Hi! I'm the {company ? `${company} ` : ""}assistant. Ask me anything: I answer from our help articles, and
          bring in a person when you need one.
        </p>
        {view.chat.items.map((item) => (
          <ItemView
            key={item.key}
            item={item}
            onHandoff={escalate}
            onChoose={choose}
            escalating={view.escalating}
            ratingFor={ratingFor}
          />
        ))}
        {askResolved && <ResolvedQuestion rating={ratingFor(CONVERSATION)} />}
        {streamed && <MessageView key={streamed.id} message={streamed} streaming />}
        {typing && (
          <div class="typing" data-testid="typing-indicator" aria-label="The assistant is typing">
            <span />
            <span />
            <span />
          </div>
        )}
      </div>

      <footer class="chat__footer">
        {view.error && (
          <div class="chat__error" data-testid="chat-error" role="alert">
            <span>{view.error.text}</span>
            <span class="chat__error-actions">
              {view.error.retry && (
                <button type="button" class="btn btn--small" onClick={() => controller.retry()}>
                  Try again
                </button>
              )}
              <button type="button" class="icon-btn icon-btn--small" aria-label="Dismiss" onClick={() => controller.dismissError()}>
                ×
              </button>
            </span>
          </div>
        )}
        {view.attachments.length > 0 && (
          <ul class="chips" aria-label="Attachments">
            {view.attachments.map((chip) => (
              <Chip key={chip.localId} chip={chip} onRemove={() => controller.removeAttachment(chip.localId)} />
            ))}
          </ul>
        )}
        <form
          class="composer"
          onSubmit={(e) => {
            e.preventDefault();
            send();
          }}
        >
          <label class="icon-btn composer__attach" title="Attach a file">
            <input
              type="file"
              class="sr-only"
              data-testid="file-input"
              accept={ACCEPT_ATTRIBUTE}
              multiple
              onChange={(e) => {
                const input = e.currentTarget;
                controller.attach(Array.from(input.files ?? []));
                input.value = "";
              }}
            />
            {PAPERCLIP}
            <span class="sr-only">Attach a file</span>
          </label>
          <textarea
            ref={inputRef}
            class="composer__input"
            data-testid="chat-input"
            aria-label="Message"
            placeholder="Type your message…"
            rows={1}
            maxLength={4000}
            value={view.draft}
            onInput={(e) => controller.setDraft(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                send();
              }
            }}
          />
          <button type="submit" class="composer__send" data-testid="chat-send" aria-label="Send" disabled={!controller.canSend}>
            {SEND}
          </button>
        </form>
      </footer>
      {dragging && <div class="chat__drop">Drop a file to attach it</div>}
    </div>
  );
}
