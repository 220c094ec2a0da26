// Prometheus text exposition of a scheduler's state.

import type { SchedulerInfo } from "../protocol/messages.js";

function label(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

export function prometheusText(info: SchedulerInfo): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: "gauge" | "counter", samples: Array<[Record<string, string>, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const ls = Object.entries(labels).map(([k, v]) => `${k}="${label(v)}"`).join(",");
      lines.push(`${name}${ls ? `{${ls}}` : ""} ${Number.isFinite(value) ? value : 0}`);
    }
  };
  const workers = Object.entries(info.workers);
  metric("troupe_workers", "Workers connected to the scheduler.", "gauge", [[{}, workers.length]]);
  // Queued tasks are among the processing ones: a state label of their own would count them twice in a sum.
  const { queued, ...byState } = info.tasks;
  metric("troupe_tasks", "Tasks by state.", "gauge", Object.entries(byState).map(([state, n]) => [{ state }, n]));
  metric("troupe_tasks_queued", "Processing tasks waiting in their worker's queue behind its busy threads.", "gauge", [[{}, queued]]);
  metric(
    "troupe_group_tasks",
    "Tasks by group (function name) and state.",
    "gauge",
    Object.entries(info.groups).flatMap(([group, byState]) => Object.entries(byState).map(([state, n]): [Record<string, string>, number] => [{ group, state }, n ?? 0])),
  );
  metric("troupe_tasks_unrunnable", "Tasks no connected worker can run.", "gauge", [[{}, info.unrunnable.length]]);
  metric("troupe_worker_memory_bytes", "Resident memory of each worker process.", "gauge", workers.map(([a, w]) => [{ worker: a, name: w.name }, w.memoryBytes]));
  metric("troupe_worker_tasks_processing", "Tasks assigned to each worker.", "gauge", workers.map(([a, w]) => [{ worker: a, name: w.name }, w.tasksProcessing]));
  metric("troupe_worker_stored_keys", "Results held by each worker.", "gauge", workers.map(([a, w]) => [{ worker: a, name: w.name }, w.storedKeys]));
  const actors = workers.flatMap(([a, w]) => Object.entries(w.actors).map(([key, s]) => ({ labels: { worker: a, actor: key, class: s.className }, s })));
  metric("troupe_actor_calls_total", "Calls made to each actor.", "counter", actors.map(({ labels, s }) => [labels, s.calls]));
  metric("troupe_actor_calls_in_flight", "Calls to each actor not yet answered.", "gauge", actors.map(({ labels, s }) => [labels, s.inFlight]));
  metric("troupe_actor_mean_call_ms", "Mean wall time of each actor's finished calls.", "gauge", actors.map(({ labels, s }) => [labels, s.meanCallMs]));
  return lines.join("\n") + "\n";
}
