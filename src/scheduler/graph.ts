// The task graph: tasks a client submits, the deps that link them, and how a
// task (re)enters it. A task waits until its deps are in memory, bringing
// back released ones from their lineage, and is then placed; a key released
// or lost is recomputed from its spec when it is wanted again.

import type { Key, TaskSpec } from "../protocol/messages.js";
import { errorInfoOf } from "../serialize/errors.js";
import { claimName } from "./actor-names.js";
import { assign } from "./assign.js";
import { chainTarget, sendChainAhead } from "./chain.js";
import type { ClientId } from "./events.js";
import { cancel, fail, lose } from "./final-states.js";
import { isFinal, isPending } from "./groups.js";
import { keyState, notify } from "./key-state.js";
import { place } from "./place-task.js";
import { maybeRelease } from "./release.js";
import type { Task, Tables } from "./tables.js";

export function updateGraph(tb: Tables, client: ClientId, specs: TaskSpec[], wanted: Key[]): void {
  const fresh: Task[] = [];
  const restarted: Task[] = [];
  for (const spec of specs) {
    let t = tb.tasks.get(spec.key);
    if (t && t.state !== "cancelled") continue; // a known key keeps its state
    if (t) {
      // Resubmitting a cancelled key starts it again.
      tb.unlinkDeps(t);
      tb.bump(t, t.state, -1); // it may join another group
      t.spec = spec;
      t.group = tb.groupOf(spec);
      tb.bump(t, t.state, 1);
      t.actor = spec.options.actor === true;
      t.retriesLeft = spec.options.retries ?? 0;
      t.restartsLeft = spec.options.restarts ?? 0;
      t.deaths = 0;
      t.memoryDeaths = 0;
      t.error = undefined;
      tb.setState(t, "waiting");
      restarted.push(t);
    } else t = tb.newTask(spec.key, spec);
    fresh.push(t);
  }
  for (const t of fresh) tb.linkDeps(t);
  const wantedTasks: Array<Task | undefined> = new Array(wanted.length);
  for (let i = 0; i < wanted.length; i++) {
    const t = (wantedTasks[i] = tb.tasks.get(wanted[i]!));
    if (t) tb.want(client, t);
  }
  if (tb.awaiting.size > 0) for (const t of fresh) tb.handAwaited(t);
  // After the wants: a name already taken fails the new actor for the clients that submitted it.
  for (const t of fresh) if (t.actor && !t.forgotten && t.state === "waiting") claimName(tb, t);
  // Clients still holding a cancelled key that is submitted again see it pending again.
  for (const t of restarted) notify(tb, t);
  for (const t of fresh) {
    // Skip tasks already failed by a dep's propagation, or forgotten because of it.
    if (!t.forgotten && t.state === "waiting" && t.waitingOn === 0) enterWaiting(tb, t);
  }
  for (let i = 0; i < wanted.length; i++) {
    const t = wantedTasks[i];
    if (!t || t.forgotten) wantKeys(tb, client, [wanted[i]!]);
    else if (t.state === "released") recompute(tb, t);
    else if (isFinal(t.state)) tb.out.keyState(client, keyState(t));
  }
  for (const t of fresh) if (!t.forgotten) maybeRelease(tb, t);
}

/** A client wants keys again: released ones are recomputed, final ones reported. */
export function wantKeys(tb: Tables, client: ClientId, keys: Key[]): void {
  for (const key of keys) {
    const t = tb.tasks.get(key);
    if (!t && tb.recovering) {
      tb.awaitReport(client, key);
      continue;
    }
    if (!t) {
      tb.out.keyState(client, {
        op: "key-state",
        key,
        status: "lost",
        error: errorInfoOf(
          "LostError",
          `Key ${key} is not known to the scheduler: it was released after its last reference was dropped. Keep a Future to a result for as long as you need it.`,
        ),
      });
      continue;
    }
    tb.want(client, t);
    if (t.state === "released") recompute(tb, t);
    else if (isFinal(t.state)) tb.out.keyState(client, keyState(t));
  }
}

