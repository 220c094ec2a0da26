// LocalCluster.adapt() (R-OPS-3): workers are added while tasks queue and
// retired when idle, within minimum and maximum.

import assert from "node:assert/strict";
import { test } from "node:test";
import { LocalCluster } from "../../src/index.js";
import { sleep } from "../fixtures/tasks.js";
import { waitFor, withCluster } from "../helpers/cluster.js";

test("adapt - grows to the maximum under a queue of 200 one-second tasks, and shrinks back to the minimum when idle", { timeout: 180_000 }, async () => {
  await withCluster({ workers: 1 }, async ({ cluster, client }) => {
    const adaptive = cluster.adapt({ minimum: 1, maximum: 4, interval: 200 });
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, cluster.workerAddresses().length)), 50);
    try {
      const futures = client.map(sleep, Array.from({ length: 200 }, () => [1000] as [number]));
      await waitFor(async () => Object.keys((await client.schedulerInfo()).workers).length === 4, "4 workers to serve the queue", 90_000);
      // The queue is spread over them.
      await waitFor(async () => Object.values((await client.schedulerInfo()).workers).every((w) => w.tasksProcessing > 0), "every worker to run tasks", 30_000);
      await client.cancel(futures);
      await waitFor(() => cluster.workerAddresses().length === 1, "the cluster to shrink back to 1 worker", 90_000);
      await waitFor(async () => Object.keys((await client.schedulerInfo()).workers).length === 1, "the scheduler to count 1 worker", 30_000);
      assert.ok(most <= 4, `never more than the maximum, saw ${most}`);
      // Still serving.
      assert.equal(await client.submit(sleep, [1]).result(30_000), 1);
      assert.equal(adaptive.minimum, 1);
      assert.equal(adaptive.maximum, 4);
    } finally {
      clearInterval(watch);
      adaptive.stop();
    }
  });
});

test("adapt - refuses bad options with a ConfigError naming them", { timeout: 60_000 }, async () => {
  const cluster = await LocalCluster.start({ workers: 0 });
  try {
    assert.throws(() => cluster.adapt({ minimum: 2, maximum: 1 }), { name: "ConfigError", message: /maximum \(1\) must be at least minimum \(2\)/ });
    assert.throws(() => cluster.adapt({ minimum: 1.5 }), { name: "ConfigError", message: /option minimum must be a non-negative integer/ });
  } finally {
    await cluster.close();
  }
});
