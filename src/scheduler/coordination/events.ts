// Events (Dask's Event): set or clear, by name; a wait returns once it is set.

import type { EventOp } from "../../protocol/messages.js";
import { Waiters } from "./waiters.js";

interface EventState {
  set: boolean;
  waiters: Waiters<boolean>;
}

export class Events {
  readonly #events = new Map<string, EventState>();

  serve(client: string, msg: EventOp): boolean | Promise<boolean> {
    let e = this.#events.get(msg.name);
    switch (msg.action) {
      case "is-set":
        return e?.set ?? false;
      case "set":
        if (!e) this.#events.set(msg.name, (e = { set: true, waiters: new Waiters() }));
        e.set = true;
        e.waiters.wakeAll(true);
        return true;
      case "clear":
        if (e) {
          e.set = false;
          this.#tidy(msg.name, e);
        }
        return false;
      case "wait": {
        if (e?.set) return true;
        if (msg.timeoutMs === 0) return false;
        if (!e) this.#events.set(msg.name, (e = { set: false, waiters: new Waiters() }));
        const state = e;
        return e.waiters.add(client, msg.timeoutMs, () => {
          this.#tidy(msg.name, state);
          return false;
        });
      }
    }
  }

  clientGone(client: string): void {
    for (const [name, e] of this.#events) {
      e.waiters.dropClient(client);
      this.#tidy(name, e);
    }
  }

  /** A clear event nobody waits on is forgotten: its state is the default. */
  #tidy(name: string, e: EventState): void {
    if (!e.set && e.waiters.size === 0) this.#events.delete(name);
  }
}
