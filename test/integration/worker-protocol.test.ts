// A worker against a scripted scheduler, and the scheduler against a scripted
// worker: code named by number (each function is sent once per connection),
// plain tasks sent together (compute-tasks) and finished tasks reported
// together (tasks-finished), and what each side does with malformed ones.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect, listen, Payload, type Connection, type Listener } from "../../src/comm/index.js";
import type { ComputeTask, ComputeTaskById, ComputeTasks, Message } from "../../src/protocol/messages.js";
import { codeRefOf, deserialize, serialize } from "../../src/serialize/index.js";
import { Client, Scheduler, Worker } from "../../src/index.js";
import { add } from "../fixtures/tasks.js";
import { markThenBusy } from "../fixtures/tasks-extra.js";
import { waitFor } from "../helpers/cluster.js";

const asPayload = (v: Payload | Uint8Array | null): Payload => (v instanceof Uint8Array ? new Payload([v]) : v!);

interface Scripted {
  listener: Listener;
  worker: Worker;
  /** The worker's connection to the scripted scheduler. */
  conn: Connection;
  /** Every message the worker sent the scheduler. */
  received: Message[];
}

/** A real worker of `nthreads` task threads, registered with a scheduler whose part the test plays. */
async function scriptedScheduler(nthreads: number): Promise<Scripted> {
  const received: Message[] = [];
  let conn: Connection | undefined;
  const listener = await listen({
    token: "proto",
    onConnection: (c) => {
      conn = c;
      c.onRequest = (msg) => {
        if (msg.op === "heartbeat") return null;
        if (msg.op !== "register-worker") throw new TypeError(`unexpected ${msg.op}`);
        return { heartbeatTimeoutMs: 60_000, schedulerId: "test" };
      };
      c.onMessage = (msg) => received.push(msg);
    },
  });
  try {
    const worker = await Worker.start({ scheduler: listener.address, token: "proto", name: "scripted", nthreads });
    return { listener, worker, conn: conn!, received };
  } catch (err) {
    await listener.close();
    throw err;
  }
}

/** "task-finished" or "task-erred" for a key, whether it was reported alone or with others. */
function outcomeIn(received: Message[], key: string): { op: string; error?: { message: string } } | undefined {
  for (const m of received) {
    if (m.op === "tasks-finished" && m.keys.includes(key)) return { op: "task-finished" };
    if ((m.op === "task-finished" || m.op === "task-erred") && m.key === key) return m as { op: string; error?: { message: string } };
  }
  return undefined;
}

/** The run times the worker reported for these keys. */
function durationsOf(received: Message[], keys: string[]): number[] {
  return received.flatMap((m) => (m.op === "tasks-finished" ? m.durationMs.filter((_, i) => keys.includes(m.keys[i]!)) : []));
}

const inc = { kind: "source" as const, source: "(x) => x + 1", name: "inc", isClass: false };
const busy = { kind: "source" as const, source: "(ms) => { const end = Date.now() + ms; while (Date.now() < end); return ms; }", name: "busy", isClass: false };

/** A scripted scheduler and its worker for the tests of one suite: started before them, closed after. */
function useScriptedScheduler(nthreads: number): Scripted {
  let current: Scripted | undefined;
  before(async () => {
    current = await scriptedScheduler(nthreads);
  });
  after(async () => {
    await current?.worker.close();
    await current?.listener.close();
  });
  const get = (): Scripted => current ?? assert.fail("the scripted scheduler did not start");
  return {
    get listener() {
      return get().listener;
    },
    get worker() {
      return get().worker;
    },
    get conn() {
      return get().conn;
    },
    get received() {
      return get().received;
    },
  };
}

/** The outcome the worker reported for a key, once it has. */
async function outcomeOf(s: Scripted, key: string, timeoutMs?: number): Promise<{ op: string; error?: { message: string } }> {
  return (await waitFor(() => outcomeIn(s.received, key), `an outcome for ${key}`, timeoutMs))!;
}

const base = { op: "compute-task" as const, whoHas: {}, actor: false, priority: 0 };

