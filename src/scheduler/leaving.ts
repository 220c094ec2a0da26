// What leaving a state undoes: a task taken off its worker gives back its
// slot and resources; a key leaving memory drops its holders, and the
// dependents that counted on it wait for it again.

import type { Task, Tables } from "./tables.js";

/** Takes a task off its worker (processing → something else). Returns resources. */
export function unassign(tb: Tables, t: Task, freeOnWorker: boolean): void {
  const a = t.processingOn;
  if (a === undefined) return;
  t.processingOn = undefined;
  t.stealTo = undefined;
  const w = tb.workers.get(a);
  if (!w) return;
  w.nprocessing--;
  if (t.actor) w.actorsStarting--;
  tb.hold(w, t.spec!.options.resources, -1);
  if (freeOnWorker) tb.out.freeKey(a, t.key);
  if (t.spec!.options.resources) tb.resourcesFreed = true;
}

/** Drops every holder of the key (memory → something else). */
export function dropHolders(tb: Tables, t: Task, freeOnWorkers: boolean): void {
  for (const a of t.who) {
    const w = tb.workers.get(a);
    if (!w) continue;
    w.nheld--;
    if (t.actor) {
      w.actors.delete(t.key);
      delete w.actorStats[t.key];
      tb.hold(w, t.spec?.options.resources, -1);
      if (t.spec?.options.resources) tb.resourcesFreed = true;
    }
    if (freeOnWorkers) tb.out.freeKey(a, t.key);
  }
  t.who.clear();
}

/** Undoes what the task's current state holds, before it changes state. */
export function leave(tb: Tables, t: Task, freeOnWorkers: boolean): void {
  if (t.state === "processing") unassign(tb, t, freeOnWorkers);
  else if (t.state === "memory") dropHolders(tb, t, freeOnWorkers);
  else if (t.state === "no-worker") tb.unrunnable.delete(t.key);
  if (t.state === "memory") depLeftMemory(tb, t);
}

/** Dependents that counted on this key being in memory wait for it again. */
export function depLeftMemory(tb: Tables, t: Task): void {
  for (const dk of t.dependents) {
    const d = tb.tasks.get(dk);
    if (!d) continue;
    if (d.state === "waiting") d.waitingOn++;
    else if (d.state === "no-worker") {
      // Ready only because all deps were in memory; now this one is not.
      tb.unrunnable.delete(d.key);
      tb.setState(d, "waiting");
      d.waitingOn = 1;
    }
  }
}