/**
 * (Re)enters a task into the graph: checks its deps, recomputes released
 * ones, and places it when all are in memory.
 */
export function enterWaiting(tb: Tables, t: Task): void {
  tb.setState(t, "waiting");
  // A dep with no lineage may have been forgotten and submitted again since this task last ran: link it anew.
  tb.linkDeps(t);
  reviveReleasedDeps(tb, t);
  // Bringing its lineage back may have failed it already (and forgotten it).
  if (t.forgotten || t.state !== "waiting") return;
  let missing = 0;
  for (const dk of t.spec!.deps) {
    const d = tb.tasks.get(dk);
    if (!d) {
      fail(tb, t, errorInfoOf("LostError", `dependency ${dk} was released before ${t.key} could use it: keep a Future to it until dependents are submitted`));
      return;
    }
    if (d.state === "erred" || d.state === "lost") {
      fail(tb, t, d.error ?? errorInfoOf("LostError", `dependency ${dk} was lost`));
      return;
    }
    if (d.state === "cancelled") {
      cancel(tb, t);
      return;
    }
    if (d.state === "released") {
      if (!recompute(tb, d)) {
        // recompute() failed the dep, which failed us too.
        return;
      }
    }
    if (d.state !== "memory") missing++;
    // A dep already in memory that was freshly created within this batch counts as ready.
  }
  if (t.state !== "waiting") return; // a dep's failure reached us through propagation
  t.waitingOn = missing;
  if (missing === 0) {
    place(tb, t);
    return;
  }
  const target = chainTarget(tb, t);
  if (target !== undefined) {
    assign(tb, t, target);
    sendChainAhead(tb, t);
  }
}

/**
 * Brings back the released lineage behind `root`, deepest first, so that
 * each task re-enters waiting after its own deps did. Iterative: a lineage
 * can be as long as the longest chain a client ever computed.
 */
function reviveReleasedDeps(tb: Tables, root: Task): void {
  let any = false;
  for (const key of root.spec!.deps) if (tb.tasks.get(key)?.state === "released") any = true;
  if (!any) return;
  const order: Task[] = [];
  const seen = new Set<Task>();
  const stack: Array<{ t: Task; next: number }> = [{ t: root, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const deps = top.t.spec?.deps ?? [];
    if (top.next < deps.length) {
      const d = tb.tasks.get(deps[top.next++]!);
      if (d && d.state === "released" && !seen.has(d)) {
        seen.add(d);
        stack.push({ t: d, next: 0 });
      }
      continue;
    }
    stack.pop();
    if (top.t !== root) order.push(top.t);
  }
  // Each one's released deps are back by its turn: recompute() goes no deeper.
  // Recomputing one may fail another (and forget it), or the root itself: then the rest stay released.
  for (const d of order) if (isPending(root.state) && !d.forgotten && d.state === "released") recompute(tb, d);
  // If the root failed half-way, what came back for it is not needed any more.
  for (let i = order.length - 1; i >= 0; i--) if (!order[i]!.forgotten) maybeRelease(tb, order[i]!);
}

/**
 * Brings a released key back by recomputing it from its spec. Returns false
 * when it cannot (no lineage): it is then lost.
 */
export function recompute(tb: Tables, t: Task): boolean {
  if (isPending(t.state)) return true;
  if (!t.spec || t.actor || t.spec.options.allowReconstruction === false) {
    lose(tb, t, errorInfoOf("LostError", `the last copy of ${t.key} is gone (its worker died, or its data was removed there) and it cannot be recomputed (${!t.spec ? "scattered data has no lineage" : t.actor ? "actors are not recomputed" : "allowReconstruction is false"})`));
    return false;
  }
  tb.setState(t, "waiting");
  t.waitingOn = 0;
  notify(tb, t);
  enterWaiting(tb, t);
  return isPending(t.state);
}
