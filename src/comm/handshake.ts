// The first exchange on every connection: Hello from the connecting side,
// Welcome or Refused from the listener.

import { createHash, timingSafeEqual } from "node:crypto";
import { PROTOCOL_VERSION, type Hello, type Message } from "../protocol/messages.js";

export type HelloRole = Hello["role"];

/**
 * Bytes a connection may receive before its handshake completes: a hello (or
 * a welcome) is far smaller, and a stranger without the token can make this
 * side hold no more than this.
 */
export const MAX_UNAUTHENTICATED_BYTES = 64 * 1024;

const ROLES: ReadonlySet<string> = new Set<HelloRole>(["client", "worker", "peer"]);

export function makeHello(token: string, role: HelloRole): Hello {
  return { op: "hello", token, role, version: PROTOCOL_VERSION };
}

/** Compare tokens in constant time; hashing first gives equal lengths and hides the length. */
export function tokensMatch(expected: string, given: string): boolean {
  const a = createHash("sha256").update(expected, "utf8").digest();
  const b = createHash("sha256").update(given, "utf8").digest();
  return timingSafeEqual(a, b);
}

/** Why a Hello is refused, or null when it is accepted. */
export function checkHello(msg: Message, expectedToken: string): string | null {
  const h = msg as Partial<Hello>;
  if (h.version !== PROTOCOL_VERSION) {
    return `protocol version ${String(h.version)} is not supported (this side speaks version ${PROTOCOL_VERSION}); run the same troupe version everywhere`;
  }
  if (typeof h.role !== "string" || !ROLES.has(h.role)) return `unknown role ${JSON.stringify(h.role)} in hello`;
  if (typeof h.token !== "string" || !tokensMatch(expectedToken, h.token)) {
    return "wrong or missing token; use the cluster's token (the token option, --token-file, or TROUPE_TOKEN)";
  }
  return null;
}
