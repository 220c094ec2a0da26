// npm run bench: troupe's figures, and Dask's beside them when
// python3-distributed is installed. One JSON line per figure, then a table.
// Timings are medians of 3 on LocalClusters of 2 workers × 1 thread.
// Every row says what it measures: "direct" or "via scheduler" for actor calls
// (both systems offer both), "same-host hand-off" where a value moves between
// processes of one host by path, "socket transfer" where its bytes cross a
// socket (TROUPE_SHM=0: the path between hosts), "cold" for a fresh cluster's
// first call or map, beside the figures taken after a warm-up.

import { fork, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
// The built package, as users run it (workers then run compiled code too).
import { Client, delayed, LocalCluster, type Actor } from "troupe";
import { netnsTransfer } from "./netns.js";
import { Caller, Counter, inc, makeBytes, noop, Source, size } from "./workloads.js";
import { graphsAtScale, recovery } from "./scale.js";
import { schedulerTime } from "./scheduler-time.js";

interface Row {
  id: string;
  label: string;
  unit: string;
  /** true when bigger is better */
  higher: boolean;
  /** Why the row has no figure yet. */
  pending?: string;
}

const ROWS: Row[] = [
  { id: "start_s", label: "cluster start to first result (cold)", unit: "s", higher: false },
  { id: "first_call_ms", label: "first call to a new actor on a fresh cluster, direct (cold)", unit: "ms", higher: false },
  { id: "first_map_per_s", label: "first map of 2,000 no-op tasks on a fresh cluster, gathered (cold)", unit: "tasks/s", higher: true },
  { id: "actor_rt_p50_direct_us", label: "actor round trip p50, direct", unit: "µs", higher: false },
  { id: "actor_rt_p99_direct_us", label: "actor round trip p99, direct", unit: "µs", higher: false },
  { id: "actor_rt_p50_sched_us", label: "actor round trip p50, via scheduler", unit: "µs", higher: false },
  { id: "actor_rt_p99_sched_us", label: "actor round trip p99, via scheduler", unit: "µs", higher: false },
  { id: "actor_attr_p50_direct_us", label: "actor attribute read p50, direct", unit: "µs", higher: false },
  { id: "actor_pipelined_direct_per_s", label: "pipelined calls from one caller, direct", unit: "calls/s", higher: true },
  { id: "actor_pipelined_sched_per_s", label: "pipelined calls from one caller, via scheduler", unit: "calls/s", higher: true },
  { id: "actor_nn_per_s", label: "n:n actor calls: 4 caller actors, each calling 2 actors, direct", unit: "calls/s", higher: true },
  { id: "actors_created_per_s", label: "actors created, many at once", unit: "actors/s", higher: true },
  { id: "stream_items_per_s", label: "streaming method, items consumed per second with for await (window 16), direct", unit: "items/s", higher: true },
  { id: "map_per_s", label: "map of 20,000 no-op tasks, gathered (after one map)", unit: "tasks/s", higher: true },
  { id: "chain_per_s", label: "chain of 5,000 as one delayed graph", unit: "tasks/s", higher: true },
  { id: "w2w_handoff_mb_s", label: "100 MB worker → worker, same-host hand-off, every byte read", unit: "MB/s", higher: true },
  { id: "gather_handoff_mb_s", label: "100 MB gather to the client, same-host hand-off, every byte read", unit: "MB/s", higher: true },
  { id: "w2w_socket_mb_s", label: "100 MB worker → worker, socket transfer (TROUPE_SHM=0), every byte read", unit: "MB/s", higher: true },
  { id: "gather_socket_mb_s", label: "100 MB gather to the client, socket transfer (TROUPE_SHM=0), every byte read", unit: "MB/s", higher: true },
  { id: "w2w_netns_mb_s", label: "100 MB worker → worker between two network namespaces, socket transfer (TROUPE_SHM=0), every byte read", unit: "MB/s", higher: true },
  { id: "idle_worker_rss_mb", label: "idle worker RSS", unit: "MB", higher: false },
  { id: "sched_rss_per_task_b", label: "scheduler RSS per pending task (100,000 distinct, specs included)", unit: "B", higher: false },
  { id: "sched_heap_per_task_b", label: "scheduler heap per pending task (100,000 distinct, specs included)", unit: "B", higher: false },
];

// The scale parts' sizes; flags change them (`--graph-sizes=10000,100000`, `--sim-sizes=…`, `--sim-workers=…`, `--recovery-keys=…`).
const flag = (name: string, dflt: number[]): number[] => {
  const v = process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  if (v === undefined) return dflt;
  const xs = v.split(",").map(Number);
  if (xs.some((x) => !Number.isInteger(x) || x <= 0)) throw new Error(`--${name}=${v}: give positive whole numbers separated by commas, e.g. --${name}=10000,100000`);
  return xs;
};
const GRAPH_SIZES = flag("graph-sizes", [10_000, 100_000, 1_000_000]);
const SIM_SIZES = flag("sim-sizes", [10_000, 100_000, 1_000_000]);
const SIM_WORKERS = flag("sim-workers", [2, 8, 32]);
const RECOVERY_KEYS = flag("recovery-keys", [100_000])[0]!;
const count = (n: number) => n.toLocaleString("en-US");

// Scale rows: one run each (a 1,000,000-task map takes a minute here); a row per size is the growth curve.
ROWS.push(
  ...GRAPH_SIZES.map((n) => ({ id: `graph_${n}_s`, label: `map of ${count(n)} no-op tasks, submit to all done (scheduler process, 2 workers)`, unit: "s", higher: false })),
  ...GRAPH_SIZES.map((n) => ({ id: `graph_${n}_cpu_us`, label: `map of ${count(n)}: CPU per task, client + scheduler + workers`, unit: "µs", higher: false })),
  ...GRAPH_SIZES.map((n) => ({ id: `graph_${n}_sched_rss_per_task_b`, label: `scheduler RSS growth per task, ${count(n)} tasks done and held`, unit: "B", higher: false })),
  ...SIM_SIZES.flatMap((n) => SIM_WORKERS.map((w) => ({ id: `sim_${n}_${w}w_us`, label: `scheduler state machine alone, CPU per task: map of ${count(n)} on ${w} workers`, unit: "µs", higher: false }))),
  { id: "recovery_known_s", label: `restarted scheduler, ${count(RECOVERY_KEYS)} held keys: until all are known again`, unit: "s", higher: false },
  { id: "recovery_task_s", label: `restarted scheduler, ${count(RECOVERY_KEYS)} held keys: until a new task on 100 of them is done`, unit: "s", higher: false },
);

const RUNS = 3;
const MAP_TASKS = 20_000;
/** A newcomer's first map is small; a small one also keeps Dask's three fresh clusters to a minute. */
const FIRST_MAP_TASKS = 2_000;
const CHAIN = 5_000;
const MB = 100;
const ACTORS = 10_000;
const NN_CALLERS = 4;
const NN_CALLS = 5_000;
const PENDING_TASKS = 100_000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const since = (t: number) => performance.now() - t;

async function repeat(fn: () => Promise<number>): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) out.push(await fn());
  return median(out);
}

