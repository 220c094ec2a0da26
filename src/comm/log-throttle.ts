// A log line that cannot flood the log: events of one kind are counted and
// reported at most once per interval, with how many there were. A stranger
// opening thousands of connections a second must not make each one a line.

export class LogThrottle {
  #count = 0;
  #lastMs = -Infinity;
  #timer: NodeJS.Timeout | undefined;
  #last = "";

  /** `emit(count, last)` writes the line: `count` events since the previous line, `last` the detail of the latest. */
  constructor(
    private readonly emit: (count: number, last: string) => void,
    private readonly intervalMs = 1000,
  ) {}

  /** One more event: logged now if the last line is older than the interval, else with the next one. */
  note(detail = ""): void {
    this.#count++;
    this.#last = detail;
    if (this.#timer !== undefined) return;
    const wait = this.#lastMs + this.intervalMs - Date.now();
    if (wait <= 0) {
      this.#flush();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, wait);
    this.#timer.unref();
  }

  /** Write what is counted now (at close: nothing is lost). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#count > 0) this.#flush();
  }

  #flush(): void {
    const n = this.#count;
    this.#count = 0;
    this.#lastMs = Date.now();
    this.emit(n, this.#last);
  }
}
