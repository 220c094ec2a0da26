// Values a worker hands out to peers and clients that ask for them
// (get-data): by path to a requester on this host, as bytes to others.

import { OOB_THRESHOLD_BYTES } from "../comm/index.js";
import { ProtocolError } from "../errors.js";
import type { GetDataReply, Key } from "../protocol/messages.js";
import type { Payload } from "../protocol/payload.js";
import { isGone, segmentsPresent, shmDomain } from "../shm/index.js";
import { mappedPayload, splitShared, type SharedParts } from "../transfer/shared.js";
import type { Store } from "./store.js";

/** What the worker holds, as get-data sees it. */
export interface HeldValues {
  readonly store: Store;
  isActor(key: Key): boolean;
  /** A value's segment turned out to be gone: it is lost here. */
  lost(key: Key): void;
}

/** Values for a peer or client; one on this host (same shared-memory domain) gets large parts by path. */
export function getDataReply(keys: Key[], domain: string | undefined, held: HeldValues): GetDataReply {
  if (!Array.isArray(keys)) throw new ProtocolError("get-data needs an array of keys");
  const values: GetDataReply["values"] = new Array(keys.length);
  const actors: number[] = [];
  const sameHost = domain !== undefined && domain === shmDomain();
  let shared: Record<number, SharedParts> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const leaving = outgoing(key, sameHost, held);
    if (!leaving) {
      values[i] = null;
      continue;
    }
    const out = leaving.payload;
    if (leaving.shared) (shared ??= {})[i] = leaving.shared;
    if (held.isActor(key)) actors.push(i);
    // One part travels as its bytes alone; large parts stay out of band inside a Payload.
    values[i] = out.parts.length === 1 && out.parts[0]!.byteLength < OOB_THRESHOLD_BYTES ? out.parts[0]! : out;
  }
  const reply: GetDataReply = { values };
  if (actors.length > 0) reply.actors = actors;
  if (shared) reply.shared = shared;
  return reply;
}

/**
 * A held value as it leaves for a requester: by path for one on this host,
 * as bytes for one that cannot map. Undefined when it is not held, or its
 * segment turned out to be gone (the value is then reported lost).
 */
function outgoing(key: Key, sameHost: boolean, held: HeldValues): { payload: Payload; shared?: SharedParts } | undefined {
  const p = held.store.get(key);
  if (!p) return undefined;
  try {
    // A requester on this host maps the segments itself: they must still be there.
    if (!sameHost) return { payload: mappedPayload(p) };
    if (segmentsPresent(p.parts)) return splitShared(p);
  } catch (err) {
    if (!isGone(err)) throw err;
  }
  held.lost(key);
  return undefined;
}
