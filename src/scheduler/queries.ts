// Read-only answers for clients and the dashboard: the cluster's state,
// where keys are held, where to scatter, where an actor lives.

import type { Address, Key, SchedulerInfo, WhereIsActorReply, WorkerInfo } from "../protocol/messages.js";
import type { GroupMetrics } from "../dashboard/metrics.js";
import { Histogram } from "../metrics/histogram.js";
import type { BoundedLabels } from "../metrics/labels.js";
import { errorInfoOf } from "../serialize/errors.js";
import type { TaskStateName } from "./groups.js";
import type { Tables } from "./tables.js";
import { ACTOR_LOST_MESSAGE } from "./workers.js";

export function info(tb: Tables): Omit<SchedulerInfo, "address"> {
  const workers: Record<Address, WorkerInfo> = {};
  let queued = 0;
  for (const w of tb.workerList) {
    const actors: WorkerInfo["actors"] = {};
    for (const key of w.actors) {
      const t = tb.tasks.get(key);
      const s = w.actorStats[key];
      actors[key] = {
        className: t?.meta?.className ?? t?.spec?.fn.name ?? "",
        calls: s?.calls ?? 0,
        inFlight: s?.inFlight ?? 0,
        meanCallMs: s?.meanCallMs ?? 0,
        p50Ms: s?.p50Ms ?? 0,
        p99Ms: s?.p99Ms ?? 0,
      };
    }
    // Processing there beyond its threads: waiting in its queue (what work stealing moves).
    queued += Math.max(0, w.nprocessing - w.nthreads);
    workers[w.address] = {
      name: w.name,
      nthreads: w.nthreads,
      actorThreads: w.actorThreads,
      resources: { ...w.resources },
      tasksProcessing: w.nprocessing,
      storedKeys: w.nheld,
      actors,
      memoryBytes: w.memoryBytes,
      memoryLimit: w.memoryLimit,
      spilledBytes: w.spilledBytes,
      status: w.retiring ? "retiring" : w.paused ? "paused" : "running",
      pauses: w.pauses,
      restarts: w.restarts,
      ...(w.metricsUrl ? { metricsUrl: w.metricsUrl } : {}),
    };
  }
  const c = (s: TaskStateName) => tb.counts.get(s);
  const groups: SchedulerInfo["groups"] = {};
  for (const [name, g] of tb.groups) if (g.size > 0) groups[name] = g.toRecord();
  return {
    workers,
    groups,
    unrunnable: [...tb.unrunnable],
    tasks: {
      waiting: c("waiting"),
      processing: c("processing"),
      memory: c("memory"),
      erred: c("erred"),
      lost: c("lost"),
      "no-worker": c("no-worker"),
      queued,
    },
  };
}

/** Counts by group for /metrics: groups beyond the label bound add up under one label. */
export function groupMetrics(tb: Tables, labels: BoundedLabels): GroupMetrics[] {
  const byLabel = new Map<string, GroupMetrics>();
  /** Labels several groups share: their histogram is a sum of its own, never a group's. */
  const summed = new Set<GroupMetrics>();
  for (const [name, g] of tb.groups) {
    const label = labels.of(name);
    const states = g.toRecord();
    const m = byLabel.get(label);
    if (!m) {
      byLabel.set(label, { label, states, durations: g.durations, erred: g.erred });
      continue;
    }
    if (!summed.has(m)) {
      const sum = new Histogram();
      sum.add(m.durations.counts, m.durations.sumSeconds);
      m.durations = sum;
      summed.add(m);
    }
    m.durations.add(g.durations.counts, g.durations.sumSeconds);
    m.erred += g.erred;
    for (const [s, n] of Object.entries(states)) m.states[s] = (m.states[s] ?? 0) + (n ?? 0);
  }
  return [...byLabel.values()];
}

export function whoHas(tb: Tables, keys: Key[]): Record<Key, Address[]> {
  const r: Record<Key, Address[]> = {};
  for (const key of keys) {
    const t = tb.tasks.get(key);
    r[key] = t && t.state === "memory" ? t.who.toArray() : [];
  }
  return r;
}

/**
 * Targets for scattering `count` values: least loaded first (processing per
 * thread, then stored keys), cycling when count exceeds the workers.
 * `broadcast`: every candidate worker.
 */
export function chooseWorkers(tb: Tables, count: number, opts: { workers?: Address[]; broadcast?: boolean }): Address[] {
  let cands = tb.workerList.filter((w) => !w.closing);
  if (opts.workers && opts.workers.length > 0) {
    const only = new Set(opts.workers);
    cands = cands.filter((w) => only.has(w.address));
  }
  if (opts.broadcast) return cands.map((w) => w.address);
  if (cands.length === 0 || count <= 0) return [];
  const sorted = cands
    .map((w, i) => ({ w, i }))
    .sort(
      (a, b) =>
        a.w.nprocessing / Math.max(1, a.w.nthreads) - b.w.nprocessing / Math.max(1, b.w.nthreads) ||
        a.w.nheld - b.w.nheld ||
        a.i - b.i,
    )
    .map((x) => x.w.address);
  const r: Address[] = [];
  for (let i = 0; i < count; i++) r.push(sorted[i % sorted.length]!);
  return r;
}

export function actorLocation(tb: Tables, key: Key): WhereIsActorReply {
  const t = tb.tasks.get(key);
  if (!t || !t.actor) {
    return {
      error: errorInfoOf(
        "ActorLostError",
        `Actor ${key} was released: no client holds a reference to it any more. Keep a reference (its Future or handle) for as long as you call it.`,
      ),
      released: true,
    };
  }
  switch (t.state) {
    case "memory":
      return { ...t.meta! };
    case "lost":
    case "erred":
    case "cancelled":
      return { error: t.error ?? errorInfoOf("ActorLostError", ACTOR_LOST_MESSAGE) };
    default:
      return { pending: true };
  }
}

/** Where an actor stands, as the dashboard shows it. */
export interface ActorState {
  state: "starting" | "alive" | "restarting" | "lost" | "failed" | "released";
  /** How many times it was re-created after losing its worker. */
  restarts: number;
  /** Why it is lost or failed. */
  error?: string;
}

/** The state of each of these actors (undefined keys are forgotten: released by every client). */
export function actorStates(tb: Tables, keys: Iterable<Key>): Record<Key, ActorState> {
  const out: Record<Key, ActorState> = {};
  for (const key of keys) {
    const t = tb.tasks.get(key);
    if (!t || !t.actor) {
      out[key] = { state: "released", restarts: 0 };
      continue;
    }
    const restarts = t.incarnation;
    const error = t.error ? `${t.error.name}: ${t.error.message}` : undefined;
    switch (t.state) {
      case "memory":
        out[key] = { state: "alive", restarts };
        break;
      case "lost":
        out[key] = { state: "lost", restarts, error };
        break;
      case "erred":
      case "cancelled":
        out[key] = { state: "failed", restarts, error };
        break;
      case "released":
        out[key] = { state: "released", restarts };
        break;
      default:
        out[key] = { state: restarts > 0 ? "restarting" : "starting", restarts };
    }
  }
  return out;
}

/** The group (function name) a known task belongs to. */
export function groupOf(tb: Tables, key: Key): string | undefined {
  return tb.tasks.get(key)?.group.name;
}
