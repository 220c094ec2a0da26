// Worker crashes, a vanishing scheduler, and strangers at the door (SPEC §6–7),
// with real processes killed by SIGKILL.

import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { describe, test } from "node:test";
import { AuthError, Client, CommError, KilledWorkerError, LocalCluster, LostError, Scheduler } from "../../src/index.js";
import { crash, double, hang, pid } from "../fixtures/failures.js";
import { waitFor, withCluster } from "../helpers/cluster.js";

describe("worker loss", () => {
  test("a killed worker's running task is rescheduled on another worker", async () => {
    await withCluster({ workers: 2 }, async ({ cluster, client }) => {
      const [a, b] = cluster.workerAddresses();
      const f = client.submit(hang, [1500], { workers: a!, allowOtherWorkers: true });
      await waitFor(async () => (await client.schedulerInfo()).workers[a!]?.tasksProcessing === 1, "the task to start on the first worker");
      const t0 = Date.now();
      await cluster.stopWorker(a!, { graceful: false });
      assert.equal(await f.result(20_000), "done");
      assert.ok(Date.now() - t0 < 15_000, "rescheduled within the detection bound");
      assert.deepEqual(Object.keys((await client.schedulerInfo()).workers), [b]);
    });
  });

  test("a result lost with its worker is recomputed from lineage", async () => {
    await withCluster({ workers: 2 }, async ({ cluster, client }) => {
      const [a] = cluster.workerAddresses();
      const x = client.submit(double, [21], { workers: a!, allowOtherWorkers: true });
      assert.equal(await x, 42);
      assert.deepEqual((await client.whoHas(x))[x.key], [a]);
      await cluster.stopWorker(a!, { graceful: false });
      await waitFor(async () => {
        const who = (await client.whoHas(x))[x.key] ?? [];
        return who.length > 0 && !who.includes(a!);
      }, "the result to be recomputed elsewhere", 15_000);
      assert.equal(await x.result(10_000), 42);
      // Dependents of the recomputed key work too.
      assert.equal(await client.submit(double, [x]).result(10_000), 84);
    });
  });

  test("with allowReconstruction:false the Future becomes lost", async () => {
    await withCluster({ workers: 2 }, async ({ cluster, client }) => {
      const [a] = cluster.workerAddresses();
      const x = client.submit(double, [1], { workers: a!, allowReconstruction: false });
      assert.equal(await x, 2);
      await cluster.stopWorker(a!, { graceful: false });
      await waitFor(() => x.status === "lost", "the future to become lost", 10_000);
      await assert.rejects(x.result(), LostError);
    });
  });

  test("a task that kills 3 workers fails with KilledWorkerError", async () => {
    await withCluster({ workers: 4 }, async ({ client }) => {
      const f = client.submit(crash, []);
      const err = await f.exception();
      assert.ok(err instanceof KilledWorkerError, `expected KilledWorkerError, got ${err?.name}: ${err?.message}`);
      assert.equal(f.status, "error");
      // The survivor still serves.
      assert.equal(await client.submit(double, [5]).result(10_000), 10);
    });
  });

  test("a worker restarting at the same address is a new worker", async () => {
    await withCluster({ workers: 1 }, async ({ cluster, client }) => {
      const first = await client.submit(pid, [], { pure: false });
      const [a] = cluster.workerAddresses();
      const kept = client.submit(double, [3]);
      assert.equal(await kept, 6);
      await cluster.stopWorker(a!, { graceful: false });
      await waitFor(async () => Object.keys((await client.schedulerInfo()).workers).length === 0, "the crash to be noticed");
      const again = await cluster.addWorker({ port: Number(new URL(a!.replace("tcp:", "http:")).port) });
      assert.equal(again, a);
      // It holds nothing of its previous life: the old result is recomputed, not served from memory.
      assert.equal((await client.schedulerInfo()).workers[a!]?.storedKeys, 0);
      assert.equal(await kept.result(10_000), 6);
      const second = await client.submit(pid, [], { pure: false }).result(10_000);
      assert.notEqual(first, second);
    });
  });
});

describe("scheduler loss", () => {
  test("pending futures reject with CommError when the scheduler goes away for longer than schedulerTimeout", async () => {
    const scheduler = await Scheduler.start({ token: "t0k" });
    const cluster = await LocalCluster.start({ workers: 0 });
    let client: Client | undefined;
    try {
      client = await Client.connect(scheduler.address, { token: "t0k", timeout: 2000, schedulerTimeout: 1000 });
      // No workers: the task stays pending until the scheduler dies.
      const f = client.submit(double, [1]);
      await client.schedulerInfo();
      await scheduler.close();
      await assert.rejects(f.result(15_000), CommError);
      assert.throws(() => client!.submit(double, [2]), CommError);
    } finally {
      await client?.close();
      await scheduler.close();
      await cluster.close();
    }
  });
});

describe("security and bad input", () => {
  test("a wrong or missing token is refused with AuthError", async () => {
    const cluster = await LocalCluster.start({ workers: 0, token: "right" });
    try {
      await assert.rejects(Client.connect(cluster.schedulerAddress, { token: "wrong", timeout: 3000 }), AuthError);
      await assert.rejects(Client.connect(cluster.schedulerAddress, { timeout: 3000 }), AuthError);
    } finally {
      await cluster.close();
    }
  });

  test("garbage on the scheduler's port closes that connection only", async () => {
    await withCluster({ workers: 1 }, async ({ cluster, client }) => {
      const { port } = new URL(cluster.schedulerAddress.replace("tcp:", "http:"));
      const sock = netConnect(Number(port), "127.0.0.1");
      const closed = new Promise<void>((r) => sock.on("close", () => r()));
      sock.on("error", () => undefined);
      sock.write(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(50)));
      await closed;
      assert.equal(await client.submit(double, [4]).result(10_000), 8);
    });
  });
});
