// Messages between a worker's main thread and its task and actor threads.
// Payload parts cross as Uint8Arrays (large ones transferred, not copied).

import type { ActorCall, ActorStats, CodeRef, ErrorInfo, Key } from "../protocol/messages.js";

/** What a thread needs to know about the process it lives in. */
export interface ThreadConfig {
  kind: "task" | "actor";
  index: number;
  scheduler: string;
  token: string;
  tls?: { cert: string; key: string; ca: string };
  codeRoot: string;
  connectTimeoutMs: number;
  /** Actor threads listen for direct calls on this interface, and are reached at contactHost. */
  listenHost: string;
  contactHost: string;
  insecure?: boolean;
  worker: { address: string; name: string; nthreads: number; resources: Record<string, number> };
}

export type ToThread =
  | { t: "run"; id: number; key: Key; fn: CodeRef; args: Uint8Array[]; deps: Record<Key, Uint8Array[]>; actor: boolean }
  | { t: "call"; id: number; key: Key; kind: ActorCall["kind"]; name: string; args: Uint8Array[] }
  | { t: "runfn"; id: number; fn: CodeRef; args: Uint8Array[] }
  | { t: "free"; keys: Key[] }
  | { t: "close" };

/** The shape of an actor, reported when it is created. */
export interface ActorShape {
  className: string;
  methods: string[];
  attributes: string[];
  /** The actor thread's endpoint for direct calls. */
  callAddress?: string;
}

export type FromThread =
  | { t: "done"; id: number; ok: true; value: Uint8Array[]; actor?: ActorShape }
  | { t: "done"; id: number; ok: false; error: ErrorInfo; missing?: boolean }
  | { t: "stats"; actors: Record<Key, ActorStats> }
  | { t: "closed" };

/**
 * Parts ready to post to another thread. Structured clone copies a view's
 * whole underlying buffer, and decoded parts are views into much larger
 * socket or pool buffers: copy each view out first so only its own bytes travel.
 */
export function compactParts(parts: Uint8Array[]): Uint8Array[] {
  return parts.map((p) => (p.byteOffset === 0 && p.byteLength === p.buffer.byteLength ? p : p.slice()));
}

/** A thread's answer to one piece of work. */
export type ThreadDone = Extract<FromThread, { t: "done" }>;
