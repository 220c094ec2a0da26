// What a worker counts for its /metrics: tasks run here by group, actor
// calls served here by class, and its memory, store and threads now.

import { ActorCallTotals } from "../metrics/actor-calls.js";
import { Histogram } from "../metrics/histogram.js";
import { BoundedLabels } from "../metrics/labels.js";
import { processMetrics } from "../metrics/process.js";
import { MetricsText } from "../metrics/text.js";

interface GroupCounts {
  durations: Histogram;
  erred: number;
}

/** The worker's state when scraped. */
export interface WorkerGauges {
  memoryBytes: number;
  memoryLimit: number;
  spilledBytes: number;
  storedKeys: number;
  paused: boolean;
  tasksReady: number;
  tasksKnown: number;
  actors: number;
  nthreads: number;
}

export class WorkerMetrics {
  readonly #labels = new BoundedLabels();
  readonly #groups = new Map<string, GroupCounts>();
  readonly actorCalls = new ActorCallTotals();

  #group(name: string): GroupCounts {
    const label = this.#labels.of(name || "lambda");
    let g = this.#groups.get(label);
    if (!g) this.#groups.set(label, (g = { durations: new Histogram(), erred: 0 }));
    return g;
  }

  finished(group: string, durationMs: number): void {
    this.#group(group).durations.observe(durationMs / 1000);
  }

  erred(group: string): void {
    this.#group(group).erred++;
  }

  text(g: WorkerGauges): string {
    const out = new MetricsText();
    const groups = [...this.#groups];
    out.counter("troupe_worker_tasks_finished_total", "Tasks this worker ran to a result, by group.", groups.map(([group, c]) => [{ group }, c.durations.count]));
    out.counter("troupe_worker_tasks_erred_total", "Task runs that failed on this worker (each attempt), by group.", groups.map(([group, c]) => [{ group }, c.erred]));
    out.histogram("troupe_worker_task_duration_seconds", "How long tasks ran on this worker, by group.", groups.map(([group, c]) => [{ group }, c.durations]));
    const calls = [...this.actorCalls.byClass];
    out.counter("troupe_worker_actor_calls_total", "Calls to actors on this worker, by class.", calls.map(([cls, c]) => [{ class: cls }, c.calls]));
    out.histogram("troupe_worker_actor_call_duration_seconds", "How long actor calls took on this worker, by class.", calls.map(([cls, c]) => [{ class: cls }, c.duration]));
    out.gauge("troupe_worker_memory_bytes", "Memory this worker uses (resident memory and shared segments), bytes.", [[{}, g.memoryBytes]]);
    out.gauge("troupe_worker_memory_limit_bytes", "Memory this worker may use, bytes.", [[{}, g.memoryLimit]]);
    out.gauge("troupe_worker_spilled_bytes", "Bytes of values spilled to disk.", [[{}, g.spilledBytes]]);
    out.gauge("troupe_worker_stored_keys", "Values held.", [[{}, g.storedKeys]]);
    out.gauge("troupe_worker_paused", "1 while paused (memory above the pause threshold).", [[{}, g.paused ? 1 : 0]]);
    out.gauge("troupe_worker_tasks_ready", "Tasks ready and waiting for a task thread.", [[{}, g.tasksReady]]);
    out.gauge("troupe_worker_tasks", "Tasks known here and not finished (waiting for data, ready or running).", [[{}, g.tasksKnown]]);
    out.gauge("troupe_worker_actors", "Actors living on this worker.", [[{}, g.actors]]);
    out.gauge("troupe_worker_threads", "Task threads.", [[{}, g.nthreads]]);
    processMetrics(out);
    return out.toString();
  }
}
