// Fetching values from a worker, for clients and workers alike: on the same
// host, large parts come as shared segments and are mapped here. Above comm/
// (it knows get-data's reply and that some values are actors' handles).

import { ProtocolError } from "../errors.js";
import { createLogger } from "../log.js";
import type { GetData, GetDataReply, Key } from "../protocol/messages.js";
import { isGone, shmDomain, stopSharing } from "../shm/index.js";
import type { Part } from "../shm/index.js";
import { Payload } from "../protocol/payload.js";
import { adoptShared, joinShared } from "./shared.js";

const log = createLogger("transfer");

/** A get-data request, asking for shared segments when this process can map them. */
export function getDataRequest(keys: Key[]): GetData {
  const shm = shmDomain();
  return shm ? { op: "get-data", keys, shm } : { op: "get-data", keys };
}

export interface Received<P extends Part = Uint8Array> {
  values: Array<[Key, Payload<P>]>;
  /** Keys the worker does not hold (or whose shared segment vanished meanwhile). */
  missing: Key[];
  /** Keys to fetch once more as bytes: this process cannot map shared segments after all (another user, limits). */
  again: Key[];
  /** Keys that are actors living on that worker: their value is a handle. */
  actors: Set<Key>;
}

/**
 * The values a get-data request for `keys` received, with their shared parts
 * mapped, or (`adopt`, for a worker that keeps them) linked under this
 * process's name and left unmapped. Throws ProtocolError when the reply does
 * not match the request.
 */
export function receiveData(keys: Key[], reply: GetDataReply, adopt: true): Received<Part>;
export function receiveData(keys: Key[], reply: GetDataReply, adopt: false): Received;
export function receiveData(keys: Key[], reply: GetDataReply, adopt: boolean): Received<Part> {
  const r: Received<Part> = { values: [], missing: [], again: [], actors: new Set() };
  if (!Array.isArray(reply?.values) || reply.values.length !== keys.length) {
    throw new ProtocolError(`a get-data reply must hold one value per requested key (${keys.length}); the worker may run another troupe version`);
  }
  // Checked whole before anything is mapped: a bad reply leaves no segment linked behind.
  const payloads = reply.values.map((v, i) => {
    if (v === null || v instanceof Payload) return v;
    if (v instanceof Uint8Array) return new Payload([v]);
    throw new ProtocolError(`a get-data reply holds something other than a value for ${keys[i]}`);
  });
  for (const i of reply.actors ?? []) if (keys[i] !== undefined) r.actors.add(keys[i]!);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const payload = payloads[i];
    if (payload === null || payload === undefined) {
      r.missing.push(key);
      continue;
    }
    const shared = reply.shared?.[i];
    if (!shared) {
      r.values.push([key, payload]);
      continue;
    }
    try {
      r.values.push([key, adopt ? adoptShared(payload, shared) : joinShared(payload, shared)]);
    } catch (err) {
      if (isGone(err)) {
        r.missing.push(key);
      } else {
        log.warn("cannot map shared segments; values will travel over connections", { key, error: String(err) });
        stopSharing();
        r.again.push(key);
      }
    }
  }
  return r;
}
