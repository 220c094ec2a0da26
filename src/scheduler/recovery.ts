// A scheduler started in the place of one that went away rebuilds what it
// knew from those still holding it (R-FAIL-9): each worker reports the keys
// it holds, the actors it hosts (alive, with their state) and the tasks it is
// still running; each client the keys it holds and the specs of its tasks not
// yet finished. Whoever reports first, nothing is decided too early: while
// they arrive (until none has for RECOVERY_QUIET_MS), keys workers report are
// kept even if no client wants them yet, keys clients want that nobody has
// reported yet are not called lost, and no task is placed (one may be held by
// a worker that has not reported yet: it must not run again). Then the usual
// rules apply to what was rebuilt.

import type { ActorMeta, Address, Key, TaskSpec, WorkerRejoin } from "../protocol/messages.js";
import { errorInfoOf } from "../serialize/errors.js";
import { reclaimName } from "./actor-names.js";
import type { ClientId } from "./events.js";
import { updateGraph, wantKeys } from "./graph.js";
import { RECOVERY } from "./key-state.js";
import { place, retryUnrunnable } from "./place-task.js";
import { maybeRelease } from "./release.js";
import { lose } from "./final-states.js";
import { ACTOR_LOST_MESSAGE } from "./workers.js";
import { toMemory } from "./results.js";
import type { Task, Tables } from "./tables.js";

/** Recovery ends once no worker or client has rejoined for this long. */
export const RECOVERY_QUIET_MS = 2000;

function rejoined(tb: Tables, now: number): void {
  tb.recovering = true;
  tb.lastRejoinAt = now;
}

/** A worker of the scheduler that went away joined: what it holds is in memory there. */
export function workerRejoined(tb: Tables, address: Address, report: WorkerRejoin, now: number): void {
  rejoined(tb, now);
  for (const key in report.held) {
    const t = tb.tasks.get(key) ?? tb.newTask(key, undefined);
    if (t.actor) continue; // the value of an actor's key is its handle: the actor itself is reported below
    tb.holdForRecovery(t);
    toMemory(tb, t, address, report.held[key]!);
  }
  for (const meta of report.actors) actorRejoined(tb, address, meta);
  for (const key of report.running) {
    tb.reportedRunning.set(key, address);
    tb.unreportedActors.delete(key);
    // Submitted again by its client before this report: it goes back where it runs.
    const t = tb.tasks.get(key);
    if (t && t.state === "no-worker") place(tb, t);
  }
}

function actorRejoined(tb: Tables, address: Address, meta: ActorMeta): void {
  let t = tb.tasks.get(meta.key);
  // Alive elsewhere already: a stale report (two workers cannot both host it).
  if (t && t.state === "memory") return;
  if (!t) {
    t = tb.newTask(meta.key, undefined);
    t.actor = true;
  }
  t.meta = { ...meta, workerAddress: address };
  tb.learnIncarnation(t, meta.incarnation);
  tb.unreportedActors.delete(t.key);
  tb.holdForRecovery(t);
  reclaimName(tb, t, meta);
  toMemory(tb, t, address, 0);
}

/** A client of the scheduler that went away joined, with what it holds and the tasks it still wants. */
export function clientRejoined(tb: Tables, client: ClientId, specs: TaskSpec[], wanted: Key[], actors: Record<Key, number>, now: number): void {
  rejoined(tb, now);
  tb.clients.add(client);
  const specKeys = new Set<Key>();
  for (const spec of specs) {
    specKeys.add(spec.key);
    // A key a worker reported has no lineage yet: the client's spec is it.
    const t = tb.tasks.get(spec.key);
    if (t && !t.spec) adoptSpec(tb, t, spec);
  }
  const known: Key[] = [];
  for (const key of wanted) {
    if (tb.tasks.has(key) || specKeys.has(key)) known.push(key);
    else tb.awaitReport(client, key);
  }
  updateGraph(tb, client, specs, known);
  for (const key in actors) {
    const t = tb.tasks.get(key);
    if (!t?.actor || t.state === "memory") continue;
    tb.learnIncarnation(t, actors[key]!);
    if (!tb.reportedRunning.has(key)) tb.unreportedActors.add(key);
  }
}

function adoptSpec(tb: Tables, t: Task, spec: TaskSpec): void {
  tb.bump(t, t.state, -1);
  t.spec = spec;
  t.group = tb.groupOf(spec);
  tb.bump(t, t.state, 1);
  t.retriesLeft = spec.options.retries ?? 0;
  tb.learnIncarnation(t, t.incarnation);
  tb.linkDeps(t);
  // An actor holds its resources while it lives.
  if (t.actor && t.state === "memory") for (const a of t.who) tb.hold(tb.workers.get(a)!, spec.options.resources, 1);
}

/** Once none has rejoined for RECOVERY_QUIET_MS: the usual rules again, over what was rebuilt. */
export function endRecovery(tb: Tables, now: number): void {
  if (!tb.recovering || now - tb.lastRejoinAt < RECOVERY_QUIET_MS) return;
  tb.recovering = false;
  tb.reportedRunning.clear();
  const awaited = [...tb.awaiting];
  tb.awaiting.clear();
  for (const [key, clients] of awaited) {
    // Submitted by another client meanwhile: these want it as it is.
    if (tb.tasks.has(key)) {
      for (const c of clients) wantKeys(tb, c, [key]);
      continue;
    }
    const error = errorInfoOf("LostError", `Key ${key} was not reported by any worker after the scheduler restarted: the worker holding it is gone, and it cannot be recomputed here`);
    for (const c of clients) tb.out.keyState(c, { op: "key-state", key, status: "lost", error });
  }
  for (const t of [...tb.tasks.values()]) if (!t.forgotten && t.wantedBy.delete(RECOVERY)) maybeRelease(tb, t);
  // An actor a client holds that no worker reported alive or being created died with the scheduler: restarted if it may be.
  for (const key of tb.unreportedActors) {
    const t = tb.tasks.get(key);
    if (!t || t.forgotten || t.state !== "no-worker") continue;
    if (t.restartsLeft > 0) {
      t.restartsLeft--;
      t.incarnation++;
    } else lose(tb, t, errorInfoOf("ActorLostError", ACTOR_LOST_MESSAGE));
  }
  tb.unreportedActors.clear();
  retryUnrunnable(tb, false);
}
