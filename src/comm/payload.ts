// Opaque user data as it travels: produced and read by serialize/, carried by
// comm/ without looking inside. parts[0] is the encoded value; later parts are
// large binary buffers kept out of band so they are never copied into a
// message header (they go to the socket as their own writes).

import { adoptShared, mapShared, release, sharedPathOf } from "../shm/index.js";

export class Payload {
  constructor(readonly parts: Uint8Array[]) {}

  get byteLength(): number {
    let n = 0;
    for (const p of this.parts) n += p.byteLength;
    return n;
  }
}

/**
 * A copy of `view` in memory of its own. Not `view.slice()`: bytes read off a
 * socket are Buffers, whose slice() is another view on the same memory.
 */
export function copyBytes(view: Uint8Array): Uint8Array {
  return new Uint8Array(view);
}

/** Which parts of a payload travel as shared segments: part index → segment path. */
export type SharedParts = Record<number, string>;

/**
 * A payload to send to a process of the same host: parts backed by shared
 * segments are replaced by empty placeholders and listed by path instead.
 */
export function splitShared(p: Payload): { payload: Payload; shared?: SharedParts } {
  let shared: SharedParts | undefined;
  let parts: Uint8Array[] | undefined; // copied on the first shared part: most values have none
  for (let i = 0; i < p.parts.length; i++) {
    const path = sharedPathOf(p.parts[i]!);
    if (path === undefined) continue;
    (shared ??= {})[i] = path;
    (parts ??= [...p.parts])[i] = EMPTY;
  }
  return parts ? { payload: new Payload(parts), shared } : { payload: p };
}

/**
 * The payload again, with its shared parts mapped. `adopt`: this process
 * keeps the data (a worker storing it) and links the segment under its own
 * name; otherwise it only maps it (a client decoding it at once).
 */
export function joinShared(p: Payload, shared: SharedParts, adopt: boolean): Payload {
  const parts = [...p.parts];
  try {
    for (const i in shared) parts[Number(i)] = adopt ? adoptShared(shared[i]!) : mapShared(shared[i]!);
  } catch (err) {
    if (adopt) for (const part of parts) release(part); // the links taken before the failure
    throw err;
  }
  return new Payload(parts);
}

/** Drops the shared segments of a payload this process owns but will not keep. */
export function releaseShared(p: Payload): void {
  for (const part of p.parts) release(part);
}

const EMPTY = new Uint8Array(0);
