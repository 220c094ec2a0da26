// What workers report about tasks: finished (the key enters memory there),
// erred, a dep they could not fetch, data they hold that nobody asked for.

import type { ActorMeta, Address, ErrorInfo, Key } from "../protocol/messages.js";
import { sendCompute } from "./assign.js";
import { recallChain } from "./chain.js";
import { fail } from "./final-states.js";
import { Few } from "./few.js";
import { enterWaiting } from "./graph.js";
import { notify } from "./key-state.js";
import { unassign } from "./leaving.js";
import { place } from "./place-task.js";
import { maybeRelease } from "./release.js";
import { NO_ONE, type Task, type Tables } from "./tables.js";
import { handleGone, markGone } from "./workers.js";

/** The key is held on `address`: it enters memory (or gains a holder), and its waiting dependents may be placed. */
export function toMemory(tb: Tables, t: Task, address: Address, nbytes: number): void {
  const w = tb.workers.get(address)!;
  const wasMemory = t.state === "memory";
  let computedOn: Address | undefined;
  if (!wasMemory) {
    if (t.state === "processing") {
      computedOn = t.processingOn;
      unassign(tb, t, false);
      // Its data turned up in the same event that assigned it: the compute need not leave at all.
      if (computedOn !== undefined) tb.out.compute.get(computedOn)?.delete(t.key);
    } else if (t.state === "no-worker") tb.unrunnable.delete(t.key);
    tb.setState(t, "memory");
  }
  t.nbytes = nbytes;
  if (t.who === NO_ONE) t.who = new Few();
  if (!t.who.has(address)) {
    t.who.add(address);
    w.nheld++;
  }
  t.error = undefined;
  if (wasMemory) return;
  if (computedOn !== undefined && computedOn !== address) {
    // A copy turned up elsewhere first: tasks chained behind it on `computedOn` fetch it instead.
    for (const dk of t.dependents) {
      const d = tb.tasks.get(dk);
      if (d && d.state === "processing" && d.processingOn === computedOn) sendCompute(tb, d);
    }
  }
  if (t.actor) {
    w.actors.add(t.key);
    tb.hold(w, t.spec?.options.resources, 1);
  }
  notify(tb, t);
  for (const dk of t.dependents) {
    const d = tb.tasks.get(dk);
    if (d && d.state === "waiting" && --d.waitingOn === 0) place(tb, d);
  }
}

export function taskFinished(
  tb: Tables,
  worker: Address,
  key: Key,
  nbytes: number,
  actor: ActorMeta | undefined,
  durationMs: number,
): void {
  const t = tb.tasks.get(key);
  if (tb.recovering && !actor && (!t || (t.state !== "memory" && !(t.state === "processing" && t.processingOn === worker)))) {
    // A task that ran through the scheduler's restart: its result is kept for the client that will ask for it.
    const r = t ?? tb.newTask(key, undefined);
    tb.holdForRecovery(r);
    return toMemory(tb, r, worker, nbytes);
  }
  if (!t || t.state !== "processing" || t.processingOn !== worker) {
    // Late or duplicate: keep what we know, tell the worker to drop what nobody asked for.
    if (t && t.state === "memory" && t.who.has(worker)) return;
    if (t && t.state === "memory" && !t.actor) {
      tb.workers.get(worker)!.nheld++;
      if (t.who === NO_ONE) t.who = new Few();
      t.who.add(worker);
      return;
    }
    tb.out.freeKey(worker, key);
    return;
  }
  if (t.spec && durationMs >= 0) t.group.finishedIn(durationMs);
  if (t.actor) {
    if (actor) tb.learnIncarnation(t, actor.incarnation);
    t.meta = {
      key,
      className: actor?.className ?? t.spec?.fn.name ?? "",
      workerAddress: worker,
      methods: actor?.methods ?? [],
      attributes: actor?.attributes ?? [],
      incarnation: t.incarnation,
      ...(actor?.callAddress ? { callAddress: actor.callAddress } : {}),
      ...(actor?.streams ? { streams: actor.streams } : {}),
    };
  }
  const res = t.spec?.options.resources;
  toMemory(tb, t, worker, nbytes);
  // A finished plain task gave back its resources; an actor keeps them while it lives.
  if (res && !t.actor) tb.resourcesFreed = true;
  if (t.spec) for (const dk of t.spec.deps) {
    const d = tb.tasks.get(dk);
    if (d) maybeRelease(tb, d);
  }
  maybeRelease(tb, t);
}

export function taskErred(tb: Tables, worker: Address, key: Key, error: ErrorInfo): void {
  const t = tb.tasks.get(key);
  if (!t || t.state !== "processing" || t.processingOn !== worker) return;
  const why = { key, group: t.group.name, worker, error: `${error.name}: ${error.message}` };
  tb.note("info", t.retriesLeft > 0 ? "task failed; retrying it" : "task failed", t.retriesLeft > 0 ? { ...why, retriesLeft: t.retriesLeft - 1 } : why);
  tb.note("debug", "the failed task's stack", { key, stack: error.stack });
  if (t.retriesLeft > 0) {
    t.retriesLeft--;
    recallChain(tb, t, false);
    enterWaiting(tb, t);
  } else {
    fail(tb, t, error);
  }
}

/** `worker` could not get `key` from `holder`. */
export function missingData(tb: Tables, worker: Address, key: Key, holder: Address): void {
  const t = tb.tasks.get(key);
  if (!t) return;
  // An actor lives where it lives (its loss is the holder's death): only plain copies are struck off.
  if (!t.actor && t.state === "memory" && t.who.delete(holder)) {
    const w = tb.workers.get(holder);
    if (w) w.nheld--;
    if (t.who.size === 0) {
      markGone(tb, t);
      handleGone(tb, t);
    }
  }
  // The dependents running on `worker` gave up on this key: send them again, or back to waiting.
  for (const dk of [...t.dependents]) {
    const d = tb.tasks.get(dk);
    if (!d || d.state !== "processing" || d.processingOn !== worker) continue;
    recallChain(tb, d, true); // the worker forgets it too: it may be placed elsewhere, and must not run twice
    enterWaiting(tb, d);
  }
}

export function addKeys(tb: Tables, worker: Address, keys: Key[], nbytes: Record<Key, number>): void {
  for (const key of keys) {
    const t = tb.tasks.get(key);
    if (t && !t.actor) {
      // Whatever state we had, the data now exists there.
      const wasPending = t.state !== "memory";
      toMemory(tb, t, worker, nbytes[key] ?? t.nbytes);
      // As when it finishes: deps computed only for it (a copy from a retiring worker arrived meanwhile) are no longer needed.
      if (wasPending && t.spec) for (const dk of t.spec.deps) {
        const d = tb.tasks.get(dk);
        if (d) maybeRelease(tb, d);
      }
      maybeRelease(tb, t);
    } else if (!t || !t.who.has(worker)) {
      // Nobody asked for it here: let the worker drop it rather than hold it forever.
      tb.out.freeKey(worker, key);
    }
  }
}
