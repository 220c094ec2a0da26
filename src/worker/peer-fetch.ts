// Data a worker fetches from its peers: the dependencies of its tasks, and
// copies of what a retiring worker holds alone (R-OPS-2).

import { WorkerPool } from "../comm/pool.js";
import { createLogger } from "../log.js";
import type { Address, Key } from "../protocol/messages.js";
import type { Payload } from "../protocol/payload.js";
import type { Part } from "../shm/index.js";
import { getDataRequest, receiveData, type Received } from "../transfer/get-data.js";
import { releaseShared } from "../transfer/shared.js";
import { accepting } from "../protocol/schemas.js";
import type { ResolvedWorkerOptions } from "./options.js";
import type { Store } from "./store.js";

const log = createLogger("worker");

/** What fetching needs of its worker. */
export interface FetchHost {
  readonly store: Store;
  /** Actor handles fetched from peers (never reported: the actor lives elsewhere). */
  readonly handles: Map<Key, Payload<Part>>;
  /** Names the stimulus being handled. */
  because(kind: string): void;
  /** A fetch from `holder` ended: `got` stored (`reported` the ones to tell the scheduler of), `missing` not to be had there. */
  fetched(holder: Address, keys: Key[], got: Key[], reported: Record<Key, number>, missing: Key[]): void;
  /** Copies of a retiring worker's keys are stored here (none, possibly). */
  replicated(nbytes: Record<Key, number>): void;
}

export class PeerFetch {
  readonly #peers: WorkerPool;
  readonly #host: FetchHost;

  constructor(opts: ResolvedWorkerOptions, host: FetchHost) {
    this.#peers = new WorkerPool({ token: opts.token, connectTimeoutMs: opts.connectTimeoutMs, tls: opts.tls, role: "peer", schema: accepting("caller") });
    this.#host = host;
  }

  close(): Promise<void> {
    return this.#peers.close();
  }

  /** One get-data request to a peer for dependencies it holds; settles when they are stored or known missing. */
  fetch(holder: Address, keys: Key[]): Promise<void> {
    const host = this.#host;
    return this.#peers.request(holder, getDataRequest(keys)).then(
      (reply) => {
        host.because("get-data-reply");
        const got: Key[] = [];
        const reported: Record<Key, number> = {};
        let received: Received<Part>;
        try {
          received = receiveData(keys, reply, true);
        } catch (err) {
          // A peer answering nonsense holds nothing we can use: as if the fetch had failed.
          log.warn("a peer's get-data reply was malformed", { holder, error: String(err) });
          return host.fetched(holder, keys, [], {}, keys);
        }
        const { values, missing, again, actors } = received;
        for (const [key, payload] of values) {
          got.push(key);
          if (actors.has(key)) {
            host.handles.set(key, payload); // a handle, not a copy of the actor: never reported
          } else if (!host.store.has(key)) {
            host.store.set(key, payload);
            reported[key] = payload.byteLength;
          } else releaseShared(payload); // a copy we already had: drop the segment it came in
        }
        host.fetched(holder, keys.filter((k) => !again.includes(k)), got, reported, missing);
        // In the same turn: the values come again as bytes.
        if (again.length > 0) return this.fetch(holder, again);
      },
      (err) => {
        host.because("get-data-failed");
        log.info("could not fetch data from a peer", { holder, error: String(err) });
        host.fetched(holder, keys, [], {}, keys);
      },
    );
  }

  /** Keep copies of keys a retiring worker holds alone (R-OPS-2), and tell the scheduler they are here. */
  acquireReplicas(holder: Address, keys: Key[]): void {
    const host = this.#host;
    this.#peers.request(holder, getDataRequest(keys)).then(
      (reply) => {
        let received: Received<Part>;
        try {
          received = receiveData(keys, reply, true);
        } catch (err) {
          // The scheduler's deadline bounds the retirement: what is not copied is handled as for a worker that left.
          return log.warn("a retiring worker's get-data reply was malformed", { holder, error: String(err) });
        }
        const nbytes: Record<Key, number> = {};
        for (const [key, payload] of received.values) {
          if (received.actors.has(key) || host.store.has(key)) {
            releaseShared(payload); // an actor's handle is no copy, and a copy already here is enough
            continue;
          }
          host.store.set(key, payload);
          nbytes[key] = payload.byteLength;
        }
        host.replicated(nbytes);
        if (received.again.length > 0) this.acquireReplicas(holder, received.again);
      },
      (err) => log.info("could not copy data from a retiring worker", { holder, error: String(err) }),
    );
  }
}
