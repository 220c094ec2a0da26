// Requests any process sends a worker directly, with no scheduler on the way:
// data (get-data, put-data), actor calls and their streams, functions run on
// it, checkpoints. Part of the catalogue in messages.ts, which re-exports them.

import type { Payload } from "./payload.js";
import type { ActorMeta, ErrorInfo, Key, RunFunction } from "./messages.js";

/** Request → GetDataReply. */
export interface GetData {
  op: "get-data";
  keys: Key[];
  /** The requester's shared-memory domain: on the same host, large parts come as shared segments. */
  shm?: string;
}
/** The values of the requested keys, by position in the request: no key travels back. */
export interface GetDataReply {
  /**
   * One per requested key; null for a key this worker does not hold. A value
   * of one part travels as that part's bytes alone (most values are small):
   * no Payload wrapper to encode and decode per value.
   */
  values: Array<Payload | Uint8Array | null>;
  /** Positions of values that are actors living here: their value is a handle, never a copy to keep. */
  actors?: number[];
  /** Parts sent as shared segments, by position (part index → path); the value has empty placeholders there. */
  shared?: Record<number, Record<number, string>>;
}
/**
 * Request → null: keep this checkpoint of an actor living on another worker
 * (R-ACT-19), unless a later one is kept already. `seq` orders the
 * checkpoints of one incarnation.
 */
export interface PutCheckpoint {
  op: "put-checkpoint";
  key: Key;
  incarnation: number;
  seq: number;
  value: Payload;
}
/** Request → the latest checkpoint of an actor kept here, or null. */
export interface GetCheckpoint {
  op: "get-checkpoint";
  key: Key;
}
export interface SavedCheckpoint {
  incarnation: number;
  seq: number;
  value: Payload;
}

/** Request → ok: store data on this worker (scatter). */
export interface PutData {
  op: "put-data";
  data: Record<Key, Payload>;
  /** Report the new keys to the scheduler (false when the client reports them itself). */
  report: boolean;
}
/**
 * Request → Payload (the method's result or the attribute's value). Calls on
 * one connection to one actor start in the order they were sent.
 */
export interface ActorCall {
  op: "actor-call";
  key: Key;
  /** "call": invoke a method; "get": read an attribute (runs getters on the actor). */
  kind: "call" | "get";
  name: string;
  args: Payload;
  /** The caller's number for this call, by which it may cancel it on the same connection (ActorCancel). */
  cid?: number;
}

/**
 * Request → null once the call numbered `cid` on this connection no longer
 * runs: one not started never will, a running one sees its signal abort
 * (R-ACT-17). Served by an actor thread's own endpoint.
 */
export interface ActorCancel {
  op: "actor-cancel";
  cid: number;
  /** "timeout": the call's `timeout` option ran out; its signal aborts with a TimeoutError. */
  why: "cancelled" | "timeout";
}

/** Why an actor call has no value. `missing`: this worker does not hold the actor (it moved or was released). */
export interface ActorCallFailure {
  ok: false;
  error: ErrorInfo;
  missing?: boolean;
}

/**
 * Several calls to one actor from one caller, in call order: a request group
 * (one request per call, each answered on its own with an ActorCallReply as
 * soon as it finishes, so a call that waits holds up no other's answer).
 * Served by an actor thread's own endpoint.
 */
export interface ActorCalls {
  op: "actor-calls";
  key: Key;
  /** Each call's method (or attribute) name. */
  names: string[];
  /** Indexes of the calls that read an attribute, ascending; the others invoke methods. */
  gets: number[];
  /** Each call's arguments; 0 for none. */
  args: Array<Payload | 0>;
  /** The caller's number for the first call (see ActorCall); the others follow it. */
  cid?: number;
}

/** The reply to ActorCall: the value itself (no wrapper: calls are the hottest path), or why there is none, or a stream. */
export type ActorCallReply = Payload | ActorCallFailure | ActorStreamOpened;

/** The method returned an async generator: its items are pulled with ActorStreamPull, on the same connection. */
export interface ActorStreamOpened {
  stream: number;
}

/**
 * Request → ActorStreamReply: grants the stream `credit` more items (the
 * generator runs only while it has credit: flow control), and asks for
 * those produced so far, answered once there is at least one, or the end.
 * `close`: stop the generator (its `finally` runs), answered once it has.
 */
export interface ActorStreamPull {
  op: "actor-stream";
  stream: number;
  credit: number;
  close?: true;
}

/** Items produced (one Payload of an array), and whether the generator has ended; or its error. */
export type ActorStreamReply = { items: Payload; done: boolean } | ActorCallFailure;

/** The reply to WhereIsActor. `released`: no client holds it any more (it is not lost: calls already running on it finish). */
export type WhereIsActorReply = ActorMeta | { error: ErrorInfo; released?: true } | { pending: true };

/** The reply to RunFunction. */
export type RunFunctionReply = { ok: true; value: Payload } | { ok: false; error: ErrorInfo };

export type WorkerRequest = GetData | PutData | ActorCall | RunFunction;
/** Between workers only: checkpoints of actors kept away from their own worker. */
export type CheckpointRequest = PutCheckpoint | GetCheckpoint;
