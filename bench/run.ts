// npm run bench: troupe's figures, and Dask's side by side when
// python3-distributed is installed. One JSON line per figure, then a table.
// Timings are medians of 3 runs on a LocalCluster of 2 workers × 1 thread.

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
// The built package, as users run it (workers then run compiled code too).
import { Client, delayed, LocalCluster } from "troupe";
import { SchedulerState } from "../dist/scheduler/state.js";
import { Payload } from "../dist/protocol/payload.js";
import { Counter, inc, makeBytes, noop, Source, size } from "./workloads.js";

interface Figure {
  name: string;
  unit: string;
  troupe: number;
  dask?: number;
  /** true when bigger is better */
  higher: boolean;
}

const RUNS = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function repeat(fn: () => Promise<number>): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) out.push(await fn());
  return median(out);
}

async function troupeFigures(): Promise<Record<string, number>> {
  const r: Record<string, number> = {};

  // Cluster start to first result.
  r.start_s = await repeat(async () => {
    const t = performance.now();
    const cluster = await LocalCluster.start({ workers: 2 });
    const client = await Client.connect(cluster);
    await client.submit(inc, [1]);
    const s = (performance.now() - t) / 1000;
    await client.close();
    await cluster.close();
    return s;
  });

  const cluster = await LocalCluster.start({ workers: 2 });
  const client = await Client.connect(cluster);
  try {
    // Idle workers, once each has sent a heartbeat.
    await new Promise((res) => setTimeout(res, 1500));
    const idle = await client.schedulerInfo();
    r.idle_worker_rss_mb = median(Object.values(idle.workers).map((w) => w.memoryBytes / 1e6));

    const counter = await client.submit(Counter, [], { actor: true });
    // Warm up, on both systems: a fresh process's first few thousand calls run while V8
    // compiles the code on their path on the same two cores (docs/performance.md).
    for (let i = 0; i < 5000; i++) await counter.increment();

    const rt = async () => {
      const lat: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const t = performance.now();
        await counter.increment();
        lat.push((performance.now() - t) * 1000);
      }
      return lat;
    };
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await rt());
    r.actor_rt_p50_us = median(runs.map((l) => pct(l, 0.5)));
    r.actor_rt_p99_us = median(runs.map((l) => pct(l, 0.99)));

    r.actor_attr_p50_us = await repeat(async () => {
      const lat: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const t = performance.now();
        await counter.n;
        lat.push((performance.now() - t) * 1000);
      }
      return pct(lat, 0.5);
    });

    const pipelined = async (n: number) => {
      const t = performance.now();
      const calls = [];
      for (let i = 0; i < n; i++) calls.push(counter.increment());
      await Promise.all(calls);
      return n / ((performance.now() - t) / 1000);
    };
    await pipelined(2_000); // warm up, as for the other workloads
    r.actor_pipelined_per_s = await repeat(() => pipelined(20_000));
    client.release(counter);

    // A streaming method's items consumed with for await, at the default window (16).
    const source = await client.submit(Source, [], { actor: true });
    const streamed = async (n: number) => {
      const t = performance.now();
      let seen = 0;
      for await (const _ of source.items(n)) seen++;
      if (seen !== n) throw new Error(`stream gave ${seen} items, expected ${n}`);
      return n / ((performance.now() - t) / 1000);
    };
    await streamed(10_000);
    r.actor_stream_items_per_s = await repeat(() => streamed(100_000));
    client.release(source);

    const mapped = async () => {
      const t = performance.now();
      const fs = client.map(noop, Array.from({ length: 20_000 }, (_, i) => [i] as [number]));
      await client.gather(fs);
      const v = 20_000 / ((performance.now() - t) / 1000);
      for (const f of fs) f.release();
      return v;
    };
    // Warm up with one map of the same size, on both systems: the figure is the steady rate
    // (the first map of a fresh process also compiles the code it runs; docs/performance.md).
    await mapped();
    r.map_tasks_per_s = await repeat(mapped);

    r.chain_tasks_per_s = await repeat(async () => {
      const t = performance.now();
      let node = delayed(inc)(0);
      for (let i = 1; i < 5000; i++) node = delayed(inc)(node);
      const f = client.compute(node);
      const v = await f;
      if (v !== 5000) throw new Error(`chain computed ${v}, expected 5000`);
      f.release();
      return 5000 / ((performance.now() - t) / 1000);
    });

    const [w0, w1] = cluster.workerAddresses();
    const MB = 100;
    r.transfer_w2w_mb_s = await repeat(async () => {
      const data = client.submit(makeBytes, [MB * 1e6], { workers: w0! });
      await data.exception();
      const t = performance.now();
      const n = await client.submit(size, [data], { workers: w1! });
      const v = MB / ((performance.now() - t) / 1000);
      if (n !== MB * 1e6) throw new Error("short transfer");
      data.release();
      return v;
    });
    r.gather_mb_s = await repeat(async () => {
      const data = client.submit(makeBytes, [MB * 1e6]);
      await data.exception();
      const t = performance.now();
      const b = await data;
      const n = size(b);
      const v = MB / ((performance.now() - t) / 1000);
      if (n !== MB * 1e6) throw new Error("short gather");
      data.release();
      return v;
    });

  } finally {
    await client.close();
    await cluster.close();
  }

  r.scheduler_bytes_per_pending_task = schedulerBytesPerTask(100_000);
  return r;
}

