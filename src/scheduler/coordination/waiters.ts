// Requests waiting on a coordination primitive: each is answered when the
// primitive can serve it, at its timeout, or dropped with its client. The
// scheduler never blocks on them: a waiter is a pending reply and a timer.

/** Beyond what a timer can count: as good as no bound. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Waiter<T> {
  /** The connection that asked: its waits end with it. */
  client: string;
  /** Answers the request. */
  resolve(value: T): void;
  timer: NodeJS.Timeout | undefined;
  /** What the request is for, when the primitive needs to know (a lease's holder). */
  tag: string;
}

/** Waiters of one primitive, served first come, first served. */
export class Waiters<T> {
  readonly #list: Waiter<T>[] = [];

  get size(): number {
    return this.#list.length;
  }

  /** A request that waits: answered by wake(), or with `onTimeout()` after `timeoutMs` (none: no bound). */
  add(client: string, timeoutMs: number | undefined, onTimeout: () => T, tag = ""): Promise<T> {
    return new Promise<T>((resolve) => {
      const w: Waiter<T> = { client, resolve, timer: undefined, tag };
      if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
        w.timer = setTimeout(() => {
          this.#remove(w);
          resolve(onTimeout());
        }, timeoutMs);
        w.timer.unref();
      }
      this.#list.push(w);
    });
  }

  /** The longest waiting, taken off the list (its timer stopped); the caller answers it. */
  shift(): Waiter<T> | undefined {
    const w = this.#list.shift();
    if (w) clearTimeout(w.timer);
    return w;
  }

  /** Answers every waiter with `value`. */
  wakeAll(value: T): void {
    for (let w = this.shift(); w; w = this.shift()) w.resolve(value);
  }

  /** Forgets the waits of a client that went away (nobody is left to answer). */
  dropClient(client: string): void {
    for (const w of [...this.#list]) {
      if (w.client !== client) continue;
      clearTimeout(w.timer);
      this.#remove(w);
    }
  }

  #remove(w: Waiter<T>): void {
    const i = this.#list.indexOf(w);
    if (i >= 0) this.#list.splice(i, 1);
  }
}
