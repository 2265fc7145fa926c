// The signed-in frame of the staff pages: takes the token from the URL fragment or the
// tab's storage, shows the sign-in form until there is one, and signs out (back to the
// form, with the reason) when a page reports a 401. Pages get the token and its claims.
import type { ComponentChildren } from "preact";
import { useCallback, useMemo, useState } from "preact/hooks";
import { ApiError, friendlyMessage, isAbort } from "../lib/api";
import { clearStaffToken, decodeClaims, saveStaffToken, takeStaffToken, type StaffClaims } from "../lib/staff-auth";
import { SignIn } from "./SignIn";

export const EXPIRED_SIGN_IN = "Your sign-in has expired or is not valid. Please sign in again.";

export interface StaffAuth {
  token: string;
  claims: StaffClaims;
  signOut(message?: string): void;
}

export interface StaffGateProps {
  title: string;
  role: "agent" | "admin";
  children(auth: StaffAuth): ComponentChildren;
}

export function StaffGate({ title, role, children }: StaffGateProps) {
  const [token, setToken] = useState<string | null>(() => takeStaffToken(location, history, sessionStorage));
  const [message, setMessage] = useState<string | null>(null);
  const signOut = useCallback((reason?: string) => {
    clearStaffToken(sessionStorage);
    setToken(null);
    setMessage(reason ?? null);
  }, []);
  const auth = useMemo<StaffAuth | null>(
    () => (token ? { token, claims: decodeClaims(token), signOut } : null),
    [token, signOut],
  );
  if (!auth) {
    return (
      <SignIn
        title={title}
        role={role}
        message={message}
        onSubmit={(t) => {
          saveStaffToken(sessionStorage, t);
          setMessage(null);
          setToken(t);
        }}
      />
    );
  }
  return (
    <>
      <header class="topbar">
        <span class="topbar__title">{title}</span>
        <span class="topbar__who muted">
          {auth.claims.sub ?? "signed in"}
          {auth.claims.role ? ` · ${auth.claims.role}` : ""}
        </span>
        <button type="button" class="btn btn--ghost" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      {children(auth)}
    </>
  );
}

/** A staff page's error handler: signs out on 401, says `forbidden` on 403, and turns other
 * failures into a sentence (null when there is nothing to say, e.g. an aborted request). */
export function useStaffFailure(auth: StaffAuth, forbidden: string) {
  return useCallback(
    (error: unknown): string | null => {
      if (isAbort(error)) return null;
      if (error instanceof ApiError && error.status === 401) {
        auth.signOut(EXPIRED_SIGN_IN);
        return null;
      }
      if (error instanceof ApiError && error.status === 403) return forbidden;
      return friendlyMessage(error);
    },
    [auth, forbidden],
  );
}
