// The scheduler's state machine alone, at scale: events in, instructions out,
// no sockets, no encoding. A client maps N distinct no-op tasks in one
// update-graph (as Client.map sends them), W fake workers finish what they are
// given in batches (as a worker reports a run of quick tasks), answer steal
// requests with the tasks they have not started, and the client releases
// every key once all are done. Only the time spent in `handle` counts, as
// CPU time of the process (every thread: V8 collects garbage on helper
// threads too), which a busy machine's preemption does not inflate.
//
//   node --import tsx bench/scheduler-time.ts 10000,100000 2,8,32

import { pathToFileURL } from "node:url";
import { Payload } from "../src/protocol/payload.js";
import type { Address, CodeRef, Key, TaskSpec } from "../src/protocol/messages.js";
import { SchedulerState, type Instruction, type SchedulerEvent } from "../src/scheduler/state.js";

/** Tasks a fake worker reports finished in one tasks-finished. */
const FINISHED_BATCH = 64;
const CLIENT = "client";
/** One function for every task of the map: the client shares one code reference across a map. */
const FN: CodeRef = { kind: "source", source: "(i) => i", name: "noop", isClass: false };

export interface SchedulerTime {
  tasks: number;
  workers: number;
  /** CPU time inside `handle`, µs per task: submit, placement, results, release. */
  usPerTask: number;
  /** Wall time inside `handle`, µs per task. */
  wallUsPerTask: number;
  events: number;
}

/** Distinct specs, each with arguments of its own, made before the clock starts (they are the client's work). */
function mapSpecs(n: number): TaskSpec[] {
  const specs: TaskSpec[] = new Array(n);
  for (let i = 0; i < n; i++) {
    // A msgpack uint32 (0xce and four bytes): what the argument list [i] costs the client to encode, near enough.
    const arg = Uint8Array.of(0x91, 0xce, i >>> 24, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff);
    specs[i] = { key: `noop-${i.toString(16).padStart(8, "0")}`, fn: FN, args: new Payload([arg]), deps: [], options: {}, group: "noop" };
  }
  return specs;
}

/** A fake worker's tasks not run yet: queue[head…]. */
interface Queue {
  keys: Key[];
  head: number;
}

export function schedulerTime(tasks: number, workers: number): SchedulerTime {
  const s = new SchedulerState();
  const queues = new Map<Address, Queue>();
  let inHandle = 0;
  let cpuInHandle = 0;
  let events = 0;
  let finished = 0;
  let now = 0;
  /** Steal requests to answer after the current event. */
  let stealRequests: Array<{ address: Address; keys: Key[] }> = [];

  const feed = (e: SchedulerEvent): void => {
    events++;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const out = s.handle(e, now);
    const c = process.cpuUsage(c0);
    inHandle += performance.now() - t0;
    cpuInHandle += c.user + c.system;
    route(out);
  };
  const route = (out: Instruction[]): void => {
    for (const ins of out) {
      if (ins.to === "client") {
        if (ins.msg.status === "finished") finished++;
        else if (ins.msg.status !== "pending") throw new Error(`${ins.msg.key} ${ins.msg.status}`);
      } else if (ins.to === "worker") {
        const m = ins.msg;
        if (m.op === "compute-task") queues.get(ins.address)!.keys.push(m.key);
        else if (m.op === "steal-request") stealRequests.push({ address: ins.address, keys: m.keys });
      } else if (ins.to === "close-worker" || ins.to === "retired") throw new Error(`worker ${ins.address} lost: ${ins.reason}`);
    }
  };
  /** A worker gives up every task asked for that it has not started. */
  const answerSteals = (): void => {
    while (stealRequests.length > 0) {
      const asked = stealRequests;
      stealRequests = [];
      for (const { address, keys } of asked) {
        const q = queues.get(address)!;
        const want = new Set(keys);
        const waiting = q.keys.slice(q.head);
        const released = waiting.filter((k) => want.has(k));
        const gone = new Set(released);
        q.keys = waiting.filter((k) => !gone.has(k));
        q.head = 0;
        feed({ type: "steal-response", worker: address, released, kept: keys.filter((k) => !gone.has(k)) });
      }
    }
  };

  for (let i = 0; i < workers; i++) {
    const address = `tcp://10.0.0.${i}:1`;
    queues.set(address, { keys: [], head: 0 });
    feed({ type: "worker-added", address, name: `w${i}`, nthreads: 1, actorThreads: 1, resources: {}, incarnation: `w${i}` });
  }
  feed({ type: "client-added", client: CLIENT });
  const specs = mapSpecs(tasks);
  inHandle = 0;
  cpuInHandle = 0;
  events = 0;

  feed({ type: "update-graph", client: CLIENT, tasks: specs, wanted: specs.map((t) => t.key) });
  // Workers take turns, each finishing the front of its queue.
  while (finished < tasks) {
    let progressed = false;
    for (const [address, q] of queues) {
      if (q.head >= q.keys.length) continue;
      const keys = q.keys.slice(q.head, q.head + FINISHED_BATCH);
      q.head += keys.length;
      if (q.head === q.keys.length) {
        q.keys = [];
        q.head = 0;
      }
      now += 1;
      feed({ type: "tasks-finished", worker: address, keys, nbytes: keys.map(() => 8), durationMs: keys.map(() => 0.01) });
      answerSteals();
      progressed = true;
    }
    if (!progressed) throw new Error(`${tasks - finished} tasks never reached a worker`);
  }
  feed({ type: "release-keys", client: CLIENT, keys: specs.map((t) => t.key) });
  if (s.size !== 0) throw new Error(`${s.size} keys left after every one was released`);
  return { tasks, workers, usPerTask: cpuInHandle / tasks, wallUsPerTask: (inHandle * 1000) / tasks, events };
}

function main(): void {
  const sizes = (process.argv[2] ?? "10000,100000").split(",").map(Number);
  const workerCounts = (process.argv[3] ?? "2,8,32").split(",").map(Number);
  for (const n of sizes) for (const w of workerCounts) console.log(JSON.stringify(schedulerTime(n, w)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
