// The actors a worker hosts: the actor thread each lives on, its stats and
// what it looks like, and the calls that reach it through the main thread.

import type { ActorCall, ActorCallReply, ActorMeta, ActorStats, Address, ComputeTask, Key } from "../protocol/messages.js";
import type { Payload } from "../protocol/payload.js";
import type { ActorCallTotals } from "../metrics/actor-calls.js";
import { errorInfoOf, serialize, TO_REF } from "../serialize/index.js";
import { mappedPayload } from "../transfer/shared.js";
import { resultOf } from "./thread-answers.js";
import { compactParts, type ActorShape, type ThreadConfig } from "./thread-protocol.js";
import { RunnerThread, type ThreadDeath } from "./threads.js";

interface ActorHere {
  thread: RunnerThread;
  /** Reported by its thread, which counts every call, direct or forwarded. */
  stats: ActorStats;
  /** Where it lives and what it looks like: a restarted scheduler hears it from here. */
  meta: ActorMeta;
}

export class HostedActors {
  readonly #actors = new Map<Key, ActorHere>();
  readonly #calls: ActorCallTotals;
  #threads: RunnerThread[] = [];

  constructor(calls: ActorCallTotals) {
    this.#calls = calls;
  }

  get size(): number {
    return this.#actors.size;
  }

  has(key: Key): boolean {
    return this.#actors.has(key);
  }

  /** The actor `msg` asked for, just created on `thread` with this shape: what it looks like to others. */
  created(thread: RunnerThread, msg: ComputeTask, shape: ActorShape, workerAddress: Address): ActorMeta {
    const meta: ActorMeta = {
      key: msg.key,
      workerAddress,
      ...shape,
      incarnation: msg.incarnation ?? 0,
      // Reported to a restarted scheduler: a named or detached actor stays so (R-ACT-14).
      ...(msg.name !== undefined ? { name: msg.name } : {}),
      ...(msg.lifetime !== undefined ? { lifetime: msg.lifetime } : {}),
    };
    this.#actors.set(msg.key, { thread, stats: { calls: 0, inFlight: 0, meanCallMs: 0 }, meta });
    return meta;
  }

  metas(): ActorMeta[] {
    return [...this.#actors.values()].map((a) => a.meta);
  }

  stats(): Record<Key, ActorStats> {
    const stats: Record<Key, ActorStats> = {};
    for (const [key, a] of this.#actors) stats[key] = a.stats;
    return stats;
  }

  /**
   * The actor threads, one per config; `onLost`: a thread died (out of
   * memory, or a fault it could not contain) with these actors.
   */
  startThreads(configs: ThreadConfig[], heapMb: number, onLost: (keys: Key[], cause: ThreadDeath, detail: string) => void): void {
    // Actor threads start with their first actor: a worker that never hosts one never pays for them.
    this.#threads = configs.map((config) => {
      const thread: RunnerThread = new RunnerThread(
        config,
        {
          onStats: (actors) => this.#updateStats(actors),
          onDeath: (cause, detail) => {
            const keys = this.#dropThread(thread);
            if (keys.length > 0) onLost(keys, cause, detail);
          },
        },
        { lazy: true, heapMb },
      );
      return thread;
    });
  }

  /** Stats an actor thread reported. */
  #updateStats(actors: Record<Key, ActorStats>): void {
    for (const [key, st] of Object.entries(actors)) {
      const a = this.#actors.get(key);
      if (!a) continue;
      a.stats = st;
      this.#calls.update(key, a.meta.className, st);
    }
  }

  /** The actor thread with the fewest actors, for a new one. */
  leastLoaded(): RunnerThread {
    const counts = new Map<RunnerThread, number>(this.#threads.map((t) => [t, 0]));
    for (const a of this.#actors.values()) counts.set(a.thread, (counts.get(a.thread) ?? 0) + 1);
    let best = this.#threads[0]!;
    for (const [t, n] of counts) if (n < counts.get(best)!) best = t;
    return best;
  }

  /** Forgets the actors that lived on `thread` (it died), and says which they were. */
  #dropThread(thread: RunnerThread): Key[] {
    const keys: Key[] = [];
    for (const [key, a] of this.#actors) if (a.thread === thread) keys.push(key);
    for (const key of keys) this.#forget(key);
    return keys;
  }

  /** Forgets those of `keys` that are actors here, and has their threads dispose of them. */
  free(keys: Key[]): void {
    const byThread = new Map<RunnerThread, Key[]>();
    for (const key of keys) {
      const actor = this.#actors.get(key);
      if (!actor) continue;
      this.#forget(key);
      const list = byThread.get(actor.thread) ?? [];
      list.push(key);
      byThread.set(actor.thread, list);
    }
    for (const [thread, list] of byThread) thread.free(list);
  }

  closeThreads(): Promise<void[]> {
    return Promise.all(this.#threads.map((t) => t.close()));
  }

  #forget(key: Key): void {
    this.#actors.delete(key);
    this.#calls.forget(key);
  }

  /** Calls that come through this worker (proxied by the scheduler, or from callers without the direct endpoint). */
  call(msg: ActorCall, address: Address): ActorCallReply | Promise<ActorCallReply> {
    const actor = this.#actors.get(msg.key);
    if (!actor) {
      return { ok: false, missing: true, error: errorInfoOf("ActorLostError", `the worker at ${address} holds no actor ${msg.key}`) };
    }
    return actor.thread.post({ t: "call", key: msg.key, kind: msg.kind, name: msg.name, args: compactParts(msg.args.parts) }).then((done): ActorCallReply => {
      if (done.ok) return mappedPayload(resultOf(done));
      return done.missing ? { ok: false, error: done.error, missing: true } : { ok: false, error: done.error };
    });
  }
}

/** The value stored under an actor's key: a reference to it, which peers fetching the key receive as a live handle. */
export function actorRefPayload(meta: Omit<ActorMeta, "incarnation">): Payload {
  const ref = { [TO_REF]: () => ({ type: "actor" as const, meta: { ...meta, incarnation: 0 } }) };
  return serialize(ref).payload;
}
