// Prometheus text exposition of a scheduler: cluster state as gauges, tasks
// finished and failed and actor calls as counters, durations as histograms,
// and the scheduler process's own metrics. Labels name groups (a function's
// name) and actor classes, bounded in number (metrics/labels.ts), and
// workers; never a key.

import type { ClassCalls } from "../metrics/actor-calls.js";
import type { Histogram } from "../metrics/histogram.js";
import { processMetrics } from "../metrics/process.js";
import { MetricsText, type Labels } from "../metrics/text.js";
import type { SchedulerInfo } from "../protocol/messages.js";

/** One group label's counts: a group, or several sharing the label "other". */
export interface GroupMetrics {
  label: string;
  /** Its tasks by state now. */
  states: Partial<Record<string, number>>;
  /** How long its finished tasks ran; the count is how many finished. */
  durations: Histogram;
  erred: number;
}

export interface SchedulerMetrics {
  info: SchedulerInfo;
  groups: GroupMetrics[];
  /** Actor calls by class label, and the label of each class. */
  actorCalls: { readonly byClass: ReadonlyMap<string, ClassCalls>; label(className: string): string };
}

export function prometheusText(m: SchedulerMetrics): string {
  const { info } = m;
  const out = new MetricsText();
  const workers = Object.entries(info.workers);
  out.gauge("troupe_workers", "Workers connected to the scheduler.", [[{}, workers.length]]);
  // Queued tasks are among the processing ones: a state label of their own would count them twice in a sum.
  const { queued, ...byState } = info.tasks;
  out.gauge("troupe_tasks", "Tasks by state.", Object.entries(byState).map(([state, n]) => [{ state }, n]));
  out.gauge("troupe_tasks_queued", "Processing tasks waiting in their worker's queue behind its busy threads.", [[{}, queued]]);
  out.gauge("troupe_tasks_unrunnable", "Tasks no connected worker can run.", [[{}, info.unrunnable.length]]);
  out.gauge(
    "troupe_group_tasks",
    "Tasks by group (function name) and state.",
    m.groups.flatMap((g) => Object.entries(g.states).map(([state, n]): [Labels, number] => [{ group: g.label, state }, n ?? 0])),
  );
  out.counter("troupe_tasks_finished_total", "Tasks that finished, by group.", m.groups.map((g) => [{ group: g.label }, g.durations.count]));
  out.counter("troupe_tasks_erred_total", "Tasks that failed for good (retries spent), by group.", m.groups.map((g) => [{ group: g.label }, g.erred]));
  out.histogram("troupe_task_duration_seconds", "How long finished tasks ran on their worker, by group.", m.groups.map((g) => [{ group: g.label }, g.durations]));

  const calls = [...m.actorCalls.byClass];
  out.counter("troupe_actor_calls_total", "Calls made to actors, by class.", calls.map(([cls, c]) => [{ class: cls }, c.calls]));
  out.histogram("troupe_actor_call_duration_seconds", "How long finished actor calls took on their actor's thread, by class.", calls.map(([cls, c]) => [{ class: cls }, c.duration]));
  const live = new Map<string, { actors: number; inFlight: number }>();
  for (const [, w] of workers) {
    for (const a of Object.values(w.actors)) {
      const cls = m.actorCalls.label(a.className);
      const l = live.get(cls) ?? { actors: 0, inFlight: 0 };
      l.actors++;
      l.inFlight += a.inFlight;
      live.set(cls, l);
    }
  }
  out.gauge("troupe_actors", "Actors alive, by class.", [...live].map(([cls, l]) => [{ class: cls }, l.actors]));
  out.gauge("troupe_actor_calls_in_flight", "Actor calls not yet answered, by class.", [...live].map(([cls, l]) => [{ class: cls }, l.inFlight]));

  const per = (f: (w: SchedulerInfo["workers"][string]) => number) => workers.map(([a, w]): [Labels, number] => [{ worker: a, name: w.name }, f(w)]);
  out.gauge("troupe_worker_memory_bytes", "Memory each worker uses (resident memory and shared segments), bytes.", per((w) => w.memoryBytes));
  out.gauge("troupe_worker_memory_limit_bytes", "Memory each worker may use, bytes.", per((w) => w.memoryLimit));
  out.gauge("troupe_worker_spilled_bytes", "Bytes of values each worker spilled to disk.", per((w) => w.spilledBytes));
  out.gauge("troupe_worker_paused", "1 while a worker is paused (memory above its pause threshold).", per((w) => (w.status === "paused" ? 1 : 0)));
  out.gauge("troupe_worker_tasks_processing", "Tasks assigned to each worker.", per((w) => w.tasksProcessing));
  out.gauge("troupe_worker_stored_keys", "Results held by each worker.", per((w) => w.storedKeys));
  processMetrics(out);
  return out.toString();
}