type Figures = Record<string, number>;

/** Fresh clusters: start to first result, then the first map, then the first call to a new actor. */
async function coldFigures(r: Figures): Promise<void> {
  const start: number[] = [];
  const firstMap: number[] = [];
  const firstCall: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    const cluster = await LocalCluster.start({ workers: 2 });
    const client = await Client.connect(cluster);
    try {
      await client.submit(inc, [1]);
      start.push(since(t) / 1000);
      firstMap.push(await mapRate(client, FIRST_MAP_TASKS));
      const counter = await client.submit(Counter, [], { actor: true });
      t = performance.now();
      await counter.increment();
      firstCall.push(since(t));
    } finally {
      await client.close();
      await cluster.close();
    }
  }
  r.start_s = median(start);
  r.first_map_per_s = median(firstMap);
  r.first_call_ms = median(firstCall);
}

async function mapRate(client: Client, n = MAP_TASKS): Promise<number> {
  const t = performance.now();
  const fs = client.map(noop, Array.from({ length: n }, (_, i) => [i] as [number]));
  await client.gather(fs);
  const v = n / (since(t) / 1000);
  for (const f of fs) f.release();
  return v;
}

async function mapFigures(r: Figures, client: Client): Promise<void> {
  // Warm up with one map of the same size, on both systems: the figure is the steady rate
  // (the first map of a fresh process also compiles the code it runs: the cold row).
  await mapRate(client);
  r.map_per_s = await repeat(() => mapRate(client));

  r.chain_per_s = await repeat(async () => {
    const t = performance.now();
    let node = delayed(inc)(0);
    for (let i = 1; i < CHAIN; i++) node = delayed(inc)(node);
    const f = client.compute(node);
    const v = await f;
    if (v !== CHAIN) throw new Error(`chain computed ${v}, expected ${CHAIN}`);
    f.release();
    return CHAIN / (since(t) / 1000);
  });
}

