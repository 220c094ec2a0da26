// Locks and semaphores (Dask's Lock and Semaphore): a number of leases per
// name, each held by one Lock or Semaphore object of one client; a lease
// whose client disconnects is freed, so a holder killed mid-section never
// keeps others out.

import type { LeaseAcquire, LeaseCount, LeaseRelease, LeaseReply } from "../../protocol/messages.js";
import { errorInfoOf } from "../../serialize/errors.js";
import { Waiters } from "./waiters.js";

interface Lease {
  holder: string;
  client: string;
}

interface LeaseState {
  maxLeases: number;
  held: Lease[];
  waiters: Waiters<LeaseReply>;
}

const GRANTED: LeaseReply = { ok: true };
const REFUSED: LeaseReply = { ok: false };

export class Leases {
  readonly #states = new Map<string, LeaseState>();

  acquire(client: string, msg: LeaseAcquire): LeaseReply | Promise<LeaseReply> {
    const id = `${msg.kind}:${msg.name}`;
    let s = this.#states.get(id);
    if (!s) this.#states.set(id, (s = { maxLeases: msg.maxLeases, held: [], waiters: new Waiters() }));
    if (s.maxLeases !== msg.maxLeases) {
      return {
        error: errorInfoOf(
          "ConfigError",
          `Semaphore ${JSON.stringify(msg.name)} is in use with maxLeases ${s.maxLeases}, not ${msg.maxLeases}: every Semaphore of one name must give the same maxLeases`,
        ),
      };
    }
    if (s.held.length < s.maxLeases && s.waiters.size === 0) {
      s.held.push({ holder: msg.holder, client });
      return GRANTED;
    }
    if (msg.timeoutMs === 0) return REFUSED;
    const state = s;
    return s.waiters.add(client, msg.timeoutMs, () => {
      this.#tidy(id, state);
      return REFUSED;
    }, msg.holder);
  }

  release(client: string, msg: LeaseRelease): LeaseReply {
    const id = `${msg.kind}:${msg.name}`;
    const s = this.#states.get(id);
    const i = s ? s.held.findIndex((l) => l.holder === msg.holder && l.client === client) : -1;
    if (!s || i < 0) return REFUSED;
    s.held.splice(i, 1);
    this.#grant(s);
    this.#tidy(id, s);
    return GRANTED;
  }

  count(msg: LeaseCount): number {
    return this.#states.get(`${msg.kind}:${msg.name}`)?.held.length ?? 0;
  }

  clientGone(client: string): void {
    for (const [id, s] of this.#states) {
      s.waiters.dropClient(client);
      const kept = s.held.filter((l) => l.client !== client);
      if (kept.length !== s.held.length) {
        s.held = kept;
        this.#grant(s);
      }
      this.#tidy(id, s);
    }
  }

  /** Free leases go to the longest waiting. */
  #grant(s: LeaseState): void {
    while (s.held.length < s.maxLeases) {
      const w = s.waiters.shift();
      if (!w) return;
      s.held.push({ holder: w.tag, client: w.client });
      w.resolve(GRANTED);
    }
  }

  /** A name with no lease held and nobody waiting is forgotten (a Semaphore's maxLeases with it). */
  #tidy(id: string, s: LeaseState): void {
    if (s.held.length === 0 && s.waiters.size === 0) this.#states.delete(id);
  }
}
