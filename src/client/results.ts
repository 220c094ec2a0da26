// Moving a client's data: results fetched straight from the workers holding
// them (one request per worker, looked up again when they moved), and
// scattered values placed on the workers the scheduler chose.

import { holdWhile } from "../comm/keep-alive.js";
import { CommError, LostError } from "../errors.js";
import type { ActorMeta, Address, GetDataReply, Key, Message, ReplyTo } from "../protocol/messages.js";
import type { Payload } from "../protocol/payload.js";
import { getDataRequest, receiveData } from "../transfer/get-data.js";
import type { Actor } from "./actor-handle.js";
import type { KeyTable } from "./keys.js";
import type { ScatterOptions } from "./options.js";

const GET_DATA_ATTEMPTS = 3;

export interface ResultsOptions {
  keys: KeyTable;
  /** A request to the scheduler. */
  request<M extends Message>(msg: M): Promise<ReplyTo<M>>;
  /** A request to a worker (direct, or through the scheduler). */
  workerRequest<M extends Message>(address: Address, msg: M): Promise<ReplyTo<M>>;
  /** A value; a promise of it when classes must be loaded first. */
  decode(payload: Payload): unknown;
  /** Why a key that did not finish failed. */
  errorOf(key: Key): Promise<Error>;
  /** A live handle for an actor's key. */
  handleFor(meta: ActorMeta): Actor<unknown>;
  /** Why the client can no longer reach the scheduler, once it cannot. */
  broken(): Error | undefined;
}

export class Results {
  readonly #o: ResultsOptions;

  constructor(options: ResultsOptions) {
    this.#o = options;
  }

  /** Values of keys, fetched with one request per worker. Rejects with the first failure. */
  async gather(keys: Key[]): Promise<Map<Key, unknown>> {
    const out = new Map<Key, unknown>();
    await holdWhile(this.#o.keys.allSettled(keys));
    const byWorker = new Map<Address, Key[]>();
    for (const key of keys) {
      const rec = this.#o.keys.get(key);
      if (!rec) throw new LostError(`${key} was released by this client; keep its Future to read its value`);
      if (rec.status !== "finished") throw await this.#o.errorOf(key);
      if (rec.actor) {
        out.set(key, this.#o.handleFor(rec.actor));
        continue;
      }
      const w = rec.workers[Math.floor(Math.random() * rec.workers.length)]!;
      const list = byWorker.get(w) ?? [];
      list.push(key);
      byWorker.set(w, list);
    }
    await Promise.all([...byWorker].map(([w, ks]) => this.#fetchFrom(w, ks, out, GET_DATA_ATTEMPTS)));
    return out;
  }

  async #fetchFrom(worker: Address | undefined, keys: Key[], out: Map<Key, unknown>, attempts: number): Promise<void> {
    let reply: GetDataReply | undefined;
    try {
      if (worker === undefined) throw new LostError("no worker holds it");
      reply = await this.#o.workerRequest(worker, getDataRequest(keys));
    } catch (err) {
      const broken = this.#o.broken();
      if (broken) throw broken;
      if (attempts <= 1) throw new CommError(`could not fetch ${keys[0]} from ${worker}: ${(err as Error).message}`, { cause: err });
    }
    // A reply that does not answer the request is a bug to report (ProtocolError), not data to look for elsewhere.
    const { values, missing, again } = reply ? receiveData(keys, reply, false) : { values: [], missing: keys, again: [] };
    for (const [key, payload] of values) {
      const value = this.#o.decode(payload);
      out.set(key, value instanceof Promise ? await value : value);
    }
    if (again.length > 0) await this.#fetchFrom(worker, again, out, attempts);
    if (missing.length === 0) return;
    if (attempts <= 1) throw new LostError(`${missing[0]} is no longer held by any worker`);
    // The data moved or is being recomputed: ask the scheduler, then wait for it.
    await new Promise((r) => setTimeout(r, 50));
    const who = await this.#o.request({ op: "who-has", keys: missing });
    await holdWhile(this.#o.keys.allSettled(missing));
    const retry = new Map<Address | undefined, Key[]>();
    for (const key of missing) {
      const rec = this.#o.keys.get(key);
      if (rec && rec.status !== "finished") throw await this.#o.errorOf(key);
      const holders = who[key]?.length ? who[key]! : (rec?.workers ?? []);
      const w = holders[0];
      retry.set(w, [...(retry.get(w) ?? []), key]);
    }
    await Promise.all([...retry].map(([w, ks]) => this.#fetchFrom(w, ks, out, attempts - 1)));
  }

  /** Scattered values onto the workers the scheduler chooses, then known to it as held there. */
  async place(keys: Key[], payloads: Payload[], options: ScatterOptions): Promise<void> {
    const workers = options.workers === undefined ? undefined : [options.workers].flat();
    const targets = await this.#o.request({ op: "choose-workers", count: keys.length, workers, broadcast: options.broadcast });
    if (targets.length === 0) throw new CommError("no workers are connected to the scheduler to scatter data to; add workers and scatter again");
    const perWorker = new Map<Address, Record<Key, Payload>>();
    const who: Record<Key, Address[]> = {};
    const nbytes: Record<Key, number> = {};
    keys.forEach((key, i) => {
      const dest = options.broadcast ? targets : [targets[i % targets.length]!];
      who[key] = dest;
      nbytes[key] = payloads[i]!.byteLength;
      for (const w of dest) perWorker.set(w, { ...(perWorker.get(w) ?? {}), [key]: payloads[i]! });
    });
    await Promise.all([...perWorker].map(([w, d]) => this.#o.workerRequest(w, { op: "put-data", data: d, report: false })));
    await this.#o.request({ op: "update-data", who, nbytes });
    for (const key of keys) this.#o.keys.update(key, "finished", { workers: who[key] });
  }
}