/** Round trips, attribute reads and pipelined calls to one actor, after the warm-up both systems get. */
async function actorFigures(r: Figures, client: Client, mode: "direct" | "sched"): Promise<void> {
  const counter = await client.submit(Counter, [], { actor: true });
  // A fresh process's first few thousand calls run while V8 compiles the code on
  // their path on the same two cores (docs/performance.md): warm up first.
  for (let i = 0; i < 5000; i++) await counter.increment();
  const runs: number[][] = [];
  for (let k = 0; k < RUNS; k++) {
    const lat: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t = performance.now();
      await counter.increment();
      lat.push(since(t) * 1000);
    }
    runs.push(lat);
  }
  r[`actor_rt_p50_${mode}_us`] = median(runs.map((l) => pct(l, 0.5)));
  r[`actor_rt_p99_${mode}_us`] = median(runs.map((l) => pct(l, 0.99)));
  if (mode === "direct") {
    r.actor_attr_p50_direct_us = await repeat(async () => {
      const lat: number[] = [];
      for (let i = 0; i < 2000; i++) {
        const t = performance.now();
        await counter.n;
        lat.push(since(t) * 1000);
      }
      return pct(lat, 0.5);
    });
  }
  const pipelined = async (n: number) => {
    const t = performance.now();
    const calls = [];
    for (let i = 0; i < n; i++) calls.push(counter.increment());
    await Promise.all(calls);
    return n / (since(t) / 1000);
  };
  await pipelined(2_000);
  r[`actor_pipelined_${mode}_per_s`] = await repeat(() => pipelined(20_000));
  client.release(counter);
}

/** 4 caller actors each make 5,000 calls spread over 2 target actors, all at once. */
async function nnCalls(client: Client): Promise<number> {
  const targets = await client.gather(client.map(Counter, [[], []], { actors: true }));
  const callers = await client.gather(client.map(Caller, Array.from({ length: NN_CALLERS }, () => [] as []), { actors: true }));
  const round = async () => {
    const t = performance.now();
    const done = await Promise.all(callers.map((c) => c.run(targets as Array<Actor<Counter>>, NN_CALLS)));
    if (done.reduce((a, b) => a + b, 0) !== NN_CALLERS * NN_CALLS) throw new Error("n:n calls went missing");
    return (NN_CALLERS * NN_CALLS) / (since(t) / 1000);
  };
  await round(); // warm-up, as for one caller
  const v = await repeat(round);
  for (const a of [...targets, ...callers]) client.release(a);
  return v;
}

async function actorsCreated(client: Client): Promise<number> {
  return repeat(async () => {
    const t = performance.now();
    const actors = await client.gather(client.map(Counter, Array.from({ length: ACTORS }, () => [] as []), { actors: true }));
    const v = ACTORS / (since(t) / 1000);
    for (const a of actors) client.release(a);
    return v;
  });
}

/** 100 MB of random bytes made on one worker, then read in full on the other, and by the client. */
async function transfers(client: Client, cluster: LocalCluster): Promise<{ w2w: number; gather: number }> {
  const [w0, w1] = cluster.workerAddresses();
  const w2w = await repeat(async () => {
    const data = client.submit(makeBytes, [MB * 1e6], { workers: w0! });
    await data.exception();
    const t = performance.now();
    const n = await client.submit(size, [data], { workers: w1! });
    const v = MB / (since(t) / 1000);
    if (n !== MB * 1e6) throw new Error("short transfer");
    data.release();
    return v;
  });
  const gather = await repeat(async () => {
    const data = client.submit(makeBytes, [MB * 1e6]);
    await data.exception();
    const t = performance.now();
    const n = size(await data);
    const v = MB / (since(t) / 1000);
    if (n !== MB * 1e6) throw new Error("short gather");
    data.release();
    return v;
  });
  return { w2w, gather };
}

/**
 * The same transfers between processes that do not share memory, as between
 * hosts. The workers get huge pages (cluster/huge-pages.ts); the client, this
 * process, keeps the allocator settings it was started with, as a user's does.
 */
