// An embedded Scheduler and Worker close at the end of an `await using`
// block, as a Client and a LocalCluster do.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Client, CommError, Scheduler, Worker } from "../../src/index.js";

const TOKEN = "lifecycle";

/** What a promise settled to, or "pending" after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | "pending"> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"pending">((r) => (timer = setTimeout(() => r("pending"), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

test("lifecycle - await using closes a Scheduler and a Worker at the end of the block", async () => {
  let scheduler: Scheduler | undefined;
  let worker: Worker | undefined;
  try {
    {
      await using s = await Scheduler.start({ token: TOKEN });
      await using w = await Worker.start({ scheduler: s.address, token: TOKEN, name: "disposed" });
      scheduler = s;
      worker = w;
      const client = await Client.connect(s.address, { token: TOKEN });
      await client.waitForWorkers(1, { timeout: 10_000 });
      await client.close();
    }
    // Disposed in reverse order: the worker stopped as asked (no fault), then the scheduler stopped listening.
    assert.deepEqual(await within(worker.closed, 5000), {});
    await assert.rejects(Client.connect(scheduler.address, { token: TOKEN, timeout: 2000 }), CommError);
  } finally {
    await worker?.close();
    await scheduler?.close();
  }
});
