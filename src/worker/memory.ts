// A worker's memory against its limit (R-FAIL-7), measured every few hundred
// milliseconds on the main thread (which never runs user code, so it always
// gets to measure): above 60 % the largest values spill to disk, above 80 %
// the worker pauses (takes no new tasks) until it is below again. Above 95 %
// its supervisor restarts it (cluster/); a task that allocates without end
// meets its thread's heap bound first (threads.ts).

import type { Logger } from "../log.js";
import type { Key } from "../protocol/messages.js";
import { PAUSE_FRACTION, SPILL_FRACTION } from "./memory-limit.js";
import type { Store } from "./store.js";

const MEASURE_EVERY_MS = 200;

export interface MemoryEvents {
  /** The worker crossed the pause threshold one way or the other. */
  onPause(paused: boolean, usedBytes: number): void;
  /** Keys never to spill (actors' handles). */
  keep(key: Key): boolean;
}

export class MemoryMonitor {
  #timer: NodeJS.Timeout | undefined;
  #spilling = false;
  paused = false;

  constructor(
    readonly limitBytes: number,
    private readonly store: Store,
    private readonly events: MemoryEvents,
    private readonly log: Logger,
    /** The process's resident memory (tests give their own). */
    private readonly rss: () => number = () => process.memoryUsage.rss(),
  ) {}

  start(): void {
    this.#timer = setInterval(() => this.check(), MEASURE_EVERY_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Memory this worker uses: its process (every thread) and the shared segments of values it holds. */
  used(): number {
    return this.rss() + this.store.sharedBytes;
  }

  /** Measures once: pauses or resumes, and starts spilling when above the spill threshold. */
  check(): void {
    const used = this.used();
    const paused = used > PAUSE_FRACTION * this.limitBytes;
    if (paused !== this.paused) {
      this.paused = paused;
      this.log.info(paused ? "memory above the pause threshold: taking no new tasks" : "memory below the pause threshold again: taking tasks", {
        usedBytes: used,
        limitBytes: this.limitBytes,
      });
      this.events.onPause(paused, used);
    }
    if (used > SPILL_FRACTION * this.limitBytes && !this.#spilling) this.spilled = this.#spill(used);
  }

  /** The last spill round (for tests to wait on). */
  spilled: Promise<void> = Promise.resolve();

  /** Spills the largest values until the estimate is below the spill threshold (or nothing is left to spill). */
  async #spill(used: number): Promise<void> {
    this.#spilling = true;
    const target = SPILL_FRACTION * this.limitBytes;
    let moved = 0;
    let count = 0;
    try {
      for (const key of this.store.largest((k) => this.events.keep(k))) {
        if (used - moved <= target) break;
        moved += await this.store.spill(key);
        count++;
      }
    } catch (err) {
      this.log.warn("could not spill values to disk", { error: String(err) });
    } finally {
      this.#spilling = false;
    }
    if (count > 0) this.log.info("spilled values to disk", { values: count, bytes: moved, spilledBytes: this.store.spilledBytes });
  }
}
