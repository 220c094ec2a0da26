// Work stealing (SPEC R-FAIL-8): no task waits behind a busy thread while
// another worker is idle.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { double, spinFor } from "../fixtures/failures.js";
import { waitFor, withCluster } from "../helpers/cluster.js";

describe("work stealing", () => {
  test("tasks queued behind a long task move to the idle worker", async () => {
    await withCluster({ workers: 2, cancelGraceMs: 200 }, async ({ client, cluster }) => {
      const [a] = cluster.workerAddresses();
      const long = client.submit(spinFor, [15_000], { workers: a! });
      await waitFor(async () => (await client.schedulerInfo()).workers[a!]?.tasksProcessing === 1, "the long task to start");
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      // Placed over both workers at first: half of them land behind the long task.
      const quick = client.map(double, Array.from({ length: 40 }, (_, i) => [i] as [number]));
      assert.deepEqual(await client.gather(quick), Array.from({ length: 40 }, (_, i) => 2 * i));
      const took = Date.now() - t0;
      assert.equal(long.status, "pending", "the long task is still running");
      assert.ok(took < 6000, `the quick tasks took ${took} ms behind a 15 s task`);
      const where = await client.whoHas(quick);
      assert.ok(Object.values(where).every((w) => !w.includes(a!)), "none ran on the busy worker");
      await long.cancel();
    });
  });

  test("a worker with two threads moves tasks queued behind its long task to its other thread", async () => {
    await withCluster({ workers: 1, threadsPerWorker: 2, cancelGraceMs: 200 }, async ({ client }) => {
      // Submitted together: the worker may post some quick ones to the thread that takes the long one.
      const long = client.submit(spinFor, [15_000]);
      const quick = client.map(double, Array.from({ length: 30 }, (_, i) => [i] as [number]));
      const t0 = Date.now();
      assert.equal((await client.gather(quick)).length, 30);
      assert.ok(Date.now() - t0 < 6000, "the quick tasks did not wait for the long one");
      assert.equal(long.status, "pending");
      await long.cancel();
    });
  });
});
