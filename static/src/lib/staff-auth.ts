// The bearer token of an agent or admin on the inbox and admin pages: taken once from the
// URL fragment (`#token=...`, then removed from the address bar and history) or from the
// sign-in form, and kept in sessionStorage for this tab only. The claims are decoded for
// display and for "is this my ticket" only; the server verifies every request.

export const STAFF_TOKEN_KEY = "support-agent:staff-token";

export interface StaffClaims {
  sub: string | null;
  role: string | null;
  /** Unix seconds. */
  exp: number | null;
}

/** The token in a `#token=...` fragment, or null. */
export function tokenFromFragment(hash: string): string | null {
  const fragment = hash.startsWith("#") ? hash.slice(1) : hash;
  const token = new URLSearchParams(fragment).get("token");
  return token && token.trim() !== "" ? token.trim() : null;
}

/**
 * The staff token for this page: a fragment token is stored and wiped from the URL (so it
 * is not left in history or a shared link); otherwise the one stored for this tab.
 */
export function takeStaffToken(location: Location, history: History, storage: Storage): string | null {
  const fromFragment = tokenFromFragment(location.hash);
  if (fromFragment) {
    saveStaffToken(storage, fromFragment);
    history.replaceState(history.state, "", location.pathname + location.search);
    return fromFragment;
  }
  return loadStaffToken(storage);
}

export function loadStaffToken(storage: Storage): string | null {
  try {
    return storage.getItem(STAFF_TOKEN_KEY);
  } catch {
    return null;
  }
}

export function saveStaffToken(storage: Storage, token: string): void {
  try {
    storage.setItem(STAFF_TOKEN_KEY, token);
  } catch {
    // Storage disabled: the token lasts until the page is left.
  }
}

export function clearStaffToken(storage: Storage): void {
  try {
    storage.removeItem(STAFF_TOKEN_KEY);
  } catch {
    // As above.
  }
}

function base64UrlDecode(part: string): string {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The JWT's `sub`, `role` and `exp` claims, unverified; nulls when unreadable. */
export function decodeClaims(token: string): StaffClaims {
  const none: StaffClaims = { sub: null, role: null, exp: null };
  const payload = token.split(".")[1];
  if (!payload) return none;
  try {
    const claims = JSON.parse(base64UrlDecode(payload)) as Record<string, unknown>;
    return {
      sub: typeof claims.sub === "string" ? claims.sub : null,
      role: typeof claims.role === "string" ? claims.role : null,
      exp: typeof claims.exp === "number" ? claims.exp : null,
    };
  } catch {
    return none;
  }
}
