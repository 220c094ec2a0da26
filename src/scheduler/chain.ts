// The chain: the shortcut that keeps chains of small tasks off the paths
// between processes. A waiting task whose missing deps are all processing on
// one worker, each with it as its only dependent (a chain, or a tree reducing
// into one node), is assigned to that worker at once instead of when its deps
// finish; the worker starts it on the thread computing them, right behind them
// (worker.ts `#startChained`), and that thread hands it their results itself
// (thread-tasks.ts `#chainedDeps`). If a dep leaves that worker without a
// result, the tasks chained behind it are recalled.

import type { Address } from "../protocol/messages.js";
import { assign } from "./assign.js";
import { unassign } from "./leaving.js";
import type { Task, Tables } from "./tables.js";

/**
 * The worker a waiting task can be chained to: the one where every dep it
 * misses is processing, each with this task as its only dependent. Only
 * unrestricted plain tasks over plain deps are chained; the rest are placed
 * once their data exists.
 */
export function chainTarget(tb: Tables, t: Task): Address | undefined {
  const spec = t.spec!;
  const o = spec.options;
  // (While recovering nothing is placed, chained or not: recovery.ts.)
  if (t.actor || o.resources || (o.workers && o.workers.length > 0) || tb.recovering) return undefined;
  let target: Address | undefined;
  for (const dk of spec.deps) {
    const d = tb.tasks.get(dk);
    if (!d) return undefined;
    if (d.state === "memory") continue;
    // (A dep whose worker was just removed is processing nowhere until it is placed again.)
    if (d.state !== "processing" || d.actor || d.processingOn === undefined) return undefined;
    // Only a dep's sole dependent is chained: the dependents of a fan-out are spread by placement.
    if (d.dependents.size !== 1) return undefined;
    if (target === undefined) target = d.processingOn;
    else if (target !== d.processingOn) return undefined;
  }
  if (target === undefined || tb.workers.get(target)?.closing !== false) return undefined;
  return target;
}

/**
 * Chains the waiting dependents of a task just assigned to a worker to that
 * worker, and theirs in turn, so that a chain runs at the worker's pace.
 * Iterative: chains are long.
 */
export function sendChainAhead(tb: Tables, root: Task): void {
  const stack = [root];
  while (stack.length > 0) {
    const t = stack.pop()!;
    for (const dk of t.dependents) {
      const d = tb.tasks.get(dk);
      if (!d || d.state !== "waiting" || chainTarget(tb, d) !== t.processingOn) continue;
      assign(tb, d, t.processingOn!);
      stack.push(d);
    }
  }
}

/**
 * Takes a task off its worker without a result: the tasks chained behind it
 * there go back to waiting (and from them, theirs).
 */
export function recallChain(tb: Tables, root: Task, freeOnWorker: boolean): void {
  const a = root.processingOn;
  unassign(tb, root, freeOnWorker);
  const stack = [root];
  while (stack.length > 0) {
    const t = stack.pop()!;
    for (const dk of t.dependents) {
      const d = tb.tasks.get(dk);
      if (!d || d.state !== "processing" || d.processingOn !== a) continue;
      unassign(tb, d, true);
      tb.setState(d, "waiting");
      d.waitingOn = tb.missingDeps(d);
      stack.push(d);
    }
  }
}
