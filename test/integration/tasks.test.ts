// SPEC §2–4 over real processes: connecting, tasks and futures, data between
// workers, scatter/gather, wait/asCompleted, errors, cancel, cluster-wide
// calls, release, pure keys, shipped source, resources, delayed graphs, and
// a client process that exits by itself once closed.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  asCompleted,
  AuthError,
  CancelledError,
  Client,
  CodeShippingError,
  CommError,
  ConfigError,
  delayed,
  Future,
  progress,
  RemoteError,
  TimeoutError,
  wait,
} from "../../src/index.js";
import { add, bytes, failWith, filledView, filledWhole, identity, len, sleep, sum, submitInside, ValidationError, whereAmI } from "../fixtures/tasks.js";
import { countRun, failUntil, okThenFail, pid, placed, sizeAndPlace, stepOrFail } from "../fixtures/tasks-extra.js";
import { useCluster, waitFor, withCluster } from "../helpers/cluster.js";
import { unusedAddress } from "../helpers/ports.js";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "troupe-tasks-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let scratchCount = 0;
const scratchFile = (): string => join(scratch, `f${scratchCount++}`);

/** A task no worker of the shared cluster can run: stays pending until cancelled. */
const NEVER = { resources: { NEVER: 1 } };

async function totalStoredKeys(client: Client): Promise<number> {
  const info = await client.schedulerInfo();
  return Object.values(info.workers).reduce((n, w) => n + w.storedKeys, 0);
}

