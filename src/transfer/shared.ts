// Payloads (protocol/payload.ts) and the shared segments large parts travel
// in between processes of one host: splitting them off to send by path,
// mapping or adopting them on arrival.

import { Payload } from "../protocol/payload.js";
import { adoptSegment, bytesOf, mapShared, release, sharedPathOf, type Part } from "../shm/index.js";

/** Which parts of a payload travel as shared segments: part index → segment path. */
export type SharedParts = Record<number, string>;

/**
 * A payload to send to a process of the same host: parts backed by shared
 * segments are replaced by empty placeholders and listed by path instead.
 */
export function splitShared(p: Payload<Part>): { payload: Payload; shared?: SharedParts } {
  let shared: SharedParts | undefined;
  let parts: Part[] | undefined; // copied on the first shared part: most values have none
  for (let i = 0; i < p.parts.length; i++) {
    const path = sharedPathOf(p.parts[i]!);
    if (path === undefined) continue;
    (shared ??= {})[i] = path;
    (parts ??= [...p.parts])[i] = EMPTY;
  }
  // Every part left is bytes: a segment is shared by path or it is not held unmapped.
  return parts ? { payload: new Payload(parts as Uint8Array[]), shared } : { payload: p as Payload };
}

/** The payload with its bytes at hand: segments held unmapped are mapped here. */
export function mappedPayload(p: Payload<Part>): Payload {
  return p.parts.every((part) => part instanceof Uint8Array) ? (p as Payload) : new Payload(p.parts.map(bytesOf));
}

/** The payload again, with its shared parts mapped here (a client decoding it at once). */
export function joinShared(p: Payload, shared: SharedParts): Payload {
  const parts = [...p.parts];
  for (const i in shared) parts[Number(i)] = mapShared(shared[i]!);
  return new Payload(parts);
}

/**
 * The payload again, for a worker that keeps it: its shared parts are linked
 * under this process's name, so they outlive the sender's copy, and are not mapped.
 */
export function adoptShared(p: Payload, shared: SharedParts): Payload<Part> {
  const parts: Part[] = [...p.parts];
  try {
    for (const i in shared) parts[Number(i)] = adoptSegment(shared[i]!);
  } catch (err) {
    for (const part of parts) release(part); // the links taken before the failure
    throw err;
  }
  return new Payload(parts);
}

/** Drops the shared segments of a payload this process owns but will not keep. */
export function releaseShared(p: Payload<Part>): void {
  for (const part of p.parts) release(part);
}

const EMPTY = new Uint8Array(0);
