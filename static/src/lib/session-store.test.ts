// Tests of the visitor session kept in localStorage and of the token refresh rule.
import { beforeEach, describe, expect, it } from "vitest";
import {
  REFRESH_MARGIN_MS,
  clearSession,
  loadSession,
  needsRefresh,
  saveSession,
  storageKey,
  withCursor,
  type StoredSession,
} from "./session-store";

const session: StoredSession = { sessionId: "s1", token: "t1", expiresAt: 1_000_000, cursor: 3 };

describe("session store", () => {
  beforeEach(() => localStorage.clear());

  it("round-trips a session per widget key", () => {
    saveSession(localStorage, "wk_demo", session);
    expect(loadSession(localStorage, "wk_demo")).toEqual(session);
    expect(loadSession(localStorage, "wk_other")).toBeNull();
  });

  it("forgets a cleared session", () => {
    saveSession(localStorage, "wk_demo", session);
    clearSession(localStorage, "wk_demo");
    expect(loadSession(localStorage, "wk_demo")).toBeNull();
  });

  it("ignores malformed or foreign data instead of resuming with it", () => {
    localStorage.setItem(storageKey("wk_demo"), "{not json");
    expect(loadSession(localStorage, "wk_demo")).toBeNull();
    localStorage.setItem(storageKey("wk_demo"), JSON.stringify({ sessionId: "s1", token: "" }));
    expect(loadSession(localStorage, "wk_demo")).toBeNull();
    localStorage.setItem(storageKey("wk_demo"), JSON.stringify({ ...session, cursor: -1 }));
    expect(loadSession(localStorage, "wk_demo")).toBeNull();
  });

  it("survives storage that refuses writes", () => {
    const full = {
      getItem: () => null,
      setItem: () => {
        throw new DOMException("quota", "QuotaExceededError");
      },
      removeItem: () => {
        throw new Error("denied");
      },
    } as unknown as Storage;
    expect(() => saveSession(full, "wk", session)).not.toThrow();
    expect(() => clearSession(full, "wk")).not.toThrow();
  });
});

describe("needsRefresh", () => {
  it("refreshes within five minutes of expiry and after it, not before", () => {
    const now = 10_000_000;
    expect(needsRefresh({ expiresAt: now + REFRESH_MARGIN_MS + 1 }, now)).toBe(false);
    expect(needsRefresh({ expiresAt: now + REFRESH_MARGIN_MS }, now)).toBe(true);
    expect(needsRefresh({ expiresAt: now + 1000 }, now)).toBe(true);
    expect(needsRefresh({ expiresAt: now - 1000 }, now)).toBe(true);
  });
});

describe("withCursor", () => {
  it("moves the cursor forward only", () => {
    expect(withCursor(session, 7).cursor).toBe(7);
    expect(withCursor(session, 2).cursor).toBe(3);
  });
});
