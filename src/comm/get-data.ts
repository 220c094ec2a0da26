// Fetching values from a worker, for clients and workers alike: on the same
// host, large parts come as shared segments and are mapped here.

import { createLogger } from "../log.js";
import type { GetData, GetDataReply, Key } from "../protocol/messages.js";
import { isGone, shmDomain, stopSharing } from "../shm/index.js";
import { joinShared, type Payload } from "./payload.js";

const log = createLogger("comm");

/** A get-data request, asking for shared segments when this process can map them. */
export function getDataRequest(keys: Key[]): GetData {
  const shm = shmDomain();
  return shm ? { op: "get-data", keys, shm } : { op: "get-data", keys };
}

/**
 * The reply's values with their shared parts mapped (`adopt`: linked under
 * this process's name too, for a worker that keeps them). A key whose segment
 * vanished meanwhile joins `reply.missing`; one this process cannot map at
 * all (another user, limits) stops sharing here and is listed in `again`,
 * to be fetched once more as bytes.
 */
export function receiveData(reply: GetDataReply, adopt: boolean): { values: Array<[Key, Payload]>; again: Key[] } {
  const values: Array<[Key, Payload]> = [];
  const again: Key[] = [];
  for (const [key, payload] of Object.entries(reply.data)) {
    const shared = reply.shared?.[key];
    if (!shared) {
      values.push([key, payload]);
      continue;
    }
    try {
      values.push([key, joinShared(payload, shared, adopt)]);
    } catch (err) {
      if (isGone(err)) {
        reply.missing.push(key);
      } else {
        log.warn("cannot map shared segments; values will travel over connections", { key, error: String(err) });
        stopSharing();
        again.push(key);
      }
    }
  }
  return { values, again };
}
