// The shapes of the support-agent HTTP API that the web UI reads and sends, as declared in
// openapi.yaml (the contract). Types only; no runtime code.

export type Author = "visitor" | "bot" | "agent" | "system";
export type SessionStatus = "open" | "handed_off" | "closed";
export type TicketStatus = "open" | "pending" | "solved";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
}

export interface Session {
  id: string;
  status: SessionStatus;
  visitor: { id: string; name: string | null; email: string | null; locale: string | null };
  created_at: number;
  updated_at: number;
}

export interface SessionWithToken {
  session: Session;
  token: string;
  /** Unix milliseconds. */
  expires_at: number;
}

export interface Citation {
  marker: number;
  chunk_id: string;
  document_id: string;
  title: string;
  heading_path: string[];
  source_url: string | null;
  quote: string;
}

export type ActionType = "escalate" | "offer_handoff" | "clarify" | "small_talk" | "handed_off";

export interface Action {
  type: ActionType;
  reason?: string | null;
  intent?: string | null;
  /** With `clarify`: the things the visitor may mean, to pick from. */
  options?: string[];
  /** With `small_talk`: what the visitor's message did. */
  kind?: "greeting" | "thanks" | "goodbye";
}

export interface Message {
  id: string;
  author: Author;
  text: string;
  citations: Citation[];
  action: Action | null;
  reply_to: string | null;
  responder: string | null;
  created_at: number;
}

export interface MessagePage {
  messages: Message[];
  next_cursor: string | null;
  /** Every rating of the session (its replies' and the conversation's), last changed last. */
  feedback: Feedback[];
  memory?: {
    facts: { kind: "name" | "email" | "order_number" | "phone"; value: string }[];
    summary: string;
  };
}

/** The JSON answer of POST /api/sessions/{id}/messages (without an event stream). */
export interface Turn {
  message: Message;
  reply: Message | null;
  action: Action | null;
  notice: string | null;
  degraded: boolean;
  ticket?: { id: string; status: TicketStatus } | null;
}

/**
 * The visitor's rating of one bot reply (`message_id` and `helpful`) or of the whole
 * conversation (`resolved`: did it solve the problem). One per target; a new one replaces it.
 */
export interface Feedback {
  message_id?: string;
  helpful?: boolean;
  resolved?: boolean;
  comment: string | null;
  created_at: number;
  updated_at: number;
}

/** The body of PUT /api/sessions/{id}/feedback: rate a bot reply, or the conversation. */
export type Rating =
  | { message_id: string; helpful: boolean; comment?: string | null }
  | { resolved: boolean; comment?: string | null };

/** The answer of PUT /api/sessions/{id}/feedback. */
export interface Rated {
  feedback: Feedback;
  /** False when the same rating was already stored. */
  changed: boolean;
}

export interface FeedEvent {
  cursor: number;
  type: "message" | "status" | "feedback";
  data: Record<string, unknown>;
  created_at: number;
}

export interface FeedBatch {
  events: FeedEvent[];
  cursor: number;
}

/** `curated`: an answer an admin wrote for unanswered questions (POST /api/kb/curated). */
export type ContentType = "pdf" | "docx" | "html" | "markdown" | "csv" | "json" | "text" | "curated";

export interface KbDocument {
  id: string;
  external_id: string;
  title: string;
  source_url: string | null;
  content_type: ContentType;
  content_hash: string;
  chunk_count: number;
  vector_status: "indexed" | "pending";
  created_at: number;
  updated_at: number;
}

export type IngestStatus = "created" | "updated" | "unchanged";

export interface Attachment {
  attachment: KbDocument;
  status: IngestStatus;
  vector_index: "indexed" | "pending";
}

export interface Ingested {
  document: KbDocument;
  status: IngestStatus;
  vector_index: "indexed" | "pending";
}

export interface DocumentPage {
  documents: KbDocument[];
  next_cursor: string | null;
}

export type SearchMode = "hybrid" | "vector" | "keyword";

export interface RetrieverRank {
  rank: number;
  score: number;
}

export interface SearchResult {
  chunk_id: string;
  document_id: string;
  external_id: string;
  title: string;
  heading_path: string[];
  source_url: string | null;
  page?: number;
  text: string;
  rank: number;
  score: number;
  vector: RetrieverRank | null;
  keyword: RetrieverRank | null;
}

export interface SearchResults {
  results: SearchResult[];
  degraded: boolean;
  missing: ("vector" | "keyword")[];
  confidence: number;
}

export type Priority = "low" | "normal" | "high" | "urgent";

export interface Ticket {
  id: string;
  session_id: string;
  status: TicketStatus;
  reason: string;
  intent?: string;
  priority: Priority;
  summary: string;
  transcript?: { author: Author; text: string; created_at: number }[];
  opened_by: string;
  assignee: string | null;
  resolution: "resolved" | "handed_back" | null;
  created_at: number;
  updated_at: number;
  wait_seconds: number;
}

export interface QueueItem {
  session_id: string;
  ticket: Ticket;
}

export interface Queue {
  status: TicketStatus;
  conversations: QueueItem[];
}

export interface Conversation {
  session_id: string;
  session_status: SessionStatus;
  visitor: { name?: string | null; email?: string | null; locale?: string | null };
  ticket: Ticket;
}

export interface Escalated {
  ticket: { id: string; status: TicketStatus; created_at: number } | Ticket;
  notice: string;
  opened: boolean;
}

export interface Solved {
  ticket: Ticket;
  session_status: "open";
}

/** Why the questions of an unanswered group count as unanswered, by how many of them. */
export interface UnansweredReasons {
  /** The bot declined and offered a person. */
  declined: number;
  /** The visitor rated the reply "not helpful". */
  not_helpful: number;
  /** Handed off to a person because the bot could not answer. */
  escalated: number;
}

/** A passage retrieval found for a group's question (what the bot had to go on). */
export interface UnansweredPassage {
  document_id: string;
  title: string;
  score: number;
  quote: string;
}

/** Near-duplicate unanswered questions, as one row (emails, phones and numbers masked). */
export interface UnansweredGroup {
  id: string;
  question: string;
  count: number;
  first_asked: number;
  last_asked: number;
  reasons: UnansweredReasons;
  examples: string[];
  message_ids: string[];
  /** The best passages found; null past the first 50 groups (not searched). */
  passages: UnansweredPassage[] | null;
  /** An agent's reply to one of the questions, when there was one. */
  agent_reply: string | null;
  /** The curated answer document that addresses the group, or null. */
  addressed_by: string | null;
}

/** The answer of GET /api/kb/unanswered: groups by count, most asked first. */
export interface UnansweredReport {
  since: number;
  until: number;
  grouping: "embeddings" | "keywords";
  /** How many questions in all (the sum of the groups' counts). */
  questions: number;
  groups: UnansweredGroup[];
}

/** An answer an admin wrote for a question, kept as a knowledge-base document. */
export interface CuratedAnswer {
  document_id: string;
  question: string;
  /** Markdown. */
  answer: string;
  created_at: number;
  updated_at: number;
}

/** The body of POST /api/kb/curated: a new answer, or a new text for the same question. */
export interface CuratedAnswerInput {
  question: string;
  answer: string;
  /** The unanswered questions it addresses (a group's `message_ids`). */
  message_ids?: string[];
}

/** The answer of POST /api/kb/curated. */
export interface CuratedSaved {
  answer: CuratedAnswer;
  /** How many of the given `message_ids` are now marked as addressed by it. */
  addressed: number;
}

export interface CuratedAnswerList {
  answers: CuratedAnswer[];
}