describe("a worker and code sent by number", () => {
  const s = useScriptedScheduler(1);
  const outcome = (key: string) => outcomeOf(s, key);
  const valuesOf = async (keys: string[]): Promise<unknown[]> => {
    const peer = await connect(s.worker.address, { token: "proto", role: "client" });
    try {
      const reply = await peer.request({ op: "get-data", keys });
      return reply.values.map((v) => deserialize(asPayload(v)));
    } finally {
      peer.close();
    }
  };

  it("fails a task that names code it never received, with a message saying so, and runs the next", async () => {
    s.conn.send({ ...base, op: "compute-task-by-id", key: "unknown-1", fnId: 41, args: serialize([1]).payload } satisfies ComputeTaskById);
    const erred = await outcome("unknown-1");
    assert.equal(erred.op, "task-erred");
    assert.match((erred as { error: { message: string } }).error.message, /code 41 .* without sending it first/);

    s.conn.send({ ...base, key: "full-1", fn: inc, fnId: 7, args: serialize([1]).payload } satisfies ComputeTask);
    s.conn.send({ ...base, op: "compute-task-by-id", key: "byref-1", fnId: 7, args: serialize([2]).payload } satisfies ComputeTaskById);
    assert.equal((await outcome("full-1")).op, "task-finished");
    assert.equal((await outcome("byref-1")).op, "task-finished");
    // The numbered task ran the code sent with the full one.
    assert.deepEqual(await valuesOf(["full-1", "byref-1"]), [2, 3]);
  });

  it("runs each task of a compute-tasks message and reports them together", async () => {
    s.conn.send({ ...base, key: "full-2", fn: inc, fnId: 8, args: serialize([0]).payload } satisfies ComputeTask);
    const keys = ["many-1", "many-2", "many-3"];
    s.conn.send({ op: "compute-tasks", fn: 8, keys, args: [10, 20, 30].map((x) => serialize([x]).payload), priority: [0, 0, 0] } satisfies ComputeTasks);
    for (const k of keys) assert.equal((await outcome(k)).op, "task-finished");
    assert.deepEqual(await valuesOf(keys), [11, 21, 31]);
    // Reported in parallel arrays: a key, its size and its duration.
    const report = s.received.find((m) => m.op === "tasks-finished" && m.keys.includes("many-1"));
    assert.ok(report && report.op === "tasks-finished");
    assert.equal(report.nbytes.length, report.keys.length);
    assert.equal(report.durationMs.length, report.keys.length);
    assert.ok(report.nbytes.every((n) => n > 0));
  });

  it("reports how long each task ran, not how long it waited behind the others", async () => {
    const start = performance.now();
    s.conn.send({ ...base, key: "busy-0", fn: busy, fnId: 9, args: serialize([40]).payload } satisfies ComputeTask);
    const keys = ["busy-1", "busy-2", "busy-3"];
    s.conn.send({ op: "compute-tasks", fn: 9, keys, args: keys.map(() => serialize([40]).payload), priority: [0, 0, 0] } satisfies ComputeTasks);
    for (const k of keys) await outcome(k);
    const span = performance.now() - start;
    // One task thread runs them in turn: the last finished ~160 ms after it arrived, yet ran ~40.
    // Runs in turn fit in the time they all took; times that counted the wait would add up to ~2.5 times as much.
    const durations = durationsOf(s.received, ["busy-0", ...keys]);
    assert.equal(durations.length, 4);
    for (const ms of durations) assert.ok(ms >= 39, `a 40 ms task reported ${ms} ms`);
    const sum = durations.reduce((a, b) => a + b, 0);
    assert.ok(sum <= span + 2, `the four tasks reported ${durations.join(", ")} ms, more than the ${span.toFixed(0)} ms they all took`);
  });

  it("answers get-data by position: each requested key's value in order, null for one it does not hold", async () => {
    const peer = await connect(s.worker.address, { token: "proto", role: "client" });
    try {
      const reply = await peer.request({ op: "get-data", keys: ["many-2", "nobody", "many-1"] });
      assert.equal(reply.values.length, 3);
      assert.equal(reply.values[1], null);
      // Small values travel as their bytes alone.
      assert.ok(reply.values[0] instanceof Uint8Array);
      assert.deepEqual([deserialize(asPayload(reply.values[0])), deserialize(asPayload(reply.values[2]))], [21, 11]);
    } finally {
      peer.close();
    }
  });

  it("fails every task of a compute-tasks message naming unknown code, and keeps serving", async () => {
    s.conn.send({ op: "compute-tasks", fn: 99, keys: ["nocode-1", "nocode-2"], args: [serialize([1]).payload, serialize([2]).payload], priority: [0, 0] } satisfies ComputeTasks);
    for (const k of ["nocode-1", "nocode-2"]) {
      const o = await outcome(k);
      assert.equal(o.op, "task-erred");
      assert.match(o.error!.message, /code 99 .* without sending it first/);
    }
    s.conn.send({ op: "compute-tasks", fn: 8, keys: ["after-1"], args: [serialize([5]).payload], priority: [0] } satisfies ComputeTasks);
    assert.equal((await outcome("after-1")).op, "task-finished");
    assert.deepEqual(await valuesOf(["after-1"]), [6]);
  });
});

