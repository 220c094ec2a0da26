// The coordination primitives' messages (client → scheduler): queues, locks,
// semaphores, events and variables live on the scheduler, by name (R-TASK-14).
// A request that waits (get, acquire, wait) is answered when it can be, or at
// its `timeoutMs`; it never holds up anything else. Part of the catalogue in
// messages.ts, which re-exports them.

import type { Payload } from "./payload.js";
import type { ErrorInfo, Key } from "./messages.js";

/** A user value as a primitive keeps it: serialized, with the keys of the Futures (and actors) inside it. */
export interface CoordValue {
  value: Payload;
  keys: Key[];
}
/** Request → null. */
export interface QueuePut extends CoordValue {
  op: "queue-put";
  name: string;
}
/** Request → CoordGetReply: the oldest item, once there is one. */
export interface QueueGet {
  op: "queue-get";
  name: string;
  timeoutMs?: number;
}
/** Request → number of items. */
export interface QueueSize {
  op: "queue-size";
  name: string;
}
/** The reply to a get that waits: the value, or that `timeoutMs` passed first. */
export type CoordGetReply = { value: Payload } | { timeout: true };
/**
 * Request → LeaseReply: one of `maxLeases` leases of a lock (1) or semaphore,
 * for the object `holder` (each Lock or Semaphore object is its own holder).
 * A lease is freed by lease-release, or when its client disconnects.
 */
export interface LeaseAcquire {
  op: "lease-acquire";
  kind: "lock" | "semaphore";
  name: string;
  holder: string;
  maxLeases: number;
  timeoutMs?: number;
}
/** Request → LeaseReply: gives back one lease `holder` holds (`ok: false` if it holds none). */
export interface LeaseRelease {
  op: "lease-release";
  kind: "lock" | "semaphore";
  name: string;
  holder: string;
}
/** Request → number of leases held now. */
export interface LeaseCount {
  op: "lease-count";
  kind: "lock" | "semaphore";
  name: string;
}
/** `ok`: acquired (or released); false: timed out (or not held). `error`: the request cannot be served as asked. */
export type LeaseReply = { ok: boolean } | { error: ErrorInfo };
/** Request → boolean: set and clear answer whether it is set after; wait answers once it is set (false at `timeoutMs`). */
export interface EventOp {
  op: "event";
  name: string;
  action: "set" | "clear" | "wait" | "is-set";
  timeoutMs?: number;
}
/** Request → null. */
export interface VariableSet extends CoordValue {
  op: "variable-set";
  name: string;
}
/** Request → CoordGetReply: the value, once one is set. */
export interface VariableGet {
  op: "variable-get";
  name: string;
  timeoutMs?: number;
}
/** Request → null. */
export interface VariableDelete {
  op: "variable-delete";
  name: string;
}
export type CoordinationRequest = QueuePut | QueueGet | QueueSize | LeaseAcquire | LeaseRelease | LeaseCount | EventOp | VariableSet | VariableGet | VariableDelete;
