// Graceful retirement (R-OPS-2), as Dask's retire_workers: a retiring worker
// takes no new work and gives back what it has not started; every key only
// it holds is copied to another worker (which fetches it and reports it with
// add-keys); its actors with restarts left are re-created elsewhere (where
// their restrictions allow one to live), and the others are waited for until
// their clients release them. When nothing is
// left that only it has, or its deadline passes, the scheduler forgets it
// and tells it `retired`: it exits 0, and its supervisor lets it go. What
// could not move by the deadline is handled as for any worker that leaves
// (recomputed from lineage, or lost).

import type { Address, Key } from "../protocol/messages.js";
import { dropHolders } from "./leaving.js";
import type { Task, Tables, WorkerRec } from "./tables.js";
import { handleGone, markGone, workerRemoved } from "./workers.js";

/** Starts retiring these workers (unknown or already retiring ones are left as they are). */
export function retireWorkers(tb: Tables, addresses: Address[], timeoutMs: number, now: number): void {
  const fresh: WorkerRec[] = [];
  for (const a of addresses) {
    const w = tb.workers.get(a);
    if (!w || w.retiring) continue;
    // `closing` keeps placement, chains, scatters and stealing away from it.
    w.closing = true;
    w.retiring = { byMs: now + timeoutMs, asked: new Map() };
    tb.retiring.add(w);
    fresh.push(w);
  }
  for (const w of fresh) handBack(tb, w);
  progressRetirements(tb, now);
}

/** Tasks sent there and not started go to other workers: asked back as a steal, with no thief named. */
function handBack(tb: Tables, w: WorkerRec): void {
  const keys: Key[] = [];
  for (const t of tb.tasks.values()) {
    // An actor being created finishes there, and then moves like the others.
    if (t.state === "processing" && t.processingOn === w.address && !t.actor && t.stealTo === undefined) keys.push(t.key);
  }
  if (keys.length === 0) return;
  w.stealsPending++;
  tb.out.steals.push({ to: "worker", address: w.address, msg: { op: "steal-request", keys } });
}

/**
 * Moves what each retiring worker still holds alone, and finishes the
 * retirements with nothing left to wait for. Runs after every event while a
 * worker retires (a scan of the tasks: retirements are rare and short).
 */
export function progressRetirements(tb: Tables, now: number): void {
  if (tb.retiring.size === 0) return;
  for (const w of [...tb.retiring]) {
    // Gone meanwhile (it died, or a new process took its address): workerRemoved dealt with it.
    if (tb.workers.get(w.address) !== w) {
      tb.retiring.delete(w);
      continue;
    }
    if (now >= w.retiring!.byMs) {
      finish(tb, w, "its retirement timed out; what it still held alone is handled as for a worker that left");
      continue;
    }
    if (!moveAway(tb, w) && w.nprocessing === 0 && w.stealsPending === 0) finish(tb, w, "retired");
  }
}

/** Workers that may receive what a retiring worker holds. */
function receivers(tb: Tables): WorkerRec[] {
  return tb.workerList.filter((x) => !x.closing && !x.paused);
}

/** Asks for copies of the keys only `w` holds and re-creates its restartable actors elsewhere; whether anything is still to wait for. */
function moveAway(tb: Tables, w: WorkerRec): boolean {
  const to = receivers(tb);
  const onlyHere: Task[] = [];
  const actors: Task[] = [];
  let waiting = false;
  for (const t of tb.tasks.values()) {
    if (t.state !== "memory" || !t.who.has(w.address)) continue;
    if (t.actor) {
      if (t.restartsLeft > 0 && to.some((x) => mayHost(t, x))) actors.push(t);
      else waiting = true; // until its clients release it, or the deadline
    } else if (to.length > 0 && !heldElsewhere(tb, t, w)) {
      onlyHere.push(t);
      waiting = true;
    }
  }
  for (const t of actors) recreateElsewhere(tb, t);
  askCopies(tb, w, onlyHere, to);
  return waiting;
}

/** Whether the actor's restrictions let it live on `w` (else re-creating it would leave it with nowhere to go). */
function mayHost(t: Task, w: WorkerRec): boolean {
  const o = t.spec?.options;
  if (o?.workers && o.workers.length > 0 && !o.allowOtherWorkers && !o.workers.includes(w.address)) return false;
  for (const [name, qty] of Object.entries(o?.resources ?? {})) if ((w.resources[name] ?? 0) < qty) return false;
  return true;
}

function heldElsewhere(tb: Tables, t: Task, w: WorkerRec): boolean {
  for (const a of t.who) {
    if (a === w.address) continue;
    const other = tb.workers.get(a);
    if (other && !other.closing) return true;
  }
  return false;
}

/**
 * The actor is re-created on another worker the way a restart re-creates
 * one (handleGone: one of its restarts, a new incarnation; callers find it
 * through the scheduler). Where its class checkpoints its state (R-ACT-19),
 * that path is where the restart takes the latest checkpoint instead of the
 * constructor. The instance here is freed, so calls still reaching it are
 * answered "missing" and go to the new one.
 */
function recreateElsewhere(tb: Tables, t: Task): void {
  dropHolders(tb, t, true);
  markGone(tb, t);
  handleGone(tb, t);
}

/** Each key goes to the receiver with the least memory (counting what this round already sends it); asked again only if that one went. */
function askCopies(tb: Tables, w: WorkerRec, keys: Task[], to: WorkerRec[]): void {
  if (keys.length === 0) return;
  const asked = w.retiring!.asked;
  const load = new Map(to.map((x) => [x, x.memoryBytes]));
  const batches = new Map<WorkerRec, Key[]>();
  for (const t of keys) {
    const before = asked.get(t.key);
    if (before !== undefined && to.some((x) => x.address === before)) continue;
    let best = to[0]!;
    for (const x of to) if (load.get(x)! < load.get(best)!) best = x;
    load.set(best, load.get(best)! + t.nbytes);
    asked.set(t.key, best.address);
    let batch = batches.get(best);
    if (!batch) batches.set(best, (batch = []));
    batch.push(t.key);
  }
  for (const [x, batch] of batches) tb.out.moves.push({ to: "worker", address: x.address, msg: { op: "acquire-replicas", holder: w.address, keys: batch } });
}

/** The scheduler forgets the worker and tells it it is retired; frees already decided for it still reach it first. */
function finish(tb: Tables, w: WorkerRec, reason: string): void {
  tb.retiring.delete(w);
  const frees = tb.out.free.get(w.address);
  workerRemoved(tb, w.address);
  if (frees) tb.out.closes.push({ to: "worker", address: w.address, msg: { op: "free-keys", keys: [...frees] } });
  tb.out.closes.push({ to: "retired", address: w.address, reason });
}
