// Tests of the staff sign-in token: fragment handling, storage and claim decoding.
import { beforeEach, describe, expect, it, vi } from "vitest";
import { STAFF_TOKEN_KEY, decodeClaims, takeStaffToken, tokenFromFragment } from "./staff-auth";

function jwt(claims: Record<string, unknown>): string {
  const enc = (v: unknown) => btoa(JSON.stringify(v)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${enc({ alg: "HS256" })}.${enc(claims)}.sig`;
}

describe("staff token", () => {
  beforeEach(() => sessionStorage.clear());

  it("reads the token from a #token= fragment", () => {
    expect(tokenFromFragment("#token=abc.def.ghi")).toBe("abc.def.ghi");
    expect(tokenFromFragment("#other=1")).toBeNull();
    expect(tokenFromFragment("")).toBeNull();
  });

  it("stores a fragment token for the tab and removes it from the address bar", () => {
    const location = { hash: "#token=tok1", pathname: "/agent/", search: "?x=1" } as Location;
    const history = { state: null, replaceState: vi.fn() } as unknown as History;
    expect(takeStaffToken(location, history, sessionStorage)).toBe("tok1");
    expect(sessionStorage.getItem(STAFF_TOKEN_KEY)).toBe("tok1");
    expect(history.replaceState).toHaveBeenCalledWith(null, "", "/agent/?x=1");
  });

  it("falls back to the stored token when the URL has none", () => {
    sessionStorage.setItem(STAFF_TOKEN_KEY, "stored");
    const history = { state: null, replaceState: vi.fn() } as unknown as History;
    const location = { hash: "", pathname: "/admin/", search: "" } as Location;
    expect(takeStaffToken(location, history, sessionStorage)).toBe("stored");
    expect(history.replaceState).not.toHaveBeenCalled();
  });

  it("decodes sub, role and exp from a JWT without trusting it for anything else", () => {
    expect(decodeClaims(jwt({ sub: "agent:ann", role: "agent", exp: 99, tenant: "t" }))).toEqual({
      sub: "agent:ann",
      role: "agent",
      exp: 99,
    });
    expect(decodeClaims("not-a-jwt")).toEqual({ sub: null, role: null, exp: null });
    expect(decodeClaims("a.%%%.c")).toEqual({ sub: null, role: null, exp: null });
  });
});
