// Worker membership and failure: workers join and leave, report their
// memory and status, and go silent. A worker's death takes its keys' copies
// and its actors: the keys are recomputed, lost or released, the actors
// re-created (restarts) or lost, and its running tasks go elsewhere, or fail
// once they have died on too many workers.

import type { Address, ErrorInfo, Key } from "../protocol/messages.js";
import { errorInfoOf } from "../serialize/errors.js";
import type { SchedulerEvent } from "./events.js";
import { fail, lose } from "./final-states.js";
import { enterWaiting, recompute } from "./graph.js";
import { notify } from "./key-state.js";
import { depLeftMemory, dropHolders } from "./leaving.js";
import { retryUnrunnable } from "./place-task.js";
import { maybeRelease } from "./release.js";
import type { Task, Tables, WorkerRec } from "./tables.js";

export const ACTOR_LOST_MESSAGE = "Worker holding Actor was lost";

export function workerAdded(tb: Tables, e: Extract<SchedulerEvent, { type: "worker-added" }>, now: number): void {
  const old = tb.workers.get(e.address);
  if (old) {
    if (old.incarnation === e.incarnation) return;
    // Same address, new process: the old one is gone with everything it held.
    workerRemoved(tb, e.address);
  }
  const w: WorkerRec = {
    address: e.address,
    name: e.name,
    nthreads: e.nthreads,
    actorThreads: e.actorThreads,
    resources: { ...e.resources },
    used: {},
    nprocessing: 0,
    actors: new Set(),
    actorsStarting: 0,
    closing: false,
    paused: false,
    incarnation: e.incarnation,
    nheld: 0,
    lastSeen: now,
    memoryBytes: 0,
    memoryLimit: e.memoryLimit ?? 0,
    spilledBytes: 0,
    pauses: 0,
    restarts: e.restarts ?? 0,
    metricsUrl: e.metricsUrl,
    restartingForMemory: false,
    retiring: undefined,
    stealsPending: 0,
    busyMs: 0,
    actorStats: {},
  };
  tb.workers.set(e.address, w);
  tb.workerList.push(w);
  retryUnrunnable(tb, false);
}

export function workerRemoved(tb: Tables, address: Address): void {
  const w = tb.workers.get(address);
  if (!w) return;
  tb.workers.delete(address);
  tb.workerList = tb.workerList.filter((x) => x !== w);
  tb.out.dropWorker(address);
  for (const key in w.actorStats) tb.actorCalls.forget(key);
  // Data first: tasks rescheduled below must see which of their deps are gone.
  const lostData: Task[] = [];
  const running: Task[] = [];
  for (const t of tb.tasks.values()) {
    if (t.state === "processing" && t.processingOn === address) running.push(t);
    if (!t.who.delete(address)) continue;
    if (t.actor) {
      w.actors.delete(t.key);
      t.who.clear();
      lostData.push(t);
    } else if (t.who.size === 0) lostData.push(t);
  }
  w.nheld = 0;
  w.actors.clear();
  // Chained tasks were still waiting for deps there: they never ran, so their deaths do not count.
  const chained = new Set(running.filter((t) => tb.missingDeps(t) > 0));
  w.nprocessing = 0;
  w.actorsStarting = 0;
  for (const t of running) {
    t.processingOn = undefined;
    t.stealTo = undefined;
  }
  // The keys lost their last copy. All leave "memory" before any is recomputed, so that
  // nothing is placed counting on a copy that no longer exists; actors first, so that a
  // recomputed dependent finds them restarting rather than gone.
  if (running.length > 0 || lostData.length > 0) {
    tb.note("info", "a worker's tasks go elsewhere and its results are recomputed where still needed", {
      worker: address,
      running: running.length,
      lastCopiesLost: lostData.length,
      ...(w.restartingForMemory ? { why: "it passed its memory limit" } : {}),
    });
  }
  for (const t of lostData) markGone(tb, t);
  for (const t of lostData) if (t.actor) handleGone(tb, t);
  for (const t of lostData) if (!t.actor) handleGone(tb, t);
  for (const t of running) {
    // Skip tasks released, or already re-placed, while lost keys were handled above.
    if (t.forgotten || t.state !== "processing" || t.processingOn !== undefined) continue;
    if (!chained.has(t)) {
      t.deaths++;
      if (w.restartingForMemory) t.memoryDeaths++;
    }
    if (t.deaths >= tb.maxWorkerDeaths) {
      tb.setState(t, "waiting"); // not processing any more; fail() propagates from here
      fail(
        tb,
        t,
        t.memoryDeaths > 0
          ? errorInfoOf(
              "WorkerMemoryError",
              `task ${t.key} was running on ${t.deaths} workers that died, ${t.memoryDeaths} of them restarted because their memory passed the limit (${w.memoryLimit} bytes); it is not retried again. Keep less in memory at once, or give workers a larger memoryLimit.`,
            )
          : errorInfoOf(
              "KilledWorkerError",
              `task ${t.key} was running on ${t.deaths} workers that died; it is not retried again. Check the workers' logs: the task may crash or exhaust its worker.`,
            ),
      );
    } else {
      enterWaiting(tb, t);
    }
  }
  retryUnrunnable(tb, true);
}

