// The visitor's chat session kept in localStorage, one per widget key, so that a reload (or
// the widget on another page of the same site) resumes the same conversation: the session
// id, its visitor token and expiry, and the event-feed cursor read so far. Also the rule for
// when the token must be refreshed. Not for staff tokens (staff-auth.ts).

export interface StoredSession {
  sessionId: string;
  token: string;
  /** Unix milliseconds. */
  expiresAt: number;
  /** The last event-feed cursor applied. */
  cursor: number;
}

/** Refresh the visitor token once it is this close to expiring. */
export const REFRESH_MARGIN_MS = 5 * 60 * 1000;

export function storageKey(widgetKey: string): string {
  return `support-agent:session:${widgetKey}`;
}

function isStoredSession(value: unknown): value is StoredSession {
  const v = value as Partial<StoredSession> | null;
  return (
    !!v &&
    typeof v.sessionId === "string" &&
    v.sessionId !== "" &&
    typeof v.token === "string" &&
    v.token !== "" &&
    typeof v.expiresAt === "number" &&
    typeof v.cursor === "number" &&
    Number.isInteger(v.cursor) &&
    v.cursor >= 0
  );
}

/** The stored session for this widget key; null when absent, unreadable or malformed. */
export function loadSession(storage: Storage, widgetKey: string): StoredSession | null {
  try {
    const raw = storage.getItem(storageKey(widgetKey));
    if (!raw) return null;
    const value: unknown = JSON.parse(raw);
    return isStoredSession(value) ? value : null;
  } catch {
    return null;
  }
}

/** Stores the session; storage being full or disabled only costs the resume-on-reload. */
export function saveSession(storage: Storage, widgetKey: string, session: StoredSession): void {
  try {
    storage.setItem(storageKey(widgetKey), JSON.stringify(session));
  } catch {
    // Private mode or a full quota: the chat still works for this page view.
  }
}

export function clearSession(storage: Storage, widgetKey: string): void {
  try {
    storage.removeItem(storageKey(widgetKey));
  } catch {
    // As above.
  }
}

/** Whether the token expires within the margin (or already has). */
export function needsRefresh(session: Pick<StoredSession, "expiresAt">, nowMs: number): boolean {
  return session.expiresAt - nowMs <= REFRESH_MARGIN_MS;
}

/** The session with a cursor moved forward; cursors never go back. */
export function withCursor(session: StoredSession, cursor: number): StoredSession {
  return cursor > session.cursor ? { ...session, cursor } : session;
}
