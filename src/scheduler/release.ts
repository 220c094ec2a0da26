// A key's lifetime: it lives while a client wants it or a dependent that will
// still run needs it. Then it is released: kept as `released` lineage while
// some dependent holds data that may need recomputing from it, forgotten
// otherwise; and its own deps may then be released in turn.

import { isPending } from "./groups.js";
import { leave } from "./leaving.js";
import type { Task, Tables } from "./tables.js";

/** Releases keys nobody needs, and then their deps that became unneeded. */
export function maybeRelease(tb: Tables, start: Task): void {
  const stack = [start];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (t.forgotten || tb.needed(t)) continue;
    const wasPending = isPending(t.state);
    if (t.state === "released" && keepAsLineage(tb, t)) continue;
    leave(tb, t, true);
    if (keepAsLineage(tb, t)) {
      tb.setState(t, "released");
      t.waitingOn = 0;
    } else {
      forget(tb, t);
    }
    // A pending task held its deps; a forgotten task may have been their last lineage reason.
    if ((wasPending || t.forgotten) && t.spec) {
      for (const dk of t.spec.deps) {
        const d = tb.tasks.get(dk);
        if (d) stack.push(d);
      }
    }
  }
}

/** Keeps a spec as lineage while some dependent holds data that may need recomputing. */
export function keepAsLineage(tb: Tables, t: Task): boolean {
  if (!t.spec || t.actor || t.spec.options.allowReconstruction === false) return false;
  for (const dk of t.dependents) {
    const d = tb.tasks.get(dk);
    if (d && (d.state === "memory" || d.state === "released")) return true;
  }
  return false;
}

function forget(tb: Tables, t: Task): void {
  // A forgotten actor leaves its name (actor-names.ts).
  const name = t.actor ? (t.spec?.options.name ?? t.meta?.name) : undefined;
  if (name !== undefined && tb.actorNames.get(name) === t.key) tb.actorNames.delete(name);
  tb.story.record(t.key, t.state, "forgotten", tb.cause, tb.causeAt, tb.causeWorker);
  tb.bump(t, t.state, -1);
  t.forgotten = true;
  tb.tasks.delete(t.key);
  tb.unlinkDeps(t);
}
