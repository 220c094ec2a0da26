// What a client sends the scheduler about its graph: everything submitted,
// wanted, released or fired in one event-loop turn goes as one batch (a large
// graph in parts: graph-parts.ts), in order, once the code and arguments of
// its tasks are resolved.

import { holdWhile } from "../comm/keep-alive.js";
import type { CodeRef, Key, Message, TaskSpec } from "../protocol/messages.js";
import type { Encoded, SerializeOptions } from "../serialize/index.js";
import { graphParts } from "./graph-parts.js";
import { serializeSettled, specOf, type PendingTask, type TaskBase } from "./task-specs.js";

export interface OutboxOptions {
  /** Sends to the scheduler if connected; false if not (a rejoin tells it everything). */
  send(msg: Message): boolean;
  encodeOpts: SerializeOptions;
  /** A task that cannot be sent (its code or an argument failed): it fails here. */
  failLocally(key: Key, err: unknown): void;
}

export class Outbox {
  readonly #o: OutboxOptions;
  #tasks: PendingTask[] = [];
  #wanted: Key[] = [];
  #released: Key[] = [];
  #fired: Key[] = [];
  #flushScheduled = false;
  #flushing: Promise<void> = Promise.resolve();
  /** Specs sent and not finished (and of actors while held): what a restarted scheduler is told again. */
  readonly #sent = new Map<Key, TaskSpec>();

  constructor(options: OutboxOptions) {
    this.#o = options;
  }

  enqueue(key: Key, base: TaskBase, args: unknown[], encoded: Encoded, wanted = true): void {
    this.#tasks.push({ spec: { key, options: base.options, group: base.group }, fn: base.fn, args, encoded });
    if (wanted) this.#wanted.push(key);
    this.#schedule();
  }

  want(key: Key): void {
    this.#wanted.push(key);
    this.#schedule();
  }

  release(key: Key): void {
    this.#sent.delete(key);
    this.#released.push(key);
    this.#schedule();
  }

  /** After the graph that defines them: both leave with the next flush, in that order. */
  fire(keys: Key[]): void {
    this.#fired.push(...keys);
    this.#schedule();
  }

  /** The scheduler no longer needs the spec of this key told again. */
  settled(key: Key): void {
    this.#sent.delete(key);
  }

  /** Specs sent and not finished, in submission order. */
  sentSpecs(): TaskSpec[] {
    return [...this.#sent.values()];
  }

  /** Runs `work` in flush order: later flushes (and what they carry) wait for it. */
  inOrder(work: () => Promise<void>): void {
    const previous = this.#flushing;
    this.#flushing = holdWhile((async () => {
      await work();
      await previous;
    })());
  }

  #schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      void this.flush();
    });
  }

  /** Send the outbox, in order after any earlier flush still resolving code. */
  flush(): Promise<void> {
    const tasks = this.#tasks;
    const wanted = this.#wanted;
    const released = this.#released;
    const fired = this.#fired;
    this.#tasks = [];
    this.#wanted = [];
    this.#released = [];
    this.#fired = [];
    const previous = this.#flushing;
    // Until it is sent, what was submitted keeps the process alive (R-PKG-6): a fireAndForget task must reach the scheduler.
    this.#flushing = holdWhile((async () => {
      // The tasks of a map share one code lookup: wait for each distinct one once, then build
      // the specs of tasks whose arguments are ready without a promise each.
      const fns = new Map<Promise<CodeRef>, CodeRef | undefined>();
      for (const t of tasks) fns.set(t.fn, undefined);
      await Promise.all([...fns.keys()].map((p) => p.then((ref) => void fns.set(p, ref), () => undefined)));
      let waits = false;
      const built = tasks.map((t) => {
        const fn = fns.get(t.fn);
        if (fn !== undefined && t.encoded.pending.length === 0) return specOf(t, fn, t.encoded);
        waits = true; // arguments still pending, or the code lookup failed (the task fails locally)
        return this.#build(t);
      });
      const specs = waits ? await Promise.all(built) : (built as Array<TaskSpec | undefined>);
      await previous;
      const ok = specs.filter((s): s is TaskSpec => s !== undefined);
      // Kept until they finish: a scheduler started after this one went away hears them again.
      for (const s of ok) this.#sent.set(s.key, s);
      if (ok.length > 0 || wanted.length > 0) {
        for (const part of graphParts(ok, wanted)) if (!this.#o.send(part)) return;
      }
      if (fired.length > 0) this.#o.send({ op: "fire-and-forget", keys: fired });
      if (released.length > 0) this.#o.send({ op: "release-keys", keys: released });
    })());
    return this.#flushing;
  }

  async #build(t: PendingTask): Promise<TaskSpec | undefined> {
    try {
      // Unfinished ActorFutures in the arguments: the task is sent once they are values.
      const encoded = await serializeSettled(t.args, this.#o.encodeOpts, t.encoded);
      return specOf(t, await t.fn, encoded);
    } catch (err) {
      this.#o.failLocally(t.spec.key, err);
      return undefined;
    }
  }
}
