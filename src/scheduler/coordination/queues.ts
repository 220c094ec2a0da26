// Queues (Dask's Queue): first in, first out, by name; a get waits for an item.

import type { CoordGetReply, CoordValue, QueueGet, QueuePut } from "../../protocol/messages.js";
import type { HeldKeys } from "./values.js";
import { Waiters } from "./waiters.js";

interface QueueState {
  items: CoordValue[];
  getters: Waiters<CoordGetReply>;
}

const TIMED_OUT: CoordGetReply = { timeout: true };

export class Queues {
  readonly #queues = new Map<string, QueueState>();
  readonly #held: HeldKeys;

  constructor(held: HeldKeys) {
    this.#held = held;
  }

  put(msg: QueuePut): null {
    const q = this.#queue(msg.name);
    this.#held.hold(msg.keys);
    q.items.push({ value: msg.value, keys: msg.keys });
    for (let w = q.getters.shift(); w; w = q.items.length > 0 ? q.getters.shift() : undefined) {
      const item = q.items.shift()!;
      this.#held.unhold(item.keys, w.client);
      w.resolve({ value: item.value });
    }
    this.#tidy(msg.name, q);
    return null;
  }

  get(client: string, msg: QueueGet): CoordGetReply | Promise<CoordGetReply> {
    const q = this.#queue(msg.name);
    const item = q.items.shift();
    if (item) {
      this.#held.unhold(item.keys, client);
      this.#tidy(msg.name, q);
      return { value: item.value };
    }
    if (msg.timeoutMs === 0) {
      this.#tidy(msg.name, q);
      return TIMED_OUT;
    }
    return q.getters.add(client, msg.timeoutMs, () => {
      this.#tidy(msg.name, q);
      return TIMED_OUT;
    });
  }

  size(name: string): number {
    return this.#queues.get(name)?.items.length ?? 0;
  }

  clientGone(client: string): void {
    for (const [name, q] of this.#queues) {
      q.getters.dropClient(client);
      this.#tidy(name, q);
    }
  }

  #queue(name: string): QueueState {
    let q = this.#queues.get(name);
    if (!q) this.#queues.set(name, (q = { items: [], getters: new Waiters() }));
    return q;
  }

  /** An empty queue nobody waits on is forgotten: only queues with items take memory. */
  #tidy(name: string, q: QueueState): void {
    if (q.items.length === 0 && q.getters.size === 0) this.#queues.delete(name);
  }
}
