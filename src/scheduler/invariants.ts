// The state machine's invariants: what must hold between its tables after
// every event. Tests and the simulation check them after each step; they scan
// everything, so production does not.

import { hasResources } from "./placement.js";
import { isPending, TASK_STATES, type TaskStateName } from "./groups.js";
import { keepAsLineage } from "./release.js";
import { NONE, NO_ONE, type Tables } from "./tables.js";

/** Throws naming the first invariant found broken. */
export function checkInvariants(tb: Tables): void {
  const fail = (msg: string): never => {
    throw new Error(`scheduler invariant violated: ${msg}`);
  };
  if (NONE.size !== 0 || NO_ONE.size !== 0) fail("a shared empty set was added to");
  const counts = new Map<TaskStateName, number>();
  for (const [key, t] of tb.tasks) {
    if (t.key !== key) fail(`task under ${key} has key ${t.key}`);
    if (t.forgotten) fail(`${key} is known but marked forgotten`);
    if (t.group !== tb.groups.get(t.spec?.group ?? "data")) fail(`${key} counted in the wrong group`);
    counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
    if (t.state === "processing") {
      const w = t.processingOn === undefined ? undefined : tb.workers.get(t.processingOn);
      if (!w) fail(`${key} processing on unknown worker ${t.processingOn}`);
    } else if (t.processingOn !== undefined) fail(`${key} is ${t.state} but has processingOn`);
    if (t.stealTo !== undefined && t.state !== "processing") fail(`${key} is ${t.state} but is being stolen`);
    if (t.state === "memory") {
      if (t.who.size === 0) fail(`${key} in memory with no holders`);
      if (t.actor && t.who.size !== 1) fail(`actor ${key} held by ${t.who.size} workers`);
      if (t.actor && !t.meta) fail(`actor ${key} in memory without meta`);
      for (const a of t.who) {
        const w = tb.workers.get(a);
        if (!w) fail(`${key} held by unknown worker ${a}`);
        if (t.actor && !w!.actors.has(key)) fail(`actor ${key} on ${a} but not in its actors`);
      }
    } else if (t.who.size > 0) fail(`${key} is ${t.state} but has holders`);
    if (isPending(t.state) || t.state === "released") {
      if (!t.spec) fail(`${key} is ${t.state} without a spec`);
    }
    if (t.state === "waiting" || t.state === "no-worker" || t.state === "processing") {
      let missing = 0;
      for (const dk of t.spec!.deps) {
        const d = tb.tasks.get(dk);
        if (!d) fail(`pending ${key} depends on forgotten ${dk}`);
        if (!d!.dependents.has(key)) fail(`${dk} does not list dependent ${key}`);
        if (d!.state === "erred" || d!.state === "lost" || d!.state === "cancelled") fail(`pending ${key} depends on ${d!.state} ${dk}`);
        if (d!.state !== "memory") missing++;
      }
      if (t.state === "waiting") {
        if (t.waitingOn !== missing) fail(`${key} waitingOn=${t.waitingOn} but ${missing} deps are not in memory`);
        if (missing === 0) fail(`${key} waiting with all deps in memory`);
      }
      if (t.state === "no-worker" && !tb.unrunnable.has(key)) fail(`${key} no-worker but not unrunnable`);
      if (t.state === "no-worker" && missing > 0) fail(`${key} no-worker with deps not in memory`);
    }
    let pendingDeps = 0;
    for (const dk of t.dependents) if (isPending(tb.tasks.get(dk)?.state ?? "released")) pendingDeps++;
    if (pendingDeps !== t.pendingDependents) fail(`${key} pendingDependents=${t.pendingDependents} but ${pendingDeps} dependents are pending`);
    for (const dk of t.dependents) {
      const d = tb.tasks.get(dk);
      if (!d) fail(`${key} lists forgotten dependent ${dk}`);
      if (!d!.spec || !d!.spec.deps.includes(key)) fail(`${key} lists ${dk} as dependent but it does not depend on it`);
    }
    for (const c of t.wantedBy) if (!tb.clients.has(c)) fail(`${key} wanted by unknown client ${c}`);
    if (!tb.needed(t)) {
      if (t.state !== "released") fail(`${key} is ${t.state} but nobody needs it`);
      else if (!keepAsLineage(tb, t)) fail(`${key} released without a lineage reason`);
    }
  }
  for (const s of TASK_STATES) {
    if (tb.counts.get(s) !== (counts.get(s) ?? 0)) fail(`count of ${s} is ${tb.counts.get(s)} but ${counts.get(s) ?? 0} tasks are`);
  }
  const byGroup = new Map<string, number>();
  for (const t of tb.tasks.values()) {
    const g = `${t.spec?.group ?? "data"}\0${t.state}`;
    byGroup.set(g, (byGroup.get(g) ?? 0) + 1);
  }
  let groupEntries = 0;
  for (const [group, g] of tb.groups) {
    for (const [st, n] of Object.entries(g.toRecord())) {
      groupEntries++;
      if (byGroup.get(`${group}\0${st}`) !== n) fail(`group ${group} counts ${n} ${st} tasks but ${byGroup.get(`${group}\0${st}`) ?? 0} are`);
    }
  }
  if (groupEntries !== byGroup.size) fail(`group counts cover ${groupEntries} group/state pairs but tasks have ${byGroup.size}`);
  for (const key of tb.unrunnable) if (tb.tasks.get(key)?.state !== "no-worker") fail(`unrunnable ${key} is not no-worker`);
  if (tb.workerList.length !== tb.workers.size) fail("worker list and map differ");
  for (const w of tb.workerList) {
    if (tb.workers.get(w.address) !== w) fail(`worker ${w.address} not in the map`);
    const used: Record<string, number> = {};
    const add = (r: Record<string, number> | undefined) => {
      if (r) for (const n in r) used[n] = (used[n] ?? 0) + r[n]!;
    };
    let processing = 0;
    let starting = 0;
    let held = 0;
    for (const t of tb.tasks.values()) {
      if (t.state === "processing" && t.processingOn === w.address) {
        processing++;
        if (t.actor) starting++;
        add(t.spec!.options.resources);
      }
      if (t.who.has(w.address)) held++;
    }
    if (processing !== w.nprocessing) fail(`${w.address} counts ${w.nprocessing} tasks processing but ${processing} are`);
    if (starting !== w.actorsStarting) fail(`${w.address} counts ${w.actorsStarting} actors being created but ${starting} are`);
    if (held !== w.nheld) fail(`${w.address} counts ${w.nheld} keys held but it holds ${held}`);
    for (const key of w.actors) {
      const t = tb.tasks.get(key);
      if (!t || !t.actor || t.state !== "memory") fail(`${w.address} lists actor ${key} but it is not alive`);
      add(t!.spec?.options.resources);
    }
    const names = new Set([...Object.keys(used), ...Object.keys(w.used)]);
    for (const n of names) {
      if (Math.abs((used[n] ?? 0) - (w.used[n] ?? 0)) > 1e-9) fail(`${w.address} resource ${n} used=${w.used[n]} but holders sum to ${used[n] ?? 0}`);
      if (!hasResources(w, { [n]: used[n] ?? 0 })) fail(`${w.address} overcommits resource ${n}`);
    }
  }
}
