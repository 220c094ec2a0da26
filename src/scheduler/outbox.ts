// One event's output, merged per destination: what the state machine tells
// workers (compute, free, steal, close) and clients (key states) after an event.

import type { Address, Key, KeyState } from "../protocol/messages.js";
import type { ClientId, Instruction } from "./events.js";

/** Collects one event's output and merges it per destination. */
export class Outbox {
  readonly compute = new Map<Address, Map<Key, Instruction>>();
  readonly free = new Map<Address, Set<Key>>();
  readonly clients = new Map<ClientId, Map<Key, KeyState>>();
  /** Steal requests, after the computes. */
  steals: Instruction[] = [];
  /** Copies of a retiring worker's keys asked of others (acquire-replicas). */
  moves: Instruction[] = [];
  closes: Instruction[] = [];
  logs: Instruction[] = [];

  freeKey(address: Address, key: Key): void {
    this.compute.get(address)?.delete(key);
    let s = this.free.get(address);
    if (!s) this.free.set(address, (s = new Set()));
    s.add(key);
  }

  computeTask(address: Address, key: Key, ins: Instruction): void {
    let m = this.compute.get(address);
    if (!m) this.compute.set(address, (m = new Map()));
    m.set(key, ins);
  }

  /** Drops anything queued for a worker that just went away. */
  dropWorker(address: Address): void {
    this.compute.delete(address);
    this.free.delete(address);
    this.steals = this.steals.filter((i) => i.to !== "worker" || i.address !== address);
    this.moves = this.moves.filter((i) => i.to !== "worker" || i.address !== address);
  }

  keyState(client: ClientId, msg: KeyState): void {
    let m = this.clients.get(client);
    if (!m) this.clients.set(client, (m = new Map()));
    // Only the latest state of a key matters to the client; re-insert to keep order of arrival.
    m.delete(msg.key);
    m.set(msg.key, msg);
  }

  flush(): Instruction[] {
    const out: Instruction[] = [];
    // Frees before computes: a key freed then recomputed on the same worker in one event must end up computed.
    for (const [address, keys] of this.free) out.push({ to: "worker", address, msg: { op: "free-keys", keys: [...keys] } });
    for (const m of this.compute.values()) for (const ins of m.values()) out.push(ins);
    for (const [client, m] of this.clients) for (const msg of m.values()) out.push({ to: "client", client, msg });
    out.push(...this.steals);
    out.push(...this.moves);
    out.push(...this.closes);
    if (this.logs.length > 0) out.push(...this.logs);
    return out;
  }

  /** One outbox serves every event: clearing is cheaper than four new collections per message. */
  reset(): void {
    // (Clearing a Map allocates a new table even when it is empty.)
    if (this.compute.size > 0) this.compute.clear();
    if (this.free.size > 0) this.free.clear();
    if (this.clients.size > 0) this.clients.clear();
    if (this.steals.length > 0) this.steals = [];
    if (this.moves.length > 0) this.moves = [];
    if (this.closes.length > 0) this.closes = [];
    if (this.logs.length > 0) this.logs = [];
  }
}
