// What an agent may do with a handed-off conversation, from its ticket's status and who
// holds it, mirroring the server's rules (components/escalate): claim an open ticket; reply
// only to a pending ticket one holds; resolve or hand back any unsolved ticket nobody else
// holds (admins may close anyone's). Also the queue's labels for reasons, intents, waits.
import { ApiError } from "./api";
import type { Ticket, TicketStatus } from "./types";

export interface TicketActions {
  claim: boolean;
  reply: boolean;
  resolve: boolean;
  handback: boolean;
}

export interface Caller {
  /** The JWT subject; null when it could not be read (the server still decides). */
  subject: string | null;
  role: string | null;
}

export function ticketActions(ticket: Pick<Ticket, "status" | "assignee">, caller: Caller): TicketActions {
  if (ticket.status === "solved") return { claim: false, reply: false, resolve: false, handback: false };
  const mine = ticket.assignee !== null && (caller.subject === null || ticket.assignee === caller.subject);
  const someoneElses = ticket.assignee !== null && !mine;
  const mayClose = !someoneElses || caller.role === "admin";
  return {
    claim: ticket.status === "open",
    reply: ticket.status === "pending" && mine,
    resolve: mayClose,
    handback: mayClose,
  };
}

/** The queue tabs: the ticket status each shows and its label. */
export const QUEUE_TABS: { status: TicketStatus; label: string }[] = [
  { status: "open", label: "Waiting" },
  { status: "pending", label: "Claimed" },
  { status: "solved", label: "Solved" },
];

const REASONS: Record<string, string> = {
  human_requested: "Asked for a person",
  frustration: "Frustrated",
  repeated_failure: "Repeated failure",
  low_confidence: "Bot unsure",
  sensitive_topic: "Sensitive topic",
  agent_initiated: "Taken over by an agent",
};

const INTENTS: Record<string, string> = {
  refund: "Refund",
  cancellation: "Cancellation",
  legal: "Legal",
  security: "Security",
  account_deletion: "Account deletion",
};

export function reasonLabel(reason: string): string {
  return REASONS[reason] ?? reason.replace(/_/g, " ");
}

export function intentLabel(intent: string | null | undefined): string | null {
  if (!intent) return null;
  return INTENTS[intent] ?? intent.replace(/_/g, " ");
}

/** "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function formatWait(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/** The message for a failed claim: a 409 means another agent won. */
export function claimFailureMessage(error: unknown): string | null {
  if (error instanceof ApiError && error.status === 409) {
    const detail = error.problem?.detail ?? "";
    return /resolved/i.test(detail) ? "This conversation is already resolved." : "Someone else claimed it.";
  }
  return null;
}
