// Coordination primitives kept on the scheduler, as Dask's scheduler
// extensions do (R-TASK-14): queues, locks, semaphores, events and
// variables, each reached by name from clients, tasks and actors alike.
// Beside the task state machine, not in it: they touch the task graph only
// to hold the keys of Futures inside the values they keep (KeyHolds).

import type { CoordinationRequest, ReplyTo } from "../../protocol/messages.js";
import { Events } from "./events.js";
import { Leases } from "./leases.js";
import { Queues } from "./queues.js";
import { HeldKeys, type KeyHolds } from "./values.js";
import { Variables } from "./variables.js";

export type { KeyHolds } from "./values.js";

export class Coordination {
  readonly #queues: Queues;
  readonly #leases = new Leases();
  readonly #events = new Events();
  readonly #variables: Variables;

  constructor(holds: KeyHolds) {
    const held = new HeldKeys(holds);
    this.#queues = new Queues(held);
    this.#variables = new Variables(held);
  }

  /** Answers a request of `client` (a connection); one that waits is answered later, never blocking anything else. */
  serve<M extends CoordinationRequest>(client: string, msg: M): ReplyTo<M> | Promise<ReplyTo<M>> {
    return this.#serve(client, msg) as ReplyTo<M> | Promise<ReplyTo<M>>;
  }

  #serve(client: string, msg: CoordinationRequest): unknown {
    switch (msg.op) {
      case "queue-put":
        return this.#queues.put(msg);
      case "queue-get":
        return this.#queues.get(client, msg);
      case "queue-size":
        return this.#queues.size(msg.name);
      case "lease-acquire":
        return this.#leases.acquire(client, msg);
      case "lease-release":
        return this.#leases.release(client, msg);
      case "lease-count":
        return this.#leases.count(msg);
      case "event":
        return this.#events.serve(client, msg);
      case "variable-set":
        return this.#variables.set(msg);
      case "variable-get":
        return this.#variables.get(client, msg);
      case "variable-delete":
        return this.#variables.delete(msg.name);
    }
  }

  /** A client disconnected: its leases are freed and its waits forgotten. */
  clientGone(client: string): void {
    this.#queues.clientGone(client);
    this.#leases.clientGone(client);
    this.#events.clientGone(client);
    this.#variables.clientGone(client);
  }
}
