// Work stealing, the state machine's side: when a worker has a free thread,
// ask busy workers for tasks they have not started (stealing.ts plans which
// and where to), and hand each task they give up to the worker it was asked
// for.

import type { Address, Key } from "../protocol/messages.js";
import { assign } from "./assign.js";
import { enterWaiting } from "./graph.js";
import { unassign } from "./leaving.js";
import { resourcesFree } from "./placement.js";
import { busyWorkers, idleWorkers, planSteals, type StealCandidate } from "./stealing.js";
import { DEFAULT_DURATION_MS, type Task, type Tables } from "./tables.js";

/** A worker that just finished work and has a free thread takes queued work from busy ones. */
export function balanceIfIdle(tb: Tables, address: Address): void {
  const w = tb.workers.get(address);
  if (w && w.nprocessing < w.nthreads) balance(tb);
}

/** Asks busy workers for tasks they have not started, for idle workers to run (R-FAIL-8). */
export function balance(tb: Tables): void {
  const idle = idleWorkers(tb.workerList);
  if (idle.length === 0) return;
  const busy = busyWorkers(tb.workerList);
  if (busy.length === 0) return;
  const victims = new Set(busy.map((w) => w.address));
  const byVictim = new Map<Address, StealCandidate[]>();
  for (const t of tb.tasks.values()) {
    if (t.state !== "processing" || !victims.has(t.processingOn!) || !stealable(tb, t)) continue;
    let list = byVictim.get(t.processingOn!);
    if (!list) byVictim.set(t.processingOn!, (list = []));
    list.push(stealCandidate(tb, t));
  }
  for (const [victim, moves] of planSteals(idle, byVictim, tb.workers)) {
    for (const { key, to } of moves) tb.tasks.get(key)!.stealTo = to;
    tb.workers.get(victim)!.stealsPending++;
    tb.out.steals.push({ to: "worker", address: victim, msg: { op: "steal-request", keys: moves.map((m) => m.key) } });
  }
}

/** Plain tasks placed with their deps in memory, restricted to no single worker, and with nothing chained behind them. */
function stealable(tb: Tables, t: Task): boolean {
  if (t.actor || !t.spec || t.stealTo !== undefined) return false;
  const o = t.spec.options;
  if (o.workers && o.workers.length > 0 && !o.allowOtherWorkers) return false;
  if (tb.missingDeps(t) > 0) return false;
  for (const dk of t.dependents) {
    const d = tb.tasks.get(dk);
    if (d && d.state === "processing" && d.processingOn === t.processingOn) return false;
  }
  return true;
}

function stealCandidate(tb: Tables, t: Task): StealCandidate {
  const o = t.spec!.options;
  const depBytes = new Map<Address, number>();
  let total = 0;
  for (const dk of t.spec!.deps) {
    const d = tb.tasks.get(dk)!;
    if (d.actor) continue;
    total += d.nbytes;
    for (const a of d.who) depBytes.set(a, (depBytes.get(a) ?? 0) + d.nbytes);
  }
  return {
    key: t.key,
    on: t.processingOn!,
    durationMs: t.group.meanDurationMs(DEFAULT_DURATION_MS),
    resources: o.resources,
    allowed: o.workers && o.workers.length > 0 && !o.allowOtherWorkers ? new Set(o.workers) : undefined,
    depBytes,
    totalDepBytes: total,
  };
}

/** The busy worker gave up `released` (they never run there): each goes to the worker that asked for it. */
export function stealResponse(tb: Tables, victim: Address, released: Key[], kept: Key[]): void {
  const v = tb.workers.get(victim)!;
  v.stealsPending = Math.max(0, v.stealsPending - 1);
  for (const key of kept) {
    const t = tb.tasks.get(key);
    if (t && t.processingOn === victim) t.stealTo = undefined;
  }
  for (const key of released) {
    const t = tb.tasks.get(key);
    // Finished, cancelled or moved meanwhile: the worker's answer is stale for it.
    if (!t || t.state !== "processing" || t.processingOn !== victim) continue;
    const to = t.stealTo;
    unassign(tb, t, false); // the victim has dropped it already
    const thief = to === undefined ? undefined : tb.workers.get(to);
    if (thief && !thief.closing && !thief.paused && resourcesFree(thief, t.spec!.options.resources) && tb.missingDeps(t) === 0) assign(tb, t, thief.address);
    else {
      tb.setState(t, "waiting");
      t.waitingOn = 0;
      enterWaiting(tb, t);
    }
  }
}
