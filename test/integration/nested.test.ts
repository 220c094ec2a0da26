// Tasks that wait on other tasks (SPEC R-TASK-11): while a task awaits
// results through getClient(), its thread slot goes to other tasks, so
// nothing deadlocks however few threads the cluster has.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { add } from "../fixtures/tasks.js";
import { fib, gatherInside } from "../fixtures/tasks-extra.js";
import { useCluster } from "../helpers/cluster.js";

describe("nested tasks", () => {
  const h = useCluster({ workers: 2, threadsPerWorker: 1 });

  test("recursive fib(12) over futures completes on 2 workers × 1 thread", async () => {
    assert.equal(await h.client.submit(fib, [12]).result(60_000), 144);
  });

  test("a task gathering futures queued behind it on its own single thread completes", async () => {
    const [a] = h.cluster.workerAddresses();
    // All on one worker: the parts can only run on the thread the gathering task holds.
    const parts = h.client.map(add, [[1, 2], [3, 4], [5, 6]], { workers: a! });
    const total = h.client.submit(gatherInside, [parts], { workers: a! });
    assert.deepEqual(await total.result(30_000), [3, 7, 11]);
  });
});