/** A key's last copy is gone (its worker died, or no holder had it): it leaves memory. */
export function markGone(tb: Tables, t: Task): void {
  // Its holders are already gone from t.who: nothing to free.
  tb.setState(t, "released");
  depLeftMemory(tb, t);
}

/** After markGone: restart, recompute, lose or release the key. */
export function handleGone(tb: Tables, t: Task, actorError?: ErrorInfo): void {
  // Handling an earlier lost key may already have recomputed or forgotten this one.
  if (t.forgotten || t.state !== "released") return;
  if (!tb.needed(t)) {
    maybeRelease(tb, t);
    return;
  }
  if (t.actor) {
    const cls = t.meta?.className ?? t.spec?.fn.name;
    if (t.restartsLeft > 0) {
      tb.note("info", "actor lost; re-creating it", { key: t.key, class: cls, incarnation: t.incarnation + 1, restartsLeft: t.restartsLeft - 1 });
      t.restartsLeft--;
      t.incarnation++;
      t.meta = undefined;
      t.deaths = 0;
      notify(tb, t); // pending
      enterWaiting(tb, t);
    } else {
      const error = actorError ?? errorInfoOf("ActorLostError", ACTOR_LOST_MESSAGE);
      tb.note("info", "actor lost, with no restarts left", { key: t.key, class: cls, error: error.message });
      lose(tb, t, error);
    }
    return;
  }
  tb.note("debug", "recomputing a result whose last copy was lost", { key: t.key, group: t.group.name });
  recompute(tb, t);
}

export function heartbeat(tb: Tables, e: Extract<SchedulerEvent, { type: "heartbeat" }>): void {
  const w = tb.workers.get(e.worker)!;
  w.memoryBytes = e.memoryBytes;
  w.spilledBytes = e.spilledBytes ?? 0;
  w.busyMs = e.busyMs ?? 0;
  for (const key in w.actorStats) if (!(key in e.actors)) tb.actorCalls.forget(key);
  for (const key in e.actors) {
    const t = tb.tasks.get(key);
    tb.actorCalls.update(key, t?.meta?.className ?? t?.spec?.fn.name ?? "", e.actors[key]!);
  }
  w.actorStats = e.actors;
}

/** Workers silent for longer than the heartbeat timeout are closed (a worker-removed event follows). */
export function closeSilentWorkers(tb: Tables, now: number): void {
  for (const w of tb.workerList) {
    if (!w.closing && now - w.lastSeen > tb.heartbeatTimeoutMs) {
      w.closing = true;
      tb.out.closes.push({
        to: "close-worker",
        address: w.address,
        reason: `no message from worker for ${now - w.lastSeen} ms (heartbeat timeout ${tb.heartbeatTimeoutMs} ms)`,
      });
    }
  }
}

export function workerStatus(tb: Tables, address: Address, status: "running" | "paused" | "restarting"): void {
  const w = tb.workers.get(address)!;
  if (status === "restarting") {
    // Its supervisor stops it in a moment: nothing new goes to it, and its running tasks die of its memory.
    w.restartingForMemory = true;
    w.closing = true;
    return;
  }
  const paused = status === "paused";
  if (paused === w.paused) return;
  w.paused = paused;
  if (paused) w.pauses++;
  else retryUnrunnable(tb, false);
}

/** Actors that lived on a thread of `address` that died: each is re-created (restarts) or lost. */
export function actorsLost(tb: Tables, address: Address, keys: Key[], error: ErrorInfo): void {
  const gone: Task[] = [];
  for (const key of keys) {
    const t = tb.tasks.get(key);
    if (!t || !t.actor || t.state !== "memory" || !t.who.has(address)) continue;
    dropHolders(tb, t, false);
    markGone(tb, t);
    gone.push(t);
  }
  for (const t of gone) handleGone(tb, t, error);
}