/** Heap growth of the scheduler's state machine holding n tasks that cannot run yet. */
function schedulerBytesPerTask(n: number): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  const state = new SchedulerState();
  state.handle({ type: "client-added", client: "c" }, 0);
  const fn = { kind: "module" as const, module: "bench/workloads.ts", url: "", export: "noop", hash: "", name: "noop" };
  const args = new Payload([new Uint8Array([0x91, 0x01])]);
  const tasks = Array.from({ length: n }, (_, i) => ({
    key: `noop-${i.toString(16).padStart(16, "0")}`,
    fn,
    args,
    deps: [],
    options: { resources: { NOPE: 1 } },
    group: "noop",
  }));
  gc?.();
  const before = process.memoryUsage().heapUsed;
  state.handle({ type: "update-graph", client: "c", tasks, wanted: tasks.map((t) => t.key) }, 0);
  gc?.();
  const after = process.memoryUsage().heapUsed;
  // The specs themselves are the client's input; count only what the state added.
  return Math.max(0, (after - before) / n);
}

function daskFigures(): Record<string, number> | undefined {
  const py = "/usr/bin/python3";
  const probe = spawnSync(py, ["-c", "import distributed"], { stdio: "ignore" });
  if (probe.status !== 0) return undefined;
  const script = fileURLToPath(new URL("./dask_bench.py", import.meta.url));
  const res = spawnSync(py, [script], { encoding: "utf8", timeout: 30 * 60_000, maxBuffer: 1 << 24 });
  if (res.status !== 0) {
    console.error(`dask benchmark failed: ${res.stderr.split("\n").slice(-5).join("\n")}`);
    return undefined;
  }
  return JSON.parse(res.stdout.trim().split("\n").pop()!);
}

const SPEC: Array<[string, string, boolean]> = [
  ["actor_rt_p50_us", "µs", false],
  ["actor_rt_p99_us", "µs", false],
  ["actor_attr_p50_us", "µs", false],
  ["actor_pipelined_per_s", "calls/s", true],
  ["actor_stream_items_per_s", "items/s", true],
  ["map_tasks_per_s", "tasks/s", true],
  ["chain_tasks_per_s", "tasks/s", true],
  ["transfer_w2w_mb_s", "MB/s", true],
  ["gather_mb_s", "MB/s", true],
  ["start_s", "s", false],
  ["idle_worker_rss_mb", "MB", false],
  ["scheduler_bytes_per_pending_task", "B", false],
];

const t = await troupeFigures();
const d = process.argv.includes("--no-dask") ? undefined : daskFigures();
const figures: Figure[] = SPEC.map(([name, unit, higher]) => ({ name, unit, higher, troupe: t[name]!, dask: d?.[name] }));
for (const f of figures) console.log(JSON.stringify(f));
const fmt = (x: number | undefined) => (x === undefined ? "—" : x >= 100 ? x.toFixed(0) : x.toPrecision(3));
console.log(`\n${"figure".padEnd(34)}${"troupe".padStart(12)}${"dask".padStart(12)}  troupe/dask`);
for (const f of figures) {
  const ratio = f.dask ? (f.troupe / f.dask).toFixed(2) : "—";
  console.log(`${`${f.name} (${f.unit})`.padEnd(34)}${fmt(f.troupe).padStart(12)}${fmt(f.dask).padStart(12)}  ${ratio}`);
}
if (!d) console.log("\nDask figures need python3-distributed (apt-get install python3-distributed).");
