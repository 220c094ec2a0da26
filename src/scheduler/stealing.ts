// Work stealing (R-FAIL-8), as Dask does it: no task waits behind a busy
// worker while another sits idle. Pure: given the workers' loads and the
// tasks queued on the busy ones, decide which tasks to ask back from which
// worker and where each goes. The state machine asks; the busy worker gives
// up only the tasks it has not started (steal-request / steal-response).

import type { Address, Key } from "../protocol/messages.js";
import { BANDWIDTH_BYTES_PER_MS, resourcesFree, type PlacementWorker } from "./placement.js";

/** A task is moved only when its expected wait where it is exceeds the cost of moving it by this much. */
const MOVE_OVERHEAD_MS = 10;

export interface StealWorker extends PlacementWorker {
  /** Steal requests sent to it and not answered: it is not asked again meanwhile. */
  stealsPending: number;
  /**
   * How long its least busy thread has been running its current task (0 when
   * a thread is free), from its last heartbeat: a task that has run long is
   * expected to run about as long again, and what waits behind it waits that long.
   */
  busyMs: number;
}

export interface StealCandidate {
  key: Key;
  on: Address;
  /** Expected run time (its group's mean). */
  durationMs: number;
  resources: Record<string, number> | undefined;
  /** Workers it may run on (undefined: any). */
  allowed: ReadonlySet<Address> | undefined;
  /** Bytes of its dependencies held by each worker, and in all. */
  depBytes: ReadonlyMap<Address, number>;
  totalDepBytes: number;
}

/** Workers with a free thread and nothing in the way of taking work. */
export function idleWorkers(workers: readonly StealWorker[]): StealWorker[] {
  return workers.filter((w) => !w.closing && !w.paused && w.nprocessing < w.nthreads);
}

/** Workers with tasks queued behind their busy threads, not already being asked. */
export function busyWorkers(workers: readonly StealWorker[]): StealWorker[] {
  return workers.filter((w) => w.nprocessing > w.nthreads && w.stealsPending === 0);
}

/**
 * Which candidates move where: each idle worker, in turn, takes tasks from
 * the busy worker with the most queued, until their queues are about even,
 * while a task's expected wait on its worker exceeds the cost of moving it.
 */
export function planSteals(idle: StealWorker[], byVictim: Map<Address, StealCandidate[]>, workers: ReadonlyMap<Address, StealWorker>): Map<Address, Array<{ key: Key; to: Address }>> {
  const plan = new Map<Address, Array<{ key: Key; to: Address }>>();
  const load = new Map<Address, number>();
  const loadOf = (w: StealWorker) => load.get(w.address) ?? w.nprocessing;
  for (const thief of idle) {
    for (;;) {
      if (loadOf(thief) >= thief.nthreads) break;
      // The victim with the longest queue per thread.
      let victim: StealWorker | undefined;
      for (const address of byVictim.keys()) {
        const v = workers.get(address)!;
        if (victim === undefined || loadOf(v) / v.nthreads > loadOf(victim) / victim.nthreads) victim = v;
      }
      if (victim === undefined || loadOf(victim) <= victim.nthreads) break;
      const queue = byVictim.get(victim.address)!;
      const queued = loadOf(victim) - victim.nthreads;
      const i = queue.findIndex((c) => fits(c, thief) && worthMoving(c, queued, victim!, thief));
      if (i < 0) {
        byVictim.delete(victim.address); // nothing there is worth it for this thief
        continue;
      }
      const [c] = queue.splice(i, 1);
      if (queue.length === 0) byVictim.delete(victim.address);
      let list = plan.get(victim.address);
      if (!list) plan.set(victim.address, (list = []));
      list.push({ key: c!.key, to: thief.address });
      load.set(victim.address, loadOf(victim) - 1);
      load.set(thief.address, loadOf(thief) + 1);
    }
  }
  return plan;
}

function fits(c: StealCandidate, thief: StealWorker): boolean {
  return (c.allowed === undefined || c.allowed.has(thief.address)) && resourcesFree(thief, c.resources);
}

/** Expected wait behind the victim's queue against moving the task's data to the thief. */
function worthMoving(c: StealCandidate, queued: number, victim: StealWorker, thief: StealWorker): boolean {
  const waitMs = victim.busyMs + (queued / Math.max(1, victim.nthreads)) * c.durationMs;
  const moveMs = (c.totalDepBytes - (c.depBytes.get(thief.address) ?? 0)) / BANDWIDTH_BYTES_PER_MS + MOVE_OVERHEAD_MS;
  return waitMs > moveMs;
}
