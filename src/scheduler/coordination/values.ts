// The Futures inside values that queues and variables keep: while a value is
// kept, the keys in it are held (by the scheduler, as one more client) so
// that their results outlive the client that put them there.

import type { Key } from "../../protocol/messages.js";

export interface KeyHolds {
  /** The scheduler starts holding these keys. */
  want(keys: Key[]): void;
  /** It holds them no longer. */
  release(keys: Key[]): void;
  /** `client` holds these keys from now on (it receives a value with them). */
  handTo(client: string, keys: Key[]): void;
}

/** Counts how many kept values hold each key: the scheduler's hold is taken at the first, given back at the last. */
export class HeldKeys {
  readonly #counts = new Map<Key, number>();
  readonly #holds: KeyHolds;

  constructor(holds: KeyHolds) {
    this.#holds = holds;
  }

  hold(keys: Key[]): void {
    const fresh: Key[] = [];
    for (const k of keys) {
      const n = this.#counts.get(k) ?? 0;
      this.#counts.set(k, n + 1);
      if (n === 0) fresh.push(k);
    }
    if (fresh.length > 0) this.#holds.want(fresh);
  }

  /** `to` receives a value with these keys, which stays kept: it holds them too. */
  share(keys: Key[], to: string): void {
    if (keys.length > 0) this.#holds.handTo(to, keys);
  }

  /** `to`: the client receiving the value, which holds its keys before the scheduler lets go. */
  unhold(keys: Key[], to?: string): void {
    if (to !== undefined && keys.length > 0) this.#holds.handTo(to, keys);
    const gone: Key[] = [];
    for (const k of keys) {
      const n = this.#counts.get(k) ?? 0;
      if (n <= 1) {
        this.#counts.delete(k);
        gone.push(k);
      } else this.#counts.set(k, n - 1);
    }
    if (gone.length > 0) this.#holds.release(gone);
  }
}
