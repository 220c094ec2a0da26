// Metrics of the process itself, with the names Prometheus' client libraries
// give them: CPU, resident memory, heap, start time and event-loop lag.

import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import type { MetricsText } from "./text.js";

const START_TIME_S = Math.round(Date.now() / 1000 - process.uptime());

let loopDelay: IntervalHistogram | undefined;

/** Starts measuring event-loop lag (once per process; the sampling timer does not keep it alive). */
export function watchEventLoop(): void {
  if (loopDelay) return;
  loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
}

export function processMetrics(out: MetricsText): void {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  out.counter("process_cpu_user_seconds_total", "User CPU time spent by the process, seconds.", [[{}, cpu.user / 1e6]]);
  out.counter("process_cpu_system_seconds_total", "System CPU time spent by the process, seconds.", [[{}, cpu.system / 1e6]]);
  out.counter("process_cpu_seconds_total", "CPU time spent by the process, user and system, seconds.", [[{}, (cpu.user + cpu.system) / 1e6]]);
  out.gauge("process_resident_memory_bytes", "Resident memory of the process, bytes.", [[{}, mem.rss]]);
  out.gauge("process_start_time_seconds", "When the process started, seconds since the Unix epoch.", [[{}, START_TIME_S]]);
  out.gauge("nodejs_heap_used_bytes", "V8 heap in use on the main thread, bytes.", [[{}, mem.heapUsed]]);
  if (loopDelay) {
    // Since the previous scrape: lag is about now, not the process's whole life.
    const s = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
    out.gauge("nodejs_eventloop_lag_mean_seconds", "Mean event-loop delay since the previous scrape, seconds.", [[{}, s(loopDelay.mean)]]);
    out.gauge("nodejs_eventloop_lag_p99_seconds", "99th percentile of the event-loop delay since the previous scrape, seconds.", [[{}, s(loopDelay.percentile(99))]]);
    out.gauge("nodejs_eventloop_lag_max_seconds", "Longest event-loop delay since the previous scrape, seconds.", [[{}, s(loopDelay.max)]]);
    loopDelay.reset();
  }
}
