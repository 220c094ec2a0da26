// What clients ask of the keys, besides submitting graphs (graph.ts): they
// stop wanting keys or leave, cancel, scatter data, fire and forget, and
// restart the cluster.

import type { Address, Key } from "../protocol/messages.js";
import { errorInfoOf } from "../serialize/errors.js";
import type { ClientId } from "./events.js";
import { cancel, finalize, lose } from "./final-states.js";
import { isPending } from "./groups.js";
import { FIRE_AND_FORGET } from "./key-state.js";
import { maybeRelease } from "./release.js";
import { toMemory } from "./results.js";
import type { Task, Tables } from "./tables.js";
import { workerRemoved } from "./workers.js";

export function unwant(tb: Tables, client: ClientId, key: Key): void {
  const t = tb.tasks.get(key);
  if (!t || !t.wantedBy.delete(client)) return;
  maybeRelease(tb, t);
}

export function clientRemoved(tb: Tables, client: ClientId): void {
  if (!tb.clients.delete(client)) return;
  const wanted: Task[] = [];
  for (const t of tb.tasks.values()) if (t.wantedBy.delete(client)) wanted.push(t);
  for (const t of wanted) maybeRelease(tb, t);
}

export function cancelKeys(tb: Tables, keys: Key[]): void {
  for (const key of keys) {
    const t = tb.tasks.get(key);
    if (t && isPending(t.state)) cancel(tb, t);
  }
}

/** The scheduler itself wants the keys until each reaches a final state (see releaseFired). */
export function fireAndForget(tb: Tables, keys: Key[]): void {
  for (const key of keys) {
    const t = tb.tasks.get(key);
    if (t && isPending(t.state)) tb.want(FIRE_AND_FORGET, t);
  }
}

/** After an event: fired-and-forgotten keys that are done are let go, so that the usual release rules apply. */
export function releaseFired(tb: Tables): void {
  const done = tb.fired;
  tb.fired = [];
  for (const t of done) if (!t.forgotten && t.wantedBy.delete(FIRE_AND_FORGET)) maybeRelease(tb, t);
}

/** Scattered data: the client put it on these workers, and wants it. */
export function updateData(tb: Tables, client: ClientId, who: Record<Key, Address[]>, nbytes: Record<Key, number>): void {
  for (const key in who) {
    let t = tb.tasks.get(key);
    if (!t) t = tb.newTask(key, undefined);
    tb.want(client, t);
    const live = who[key]!.filter((a) => tb.workers.has(a));
    if (live.length === 0) {
      if (t.state !== "memory") {
        lose(tb, t, errorInfoOf("LostError", `scattered data ${key} was put on workers that are gone; scatter it again`));
      }
      continue;
    }
    if (t.actor) continue;
    for (const a of live) toMemory(tb, t, a, nbytes[key] ?? t.nbytes);
  }
}

/**
 * client.restart(): every task is cancelled (clients holding one see it so)
 * and every worker forgotten; the server tells them to restart.
 */
export function restart(tb: Tables): void {
  const error = errorInfoOf("CancelledError", "the cluster was restarted (client.restart()), dropping every task, result and actor; submit it again");
  for (const t of [...tb.tasks.values()]) if (!t.forgotten && t.state !== "cancelled") finalize(tb, t, "cancelled", error);
  for (const w of [...tb.workerList]) workerRemoved(tb, w.address);
}
