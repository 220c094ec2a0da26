// The actors living on one actor thread: created with `new`, called by name,
// disposed when released, once the calls running on them have ended
// (R-ACT-5, R-ACT-6, R-ACT-9b). An actor created with `maxConcurrency` runs
// at most that many calls of its async methods at once; later ones wait in
// arrival order (R-ACT-16), and one cancelled while it waits never starts
// (R-ACT-17).

import { AsyncResource } from "node:async_hooks";
import { isThenable } from "../comm/index.js";
import { CancelledError, ConfigError } from "../errors.js";
import { CallQueue } from "../client/call-queue.js";
import type { Key } from "../protocol/messages.js";
import type { ActorShape } from "./thread-protocol.js";

/** Raised when a call names an actor this thread does not hold (released, or never here). */
export class MissingActorError extends Error {}

type Report = (err: unknown, key: Key) => void;

interface Entry {
  instance: Record<string, unknown>;
  className: string;
  /** Calls that returned a promise and have not settled: an async method awaiting. */
  running: number;
  /** Counts one running call down: made once per actor, so that a call costs no closure. */
  ended: () => void;
  /** Released: takes no new call, and is disposed once `running` is 0. */
  releasing: boolean;
  /** Wakes the release waiting for the running calls. */
  drained: (() => void) | undefined;
  disposed: boolean;
  /** Most async calls running at once (Infinity: no bound). */
  limit: number;
  /** Async calls holding one of the `limit` slots. */
  active: number;
  /** Calls waiting for a slot, in arrival order. */
  waiting: CallQueue<() => void> | undefined;
  /** A call holding a slot ended: the next waiting ones start. Made once per actor. */
  leave: () => void;
}

/** A call's signal: one cancelled while it waits for a slot never starts. */
export interface CallControl {
  readonly controller: AbortController;
}

/**
 * Whether a method is declared async (or async *): only those are held back
 * by `maxConcurrency`. Sync methods and attribute reads never interleave
 * with anything, so they run at once, and can e.g. open a gate the waiting
 * calls wait for.
 */
function isAsync(method: unknown): boolean {
  const tag = typeof method === "function" ? Object.prototype.toString.call(method) : "";
  return tag === "[object AsyncFunction]" || tag === "[object AsyncGeneratorFunction]";
}

/** Methods, accessors and own fields at construction time: what `name in handle` reflects. */
export function shapeOf(instance: object, className: string): ActorShape {
  const methods = new Set<string>();
  const attributes = new Set<string>();
  for (let proto = Object.getPrototypeOf(instance); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === "constructor" || methods.has(name) || attributes.has(name)) continue;
      const d = Object.getOwnPropertyDescriptor(proto, name)!;
      if (d.get || d.set) attributes.add(name);
      else if (typeof d.value === "function") methods.add(name);
      else attributes.add(name);
    }
  }
  for (const name of Object.keys(instance)) {
    if (methods.has(name) || attributes.has(name)) continue;
    if (typeof (instance as Record<string, unknown>)[name] === "function") methods.add(name);
    else attributes.add(name);
  }
  const streams = [...methods].filter((name) => Object.prototype.toString.call((instance as Record<string, unknown>)[name]) === "[object AsyncGeneratorFunction]");
  return streams.length === 0 ? { className, methods: [...methods], attributes: [...attributes] } : { className, methods: [...methods], attributes: [...attributes], streams };
}

export class ActorTable {
  readonly #actors = new Map<Key, Entry>();

  /** The instance of an actor living here. */
  instanceOf(key: Key): object | undefined {
    return this.#actors.get(key)?.instance;
  }

  /** Whether calls to key are taken here (a released actor finishing its calls takes no more). */
  has(key: Key): boolean {
    const entry = this.#actors.get(key);
    return entry !== undefined && !entry.releasing;
  }

  /** `build`: how to make the instance instead of `new cls(...args)` (from a checkpoint). */
  async create(key: Key, cls: Function, args: unknown[], maxConcurrency = Infinity, build?: () => unknown): Promise<ActorShape> {
    if (typeof cls !== "function") throw new ConfigError(`an actor must be created from a class, got ${typeof cls}: pass the class itself to submit(Class, args, { actor: true })`);
    const instance = (build ? await build() : Reflect.construct(cls, args)) as Record<string, unknown>;
    if (typeof instance !== "object" || instance === null) throw new ConfigError(`${cls.name}'s [restore](value) must return an instance, got ${typeof instance}`);
    const className = cls.name || "Actor";
    const entry: Entry = {
      instance,
      className,
      running: 0,
      ended: () => {
        if (--entry.running === 0) entry.drained?.();
      },
      releasing: false,
      drained: undefined,
      disposed: false,
      limit: maxConcurrency,
      active: 0,
      waiting: maxConcurrency === Infinity ? undefined : new CallQueue(),
      leave: () => {
        entry.active--;
        const waiting = entry.waiting!;
        while (entry.active < entry.limit && waiting.length > 0) waiting.shift()!();
      },
    };
    this.#actors.set(key, entry);
    return shapeOf(instance, className);
  }

