// A pool of actors sharing a stream of work (R-ACT-15, Ray's ActorPool):
// each item goes to an idle actor, the others wait here, on the caller's
// side, until one is free. Nothing of it lives on the scheduler.

import { ConfigError, TimeoutError } from "../errors.js";
import { isActorHandle, type Actor } from "./actor-handle.js";

/** What a pool runs for an item: typically a method call, `(a, v) => a.double(v)`. */
export type PoolFn<T, I, R> = (actor: Actor<T>, item: I) => PromiseLike<R> | R;

type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Job<T> {
  start(actor: Actor<T>): void;
  /** Dropped before it started (its map was left early). */
  drop(): void;
}

export class ActorPool<T> {
  readonly #idle: Actor<T>[] = [];
  /** Items waiting for an idle actor, in the order they were given. */
  readonly #waiting: Job<T>[] = [];
  /** Results of submit() not yet taken by next(), in completion order. */
  readonly #completed: Outcome<unknown>[] = [];
  /** submit() results still running or waiting. */
  #pending = 0;
  readonly #wakers = new Set<() => void>();

  constructor(actors: Iterable<Actor<T>>) {
    if (actors === null || typeof (actors as Iterable<unknown>)?.[Symbol.iterator] !== "function") {
      throw new ConfigError("new ActorPool(actors): actors must be an array of Actor handles");
    }
    for (const a of actors) this.push(a);
    if (this.#idle.length === 0) throw new ConfigError("new ActorPool(actors): give it at least one Actor handle");
  }

  /**
   * Runs fn on an idle actor for each item, and yields the results in the
   * order of the items (a failed item throws there). Leaving the loop early
   * drops the items not yet started.
   */
  map<I, R>(fn: PoolFn<T, I, R>, items: Iterable<I>): AsyncIterableIterator<R> {
    checkFn(fn, "map");
    const runs = this.#startAll(fn, items);
    return this.#guarded(runs, (async function* () {
      for (const run of runs) yield await run.result;
    })());
  }

  /** Like map(), yielding each result as soon as it is ready (completion order). */
  mapUnordered<I, R>(fn: PoolFn<T, I, R>, items: Iterable<I>): AsyncIterableIterator<R> {
    checkFn(fn, "mapUnordered");
    const runs = this.#startAll(fn, items);
    return this.#guarded(runs, (async function* () {
      const done: Array<Outcome<R>> = [];
      let wake: (() => void) | undefined;
      for (const run of runs) {
        void run.result
          .then(
            (value) => void done.push({ ok: true, value }),
            (error: unknown) => void done.push({ ok: false, error }),
          )
          .finally(() => wake?.());
      }
      for (let taken = 0; taken < runs.length; taken++) {
        while (done.length === 0) await new Promise<void>((r) => (wake = r));
        const o = done.shift()!;
        if (!o.ok) throw o.error;
        yield o.value;
      }
    })());
  }

  /** Hands one item to an idle actor (or queues it until one is free); take its result with next(). */
  submit<I, R>(fn: PoolFn<T, I, R>, item: I): void {
    checkFn(fn, "submit");
    this.#pending++;
    void this.#run(fn, item).result.then(
      (value) => this.#complete({ ok: true, value }),
      (error: unknown) => this.#complete({ ok: false, error }),
    );
  }

  /** Whether results of submit() remain to be taken with next(). */
  hasNext(): boolean {
    return this.#pending > 0 || this.#completed.length > 0;
  }

  /**
   * The next result of submit() to finish (completion order); rejects with
   * its error if that item failed, and with TimeoutError after `timeout` ms
   * (the item keeps running: a later next() returns it).
   */
  async next<R = unknown>(options: { timeout?: number } = {}): Promise<R> {
    const timeout = options.timeout;
    if (timeout !== undefined && !(typeof timeout === "number" && timeout >= 0)) {
      throw new ConfigError(`pool.next(): option timeout must be a non-negative number of milliseconds, got ${String(timeout)}`);
    }
    if (!this.hasNext()) throw new ConfigError("pool.next(): no results are pending; submit() items first (hasNext() tells)");
    const deadline = timeout === undefined ? undefined : Date.now() + timeout;
    while (this.#completed.length === 0) {
      const left = deadline === undefined ? undefined : deadline - Date.now();
      if (left !== undefined && left <= 0) throw new TimeoutError(`pool.next(): no result finished within ${timeout} ms; the items keep running`);
      await this.#wait(left);
    }
    const o = this.#completed.shift()!;
    if (!o.ok) throw o.error;
    return o.value as R;
  }

  /** Whether an actor is idle now. */
  hasFree(): boolean {
    return this.#idle.length > 0;
  }

  /** Takes an idle actor out of the pool (undefined when none is idle). */
  popIdle(): Actor<T> | undefined {
    return this.#idle.pop();
  }

  /** Adds an actor to the pool; it takes waiting work at once. */
  push(actor: Actor<T>): void {
    if (!isActorHandle(actor)) throw new ConfigError("ActorPool takes Actor handles (from submit(Cls, args, { actor: true }) or getActor)");
    if (this.#idle.includes(actor)) return;
    this.#release(actor);
  }

  /** Queues every item at once: the pool starts them as actors come free. */
  #startAll<I, R>(fn: PoolFn<T, I, R>, items: Iterable<I>): Array<{ result: Promise<R>; job: Job<T> }> {
    if (items === null || typeof (items as Iterable<unknown>)?.[Symbol.iterator] !== "function") {
      throw new ConfigError("pool.map(fn, items): items must be iterable");
    }
    const runs = [...items].map((item) => this.#run(fn, item));
    // Each is awaited in turn; one failing before its turn must not count as unhandled.
    for (const r of runs) r.result.catch(() => undefined);
    return runs;
  }

  /** Yields what `inner` yields; when the consumer leaves early, the runs not started are dropped. */
  async *#guarded<R>(runs: Array<{ job: Job<T> }>, inner: AsyncGenerator<R>): AsyncIterableIterator<R> {
    try {
      yield* inner;
    } finally {
      for (const { job } of runs) {
        const i = this.#waiting.indexOf(job);
        if (i < 0) continue;
        this.#waiting.splice(i, 1);
        job.drop();
      }
    }
  }

  #run<I, R>(fn: PoolFn<T, I, R>, item: I): { result: Promise<R>; job: Job<T> } {
    let job!: Job<T>;
    const result = new Promise<R>((resolve, reject) => {
      job = {
        start: (actor) => {
          let r: PromiseLike<R> | R;
          try {
            r = fn(actor, item);
          } catch (err) {
            r = Promise.reject(err);
          }
          // The actor is free again once its call settled, either way.
          Promise.resolve(r).then(resolve, reject).finally(() => this.#release(actor));
        },
        drop: () => reject(new ConfigError("dropped: the loop over the pool's results was left before this item started")),
      };
    });
    const actor = this.#idle.shift();
    if (actor) job.start(actor);
    else this.#waiting.push(job);
    return { result, job };
  }

  #release(actor: Actor<T>): void {
    const next = this.#waiting.shift();
    if (next) next.start(actor);
    else this.#idle.push(actor);
  }

  #complete(o: Outcome<unknown>): void {
    this.#pending--;
    this.#completed.push(o);
    for (const wake of [...this.#wakers]) wake();
  }

  #wait(ms: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.#wakers.add(done);
    });
  }
}

function checkFn(fn: unknown, where: string): void {
  if (typeof fn !== "function") throw new ConfigError(`pool.${where}(fn, ...): fn must be a function (actor, item) => result, got ${typeof fn}`);
}
