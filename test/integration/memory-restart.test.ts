// Workers restarted for memory (R-FAIL-7): above 95 % of its limit a worker's
// supervisor restarts it, and a task whose workers keep dying of it fails
// with WorkerMemoryError.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WorkerMemoryError } from "../../src/index.js";
import { double, hoard, hoardThenWait } from "../fixtures/failures.js";
import { waitFor, withCluster } from "../helpers/cluster.js";
import { alive, workerPids } from "../helpers/workers.js";

const T = { timeout: 90_000 };

describe("workers restarted for memory", () => {
  test("memory - a worker above 95% of its memory limit is restarted", T, async () => {
    // A worker process starts at about 120 MB; the task holds 300 MB more, outside the V8 heap.
    await withCluster({ workers: 1, memoryLimit: "400MiB" }, async ({ cluster, client }) => {
      const [first] = Object.values(await workerPids(client));
      // Not held: once its worker is gone, nothing recomputes it on the next one.
      void client.submit(hoard, [300]);
      await waitFor(() => cluster.workerRestarts()["worker-0"]?.memoryRestarts === 1, "a restart for memory", 30_000);
      await waitFor(async () => {
        const now = Object.values(await workerPids(client));
        return now.length === 1 && now[0] !== first;
      }, "the new worker to join", 20_000);
      assert.ok(!alive(first!), "the old process is gone");
      const info = await client.schedulerInfo();
      assert.ok(Object.values(info.workers).every((w) => w.restarts >= 1), "schedulerInfo counts the restart");
      assert.equal(await client.submit(double, [21]).result(20_000), 42);
    });
  });

  test("memory - a task whose workers restart for memory three times fails with WorkerMemoryError", T, async () => {
    await withCluster({ workers: 1, memoryLimit: "400MiB" }, async ({ client }) => {
      // Each worker that runs it grows past the limit and is restarted; the third death is the last.
      const err = await client.submit(hoardThenWait, [300]).exception();
      assert.ok(err instanceof WorkerMemoryError, `expected WorkerMemoryError, got ${err?.name}: ${err?.message}`);
      assert.match(err.message, /3 of them restarted because their memory passed the limit/);
      assert.equal(await client.submit(double, [21]).result(30_000), 42);
    });
  });
});
