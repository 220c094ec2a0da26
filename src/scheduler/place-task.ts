// Placing a ready task (every dep in memory): placement.ts chooses the
// worker from the task's restrictions, resources and where its data lives;
// with none able to run it now, it waits as no-worker (unrunnable) until a
// worker joins or resources come free.

import type { Address } from "../protocol/messages.js";
import { assign } from "./assign.js";
import { sendChainAhead } from "./chain.js";
import { DEFAULT_DURATION_MS, type Task, type Tables } from "./tables.js";

/** Bytes of deps held per worker, for a task without deps. */
const NO_DEP_BYTES: ReadonlyMap<Address, number> = new Map();

export function place(tb: Tables, t: Task): void {
  if (tb.recovering) return holdDuringRecovery(tb, t);
  const spec = t.spec!;
  const o = spec.options;
  // Most tasks have no deps: they share one empty map.
  const depBytes = spec.deps.length === 0 ? (NO_DEP_BYTES as Map<Address, number>) : new Map<Address, number>();
  let total = 0;
  for (const dk of spec.deps) {
    const d = tb.tasks.get(dk)!;
    if (d.actor) {
      // An actor is not copied, but placing next to it keeps calls local.
      if (t.actor) for (const a of d.who) depBytes.set(a, (depBytes.get(a) ?? 0) + 1);
      continue;
    }
    total += d.nbytes;
    for (const a of d.who) depBytes.set(a, (depBytes.get(a) ?? 0) + d.nbytes);
  }
  const address = tb.placer.choose(
    {
      actor: t.actor,
      workers: o.workers,
      allowOtherWorkers: o.allowOtherWorkers,
      resources: o.resources,
      depBytes,
      totalDepBytes: total,
      durationMs: t.group.meanDurationMs(DEFAULT_DURATION_MS),
    },
    tb.workerList,
  );
  if (address === undefined) {
    tb.setState(t, "no-worker");
    tb.unrunnable.add(t.key);
    return;
  }
  if (t.state === "no-worker") tb.unrunnable.delete(t.key);
  assign(tb, t, address);
  sendChainAhead(tb, t);
}

/**
 * While a restarted scheduler rebuilds its state, a task goes only to the
 * worker that said it is running it; any other waits (its result may be held
 * by a worker that has not reported yet), and is placed when recovery ends.
 */
function holdDuringRecovery(tb: Tables, t: Task): void {
  const at = tb.reportedRunning.get(t.key);
  if (at !== undefined && tb.workers.has(at)) {
    if (t.state === "no-worker") tb.unrunnable.delete(t.key);
    return assign(tb, t, at);
  }
  if (t.state === "no-worker") return;
  tb.setState(t, "no-worker");
  tb.unrunnable.add(t.key);
}

/** Tries the unrunnable tasks again (a worker joined or resources came free). */
export function retryUnrunnable(tb: Tables, resourcesOnly: boolean): void {
  if (tb.unrunnable.size === 0) return;
  // Tasks with the same restrictions that failed once this round would fail again: skip them.
  const failed = new Set<string>();
  for (const key of [...tb.unrunnable]) {
    const t = tb.tasks.get(key);
    if (!t || t.state !== "no-worker") {
      tb.unrunnable.delete(key);
      continue;
    }
    const o = t.spec!.options;
    if (resourcesOnly && !o.resources) continue;
    const sig = JSON.stringify([t.actor, o.resources ?? null, o.workers ?? null, o.allowOtherWorkers ?? false]);
    if (failed.has(sig)) continue;
    place(tb, t);
    if (t.state === "no-worker") failed.add(sig);
  }
}

/** After an event that gave resources back: the tasks waiting for resources are tried again. */
export function afterResourcesFreed(tb: Tables): void {
  if (!tb.resourcesFreed) return;
  tb.resourcesFreed = false;
  retryUnrunnable(tb, true);
}
