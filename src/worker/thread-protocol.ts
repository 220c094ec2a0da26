// Messages between a worker's main thread and its task and actor threads.
// Payload parts cross as Uint8Arrays (large ones transferred, not copied).

import type { ActorCall, ActorStats, CodeRef, ErrorInfo, Key } from "../protocol/messages.js";
import { copyBytes } from "../comm/payload.js";
import { mapShared, own, release, sharedPathOf } from "../shm/index.js";

/** A payload part between threads: bytes, or a shared segment the other side maps. */
export type ThreadPart = Uint8Array | { shm: string };

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
  | {
      t: "run";
      id: number;
      key: Key;
      fn: CodeRef;
      args: Uint8Array[];
      deps: Record<Key, ThreadPart[]>;
      actor: boolean;
      /** Deps this thread computed just before: it takes them from its recent results. */
      local?: Key[];
    }
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
  | { t: "done"; id: number; ok: true; value: ThreadPart[]; actor?: ActorShape }
  | { t: "done"; id: number; ok: false; error: ErrorInfo; missing?: boolean; notRun?: boolean }
  | { t: "stats"; actors: Record<Key, ActorStats> }
  | { t: "closed" };

/**
 * Parts ready to post to another thread. Structured clone copies a view's
 * whole underlying buffer, and decoded parts are views into much larger
 * socket or pool buffers: copy each view out first so only its own bytes travel.
 */
export function compactParts(parts: Uint8Array[]): Uint8Array[] {
  return parts.map(compactPart);
}

/** A thread's answer to one piece of work. */
export type ThreadDone = Extract<FromThread, { t: "done" }>;

/** Parts for a thread: shared segments by path (the thread maps them), the rest compacted. */
export function partsToThread(parts: Uint8Array[]): ThreadPart[] {
  return parts.map((p) => {
    const shm = sharedPathOf(p);
    return shm === undefined ? compactPart(p) : { shm };
  });
}

/**
 * Parts from a thread or from the main thread, shared ones mapped. `owner`:
 * segments a thread created now belong to this (main) thread.
 */
export function partsFromThread(parts: ThreadPart[], owner: boolean): Uint8Array[] {
  return parts.map((p) => {
    if (p instanceof Uint8Array) return p;
    if (owner) own(p.shm); // before mapping: a failed map must still remove the segment
    return mapShared(p.shm);
  });
}

/** Removes the segments a thread created for parts nobody will keep. */
export function discardParts(parts: ThreadPart[]): void {
  for (const p of parts) {
    if (p instanceof Uint8Array) continue;
    own(p.shm);
    release(p.shm);
  }
}

/** A part holding only its own bytes (see compactParts). */
export function compactPart(p: Uint8Array): Uint8Array {
  return p.byteOffset === 0 && p.byteLength === p.buffer.byteLength ? p : copyBytes(p);
}