describe("a worker sent a malformed compute-tasks", () => {
  const s = useScriptedScheduler(1);

  it("runs none of it, closes the connection, and stops with the reason", async () => {
    s.conn.send({ ...base, key: "full-8", fn: inc, fnId: 8, args: serialize([1]).payload } satisfies ComputeTask);
    assert.equal((await outcomeOf(s, "full-8")).op, "task-finished");
    // Three keys, two arguments: nothing in it can be trusted.
    s.conn.send({ op: "compute-tasks", fn: 8, keys: ["short-1", "short-2", "short-3"], args: [serialize([1]).payload, serialize([2]).payload], priority: [0, 0, 0] } satisfies ComputeTasks);
    await waitFor(() => !s.conn.isOpen, "the worker to close the connection");
    const { fault } = await s.worker.closed;
    assert.match(fault ?? "", /lost the connection to the scheduler/);
    for (const k of ["short-1", "short-2", "short-3"]) assert.equal(outcomeIn(s.received, k), undefined, `${k} ran`);
  });
});

describe("a worker of two task threads", () => {
  const s = useScriptedScheduler(2);
  const outcome = (key: string) => outcomeOf(s, key, 20_000);

  it("gives a task to an idle thread rather than queueing it behind a running one", async () => {
    s.conn.send({ ...base, key: "long-1", fn: busy, fnId: 1, args: serialize([1500]).payload } satisfies ComputeTask);
    s.conn.send({ ...base, op: "compute-task-by-id", key: "quick-1", fnId: 1, args: serialize([0]).payload } satisfies ComputeTaskById);
    await outcome("quick-1");
    assert.equal(outcomeIn(s.received, "long-1"), undefined, "the quick task waited for the long one");
    await outcome("long-1");
  });

  it("posts nothing more to a thread busy with a long task; quick tasks quickly raise how many are posted, and spread", async (t) => {
    // Quick tasks first: the threads learn that tasks are short and take many at a time.
    const warm = Array.from({ length: 2000 }, (_, i) => `warm-${i}`);
    s.conn.send({ op: "compute-tasks", fn: 1, keys: warm, args: warm.map(() => serialize([0]).payload), priority: warm.map(() => 0) } satisfies ComputeTasks);
    for (const k of warm) await outcome(k);
    const dir = mkdtempSync(join(tmpdir(), "troupe-proto-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const started = join(dir, "started");
    s.conn.send({ ...base, key: "long-2", fn: await codeRefOf(markThenBusy), args: serialize([started, 1500]).payload } satisfies ComputeTask);
    // Once its task has run for a few ms, a thread is known to be busy with something long.
    await waitFor(() => existsSync(started), "the long task to start");
    await new Promise((r) => setTimeout(r, 20));
    const quick = Array.from({ length: 20 }, (_, i) => `quick-2-${i}`);
    s.conn.send({ op: "compute-tasks", fn: 1, keys: quick, args: quick.map(() => serialize([1]).payload), priority: quick.map(() => 0) } satisfies ComputeTasks);
    for (const k of quick) await outcome(k);
    assert.equal(outcomeIn(s.received, "long-2"), undefined, "a quick task waited for the long one");
    await outcome("long-2");
    // Long tasks right after quick ones go to both threads, not all behind one another on the first:
    // some ran at the same time, so their times add up to more than the time they all took.
    const longs = ["long-3", "long-4", "long-5", "long-6"];
    const start = performance.now();
    s.conn.send({ op: "compute-tasks", fn: 1, keys: longs, args: longs.map(() => serialize([300]).payload), priority: longs.map(() => 0) } satisfies ComputeTasks);
    for (const k of longs) await outcome(k);
    const span = performance.now() - start;
    const sum = durationsOf(s.received, longs).reduce((a, b) => a + b, 0);
    assert.ok(sum > span, `the long tasks ran one after another (${sum.toFixed(0)} ms of tasks in ${span.toFixed(0)} ms)`);
  });
});

/**
 * A scheduler with a scripted worker registered at tcp://127.0.0.1:9 and a
 * client over TCP; all closed after `fn`, even when it fails.
 */
async function withScriptedWorker(token: string, fn: (fake: Connection, client: Client) => Promise<void>): Promise<void> {
  const scheduler = await Scheduler.start({ token });
  const fake = await connect(scheduler.address, { token, role: "worker" });
  const client = await Client.connect(scheduler.address, { token });
  try {
    fake.onRequest = () => null;
    await fake.request({ op: "register-worker", address: "tcp://127.0.0.1:9", name: "fake", nthreads: 1, actorThreads: 1, resources: {}, incarnation: token });
    await fn(fake, client);
  } finally {
    await client.close();
    fake.close();
    await scheduler.close();
  }
}

describe("the scheduler and code sent by number", () => {
  it("sends a function in full once per worker, then by number, also for a client over TCP", async () => {
    await withScriptedWorker("proto2", async (fake, client) => {
      const computes: Array<ComputeTask | ComputeTaskById> = [];
      const batches: ComputeTasks[] = [];
      fake.onMessage = (msg) => {
        if (msg.op === "compute-task" || msg.op === "compute-task-by-id") computes.push(msg);
        if (msg.op === "compute-tasks") {
          batches.push(msg);
          msg.keys.forEach((key, i) => computes.push({ op: "compute-task-by-id", key, fnId: msg.fn, args: msg.args[i]!, whoHas: {}, actor: false, priority: msg.priority[i]! }));
        }
      };
      // Decoded from the socket, each task's code is its own object: numbering goes by content.
      client.map(add, [[1, 1], [2, 2], [3, 3]]);
      await waitFor(() => computes.length === 3, "three compute-tasks at the fake worker");
      const full = computes.filter((c): c is ComputeTask => c.op === "compute-task");
      assert.equal(full.length, 1);
      assert.equal((full[0]!.fn as { export?: string }).export, "add");
      assert.ok(full[0]!.fnId !== undefined);
      assert.deepEqual(computes.flatMap((c) => (c.op === "compute-task-by-id" ? [c.fnId] : [])), [full[0]!.fnId, full[0]!.fnId]);
      // Plain tasks of one submit after the first travel together.
      assert.equal(batches.length, 1);
      assert.equal(batches[0]!.keys.length, 2);
    });
  });
});

describe("the scheduler and a worker reporting finished tasks", () => {
  it("takes finished tasks reported together, and closes a worker whose report is malformed", async () => {
    await withScriptedWorker("proto3", async (fake, client) => {
      const keys: string[] = [];
      fake.onMessage = (msg) => {
        if (msg.op === "compute-task") keys.push(msg.key);
        if (msg.op === "compute-tasks") keys.push(...msg.keys);
      };
      const futures = client.map(add, [[1, 1], [2, 2], [3, 3], [4, 4]]);
      await waitFor(() => keys.length === 4, "four tasks at the fake worker");
      fake.send({ op: "tasks-finished", keys: keys.slice(0, 2), nbytes: [8, 8], durationMs: [1, 1] });
      await waitFor(async () => (await client.whoHas(futures.slice(0, 2)))[futures[1]!.key]?.length === 1, "two keys held");
      assert.deepEqual(await client.whoHas(futures.slice(0, 2)), { [futures[0]!.key]: ["tcp://127.0.0.1:9"], [futures[1]!.key]: ["tcp://127.0.0.1:9"] });
      // Sizes missing: the scheduler trusts nothing in it and drops the worker.
      fake.send({ op: "tasks-finished", keys: keys.slice(2), nbytes: [8], durationMs: [1, 1] } as Message);
      await fake.closed;
      await waitFor(async () => Object.keys((await client.schedulerInfo()).workers).length === 0, "the worker removed");
    });
  });
});
