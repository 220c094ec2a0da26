// Checkpoints of the actors on one actor thread (R-ACT-19). An actor whose
// class defines `[checkpoint]()` and a static `[restore](value)` has its
// state taken after every `checkpointEvery` calls that return, and sent to
// up to two other workers before the call is answered: a call that returned
// is in the checkpoint its restart is rebuilt from. Re-created after its
// worker died, it asks every worker for its latest checkpoint.

import { getClient, withThreadClient } from "../client/thread-context.js";
import { checkpoint, restore } from "../client/checkpoint-symbols.js";
import type { Logger } from "../log.js";
import type { Address, Key, SavedCheckpoint } from "../protocol/messages.js";
import { Payload } from "../protocol/payload.js";
import type { CodeOptions } from "../serialize/index.js";
import { NO_DEPS } from "./thread-protocol.js";
import { decodeArgs, encodeResult } from "./thread-values.js";

/** How many other workers keep each checkpoint. */
const REPLICAS = 2;
/** How long the list of workers is trusted before it is asked for again. */
const PEERS_FRESH_MS = 2000;

interface Watched {
  every: number;
  calls: number;
  seq: number;
  incarnation: number;
  /** A failure to keep its checkpoint was logged: said once per actor, not per call. */
  warned: boolean;
}

/** Whether instances of `cls` can be checkpointed and restored. */
export function takesCheckpoints(cls: Function): boolean {
  const proto = (cls as { prototype?: Record<symbol, unknown> }).prototype;
  return typeof proto?.[checkpoint] === "function" && typeof (cls as unknown as Record<symbol, unknown>)[restore] === "function";
}

export class ActorCheckpoints {
  readonly #watched = new Map<Key, Watched>();
  #peers: { atMs: number; list: Address[] } | undefined;

  constructor(
    private readonly self: Address,
    private readonly codeOpts: CodeOptions,
    private readonly log: Logger,
  ) {}

  watch(key: Key, every: number, incarnation: number): void {
    this.#watched.set(key, { every, calls: 0, seq: 0, incarnation, warned: false });
  }

  has(key: Key): boolean {
    return this.#watched.has(key);
  }

  forget(keys: Key[]): void {
    for (const key of keys) this.#watched.delete(key);
  }

  /** A call of `key` returned `value`: a checkpoint when one is due, stored before the value is answered. */
  async after(key: Key, value: unknown, instance: () => object | undefined): Promise<unknown> {
    const w = this.#watched.get(key);
    if (!w || ++w.calls % w.every !== 0) return value;
    const inst = instance() as Record<symbol, () => unknown> | undefined;
    if (!inst) return value;
    const seq = ++w.seq;
    try {
      const state = await inst[checkpoint]!();
      const parts = await encodeResult([state], this.codeOpts);
      await this.#store(key, { incarnation: w.incarnation, seq, value: new Payload(parts) });
    } catch (err) {
      // The call itself succeeded: it is answered; its restart goes back to an earlier checkpoint.
      if (!w.warned) this.log.warn("an actor's checkpoint could not be taken or kept", { key, error: String(err) });
      w.warned = true;
    }
    return value;
  }

  async #store(key: Key, saved: SavedCheckpoint): Promise<void> {
    const client = await getClient();
    let peers = await this.#peerList(false);
    for (let attempt = 0; attempt < 2; attempt++) {
      const chosen = pick(peers, key, REPLICAS);
      if (chosen.length === 0) {
        throw new Error("no other worker to keep it on: a checkpoint is never kept on the actor's own worker; add a worker");
      }
      const outcomes = await Promise.allSettled(chosen.map((a) => client._workerRequest(a, { op: "put-checkpoint", key, ...saved })));
      if (outcomes.some((o) => o.status === "fulfilled")) return;
      peers = await this.#peerList(true); // those workers are gone: ask which are left
    }
    throw new Error("no other worker took it");
  }

  async #peerList(fresh: boolean): Promise<Address[]> {
    const now = Date.now();
    if (!fresh && this.#peers && now - this.#peers.atMs < PEERS_FRESH_MS) return this.#peers.list;
    const info = await (await getClient()).schedulerInfo();
    const list = Object.keys(info.workers)
      .filter((a) => a !== this.self)
      .sort();
    this.#peers = { atMs: now, list };
    return list;
  }

  /** The latest checkpoint of `key` any worker keeps (this one included), decoded; undefined when none does. */
  async latest(key: Key): Promise<{ value: unknown } | undefined> {
    const client = await getClient();
    const info = await client.schedulerInfo();
    const replies = await Promise.allSettled(Object.keys(info.workers).map((a) => client._workerRequest(a, { op: "get-checkpoint", key })));
    let best: SavedCheckpoint | undefined;
    for (const r of replies) {
      const c = r.status === "fulfilled" ? r.value : null;
      if (c && (!best || c.incarnation > best.incarnation || (c.incarnation === best.incarnation && c.seq > best.seq))) best = c;
    }
    if (!best) return undefined;
    const parts = best.value.parts;
    return { value: (await withThreadClient(() => decodeArgs(parts, NO_DEPS)))[0] };
  }
}

/** Up to n of the peers, starting at a place that depends on the key: actors spread their checkpoints. */
function pick(peers: Address[], key: Key, n: number): Address[] {
  if (peers.length <= n) return peers;
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) >>> 0;
  return Array.from({ length: n }, (_, i) => peers[(h + i) % peers.length]!);
}
