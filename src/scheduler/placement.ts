// Choosing a worker for a task or an actor. Pure: the caller passes the
// workers' current load and where the task's dependencies live.

import type { Address, Key } from "../protocol/messages.js";

/** What placement needs to know about a worker. */
export interface PlacementWorker {
  address: Address;
  nthreads: number;
  actorThreads: number;
  resources: Record<string, number>;
  /** Resources held by processing tasks and living actors. */
  used: Record<string, number>;
  /** Tasks assigned to it and not finished. */
  nprocessing: number;
  actors: Set<Key>;
  /** Actors assigned to it and still being created: counted with `actors` when placing the next one. */
  actorsStarting: number;
  /** Heartbeat timed out, or about to restart: take no new work. */
  closing: boolean;
  /** Above its memory's pause threshold: take no new work until it is below again. */
  paused: boolean;
}

export interface PlacementRequest {
  actor: boolean;
  workers?: Address[];
  allowOtherWorkers?: boolean;
  resources?: Record<string, number>;
  /** Bytes of the task's dependencies already held by each worker. */
  depBytes: ReadonlyMap<Address, number>;
  /** Bytes of all of the task's (non-actor) dependencies. */
  totalDepBytes: number;
  /** Expected run time of the task (its group's mean), for the occupancy cost. */
  durationMs: number;
}

/** Rough transfer rate used to weigh moving data against waiting in a busy worker's queue. */
export const BANDWIDTH_BYTES_PER_MS = 100_000;

/** True when the worker has every requested resource in total (free or not). */
export function hasResources(w: PlacementWorker, req: Record<string, number> | undefined): boolean {
  if (!req) return true;
  for (const name in req) if ((w.resources[name] ?? 0) < req[name]!) return false;
  return true;
}

/** True when the worker has every requested resource free right now. */
export function resourcesFree(w: PlacementWorker, req: Record<string, number> | undefined): boolean {
  if (!req) return true;
  for (const name in req) if ((w.resources[name] ?? 0) - (w.used[name] ?? 0) < req[name]!) return false;
  return true;
}

/**
 * Picks workers round robin among equals so that ties (idle cluster, equal
 * load) spread work instead of piling it on the first worker.
 */
export class Placer {
  private rr = 0;

  /**
   * The chosen worker, or undefined when no worker can run the task now
   * (restrictions nobody satisfies, or resources all in use).
   */
  choose(req: PlacementRequest, workers: readonly PlacementWorker[]): Address | undefined {
    const n = workers.length;
    if (n === 0) return undefined;
    const listed = req.workers && req.workers.length > 0 ? new Set(req.workers) : undefined;
    let best = this.pick(req, workers, listed);
    // Loose restrictions: the listed workers are preferred, others are fine.
    if (best === undefined && listed && req.allowOtherWorkers) best = this.pick(req, workers, undefined);
    if (best !== undefined) this.rr++;
    return best;
  }

  private pick(req: PlacementRequest, workers: readonly PlacementWorker[], only: Set<Address> | undefined): Address | undefined {
    const n = workers.length;
    let best: PlacementWorker | undefined;
    let bestA = 0;
    let bestB = 0;
    let bestC = 0;
    for (let i = 0; i < n; i++) {
      const w = workers[(i + this.rr) % n]!;
      if (w.closing || w.paused) continue;
      if (only && !only.has(w.address)) continue;
      if (!resourcesFree(w, req.resources)) continue;
      const held = req.depBytes.get(w.address) ?? 0;
      let a: number;
      let b: number;
      let c = 0;
      if (req.actor) {
        // Actors (Dask's rule): fewest actors hosted first; then data locality, then load.
        // Actors live long: balancing them is worth more than one transfer of their arguments.
        if (w.actorThreads <= 0) continue;
        a = w.actors.size + w.actorsStarting;
        b = -held;
        c = w.nprocessing / Math.max(1, w.nthreads);
      } else {
        // Tasks: estimated time until the task could finish there: queue wait plus data transfer.
        const threads = Math.max(1, w.nthreads);
        a = (w.nprocessing / threads) * req.durationMs + (req.totalDepBytes - held) / BANDWIDTH_BYTES_PER_MS;
        b = 0;
      }
      if (best === undefined || a < bestA || (a === bestA && (b < bestB || (b === bestB && c < bestC)))) {
        best = w;
        bestA = a;
        bestB = b;
        bestC = c;
      }
    }
    return best?.address;
  }
}
