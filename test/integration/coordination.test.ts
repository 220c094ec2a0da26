// Queue, Lock, Semaphore, Event and Variable used from a client and from
// tasks at once, over real worker processes (R-TASK-14).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, Event, Lock, Queue, Semaphore, TimeoutError, Variable } from "../../src/index.js";
import { awaitQueuedFuture, doubleFromQueue, holdLease, holdLockForever, incrementUnderLock, waitForEvent } from "../fixtures/coordination.js";
import { add } from "../fixtures/tasks.js";
import { useCluster } from "../helpers/cluster.js";

const T = { timeout: 90_000 };

describe("coordination", () => {
  const h = useCluster({ workers: 2 });

  it("queue - tasks and the client share queues by name, first in first out; a queued Future outlives its client's reference", T, async () => {
    const input = new Queue<number>("numbers");
    const output = new Queue<number>("doubles");
    const workers = h.client.map(doubleFromQueue, [["numbers", "doubles", 5], ["numbers", "doubles", 5]]);
    for (let i = 1; i <= 10; i++) await input.put(i);
    const got: number[] = [];
    for (let i = 0; i < 10; i++) got.push(await output.get({ timeout: 30_000 }));
    assert.deepEqual(got.sort((a, b) => a - b), [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    assert.deepEqual(await h.client.gather(workers), [5, 5]);
    assert.equal(await input.size(), 0);
    await assert.rejects(output.get({ timeout: 50 }), TimeoutError);
    // A Future in a queue: its result is kept while queued, though the client dropped it.
    const f = h.client.submit(add, [1, 2]);
    await new Queue("futures").put(f);
    f.release();
    assert.equal(await h.client.submit(awaitQueuedFuture, ["futures"]), 4);
  });

  it("lock - read-modify-write from tasks and the client at once loses no update", T, async () => {
    const count = new Variable<number>("count");
    await count.set(0);
    const tasks = h.client.map(incrementUnderLock, [["L", "count", 5], ["L", "count", 5]]);
    await incrementUnderLock("L", "count", 5);
    await h.client.gather(tasks);
    assert.equal(await count.get(), 15);
    const lock = new Lock("L");
    assert.equal(await lock.locked(), false);
    assert.equal(await lock.acquire(), true);
    assert.equal(await new Lock("L").acquire({ timeout: 50 }), false, "exclusive");
    {
      await using held = lock;
      assert.equal(await held.locked(), true);
    }
    assert.equal(await lock.locked(), false, "released on leaving the using block");
    await assert.rejects(lock.release(), ConfigError);
  });

  it("semaphore and event - at most maxLeases holders across tasks and the client; one set wakes every waiter", T, async () => {
    const says = new Queue<string>("holding");
    const holders = h.client.map(holdLease, [["S", 2, "go", "holding"], ["S", 2, "go", "holding"]]);
    await says.get({ timeout: 30_000 });
    await says.get({ timeout: 30_000 });
    const sem = new Semaphore("S", { maxLeases: 2 });
    assert.equal(await sem.getValue(), 2);
    assert.equal(await sem.acquire({ timeout: 50 }), false, "both leases are held by tasks");
    await assert.rejects(new Semaphore("S", { maxLeases: 3 }).acquire({ timeout: 50 }), (err: Error) => err instanceof ConfigError && /maxLeases 2/.test(err.message));
    const waiters = h.client.map(waitForEvent, [["go", 30_000], ["go", 30_000], ["go", 30_000]]);
    const late = sem.acquire({ timeout: 30_000 });
    const go = new Event("go");
    assert.equal(await go.isSet(), false);
    assert.equal(await waitForEvent("go", 50), false);
    await go.set();
    assert.deepEqual(await h.client.gather(waiters), [true, true, true]);
    assert.deepEqual(await h.client.gather(holders), [true, true]);
    assert.equal(await late, true, "a lease came free once a holder released");
    await sem.release();
    await go.clear();
    assert.equal(await go.wait({ timeout: 50 }), false);
  });

  it("variable - get waits until a value is set, from another task; delete drops it", T, async () => {
    const v = new Variable<string>("later");
    await assert.rejects(v.get({ timeout: 50 }), TimeoutError);
    const reader = h.client.submit(waitForEvent, ["never-set", 10]);
    assert.equal(await reader, false);
    const pending = v.get({ timeout: 30_000 });
    await v.set("now");
    assert.equal(await pending, "now");
    await v.delete();
    await assert.rejects(v.get({ timeout: 50 }), TimeoutError);
    assert.throws(() => new Lock(""), ConfigError);
    assert.throws(() => new Semaphore("s", { maxLeases: 0 }), ConfigError);
  });

  it("lock - a lease whose holder's process is killed is freed", T, async () => {
    const task = h.client.submit(holdLockForever, ["K", "K-killed"]);
    assert.equal(await new Event("K-held").wait({ timeout: 30_000 }), true);
    const lock = new Lock("K");
    assert.equal(await lock.locked(), true);
    const holder = await new Variable<string>("K-holder").get();
    await new Event("K-killed").set();
    await h.cluster.stopWorker(holder, { graceful: false });
    assert.equal(await lock.acquire({ timeout: 30_000 }), true, "freed when the holder's connection closed");
    await lock.release();
    assert.equal(await task, "not again", "run again on the other worker, which takes no lock once told");
  });
});
