// A log that stays readable when many things happen at once: each message
// is written at most MAX_PER_SECOND times a second, and the lines left out
// are counted in one line when the next second's first one is written.

import type { Logger } from "./log.js";

const MAX_PER_SECOND = 10;

interface Window {
  start: number;
  written: number;
  dropped: number;
}

export class ThrottledLog {
  readonly #windows = new Map<string, Window>();

  constructor(
    private readonly out: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  write(level: "debug" | "info" | "warn", msg: string, fields: Record<string, unknown>): void {
    if (!this.out.enabled(level)) return;
    const t = this.now();
    let w = this.#windows.get(msg);
    if (!w || t - w.start >= 1000) {
      if (w && w.dropped > 0) this.out[level](`${w.dropped} more like the previous "${msg}" left out of the log`, { message: msg, count: w.dropped });
      if (w) this.#windows.delete(msg); // re-inserted last: the map stays in order of use, so trimming drops the oldest
      w = { start: t, written: 0, dropped: 0 };
      this.#windows.set(msg, w);
      if (this.#windows.size > 1000) this.#windows.delete(this.#windows.keys().next().value!);
    }
    if (w.written >= MAX_PER_SECOND) {
      w.dropped++;
      return;
    }
    w.written++;
    this.out[level](msg, fields);
  }
}
