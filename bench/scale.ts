// The bench's scale parts on a cluster of `troupe` processes (cluster-procs.ts):
// maps of up to 1,000,000 tasks, submit to done, with the scheduler's memory;
// and a scheduler killed and started again under 100,000 held keys.

import { Client, wait, type Future } from "troupe";
import { cpuSeconds, kill, rss, startScheduler, startWorker, stop, TOKEN, type Proc } from "./cluster-procs.js";
import { inc, noop, total } from "./workloads.js";

const since = (t: number) => performance.now() - t;

export interface GraphFigure {
  tasks: number;
  /** Submit to every task done, seconds. */
  seconds: number;
  /** Growth of the scheduler's RSS once every task is done (results still held), per task. */
  heldRssPerTask: number;
  /** CPU time of the client, the scheduler and the workers from submit to done, summed, µs per task: what a busy machine does not inflate. */
  cpuUsPerTask: number;
}

async function untilNoTasks(client: Client, ms: number): Promise<void> {
  const t = performance.now();
  for (;;) {
    const { tasks } = await client.schedulerInfo();
    const left = Object.values(tasks).reduce((a, b) => a + b, 0);
    if (left === 0) return;
    if (since(t) > ms) throw new Error(`the scheduler still holds ${left} tasks ${ms / 1000} s after they were released`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function withCluster<T>(workers: number, fn: (client: Client, scheduler: Proc, all: Proc[]) => Promise<T>): Promise<T> {
  const { proc: scheduler, address } = await startScheduler();
  const procs: Proc[] = [scheduler];
  try {
    for (let i = 0; i < workers; i++) procs.push(await startWorker(address, `w${i}`));
    const client = await Client.connect(address, { token: TOKEN });
    try {
      await client.waitForWorkers(workers, { timeout: 30_000 });
      return await fn(client, scheduler, procs);
    } finally {
      await client.close();
    }
  } finally {
    for (const p of procs) await stop(p);
  }
}

/**
 * Maps of each size on a scheduler process with 2 workers of one thread, one
 * after another (each released, and gone from the scheduler, before the
 * next): submit to every future done, without fetching results.
 */
export async function graphsAtScale(sizes: number[], boundMs: number): Promise<GraphFigure[]> {
  return withCluster(2, async (client, scheduler, procs) => {
    const cpu = () => {
      const own = process.cpuUsage();
      return procs.reduce((a, p) => a + cpuSeconds(p), (own.user + own.system) / 1e6);
    };
    // The first map of a process runs while V8 compiles its path: warm up first.
    const warm = client.map(noop, Array.from({ length: 10_000 }, (_, i) => [i] as [number]));
    await wait(warm);
    for (const f of warm) f.release();
    await untilNoTasks(client, 30_000);
    const out: GraphFigure[] = [];
    for (const n of sizes) {
      const before = rss(scheduler);
      const cpu0 = cpu();
      const t = performance.now();
      const fs: Future<number>[] = client.map(noop, Array.from({ length: n }, (_, i) => [i] as [number]));
      // A worker or the scheduler gone ends the wait at once, with its last words.
      await Promise.race([wait(fs, { timeout: boundMs }), ...procs.map((p) => p.lost)]);
      const seconds = since(t) / 1000;
      out.push({ tasks: n, seconds, heldRssPerTask: (rss(scheduler) - before) / n, cpuUsPerTask: ((cpu() - cpu0) * 1e6) / n });
      for (const f of fs) f.release();
      await untilNoTasks(client, 60_000);
    }
    return out;
  });
}

export interface RecoveryFigure {
  keys: number;
  /** From the new scheduler listening to every key held known to it again, seconds. */
  knownSeconds: number;
  /** From the new scheduler listening to a new task on 100 of those keys done, seconds. */
  newTaskSeconds: number;
}

/**
 * 2 workers hold `keys` small results a client holds futures to; the
 * scheduler process is killed (SIGKILL) and started again at its address.
 * Workers and client reconnect and report what they hold.
 */
export async function recovery(keys: number, boundMs: number): Promise<RecoveryFigure> {
  const first = await startScheduler();
  const port = Number(first.address.split(":").at(-1));
  const procs: Proc[] = [first.proc];
  try {
    for (let i = 0; i < 2; i++) procs.push(await startWorker(first.address, `w${i}`));
    const client = await Client.connect(first.address, { token: TOKEN });
    try {
      await client.waitForWorkers(2, { timeout: 30_000 });
      const fs: Future<number>[] = client.map(inc, Array.from({ length: keys }, (_, i) => [i] as [number]));
      await wait(fs, { timeout: boundMs });
      await kill(first.proc);
      const second = await startScheduler(port);
      procs.push(second.proc);
      const t = performance.now();
      for (;;) {
        // Requests fail while the client is still reconnecting: ask again.
        const info = await client.schedulerInfo().catch(() => undefined);
        if (info && info.tasks.memory >= keys) break;
        if (since(t) > boundMs) throw new Error(`the restarted scheduler knows ${info?.tasks.memory ?? 0} of ${keys} held keys after ${boundMs / 1000} s`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const knownSeconds = since(t) / 1000;
      const sample = Array.from({ length: 100 }, (_, i) => fs[Math.floor((i * keys) / 100)]!);
      const expected = sample.reduce((a, _, i) => a + Math.floor((i * keys) / 100) + 1, 0);
      const got = await client.submit(total, [sample]).result(boundMs);
      if (got !== expected) throw new Error(`a task on held keys computed ${got}, expected ${expected}`);
      const newTaskSeconds = since(t) / 1000;
      return { keys, knownSeconds, newTaskSeconds };
    } finally {
      await client.close();
    }
  } finally {
    for (const p of procs) await stop(p);
  }
}
