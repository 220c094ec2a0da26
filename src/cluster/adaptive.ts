// LocalCluster.adapt() (R-OPS-3), as Dask's Adaptive: every `interval` the
// cluster looks at the tasks waiting for a thread and adds workers while
// they queue, up to `maximum`; when fewer would do for `waitCount` looks in a
// row, it retires idle workers (R-OPS-2: their data moves first) down to
// `minimum`. The policy (`targetWorkers`, `idleToRetire`) is pure; the loop
// around it only starts and retires workers.

import { createLogger } from "../log.js";
import type { Address, SchedulerInfo } from "../protocol/messages.js";
import type { ResolvedAdaptOptions } from "./options.js";

const log = createLogger("adapt");

/** What the loop needs from its cluster. */
export interface AdaptTarget {
  info(): SchedulerInfo;
  /** Workers started or starting, not retiring (the cluster's count, not the scheduler's: a starting worker counts). */
  workerCount(): number;
  threadsPerWorker: number;
  addWorker(): Promise<string>;
  retireWorkers(addresses: Address[], timeoutMs: number): Promise<Address[]>;
}

/**
 * How many workers the queue asks for: one thread per task running or
 * waiting for a worker (queued on a worker counts as running), within
 * [minimum, maximum].
 */
export function targetWorkers(info: SchedulerInfo, threadsPerWorker: number, opts: Pick<ResolvedAdaptOptions, "minimum" | "maximum">): number {
  const demand = info.tasks.processing + info.tasks["no-worker"];
  return Math.min(opts.maximum, Math.max(opts.minimum, Math.ceil(demand / threadsPerWorker)));
}

/** Up to `n` idle workers to retire: those hosting the fewest actors and holding the least go first. */
export function idleToRetire(info: SchedulerInfo, n: number): Address[] {
  return Object.entries(info.workers)
    .filter(([, w]) => w.status !== "retiring" && w.tasksProcessing === 0)
    .sort(([, x], [, y]) => Object.keys(x.actors).length - Object.keys(y.actors).length || x.storedKeys - y.storedKeys || x.memoryBytes - y.memoryBytes)
    .slice(0, Math.max(0, n))
    .map(([address]) => address);
}

export class Adaptive {
  readonly #target: AdaptTarget;
  readonly #opts: ResolvedAdaptOptions;
  readonly #timer: NodeJS.Timeout;
  /** Looks in a row that found more workers than needed. */
  #lowLooks = 0;
  /** A scaling step still under way: the next look waits for it, so steps never overlap. */
  #busy = false;
  #stopped = false;

  constructor(target: AdaptTarget, opts: ResolvedAdaptOptions) {
    this.#target = target;
    this.#opts = opts;
    this.#timer = setInterval(() => this.#look(), opts.interval);
    // Adapting is no work of its own: it must not keep a script alive (R-PKG-6).
    this.#timer.unref();
    this.#look();
  }

  get minimum(): number {
    return this.#opts.minimum;
  }

  get maximum(): number {
    return this.#opts.maximum;
  }

  /** Stops adapting; the workers there are stay. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  #look(): void {
    if (this.#busy || this.#stopped) return;
    const t = this.#target;
    const info = t.info();
    const target = targetWorkers(info, t.threadsPerWorker, this.#opts);
    const count = t.workerCount();
    if (target > count) {
      this.#lowLooks = 0;
      this.#step(this.#add(target - count));
    } else if (target < count && ++this.#lowLooks >= this.#opts.waitCount) {
      const retire = idleToRetire(info, count - target);
      if (retire.length === 0) return;
      this.#lowLooks = 0;
      this.#step(this.#retire(retire));
    } else if (target === count) this.#lowLooks = 0;
  }

  #step(work: Promise<void>): void {
    this.#busy = true;
    void work.finally(() => (this.#busy = false));
  }

  async #add(n: number): Promise<void> {
    log.info("adding workers: tasks are queueing", { adding: n });
    const results = await Promise.allSettled(Array.from({ length: n }, () => this.#target.addWorker()));
    for (const r of results) if (r.status === "rejected" && !this.#stopped) log.warn("adapt could not start a worker", { error: String(r.reason) });
  }

  async #retire(addresses: Address[]): Promise<void> {
    log.info("retiring idle workers", { workers: addresses });
    try {
      await this.#target.retireWorkers(addresses, this.#opts.retireTimeout);
    } catch (err) {
      // A worker may have left meanwhile: the next look sees how many there are.
      if (!this.#stopped) log.warn("adapt could not retire workers", { error: String(err) });
    }
  }
}