async function socketTransfers(r: Figures): Promise<void> {
  const saved = process.env.TROUPE_SHM;
  process.env.TROUPE_SHM = "0"; // read by the worker processes started now
  let cluster: LocalCluster;
  try {
    cluster = await LocalCluster.start({ workers: 2 });
  } finally {
    if (saved === undefined) delete process.env.TROUPE_SHM;
    else process.env.TROUPE_SHM = saved;
  }
  const client = await Client.connect(cluster);
  try {
    const { w2w, gather } = await transfers(client, cluster);
    r.w2w_socket_mb_s = w2w;
    r.gather_socket_mb_s = gather;
  } finally {
    await client.close();
    await cluster.close();
  }
}

/**
 * Growth of a scheduler process (one of its own, reached over TCP) holding
 * 100,000 distinct tasks that cannot run: no worker offers their resource.
 * The scheduler decodes and keeps every spec, as it does for a real map.
 */
async function schedulerMemory(r: Figures): Promise<void> {
  const script = fileURLToPath(new URL("./scheduler-process.ts", import.meta.url));
  const child = fork(script, [], { execArgv: ["--expose-gc", "--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  type Memory = { heapUsed: number; rss: number };
  const next = <T>() => new Promise<T>((res, rej) => {
    child.once("message", (m) => res(m as T));
    child.once("exit", (code) => rej(new Error(`the scheduler process exited (${code})`)));
  });
  try {
    const { address } = await next<{ address: string }>();
    const client = await Client.connect(address);
    try {
      child.send("memory");
      const before = await next<Memory>();
      const fs = client.map(noop, Array.from({ length: PENDING_TASKS }, (_, i) => [i] as [number]), { resources: { NOPE: 1 } });
      const t = performance.now();
      for (let held = 0; held < PENDING_TASKS; ) {
        const { tasks } = await client.schedulerInfo();
        held = Object.values(tasks).reduce((a, b) => a + b, 0);
        if (since(t) > 60_000) throw new Error(`the scheduler holds ${held} tasks after a minute, expected ${PENDING_TASKS}`);
      }
      child.send("memory");
      const after = await next<Memory>();
      r.sched_rss_per_task_b = (after.rss - before.rss) / PENDING_TASKS;
      r.sched_heap_per_task_b = (after.heapUsed - before.heapUsed) / PENDING_TASKS;
      for (const f of fs) f.release();
    } finally {
      await client.close();
    }
  } finally {
    child.disconnect();
  }
}

// `--only=cold,actors,map,transfers,created,socket,netns,scheduler,schedtime,graph,recovery` runs some parts (while working on one).
const only = process.argv.find((a) => a.startsWith("--only="))?.slice(7).split(",");
const failed: string[] = [];

/** Runs one part if asked for; a part that fails is reported and the run goes on without its figures. */
/** Items per second of one streaming method consumed with `for await`, at the default window, after a warm-up stream. */
async function streamedItems(client: Client): Promise<number> {
  const source = await client.submit(Source, [], { actor: true });
  const streamed = async (n: number) => {
    const t = performance.now();
    let seen = 0;
    for await (const _ of source.items(n)) seen++;
    if (seen !== n) throw new Error(`stream gave ${seen} items, expected ${n}`);
    return n / ((performance.now() - t) / 1000);
  };
  try {
    await streamed(10_000);
    return await repeat(() => streamed(100_000));
  } finally {
    client.release(source);
  }
}

async function part(name: string, fn: () => Promise<void>): Promise<void> {
  if (only !== undefined && !only.includes(name)) return;
  try {
    await fn();
  } catch (err) {
    failed.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function troupeFigures(): Promise<Figures> {
  const r: Figures = {};
  await part("cold", () => coldFigures(r));

  const cluster = await LocalCluster.start({ workers: 2 });
  const client = await Client.connect(cluster);
  const viaScheduler = await Client.connect(cluster, { directToWorkers: false });
  try {
    // Idle workers, once each has sent a heartbeat.
    await new Promise((res) => setTimeout(res, 1500));
    const idle = await client.schedulerInfo();
    r.idle_worker_rss_mb = median(Object.values(idle.workers).map((w) => w.memoryBytes / 1e6));

    await part("actors", async () => {
      await actorFigures(r, client, "direct");
      await actorFigures(r, viaScheduler, "sched");
      r.actor_nn_per_s = await nnCalls(client);
      r.stream_items_per_s = await streamedItems(client);
    });
    await part("map", () => mapFigures(r, client));
    await part("transfers", async () => {
      const { w2w, gather } = await transfers(client, cluster);
      r.w2w_handoff_mb_s = w2w;
      r.gather_handoff_mb_s = gather;
    });
    // Last on this cluster: creating and dropping 10,000 actors at once is the heaviest load.
    await part("created", async () => {
      r.actors_created_per_s = await actorsCreated(client);
    });
  } finally {
    await viaScheduler.close();
    await client.close();
    await cluster.close();
  }
  await part("socket", () => socketTransfers(r));
  await part("netns", async () => {
    r.w2w_netns_mb_s = await netnsTransfer(RUNS, median);
  });
  await part("scheduler", () => schedulerMemory(r));
  await part("schedtime", async () => {
    schedulerTime(100_000, 2); // warm-up: V8 compiles the state machine's paths
    // Medians of 3 up to 100,000 tasks (a short run moves with when a full collection falls); one run above.
    for (const n of SIM_SIZES) {
      for (const w of SIM_WORKERS) r[`sim_${n}_${w}w_us`] = median(Array.from({ length: n <= 100_000 ? RUNS : 1 }, () => schedulerTime(n, w).usPerTask));
    }
  });
  await part("graph", async () => {
    for (const g of await graphsAtScale(GRAPH_SIZES, 10 * 60_000)) {
      r[`graph_${g.tasks}_s`] = g.seconds;
      r[`graph_${g.tasks}_sched_rss_per_task_b`] = g.heldRssPerTask;
      r[`graph_${g.tasks}_cpu_us`] = g.cpuUsPerTask;
    }
  });
  await part("recovery", async () => {
    const f = await recovery(RECOVERY_KEYS, 5 * 60_000);
    r.recovery_known_s = f.knownSeconds;
    r.recovery_task_s = f.newTaskSeconds;
  });
  return r;
}

function daskFigures(): Figures | undefined {
  const py = "/usr/bin/python3";
  const probe = spawnSync(py, ["-c", "import distributed"], { stdio: "ignore" });
  if (probe.status !== 0) return undefined;
  const script = fileURLToPath(new URL("./dask_bench.py", import.meta.url));
  const res = spawnSync(py, [script], { encoding: "utf8", timeout: 30 * 60_000, maxBuffer: 1 << 24 });
  // Its parts' times and failures, as it reported them.
  for (const line of (res.stderr ?? "").split("\n")) if (line.startsWith("dask: ")) console.error(line);
  if (res.status !== 0) console.error(`dask benchmark ended early (${res.error?.message ?? `exit ${res.status}`}): ${res.stderr.split("\n").slice(-3).join("\n")}`);
  // The figures so far follow each part: a run cut short keeps those it has.
  const last = (res.stdout ?? "").trim().split("\n").filter((l) => l.startsWith("{")).pop();
  return last === undefined ? undefined : JSON.parse(last);
}

const t = await troupeFigures();
const d = process.argv.includes("--no-dask") ? undefined : daskFigures();
for (const row of ROWS) console.log(JSON.stringify({ name: row.id, figure: row.label, unit: row.unit, higher: row.higher, troupe: t[row.id], dask: d?.[row.id], pending: row.pending }));
const fmt = (x: number | undefined) => (x === undefined ? "—" : x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toPrecision(3));
const W = Math.max(...ROWS.map((r) => r.label.length + r.unit.length + 3));
console.log(`\n${"figure".padEnd(W)}${"troupe".padStart(12)}${"dask".padStart(12)}  troupe/dask (>1: troupe better)`);
for (const row of ROWS) {
  const [a, b] = [t[row.id], d?.[row.id]];
  const ratio = a !== undefined && b ? (row.higher ? a / b : b / a).toFixed(2) : "—";
  const note = row.pending ? `  (${row.pending})` : "";
  console.log(`${`${row.label} (${row.unit})`.padEnd(W)}${fmt(a).padStart(12)}${fmt(b).padStart(12)}  ${ratio}${note}`);
}
for (const f of failed) console.log(`\nfailed, figures left out: ${f}`);
if (!d) console.log("\nDask figures need python3-distributed (apt-get install python3-distributed).");
