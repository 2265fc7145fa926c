// The sign-in form of the agent inbox and the admin page: paste a bearer token (a JWT with
// the agent or admin role). Links that carry `#token=…` skip it (lib/staff-auth.ts).
import { useState } from "preact/hooks";

export interface SignInProps {
  title: string;
  role: "agent" | "admin";
  message: string | null;
  onSubmit(token: string): void;
}

export function SignIn({ title, role, message, onSubmit }: SignInProps) {
  const [token, setToken] = useState("");
  return (
    <main class="signin">
      <form
        class="card signin__card"
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) onSubmit(token.trim());
        }}
      >
        <h1>{title}</h1>
        <p class="muted">Sign in with an access token that has the {role} role.</p>
        {message && (
          <p class="alert" role="alert">
            {message}
          </p>
        )}
        <label class="field">
          <span>Access token</span>
          <input
            type="password"
            data-testid="signin-token"
            autocomplete="off"
            spellcheck={false}
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
            required
          />
        </label>
        <button type="submit" class="btn btn--primary" data-testid="signin-submit" disabled={!token.trim()}>
          Sign in
        </button>
      </form>
    </main>
  );
}
