// The agent inbox page: the handoff queue in three tabs (refreshed every 5 s), and the
// selected conversation's ticket, live transcript (with the visitor's ratings of replies and
// of the conversation) and actions (claim, reply, resolve, hand back; for an admin, "Save as
// curated answer" on a solved handoff, with the admin page's editor). Enabling rules live
// in lib/ticket-rules.ts, API calls in inbox-api.ts, the live transcript in transcript.ts,
// the handoff's question and reply in handoff-answer.ts; this file wires them to the screen.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { CuratedEditor, MAX_ANSWER_CHARS, MAX_QUESTION_CHARS, type CuratedDraft } from "../admin/CuratedEditor";
import { MessageView } from "../components/MessageView";
import { StaffGate, useStaffFailure, type StaffAuth } from "../components/StaffGate";
import type { FeedState } from "../lib/event-feed";
import { CONVERSATION, type Ratings } from "../lib/feedback";
import { randomId } from "../lib/ids";
import {
  QUEUE_TABS,
  claimFailureMessage,
  formatWait,
  intentLabel,
  reasonLabel,
  ticketActions,
} from "../lib/ticket-rules";
import type { Conversation, Feedback, Message, QueueItem, TicketStatus } from "../lib/types";
import {
  claimConversation,
  getConversation,
  getTranscript,
  handBackConversation,
  listQueue,
  pollEvents,
  replyToConversation,
  resolveConversation,
} from "./inbox-api";
import { handoffAnswer } from "./handoff-answer";
import { TranscriptFollower } from "./transcript";

export const QUEUE_REFRESH_MS = 5000;

const FORBIDDEN = "This account is not allowed to use the agent inbox.";
/** What saving a curated answer says to a token without the admin role (403). */
export const CURATED_ADMIN_ONLY = "Saving a curated answer needs an access token with the admin role.";
export const CURATED_SAVED = "Saved as a curated answer";
const CURATED_HINT = "Saving adds it to the knowledge base (the bot cites it from then on) and marks the visitor's question as addressed.";

function useFailure(auth: StaffAuth) {
  return useStaffFailure(auth, FORBIDDEN);
}