describe("connecting, cluster membership and resources", () => {
  const h = useCluster({ workers: 1 });

  it("Client.connect(cluster) runs tasks", async () => {
    assert.equal(await h.client.submit(add, [1, 2]), 3);
  });

  it("Client.connect(address, { token }) connects to the same scheduler", async () => {
    const c = await Client.connect(h.cluster.schedulerAddress, { token: h.cluster.token });
    try {
      assert.equal(await c.submit(add, [2, 3]), 5);
      assert.equal((await c.schedulerInfo()).address, h.cluster.schedulerAddress);
    } finally {
      await c.close();
    }
  });

  it("a map too large for one message (over 64 MiB of specs) reaches the scheduler over TCP and runs", async () => {
    const c = await Client.connect(h.cluster.schedulerAddress, { token: h.cluster.token });
    try {
      // Arguments below the out-of-band threshold travel inside the message header: 1,200 × 60 KiB is 72 MiB.
      const arg = new Uint8Array(60 * 1024).fill(7);
      const fs = c.map(len, Array.from({ length: 1200 }, () => [arg] as [Uint8Array]));
      const { notDone } = await wait(fs, { timeout: 60_000 });
      assert.equal(notDone.size, 0);
      assert.deepEqual(new Set(await c.gather(fs)), new Set([60 * 1024]));
    } finally {
      await c.close();
    }
  });

  it("a wrong or missing token is refused with AuthError", async () => {
    await assert.rejects(Client.connect(h.cluster.schedulerAddress, { token: "not-the-token", timeout: 5000 }), AuthError);
    const saved = process.env.TROUPE_TOKEN;
    delete process.env.TROUPE_TOKEN;
    try {
      await assert.rejects(Client.connect(h.cluster.schedulerAddress, { timeout: 5000 }), AuthError);
    } finally {
      if (saved !== undefined) process.env.TROUPE_TOKEN = saved;
    }
  });

  it("Client.connect to a port where nothing listens fails at once with CommError naming the address and ECONNREFUSED", async () => {
    const address = await unusedAddress();
    const t0 = Date.now();
    await assert.rejects(Client.connect(address, { token: "t", timeout: 20_000 }), (err: Error) => {
      assert.ok(err instanceof CommError, String(err));
      assert.ok(err.message.includes(address), err.message);
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
    assert.ok(Date.now() - t0 < 10_000, "it waited for the connect timeout");
  });

  it("a client prints its scheduler and status (String, util.inspect, console.log)", async () => {
    const c = await Client.connect(h.cluster.schedulerAddress, { token: h.cluster.token });
    const open = `<Client: scheduler=${h.cluster.schedulerAddress}, status=open>`;
    try {
      assert.equal(String(c), open);
      assert.equal(inspect(c), open);
      assert.equal(inspect({ c }), `{ c: ${open} }`);
    } finally {
      await c.close();
    }
    assert.equal(String(c), `<Client: scheduler=${h.cluster.schedulerAddress}, status=closed>`);
  });

  it("a task needing a resource nobody has stays pending, is listed unrunnable, and runs once such a worker joins", { timeout: 40_000 }, async () => {
    const f = h.client.submit(whereAmI, [], { resources: { GPU: 1 } });
    await waitFor(async () => (await h.client.schedulerInfo()).unrunnable.includes(f.key), "the GPU task to be listed unrunnable");
    assert.equal(f.status, "pending");
    assert.equal(f.done(), false);
    const gpu = await h.cluster.addWorker({ resources: { GPU: 1 } });
    const where = await f.result(15_000);
    assert.equal(where.worker, gpu);
    assert.equal((await h.client.schedulerInfo()).unrunnable.includes(f.key), false);
    assert.deepEqual((await h.client.schedulerInfo()).workers[gpu]?.resources, { GPU: 1 });
  });

  it("workerAddresses/addWorker/stopWorker change the cluster and the scheduler sees it", { timeout: 40_000 }, async () => {
    const before = h.cluster.workerAddresses();
    const added = await h.cluster.addWorker({ name: "extra" });
    assert.ok(!before.includes(added), `new address ${added} not in ${before}`);
    assert.deepEqual(new Set(h.cluster.workerAddresses()), new Set([...before, added]));
    const info = await h.client.schedulerInfo();
    assert.equal(info.workers[added]?.name, "extra");
    assert.equal(await h.client.submit(add, [1, 1], { workers: added }).result(10_000), 2);

    await h.cluster.stopWorker(added);
    assert.deepEqual(new Set(h.cluster.workerAddresses()), new Set(before));
    await waitFor(async () => !(added in (await h.client.schedulerInfo()).workers), "the stopped worker to leave the scheduler");
    await assert.rejects(h.cluster.stopWorker(added), /no worker of this cluster/);
  });
});

describe("tasks and futures", () => {
  const h = useCluster({ workers: 2 });
  let A: string;
  let B: string;
  before(() => {
    [A, B] = h.cluster.workerAddresses() as [string, string];
    assert.ok(A && B, "two workers");
  });

  // ------------------------------------------------------------ submit / map

  it("submit and map pass their arguments", async () => {
    const f = h.client.submit(add, [1, 2]);
    assert.ok(f instanceof Future, "submit returns a Future");
    assert.equal(await f, 3);
    const fs = h.client.map(add, [[1, 2], [3, 4], [5, 6]]);
    assert.equal(fs.length, 3);
    assert.deepEqual(await h.client.gather(fs), [3, 7, 11]);
    assert.equal(await h.client.submit(sleep, [1]), 1);
  });

  it("a result is the bytes the task returned, even a view of a buffer the next task refills", async () => {
    // Quick tasks on one thread answer together once several have run: each answer must already be its own.
    const fs = h.client.map(filledView, [1, 2, 3, 4, 5, 6].map((x) => [x] as [number]), { workers: A });
    const got = await h.client.gather(fs);
    assert.deepEqual(got.map((b) => [b.byteLength, b[0], b[b.byteLength - 1]]), [1, 2, 3, 4, 5, 6].map((x) => [100_000, x, x]));
    // The whole buffer, returned again and again: each result is a copy, and the task keeps its buffer.
    const whole = await h.client.gather(h.client.map(filledWhole, [7, 8, 9].map((x) => [x] as [number]), { workers: A }));
    assert.deepEqual(whole.map((b) => [b.byteLength, b[0], b[b.byteLength - 1]]), [7, 8, 9].map((x) => [256 * 1024, x, x]));
  });

  it("map with a key option names each task <key>-<i>", async () => {
    const fs = h.client.map(add, [[1, 1], [2, 2]], { key: "mapped-keys" });
    assert.deepEqual(fs.map((f) => f.key), ["mapped-keys-0", "mapped-keys-1"]);
    assert.deepEqual(await h.client.gather(fs), [2, 4]);
  });

  // ------------------------------------------------------------ the Future API

  it("key, status, done and String() follow the task from pending to finished", async () => {
    const f = h.client.submit(sleep, [300]);
    assert.match(f.key, /^sleep-[0-9a-f]+$/);
    assert.equal(f.status, "pending");
    assert.equal(f.done(), false);
    assert.equal(String(f), `<Future: status=pending, key=${f.key}>`);
    assert.equal(await f, 300);
    assert.equal(f.status, "finished");
    assert.equal(f.done(), true);
    assert.equal(String(f), `<Future: status=finished, key=${f.key}>`);
    const named = h.client.submit(add, [0, 0], { key: "my-own-key" });
    assert.equal(named.key, "my-own-key");
    assert.equal(await named, 0);
  });

  it("status becomes error for a failing task", async () => {
    const f = h.client.submit(failWith, ["range", "boom"]);
    await assert.rejects(f.result(), RangeError);
    assert.equal(f.status, "error");
    assert.equal(f.done(), true);
    assert.equal(String(f), `<Future: status=error, key=${f.key}>`);
  });

  it("result(timeout) rejects with TimeoutError while the task keeps running", async () => {
    const f = h.client.submit(sleep, [800]);
    await assert.rejects(f.result(50), TimeoutError);
    assert.equal(f.status, "pending");
    assert.equal(await f.result(10_000), 800);
  });

  it("exception() gives the error, or undefined on success", async () => {
    const bad = h.client.submit(failWith, ["range", "bad input"]);
    const good = h.client.submit(add, [1, 1]);
    const err = await bad.exception();
    assert.ok(err instanceof RangeError, `got ${err?.constructor.name}`);
    assert.equal(err.message, "bad input");
    assert.equal(await good.exception(), undefined);
  });

  it("a Future is PromiseLike: then() and await", async () => {
    const f = h.client.submit(add, [20, 1]);
    assert.equal(await f.then((v) => v * 2), 42);
    assert.equal(await f, 21);
    const caught = await h.client.submit(failWith, ["range", "via then"]).then(
      () => "fulfilled",
      (e: unknown) => (e as Error).message,
    );
    assert.equal(caught, "via then");
  });

  // ------------------------------------------------------------ futures as arguments, data between workers

  it("futures nested in arrays, objects, Maps and Sets arrive as values", async () => {
    const a = h.client.submit(add, [1, 1]);
    const b = h.client.submit(add, [2, 2]);
    const c = h.client.submit(add, [3, 3]);
    const d = h.client.submit(add, [4, 4]);
    const arg = { list: [a, 10, [b]], obj: { c }, map: new Map<string, unknown>([["d", d]]), set: new Set<unknown>([a, "s"]) };
    const got = await h.client.submit(identity, [arg]);
    assert.deepEqual(got, { list: [2, 10, [4]], obj: { c: 6 }, map: new Map([["d", 8]]), set: new Set([2, "s"]) });
    assert.equal(await h.client.submit(add, [a, b]), 6);
    assert.equal(await h.client.submit(sum, [[a, b, c, d]]), 20);
  });

  it("a result moves from the worker holding it to a dependent placed on the other worker", async () => {
    const data = h.client.submit(bytes, [1 << 20], { workers: A });
    await data;
    assert.deepEqual((await h.client.whoHas(data))[data.key], [A]);
    const dep = h.client.submit(sizeAndPlace, [data], { workers: B });
    assert.deepEqual(await dep, { size: 1 << 20, worker: B });
    const holders = (await h.client.whoHas(data))[data.key] ?? [];
    assert.ok(holders.includes(A), `still held on ${A}: ${holders}`);
  });

  // ------------------------------------------------------------ gather / scatter

  it("gather returns the shape it was given", async () => {
    const [x, y, z] = h.client.map(add, [[1, 0], [2, 0], [3, 0]]) as [Future<number>, Future<number>, Future<number>];
    assert.equal(await h.client.gather(x), 1);
    assert.deepEqual(await h.client.gather([x, [y, { z }], "plain", 7]), [1, [2, { z: 3 }], "plain", 7]);
    assert.deepEqual(await h.client.gather({ a: x, b: { c: [y, z] }, n: null }), { a: 1, b: { c: [2, 3] }, n: null });
  });

  it("gather rejects with the task's error", async () => {
    const ok = h.client.submit(add, [1, 1]);
    const bad = h.client.submit(failWith, ["range", "in gather"]);
    await assert.rejects(h.client.gather([ok, bad]), (e: Error) => e instanceof RangeError && e.message === "in gather");
  });

  it(
    "scatter of a single value returns a Future at once",
    async () => {
      const one: unknown = h.client.scatter({ n: 41 });
      assert.ok(one instanceof Future, `got ${JSON.stringify(one)}`);
      assert.deepEqual(await one, { n: 41 });
      assert.equal(one.status, "finished");
      assert.equal((await h.client.whoHas(one))[one.key]?.length, 1);
      assert.deepEqual(await h.client.submit(identity, [{ wrapped: one }]), { wrapped: { n: 41 } });
    },
  );

  it("scatter: a list, to chosen workers, broadcast; scattered futures work as arguments", async () => {
    const list = h.client.scatter([1, 2, 3]);
    assert.equal(list.length, 3);
    const who = await h.client.whoHas(list);
    for (const f of list) assert.ok(f instanceof Future && f.status === "finished", `got ${String(f)}`);
    for (const f of list) assert.equal(who[f.key]?.length, 1, `${f.key} on one worker`);
    assert.deepEqual(await h.client.gather(list), [1, 2, 3]);
    assert.equal(await h.client.submit(sum, [list]), 6);
    assert.deepEqual(await h.client.submit(identity, [{ wrapped: list[0] }]), { wrapped: 1 });

    const pinned = h.client.scatter([5, 6], { workers: B });
    const whoPinned = await h.client.whoHas(pinned);
    for (const f of pinned) assert.deepEqual(whoPinned[f.key], [B]);

    const [everywhere] = h.client.scatter([new Uint8Array([1, 2, 3])], { broadcast: true }) as [Future<Uint8Array>];
    assert.deepEqual(new Set((await h.client.whoHas(everywhere))[everywhere.key]), new Set([A, B]));
    // Each worker reads the broadcast copy it holds.
    for (const w of [A, B]) {
      const r = (await h.client.submit(placed, [everywhere], { workers: w })) as { value: Uint8Array; worker: string };
      assert.deepEqual({ value: [...r.value], worker: r.worker }, { value: [1, 2, 3], worker: w });
    }
  });

  it(
    "a Uint8Array result reaches the client as a Uint8Array",
    async () => {
      const got = (await h.client.submit(identity, [new Uint8Array([1, 2, 3])])) as Uint8Array;
      assert.equal(Object.getPrototypeOf(got), Uint8Array.prototype, `got a ${got.constructor.name}`);
    },
  );

  // ------------------------------------------------------------ wait / asCompleted

  it("wait ALL_COMPLETED and FIRST_COMPLETED, and wait with a timeout", async () => {
    const fast = h.client.map(sleep, [[10], [40]]);
    const all = await wait(fast);
    assert.equal(all.done.size, 2);
    assert.equal(all.notDone.size, 0);

    const stuck = h.client.submit(add, [0, 0], NEVER);
    try {
      const quick = h.client.submit(sleep, [10]);
      const first = await wait([quick, stuck], { returnWhen: "FIRST_COMPLETED" });
      assert.deepEqual([...first.done], [quick]);
      assert.deepEqual([...first.notDone], [stuck]);
      await assert.rejects(wait([stuck], { timeout: 100 }), TimeoutError);
    } finally {
      await stuck.cancel();
    }
  });

  it(
    "asCompleted yields the futures themselves, in the order they finish",
    async () => {
      const slow = h.client.submit(sleep, [600], { workers: A });
      const quick = h.client.submit(sleep, [10], { workers: B });
      const order: unknown[] = [];
      for await (const f of asCompleted([slow, quick])) order.push(f);
      assert.equal(order.length, 2);
      assert.ok(order[0] === quick && order[1] === slow, `got ${order.map(String)}`);
    },
  );

  it("asCompleted withResults yields [future, value] pairs in the order they finish", async () => {
    const slow = h.client.submit(sleep, [600], { workers: A });
    const quick = h.client.submit(sleep, [10], { workers: B });
    const order: Array<[unknown, unknown]> = [];
    for await (const pair of asCompleted([slow, quick], { withResults: true })) order.push(pair);
    assert.equal(order.length, 2);
    assert.ok(order[0]![0] === quick && order[1]![0] === slow, "quick first, then slow");
    assert.deepEqual([order[0]![1], order[1]![1]], [10, 600]);

    const fs = h.client.map(add, [[1, 1], [2, 2], [3, 3]]);
    const seen = new Map<unknown, unknown>();
    for await (const [f, v] of asCompleted(fs, { withResults: true })) seen.set(f, v);
    assert.deepEqual(seen, new Map(fs.map((f, i) => [f, 2 * (i + 1)])));
  });

  // ------------------------------------------------------------ errors

  it("a built-in error keeps its class, message and remote stack", async () => {
    const err = await h.client.submit(failWith, ["range", "out of range"]).exception();
    assert.ok(err instanceof RangeError, `got ${err?.constructor.name}`);
    assert.equal(err.name, "RangeError");
    assert.equal(err.message, "out of range");
    assert.match(err.stack ?? "", /failWith/);
    assert.match(err.stack ?? "", /tasks\.ts/);
  });

  it("an error class exported from a module is rebuilt as that class", async () => {
    const err = await h.client.submit(failWith, ["validation", "bad field"]).exception();
    assert.ok(err instanceof ValidationError, `got ${err?.constructor.name}: ${err?.stack}`);
    assert.equal(err.name, "ValidationError");
    assert.equal(err.message, "bad field");
    assert.match(err.stack ?? "", /failWith/);
  });

  it("an unexported error class becomes a RemoteError with remoteName", async () => {
    const err = await h.client.submit(failWith, ["hidden", "cannot see me"]).exception();
    assert.ok(err instanceof RemoteError, `got ${err?.constructor.name}`);
    assert.equal(err.remoteName, "HiddenError");
    assert.equal(err.name, "HiddenError");
    assert.equal(err.message, "cannot see me");
    assert.match(err.stack ?? "", /failWith/);
  });

  it("a failed dependency fails its dependents with the same error", async () => {
    const bad = h.client.submit(failWith, ["range", "root cause"]);
    const child = h.client.submit(add, [bad, 1]);
    const grandchild = h.client.submit(identity, [[child]]);
    for (const f of [child, grandchild]) {
      await assert.rejects(f.result(10_000), (e: Error) => e instanceof RangeError && e.message === "root cause");
      assert.equal(f.status, "error");
    }
  });

  it("retries reruns a throwing task; too few retries still fail", async () => {
    const path = scratchFile();
    assert.equal(await h.client.submit(failUntil, [path, 2], { retries: 2 }), 3);
    const path2 = scratchFile();
    await assert.rejects(h.client.submit(failUntil, [path2, 3], { retries: 1 }).result(10_000), /run 2 fails on purpose/);
    assert.equal(readFileSync(path2, "utf8").length, 2);
  });

  it("bad arguments to the client's calls throw ConfigError naming what to fix, and send nothing", async () => {
    const c = h.client;
    const f = c.submit(add, [1, 2]);
    const cases: Array<[() => unknown, RegExp]> = [
      [() => c.submit(42 as never), /submit\(\) takes a function or a class, got number/],
      [() => c.submit(add, "1, 2" as never), /submit\(fn, args\): args must be an array/],
      [() => c.submit(add, [1, 2], { retry: 1 } as never), /submit: unknown option "retry"/],
      [() => c.submit(add, [1, 2], { priority: "high" } as never), /submit: option priority must be a finite number/],
      [() => c.map(add, 5 as never), /argsList must be an array of argument arrays/],
      [() => c.map(42 as never, []), /map\(\) takes a function or a class/],
      [() => c.compute(42 as never), /compute\(\) takes Delayed nodes/],
      [() => c.compute(delayed(add)(1, 2), { actor: true } as never), /compute: unknown option "actor"; did you mean "actors"\?/],
      [() => asCompleted([f], { withResult: true } as never), /asCompleted: unknown option "withResult"; did you mean "withResults"\?/],
      [() => c.scatter([f]), /scatter\(\) takes plain data; value 0 holds Futures/],
      [() => c.release(42 as never), /release\(\) takes Futures or Actor handles/],
      [() => c.submit(add, [1, (() => 2) as never]), /args\[1\] is a function/],
    ];
    const configError = (message: RegExp) => (err: Error) => err instanceof ConfigError && message.test(err.message);
    for (const [call, message] of cases) assert.throws(call, configError(message), `expected ConfigError matching ${message}`);
    await assert.rejects(wait([42 as never]), configError(/wait\(\) takes Futures and ActorFutures/));
    await assert.rejects(wait([f], { returnWhen: "ANY" as never }), configError(/returnWhen must be "ALL_COMPLETED" or "FIRST_COMPLETED"/));
    await assert.rejects(wait([f], { timeout: "soon" as never }), configError(/wait: option timeout must be a non-negative number of milliseconds, got "soon"/));
    await assert.rejects(c.restart({ timeout: -1 }), configError(/restart: option timeout must be a non-negative number/));
    await assert.rejects(progress([42 as never]), configError(/progress\(\) takes Futures and ActorFutures/));
    await assert.rejects(f.result(-1), configError(/timeout must be a non-negative number/));
    await assert.rejects(c.waitForWorkers(-1), configError(/n must be a non-negative integer/));
    await assert.rejects(c.cancel([f, "f" as never]), configError(/cancel\(\) takes a Future or an array of Futures/));
    await assert.rejects(c.whoHas(42 as never), configError(/whoHas\(\) takes a Future/));
    await assert.rejects(Client.connect(42 as never), configError(/Client\.connect\(\) takes a scheduler address/));
    // Refused at the call: the client still works.
    assert.equal(await f, 3);
  });

  // ------------------------------------------------------------ cancel

  it("cancel: a pending task does not run and awaiting it rejects with CancelledError", async () => {
    const path = scratchFile();
    const f = h.client.submit(countRun, [path, 1], NEVER) as Future<number>;
    const g = h.client.submit(add, [f, 1]);
    await waitFor(async () => (await h.client.schedulerInfo()).unrunnable.includes(f.key), "the task to be unrunnable");
    await f.cancel();
    assert.equal(f.status, "cancelled");
    assert.equal(f.done(), true);
    await assert.rejects(f.result(), CancelledError);
    await assert.rejects(g.result(5000), CancelledError);
    assert.throws(() => readFileSync(path), /ENOENT/);

    const h2 = h.client.submit(add, [1, 2], NEVER);
    await h.client.cancel([h2]);
    await assert.rejects(h2.result(), CancelledError);
  });

  // ------------------------------------------------------------ inside tasks, cluster-wide calls

  it("getWorker() and getClient() work inside tasks", async () => {
    const where = await h.client.submit(whereAmI, [], { workers: B });
    assert.equal(where.worker, B);
    assert.equal(where.nthreads, 1);
    assert.equal(where.name, (await h.client.schedulerInfo()).workers[B]?.name);
    assert.equal(await h.client.submit(submitInside, [41]), 42);
  });

  it("client.run runs once on every worker", async () => {
    const pids = await h.client.run(pid);
    assert.deepEqual(new Set(Object.keys(pids)), new Set([A, B]));
    assert.equal(new Set(Object.values(pids)).size, 2);
    assert.ok(!Object.values(pids).includes(process.pid), "run() ran in the worker processes");
    const sums = await h.client.run(add, [2, 3]);
    assert.deepEqual(sums, { [A]: 5, [B]: 5 });
  });

  it("client.run leaves out a worker that leaves while it runs, and sees none that was stopped", async () => {
    const extra = await h.cluster.addWorker();
    const running = h.client.run(sleep, [1_000]);
    await waitFor(async () => (await h.client.schedulerInfo()).workers[extra] !== undefined, "the extra worker to join");
    await h.cluster.stopWorker(extra, { graceful: false });
    assert.deepEqual(new Set(Object.keys(await running)), new Set([A, B]));
    // Once stopWorker resolves, the scheduler no longer counts it: nothing is routed to it.
    assert.deepEqual(new Set(Object.keys(await h.client.run(pid))), new Set([A, B]));
  });

  it("schedulerInfo describes every worker", async () => {
    const info = await h.client.schedulerInfo();
    assert.equal(info.address, h.cluster.schedulerAddress);
    assert.deepEqual(new Set(Object.keys(info.workers)), new Set([A, B]));
    for (const w of Object.values(info.workers)) {
      assert.equal(typeof w.name, "string");
      assert.equal(w.nthreads, 1);
      assert.equal(w.actorThreads, 1);
      assert.equal(typeof w.resources, "object");
      assert.equal(typeof w.tasksProcessing, "number");
      assert.equal(typeof w.storedKeys, "number");
      assert.equal(typeof w.actors, "object");
      assert.equal(typeof w.memoryBytes, "number");
    }
  });

  it("whoHas maps keys to the workers holding them", async () => {
    const onA = h.client.submit(add, [1, 2], { workers: A });
    const onB = h.client.submit(add, [3, 4], { workers: B });
    await h.client.gather([onA, onB]);
    const who = await h.client.whoHas([onA, onB]);
    assert.deepEqual(who[onA.key], [A]);
    assert.deepEqual(who[onB.key], [B]);
  });

  // ------------------------------------------------------------ release, pure keys

  it("release frees the keys on the workers", async () => {
    const base = await totalStoredKeys(h.client);
    const fs = h.client.map(bytes, [[1000], [1001], [1002], [1003], [1004]]);
    await wait(fs);
    // (Counting all stored keys would race with earlier tests' Futures being collected and freed.)
    const who = await h.client.whoHas(fs);
    assert.ok(fs.every((f) => who[f.key]!.length > 0), `every result is held somewhere: ${JSON.stringify(who)}`);
    h.client.release(fs);
    await waitFor(async () => (await totalStoredKeys(h.client)) <= base, "released keys to be freed on the workers");
    await waitFor(async () => Object.values(await h.client.whoHas(fs)).every((ws) => ws.length === 0), "whoHas to show no holders");
  });

  it("pure: true gives the same key for the same function and arguments, and runs once", async () => {
    const path = scratchFile();
    const f1 = h.client.submit(countRun, [path, 7], { pure: true });
    const f2 = h.client.submit(countRun, [path, 7], { pure: true });
    assert.equal(f1.key, f2.key);
    assert.deepEqual(await h.client.gather([f1, f2]), [7, 7]);
    const f3 = h.client.submit(countRun, [path, 7], { pure: true });
    assert.equal(f3.key, f1.key);
    assert.equal(await f3, 7);
    assert.equal(readFileSync(path, "utf8"), "run\n");
    const other = h.client.submit(countRun, [path, 8], { pure: true });
    assert.notEqual(other.key, f1.key);
    const impure = h.client.submit(countRun, [path, 7]);
    assert.notEqual(impure.key, f1.key);
  });

  // ------------------------------------------------------------ code shipped by source

  it("inline arrow functions are shipped by their source", async () => {
    assert.equal(await h.client.submit((x: number) => x * 2, [21]), 42);
    assert.deepEqual(await h.client.gather(h.client.map((a: number, b: number) => Math.max(a, b), [[1, 9], [8, 2]])), [9, 8]);
    const f = h.client.submit((x: number) => x + 1, [1]);
    assert.equal(await h.client.submit(async (y: number) => y * 10, [f]), 20);
  });

  it("a free variable in shipped source fails with CodeShippingError naming it", async () => {
    const factor = 3;
    const f = h.client.submit((x: number) => x * factor, [2]);
    await assert.rejects(f.result(10_000), (e: Error) => {
      assert.ok(e instanceof CodeShippingError, `got ${e.constructor.name}: ${e.message}`);
      assert.match(e.message, /factor/);
      return true;
    });
  });

  // ------------------------------------------------------------ delayed graphs

  it("delayed: a 200-long chain", async () => {
    let node = delayed(add)(0, 1);
    for (let i = 1; i < 200; i++) node = delayed(add)(node, 1);
    const f = h.client.compute(node);
    assert.ok(f instanceof Future, "compute(node) gives a Future");
    assert.equal(await f.result(5000), 200);
  });

  it("delayed: a failing link fails the chain's end with its error; the next chain runs", async () => {
    // Each link depends on the one before: links after the failing one wait on the same thread for it.
    let node = delayed(stepOrFail)(0, 30);
    for (let i = 1; i < 60; i++) node = delayed(stepOrFail)(node, 30);
    await assert.rejects(h.client.compute(node).result(5000), (err: Error) => err instanceof RangeError && /link 30 fails/.test(err.message));
    let ok = delayed(stepOrFail)(0, -1);
    for (let i = 1; i < 60; i++) ok = delayed(stepOrFail)(ok, -1);
    assert.equal(await h.client.compute(ok).result(5000), 60);
  });

  it("a dependent of a key that succeeded before and fails when run again fails too", async () => {
    await withCluster({ workers: 1 }, async ({ client }) => {
      const path = scratchFile();
      const first = client.submit(okThenFail, [path], { key: "ok-then-fail-1" });
      assert.equal(await first, 10);
      first.release();
      await waitFor(async () => (await client.schedulerInfo()).groups.okThenFail === undefined, "the first result to be forgotten");
      // The same key again, failing this time, with a dependent that goes to the same thread right behind it.
      const again = client.submit(okThenFail, [path], { key: "ok-then-fail-1" });
      const next = client.submit(add, [again, 1]);
      await assert.rejects(next.result(5000), /ran before, fails now/);
    });
  });

  it("delayed: a fan-in of 10 nodes", async () => {
    const parts = Array.from({ length: 10 }, (_, i) => delayed(add)(i, i));
    assert.equal(await h.client.compute(delayed(sum)(parts)).result(5000), 90);
  });

  it("delayed: Futures and nested nodes as arguments", async () => {
    const fut = h.client.submit(add, [1, 1]);
    const [x, y] = h.client.compute([delayed(add)(fut, 1), delayed(identity)({ v: [delayed(add)(fut, 2)] })]) as [Future<number>, Future<unknown>];
    assert.equal(await x.result(5000), 3);
    assert.deepEqual(await y.result(5000), { v: [4] });
  });

  it("delayed: intermediate results are freed once used, the rest when the Future goes", async () => {
    const chainStep = (x: number) => x + 1;
    let node = delayed(chainStep)(0);
    for (let i = 1; i < 20; i++) node = delayed(chainStep)(node);
    const f = h.client.compute(node);
    assert.equal(await f.result(5000), 20);
    const group = async () => (await h.client.schedulerInfo()).groups.chainStep;
    await waitFor(async () => (await group())?.memory === 1, "only the chain's result to stay in memory");
    f.release();
    await waitFor(async () => (await group()) === undefined, "the whole chain to be forgotten");
  });

  it("persist keeps each node's result", async () => {
    const a = delayed(add)(1, 2);
    const b = delayed(add)(a, 10);
    const [fa, fb] = h.client.persist([a, b]) as [Future<number>, Future<number>];
    assert.equal(fa.key, a.key);
    assert.equal(await fa.result(5000), 3);
    assert.equal(await fb.result(5000), 13);
    const who = await h.client.whoHas([fa, fb]);
    assert.equal(who[a.key]?.length, 1);
    assert.equal(who[b.key]?.length, 1);
  });
});

// ------------------------------------------------------------ no open handles after close

describe("closing", () => {
  it("a script with an embedded cluster exits by itself after client.close()", async () => {
    const script = join(scratch, "embedded.mts");
    const index = pathToFileURL(join(repoRoot, "src/index.ts")).href;
    const fixtures = pathToFileURL(join(repoRoot, "test/fixtures/tasks.ts")).href;
    writeFileSync(
      script,
      `import { Client } from ${JSON.stringify(index)};
import { add } from ${JSON.stringify(fixtures)};
const client = await Client.connect();
const a = await client.submit(add, [1, 2]);
const b = await client.submit((x) => x * 2, [a]);
await client.close();
console.log("result", a, b);
`,
    );
    const env = { ...process.env };
    delete env.TROUPE_SCHEDULER;
    const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let errOut = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (errOut += d));
    let timer: NodeJS.Timeout | undefined;
    try {
      const code = await new Promise<number | null | "timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), 15_000);
        child.once("exit", (c) => resolve(c));
      });
      assert.equal(code, 0, `exit: ${code}\nstdout: ${out}\nstderr: ${errOut}`);
      assert.match(out, /result 3 6/);
    } finally {
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await new Promise((r) => child.once("exit", r));
      }
    }
  });
});