  /**
   * Run a method or read an attribute. A sync method runs to completion
   * before this returns; an async one interleaves with others at its awaits.
   */
  invoke(key: Key, kind: "call" | "get", name: string, args: unknown[], control?: CallControl): unknown {
    const entry = this.#actors.get(key);
    if (!entry || entry.releasing) throw new MissingActorError(`this worker holds no actor ${key}`);
    const waiting = entry.waiting;
    if (waiting !== undefined && kind === "call" && (entry.active >= entry.limit || waiting.length > 0) && isAsync(entry.instance[name])) {
      return this.#wait(entry, waiting, kind, name, args, control);
    }
    return this.#start(entry, kind, name, args);
  }

  #start(entry: Entry, kind: "call" | "get", name: string, args: unknown[]): unknown {
    const out = kind === "get" ? entry.instance[name] : this.#apply(entry, name, args);
    if (!isThenable(out)) return out;
    // Counted until it settles. The caller gets the promise watched here, so a
    // user's thenable is asked for its outcome once.
    const running = Promise.resolve(out);
    entry.running++;
    running.then(entry.ended, entry.ended);
    if (entry.waiting !== undefined) {
      entry.active++;
      running.then(entry.leave, entry.leave);
    }
    return running;
  }

  /**
   * An async call past the bound: it waits its turn behind the async calls
   * that came before it, and counts as running meanwhile, so a release
   * waits for it too.
   */
  #wait(entry: Entry, waiting: CallQueue<() => void>, kind: "call" | "get", name: string, args: unknown[], control: CallControl | undefined): Promise<unknown> {
    // It starts from another call's ending: bound to this call's context, so that its faults and signal stay its own.
    const queued = new Promise<unknown>((resolve, reject) => {
      let waits = true;
      const start = AsyncResource.bind(() => {
        if (!waits) return; // cancelled meanwhile: the next one starts instead
        waits = false;
        try {
          resolve(this.#start(entry, kind, name, args));
        } catch (err) {
          reject(err);
        }
      });
      waiting.push(start);
      if (!control) return;
      const signal = control.controller.signal;
      const cancel = () => {
        if (!waits) return;
        waits = false;
        reject(signal.reason instanceof Error ? signal.reason : new CancelledError(`${entry.className}.${name} was cancelled before it started`));
      };
      if (signal.aborted) cancel();
      else signal.addEventListener("abort", cancel, { once: true });
    });
    entry.running++;
    queued.then(entry.ended, entry.ended);
    return queued;
  }

  #apply(entry: Entry, name: string, args: unknown[]): unknown {
    const method = entry.instance[name];
    if (typeof method !== "function") {
      throw new ConfigError(`${entry.className}.${name} is not a method (it is ${typeof method}): call one of its methods, or read it as an attribute`);
    }
    return (method as (...a: unknown[]) => unknown).apply(entry.instance, args);
  }

  /**
   * Let actors go: each takes no new call at once, and is forgotten and
   * disposed once the calls running on it have ended (a release must not cut
   * off an async method that is awaiting). Errors in hooks are reported, not thrown.
   */
  async free(keys: Key[], report: Report): Promise<void> {
    await Promise.all(keys.map((key) => this.#release(key, report)));
  }

  async #release(key: Key, report: Report): Promise<void> {
    const entry = this.#actors.get(key);
    if (!entry || entry.releasing) return;
    entry.releasing = true;
    if (entry.running > 0) await new Promise<void>((r) => (entry.drained = r));
    if (this.#actors.get(key) === entry) this.#actors.delete(key);
    await dispose(entry, key, report);
  }

  /** Dispose of every actor now, calls running or not: the thread is stopping. */
  async freeAll(report: Report): Promise<void> {
    const all = [...this.#actors];
    this.#actors.clear();
    for (const [key, entry] of all) await dispose(entry, key, report);
  }
}

/** Runs an actor's dispose hook, once. */
async function dispose(entry: Entry, key: Key, report: Report): Promise<void> {
  if (entry.disposed) return;
  entry.disposed = true;
  const inst = entry.instance as Record<symbol, unknown>;
  try {
    const asyncDispose = (Symbol as { asyncDispose?: symbol }).asyncDispose;
    const disposeSync = (Symbol as { dispose?: symbol }).dispose;
    if (asyncDispose && typeof inst[asyncDispose] === "function") await (inst[asyncDispose] as () => unknown).call(inst);
    else if (disposeSync && typeof inst[disposeSync] === "function") (inst[disposeSync] as () => unknown).call(inst);
  } catch (err) {
    report(err, key);
  }
}