function QueueList({
  auth,
  status,
  selected,
  onSelect,
  refreshKey,
}: {
  auth: StaffAuth;
  status: TicketStatus;
  selected: string | null;
  onSelect(id: string): void;
  refreshKey: number;
}) {
  const [items, setItems] = useState<QueueItem[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const failure = useFailure(auth);

  useEffect(() => {
    setItems(null);
    const abort = new AbortController();
    const load = () =>
      listQueue(auth.token, status, abort.signal).then(
        (queue) => {
          setItems(queue.conversations);
          setError(null);
        },
        (e: unknown) => setError(failure(e)),
      );
    void load();
    const timer = setInterval(load, QUEUE_REFRESH_MS);
    return () => {
      clearInterval(timer);
      abort.abort();
    };
  }, [auth.token, status, refreshKey, failure]);

  if (error) return <p class="alert" role="alert">{error}</p>;
  if (!items) return <p class="muted queue__empty">Loading…</p>;
  if (items.length === 0) return <p class="muted queue__empty">Nothing here.</p>;
  return (
    <ul class="queue">
      {items.map(({ session_id, ticket }) => {
        const intent = intentLabel(ticket.intent);
        return (
          <li key={session_id}>
            <button
              type="button"
              class={`queue__item${session_id === selected ? " queue__item--selected" : ""}`}
              data-testid="queue-item"
              data-session-id={session_id}
              aria-current={session_id === selected ? "true" : undefined}
              onClick={() => onSelect(session_id)}
            >
              <span class="queue__top">
                <span class="queue__reason">{reasonLabel(ticket.reason)}</span>
                <span class="queue__wait muted" title="Waiting for">
                  {formatWait(ticket.wait_seconds)}
                </span>
              </span>
              <span class="queue__badges">
                <span class={`badge badge--${ticket.priority}`}>{ticket.priority}</span>
                {intent && <span class="badge">{intent}</span>}
                {ticket.assignee && <span class="badge badge--muted">{ticket.assignee}</span>}
              </span>
              <span class="queue__summary">{ticket.summary}</span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}

function RatingComment({ feedback }: { feedback: Feedback }) {
  return feedback.comment ? <q class="rated__comment">{feedback.comment}</q> : null;
}

/** The visitor's rating of a bot reply, under it. */
function ReplyRating({ feedback }: { feedback: Feedback }) {
  const helpful = feedback.helpful === true;
  return (
    <p class={`rated rated--${helpful ? "up" : "down"}`} data-testid="reply-rating" data-helpful={String(helpful)}>
      <span class="sr-only">The visitor rated this reply: </span>
      <span aria-hidden="true">{helpful ? "👍" : "👎"}</span> {helpful ? "Helpful" : "Not helpful"}
      <RatingComment feedback={feedback} />
    </p>
  );
}

/** The visitor's answer to "Did this solve your problem?". */
function ConversationRating({ feedback }: { feedback: Feedback }) {
  const resolved = feedback.resolved === true;
  return (
    <p
      class={`rated rated--${resolved ? "up" : "down"} conversation__rating`}
      data-testid="conversation-rating"
      data-resolved={String(resolved)}
    >
      <span aria-hidden="true">{resolved ? "👍" : "👎"}</span>{" "}
      {resolved ? "The visitor says this solved their problem" : "The visitor says this did not solve their problem"}
      <RatingComment feedback={feedback} />
    </p>
  );
}

function ConversationPanel({ auth, sessionId, onChanged }: { auth: StaffAuth; sessionId: string; onChanged(): void }) {
  const [conversation, setConversation] = useState<Conversation | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [ratings, setRatings] = useState<Ratings>({});
  const [feedState, setFeedState] = useState<FeedState>("live");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [draft, setDraft] = useState("");
  const [curating, setCurating] = useState<CuratedDraft | null>(null);
  const [curatedSaved, setCuratedSaved] = useState(false);
  // One key per reply text: a retry after a failure cannot post the reply twice.
  const replyKey = useRef<string | null>(null);
  const follower = useRef<TranscriptFollower | null>(null);
  const transcriptRef = useRef<HTMLDivElement>(null);
  const failure = useFailure(auth);

  // Keep the newest message in view as the transcript grows.
  useLayoutEffect(() => {
    const el = transcriptRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages.length]);

  const reload = useCallback(
    () =>
      getConversation(auth.token, sessionId).then(setConversation, (e: unknown) => setError(failure(e))),
    [auth.token, sessionId, failure],
  );

  useEffect(() => {
    setConversation(null);
    setMessages([]);
    setRatings({});
    setError(null);
    setDraft("");
    replyKey.current = null;
    void reload();
    const f = new TranscriptFollower(
      {
        transcript: () => getTranscript(auth.token, sessionId),
        poll: (after, signal) => pollEvents(auth.token, sessionId, after, signal),
      },
      {
        onMessages: setMessages,
        onRatings: setRatings,
        onStatus: () => {
          void reload();
          onChanged();
        },
        onState: setFeedState,
        onError: (e) => setError(failure(e)),
      },
    );
    follower.current = f;
    void f.start();
    return () => f.stop();
  }, [auth.token, sessionId, reload, failure, onChanged]);

  const act = async (action: () => Promise<unknown>, onError?: (e: unknown) => string | null) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      await reload();
      onChanged();
    } catch (e) {
      setError(onError?.(e) ?? failure(e));
    } finally {
      setBusy(false);
    }
  };

  const sendReply = () => {
    const text = draft.trim();
    if (!text) return;
    replyKey.current ??= randomId();
    const key = replyKey.current;
    void act(async () => {
      const { message } = await replyToConversation(auth.token, sessionId, text, key);
      follower.current?.add([message]);
      setDraft("");
      replyKey.current = null;
    });
  };

  const ticket = conversation?.ticket ?? null;
  const allowed = ticket
    ? ticketActions(ticket, { subject: auth.claims.sub, role: auth.claims.role })
    : { claim: false, reply: false, resolve: false, handback: false };
  const visitor = conversation?.visitor;
  const visitorName = visitor?.name || visitor?.email || "Visitor";
  const conversationRating = ratings[CONVERSATION];
  // Only admins may write curated answers (the server answers an agent 403).
  const handoff = auth.claims.role === "admin" && ticket?.status === "solved" ? handoffAnswer(messages, ticket) : null;
  const toggleCurating = () => {
    setCuratedSaved(false);
    setCurating((current) =>
      current || !handoff
        ? null
        : {
            key: `handoff:${sessionId}`,
            question: handoff.question.slice(0, MAX_QUESTION_CHARS),
            answer: handoff.answer.slice(0, MAX_ANSWER_CHARS),
            messageIds: [handoff.questionId],
            existing: false,
          },
    );
  };

  return (
    <section class="conversation" aria-label="Conversation">
      <header class="conversation__header">
        <div class="conversation__who">
          <h2>{visitorName}</h2>
          <p class="muted">
            {visitor?.email && visitor.name ? `${visitor.email} · ` : ""}
            {ticket ? `${reasonLabel(ticket.reason)} · waiting ${formatWait(ticket.wait_seconds)}` : "Loading…"}
          </p>
        </div>
        <div class="conversation__status">
          <span class={`status status--${ticket?.status ?? "loading"}`} data-testid="ticket-status">
            {ticket?.status ?? ""}
          </span>
          {ticket?.assignee && <span class="muted">held by {ticket.assignee}</span>}
        </div>
      </header>
      {ticket?.summary && <p class="conversation__summary">{ticket.summary}</p>}
      <div class="conversation__actions">
        <button
          type="button"
          class="btn btn--primary"
          data-testid="claim-button"
          disabled={busy || !allowed.claim}
          onClick={() => void act(() => claimConversation(auth.token, sessionId), claimFailureMessage)}
        >
          Claim
        </button>
        <button
          type="button"
          class="btn"
          data-testid="resolve-button"
          disabled={busy || !allowed.resolve}
          onClick={() => void act(() => resolveConversation(auth.token, sessionId))}
        >
          Resolve
        </button>
        <button
          type="button"
          class="btn"
          data-testid="handback-button"
          disabled={busy || !allowed.handback}
          onClick={() => void act(() => handBackConversation(auth.token, sessionId))}
        >
          Hand back to the bot
        </button>
        {handoff && (
          <button type="button" class="btn" data-testid="save-curated" aria-expanded={curating !== null} onClick={toggleCurating}>
            Save as curated answer
          </button>
        )}
        {feedState !== "live" && <span class="muted conversation__feed">{feedState === "offline" ? "Offline" : "Reconnecting…"}</span>}
      </div>
      {error && (
        <p class="alert" role="alert">
          {error}
        </p>
      )}
      {handoff && curating && (
        <div class="conversation__curate">
          <CuratedEditor
            key={curating.key}
            auth={auth}
            draft={curating}
            hint={CURATED_HINT}
            forbidden={CURATED_ADMIN_ONLY}
            onSaved={() => {
              setCurating(null);
              setCuratedSaved(true);
            }}
            onCancel={() => setCurating(null)}
          />
        </div>
      )}
      {handoff && curatedSaved && (
        <p class="curation__notice" role="status" data-testid="curated-saved">
          {CURATED_SAVED}
        </p>
      )}
      {conversationRating && <ConversationRating feedback={conversationRating} />}
      <div class="transcript" ref={transcriptRef} data-testid="transcript" role="log" aria-live="polite" aria-label="Transcript">
        {messages.length === 0 && <p class="muted">No messages yet.</p>}
        {messages.map((m) => {
          const rating = m.author === "bot" ? ratings[m.id] : undefined;
          return (
            <MessageView key={m.id} message={m} labelAll>
              {rating && <ReplyRating feedback={rating} />}
            </MessageView>
          );
        })}
      </div>
      <form
        class="reply"
        onSubmit={(e) => {
          e.preventDefault();
          sendReply();
        }}
      >
        <textarea
          data-testid="reply-input"
          aria-label="Reply to the visitor"
          placeholder={allowed.reply ? "Write a reply… (Enter sends, Shift+Enter for a new line)" : "Claim the conversation to reply"}
          rows={3}
          maxLength={8192}
          value={draft}
          disabled={!allowed.reply}
          onInput={(e) => {
            setDraft(e.currentTarget.value);
            replyKey.current = null;
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              sendReply();
            }
          }}
        />
        <button type="submit" class="btn btn--primary" data-testid="reply-send" disabled={busy || !allowed.reply || !draft.trim()}>
          Send reply
        </button>
      </form>
    </section>
  );
}

function Inbox({ auth }: { auth: StaffAuth }) {
  const [status, setStatus] = useState<TicketStatus>("open");
  const [selected, setSelected] = useState<string | null>(null);
  const [refreshKey, setRefreshKey] = useState(0);
  const refreshQueue = useCallback(() => setRefreshKey((k) => k + 1), []);

  return (
    <main class={`inbox${selected ? " inbox--selected" : ""}`}>
      <aside class="inbox__queue" aria-label="Queue">
        <div class="tabs" role="tablist" aria-label="Queue">
          {QUEUE_TABS.map((tab) => (
            <button
              key={tab.status}
              type="button"
              role="tab"
              class="tab"
              aria-selected={status === tab.status}
              data-testid={`queue-tab-${tab.status}`}
              onClick={() => setStatus(tab.status)}
            >
              {tab.label}
            </button>
          ))}
        </div>
        <QueueList auth={auth} status={status} selected={selected} onSelect={setSelected} refreshKey={refreshKey} />
      </aside>
      <div class="inbox__detail">
        {selected ? (
          <>
            <button type="button" class="btn btn--ghost btn--small inbox__back" onClick={() => setSelected(null)}>
              ← Queue
            </button>
            <ConversationPanel key={selected} auth={auth} sessionId={selected} onChanged={refreshQueue} />
          </>
        ) : (
          <p class="muted inbox__placeholder">Select a conversation from the queue.</p>
        )}
      </div>
    </main>
  );
}

export function InboxApp() {
  return (
    <StaffGate title="Agent inbox" role="agent">
      {(auth) => <Inbox auth={auth} />}
    </StaffGate>
  );
}
