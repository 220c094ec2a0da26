// Who may read the dashboard (R-SEC-7). On loopback, anyone on this machine,
// as before. Beyond it, the page names workers, actors and functions, so only
// holders of the cluster token: scrapers send `Authorization: Bearer <token>`;
// browsers open the login link `?token=<token>` once, as with Jupyter, and
// carry a cookie from then on.

import { createHmac } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { isLoopbackHost, isWildcardHost } from "../comm/index.js";
import { tokensMatch } from "../comm/handshake.js";

/** Whether a dashboard listening on `host` must ask for the token. */
export function tokenRequired(host: string, token: string): boolean {
  return token !== "" && !isLoopbackHost(host);
}

export type Admission =
  | { ok: true; /** A Set-Cookie header for a login link that carried the right token. */ setCookie?: string }
  | { ok: false; /** The login link carried a token, and it was wrong. */ wrongToken: boolean };

export class DashboardGate {
  readonly #token: string;
  readonly #required: boolean;
  #cookieName = "";
  #cookieValue = "";

  constructor(host: string, token: string) {
    this.#token = token;
    this.#required = tokenRequired(host, token);
    // The cookie proves the token was shown without being the token: stealing it reads the dashboard, never joins the cluster.
    if (this.#required) this.#cookieValue = createHmac("sha256", token).update("troupe dashboard login").digest("base64url");
  }

  /** Cookies are per host, not per port: two schedulers of one host must not overwrite each other's. */
  listening(port: number): void {
    this.#cookieName = `troupe-dashboard-${port}`;
  }

  admit(req: IncomingMessage, query: URLSearchParams): Admission {
    if (!this.#required) return { ok: true };
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (m && tokensMatch(this.#token, m[1]!)) return { ok: true };
    }
    const cookie = cookieValue(req.headers.cookie, this.#cookieName);
    if (cookie !== undefined && tokensMatch(this.#cookieValue, cookie)) return { ok: true };
    const given = query.get("token");
    if (given !== null) {
      if (!tokensMatch(this.#token, given)) return { ok: false, wrongToken: true };
      return { ok: true, setCookie: `${this.#cookieName}=${this.#cookieValue}; Path=/; HttpOnly; SameSite=Strict` };
    }
    return { ok: false, wrongToken: false };
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The dashboard's address as a person should open it: a wildcard bind named by
 * this host's name, and the login link when the token is required.
 */
export function dashboardLink(url: string, host: string, token: string, hostName: string): string {
  const u = new URL(url);
  if (isWildcardHost(u.hostname.replace(/^\[|\]$/g, ""))) u.hostname = hostName;
  if (tokenRequired(host, token)) u.searchParams.set("token", token);
  return u.toString();
}
