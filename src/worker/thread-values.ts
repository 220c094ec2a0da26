// Values as a task or actor thread decodes and encodes them: arguments
// (Futures among them become their dependencies' values), results (held back
// while they contain unfinished ActorFutures), errors as they cross the wire.

import { Payload } from "../protocol/payload.js";
import { resolverForThread } from "../client/thread-context.js";
import { ProtocolError } from "../errors.js";
import type { ActorCallFailure, ErrorInfo, Key } from "../protocol/messages.js";
import { deserialize, errorToInfoAsync, serialize, type CodeOptions } from "../serialize/index.js";
import { isGone } from "../shm/index.js";
import { NO_DEPS, partsToRead, type ThreadPart } from "./thread-protocol.js";

// How values arriving here decode (it reaches the thread's client only when used).
const threadResolver = resolverForThread();

export const NO_ARGS: unknown[] = [];
const NO_ARGS_BYTES = serialize([]).payload.parts[0]!;

/** Whether an encoded argument list is the shared encoding of none. */
export function isNoArgs(head: Uint8Array): boolean {
  if (head.byteLength !== NO_ARGS_BYTES.byteLength) return false;
  for (let i = 0; i < head.byteLength; i++) if (head[i] !== NO_ARGS_BYTES[i]) return false;
  return true;
}

/** A dep's shared segment was removed from outside: the task does not run, the worker reports the dep lost. */
export class DepGone extends Error {
  constructor(readonly key: Key) {
    super(`the shared segment of ${key} was removed`);
  }
}

export function decodeArgs(parts: Uint8Array[], deps: Record<Key, ThreadPart[]>): unknown[] {
  let resolve = threadResolver;
  if (deps !== NO_DEPS) {
    // Futures among the arguments become the values of the task's dependencies.
    const values = new Map<Key, unknown>();
    for (const key of Object.keys(deps)) {
      let parts: Uint8Array[];
      try {
        parts = partsToRead(deps[key]!);
      } catch (err) {
        throw isGone(err) ? new DepGone(key) : err;
      }
      values.set(key, deserialize(new Payload(parts), threadResolver));
    }
    // A literal, not a spread of threadResolver: spread copies made by optimized code each get a map of their own.
    if (values.size > 0) resolve = { actor: threadResolver.actor, future: (key) => (values.has(key) ? values.get(key) : threadResolver.future!(key)) };
  }
  const args = deserialize(new Payload(parts), resolve);
  if (!Array.isArray(args)) throw new ProtocolError("task arguments must be an array");
  return args;
}

/** A value's parts: at once, unless it holds ActorFutures still running (then once they are values). */
export function encodeResult(value: unknown, codeOpts: CodeOptions): Uint8Array[] | Promise<Uint8Array[]> {
  const encoded = serialize(value, codeOpts);
  return encoded.pending.length === 0 ? encoded.payload.parts : encodeWhenSettled(value, encoded.pending, codeOpts);
}

async function encodeWhenSettled(value: unknown, pending: Promise<unknown>[], codeOpts: CodeOptions): Promise<Uint8Array[]> {
  for (;;) {
    await Promise.all(pending);
    const encoded = serialize(value, codeOpts);
    if (encoded.pending.length === 0) return encoded.payload.parts;
    pending = encoded.pending;
  }
}

/** An error as it crosses the wire; `missing`: the actor named is not here. */
export async function errorReply(err: unknown, codeOpts: CodeOptions, missing = false): Promise<ActorCallFailure> {
  let error: ErrorInfo;
  try {
    error = await errorToInfoAsync(err, codeOpts);
  } catch (e) {
    error = { name: "Error", message: String(err), stack: String((e as Error)?.stack ?? "") };
  }
  return missing ? { ok: false, error, missing } : { ok: false, error };
}

const classes = new WeakMap<Function, boolean>();

export function isClass(fn: Function): boolean {
  let c = classes.get(fn);
  if (c === undefined) classes.set(fn, (c = /^class[\s{]/.test(Function.prototype.toString.call(fn))));
  return c;
}
