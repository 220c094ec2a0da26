// What a worker adds to each heartbeat for the dashboard: the tasks that
// ended on its threads since the last one (a bounded ring: recording one is
// a few writes into preallocated arrays), those running now, its CPU use,
// bytes over its connections, and its recent output lines.

import { traffic } from "../comm/index.js";
import type { Key, WorkerObservations } from "../protocol/messages.js";
import { takeOutput } from "./output-tail.js";

/** Task ends kept between two heartbeats: when more end, the oldest are not reported. */
const RING = 1024;

export class WorkerObserver {
  readonly #keys: Array<Key | undefined> = new Array(RING);
  readonly #thread = new Int32Array(RING);
  readonly #start = new Float64Array(RING);
  readonly #stop = new Float64Array(RING);
  readonly #erred = new Uint8Array(RING);
  /** Ends recorded since the last take (may exceed RING: only the last RING are kept). */
  #count = 0;
  #next = 0;
  #cpu = process.cpuUsage();
  #cpuAt = performance.now();

  /** A task ended on task thread `thread`: it ran from startMs to stopMs (Date.now() times). */
  taskEnded(key: Key, thread: number, startMs: number, stopMs: number, erred: boolean): void {
    const i = this.#next;
    this.#keys[i] = key;
    this.#thread[i] = thread;
    this.#start[i] = startMs;
    this.#stop[i] = stopMs;
    this.#erred[i] = erred ? 1 : 0;
    this.#next = (i + 1) % RING;
    this.#count++;
  }

  /** Everything observed since the last call, and the tasks running now. */
  take(running: WorkerObservations["running"]): WorkerObservations {
    const n = Math.min(this.#count, RING);
    const tasks: WorkerObservations["tasks"] = { keys: [], thread: [], startMs: [], stopMs: [], erred: [] };
    for (let j = 0, i = (this.#next - n + RING) % RING; j < n; j++, i = (i + 1) % RING) {
      tasks.keys.push(this.#keys[i]!);
      tasks.thread.push(this.#thread[i]!);
      tasks.startMs.push(this.#start[i]!);
      tasks.stopMs.push(this.#stop[i]!);
      tasks.erred.push(this.#erred[i]!);
      this.#keys[i] = undefined;
    }
    const dropped = this.#count - n;
    this.#count = 0;
    const now = performance.now();
    const used = process.cpuUsage(this.#cpu);
    const cpu = (used.user + used.system) / 1000 / Math.max(1, now - this.#cpuAt);
    this.#cpu = process.cpuUsage();
    this.#cpuAt = now;
    return { now: Date.now(), cpu, netSent: traffic.sent, netReceived: traffic.received, tasks, dropped, running, logs: takeOutput() };
  }
}
