// Faults of user code cost the work that caused them, never a worker (SPEC
// R-FAIL-6, R-FAIL-7's heap bound, R-TASK-13's forced stop, R-FAIL-10), with
// real worker processes.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { KilledWorkerError, WorkerMemoryError, type Client } from "../../src/index.js";
import {
  allocateForever,
  appendAfterSpinning,
  double,
  exitThread,
  Faulty,
  forgetRejection,
  forgetRejectionThenWait,
  pid,
  randomBlob,
  sha256,
  spinForever,
  throwFromTimer,
  waitForAbort,
} from "../fixtures/failures.js";
import { useCluster, waitFor, withCluster } from "../helpers/cluster.js";
import { alive } from "../helpers/workers.js";

/** Each worker's process id, by address. */
async function pids(client: Client): Promise<Record<string, number>> {
  return client.run(pid);
}

describe("containment - faults in a task fail that task only", () => {
  const h = useCluster({ workers: 2 });

  test("a rejection the task forgot to await fails the task, even one that returned", async () => {
    const before = await pids(h.client);
    await assert.rejects(h.client.submit(forgetRejection, []).result(20_000), (err: Error) => {
      assert.match(err.message, /the forgotten rejection/);
      assert.match(err.message, /unhandled/);
      return true;
    });
    await assert.rejects(h.client.submit(forgetRejectionThenWait, [50]).result(20_000), /the forgotten async rejection/);
    assert.deepEqual(await pids(h.client), before, "every worker is the same process");
  });

  test("an exception thrown from a timer fails the task that set the timer", async () => {
    const before = await pids(h.client);
    await assert.rejects(h.client.submit(throwFromTimer, []).result(20_000), (err: Error) => {
      assert.match(err.message, /thrown from a timer/);
      assert.match(err.message, /timer or callback/);
      return true;
    });
    assert.deepEqual(await pids(h.client), before);
  });

  test("process.exit() in a task fails that task; the tasks queued behind it on its worker still run", async () => {
    const [a] = h.cluster.workerAddresses();
    const before = await pids(h.client);
    const exiting = h.client.submit(exitThread, [], { workers: a! });
    // Submitted together: posted to the same thread right behind the task that exits.
    const fs = h.client.map(double, [1, 2, 3, 4, 5, 6].map((x) => [x] as [number]), { workers: a! });
    await assert.rejects(exiting.result(20_000), /process\.exit\(3\)/);
    assert.deepEqual(await h.client.gather(fs), [2, 4, 6, 8, 10, 12]);
    assert.deepEqual(await pids(h.client), before);
  });

  test("other tasks running beside a faulty one are unaffected", async () => {
    const fine = h.client.map(double, Array.from({ length: 40 }, (_, i) => [i] as [number]));
    const bad = [h.client.submit(forgetRejection, []), h.client.submit(throwFromTimer, []), h.client.submit(exitThread, [])];
    assert.deepEqual(await h.client.gather(fine), Array.from({ length: 40 }, (_, i) => 2 * i));
    for (const f of bad) assert.ok((await f.exception()) instanceof Error);
  });
});

describe("containment - faults in an actor method fail that call only", () => {
  const h = useCluster({ workers: 1 });

  test("forgotten rejection, timer throw and process.exit each fail their call; the actor keeps its state", async () => {
    const actor = await h.client.submit(Faulty, [], { actor: true });
    assert.equal(await actor.increment(), 1);
    const before = await actor.pid();
    await assert.rejects(actor.forgetRejection().result(20_000), /the actor's forgotten rejection/);
    assert.equal(await actor.increment(), 2);
    await assert.rejects(actor.throwFromTimer().result(20_000), /the actor's timer threw/);
    assert.equal(await actor.increment(), 3);
    await assert.rejects(actor.exit().result(20_000), /process\.exit\(4\)/);
    assert.equal(await actor.increment(), 4);
    assert.equal(await actor.pid(), before);
  });
});

describe("containment - memory", () => {
  test("a task that allocates without end fails with WorkerMemoryError while an actor on its worker keeps answering", async () => {
    await withCluster({ workers: 1, memoryLimit: "1GiB" }, async ({ client }) => {
      const actor = await client.submit(Faulty, [], { actor: true });
      const before = await actor.pid();
      const hog = client.submit(allocateForever, []);
      let answered = 0;
      while (hog.status === "pending") {
        assert.equal(await actor.increment().result(10_000), ++answered);
        await new Promise((r) => setTimeout(r, 20));
      }
      const err = await hog.exception();
      assert.ok(err instanceof WorkerMemoryError, `expected WorkerMemoryError, got ${err?.name}: ${err?.message}`);
      assert.ok(err instanceof KilledWorkerError);
      assert.match(err.message, new RegExp(hog.key));
      assert.match(err.message, /1\.0 GiB/);
      assert.ok(answered > 1, "the actor answered while the task allocated");
      assert.equal(await actor.pid(), before, "the same worker process");
      assert.equal(await client.submit(double, [21]).result(20_000), 42);
    });
  });
});

describe("memory - spilling", () => {
  test("above 60 % of the limit the largest values spill to disk, and come back byte-identical", async () => {
    await withCluster({ workers: 1, memoryLimit: "400MB" }, async ({ client }) => {
      const blobs = client.map(randomBlob, Array.from({ length: 10 }, () => [16 * 2 ** 20] as [number]));
      const hashes = await client.gather(blobs.map((b) => client.submit(sha256, [b])));
      const info = await waitFor(async () => {
        const w = Object.values((await client.schedulerInfo()).workers)[0]!;
        return w.spilledBytes > 0 ? w : undefined;
      }, "values to spill to disk", 20_000);
      assert.equal(info.memoryLimit, 400e6);
      // Read back on the worker (a task taking them) and by the client: the same bytes.
      assert.deepEqual(await client.gather(blobs.map((b) => client.submit(sha256, [b]))), hashes);
      assert.deepEqual((await client.gather(blobs)).map((b) => sha256(b)), hashes);
    });
  });
});

describe("containment - cancelling running tasks", () => {
  test("an endless loop is stopped after the grace period, and its worker runs a new task soon after", async () => {
    const graceMs = 1000; // the default
    await withCluster({ workers: 1, cancelGraceMs: graceMs }, async ({ client }) => {
      const spin = client.submit(spinForever, []);
      await waitFor(async () => (await client.schedulerInfo()).tasks.processing === 1, "the loop to start");
      await new Promise((r) => setTimeout(r, 100)); // surely running, not only assigned
      const t0 = Date.now();
      await spin.cancel();
      assert.equal(spin.status, "cancelled");
      assert.equal(await client.submit(double, [4]).result(20_000), 8);
      const took = Date.now() - t0;
      assert.ok(took < graceMs + 1000, `a new task ran ${took} ms after the cancel (grace ${graceMs} ms)`);
    });
  });

  test("a task watching currentSignal() sees it abort on cancel", async () => {
    await withCluster({ workers: 1 }, async ({ client, cluster }) => {
      const [a] = cluster.workerAddresses();
      const before = (await pids(client))[a!];
      const f = client.submit(waitForAbort, []);
      await waitFor(async () => (await client.schedulerInfo()).tasks.processing === 1, "the task to start");
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      await f.cancel();
      // It stopped by itself, well before the grace period would have stopped its thread.
      assert.ok(Date.now() - t0 < 900, "cancel() returned once the task stopped");
      assert.equal((await pids(client))[a!], before);
    });
  });
});

describe("containment - a worker removed while stopped", () => {
  test("runs none of its queued tasks once it resumes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "troupe-stopped-"));
    const file = join(dir, "runs.txt");
    try {
      await withCluster({ workers: 2 }, async ({ client, cluster }) => {
        const [a, b] = cluster.workerAddresses();
        const workerPid = (await pids(client))[a!]!;
        // One long task and quick ones queued behind it, all on a (posted ahead to its thread).
        // The long one ends right after the resume (it watches the clock), racing the worker's
        // main thread, which learns of the removal from its socket.
        const fs = Array.from({ length: 12 }, (_, i) =>
          client.submit(appendAfterSpinning, [file, `t${i}`, i === 0 ? 1500 : 0], { workers: a!, allowOtherWorkers: true }),
        );
        await waitFor(async () => (await client.schedulerInfo()).workers[a!]?.tasksProcessing === 12, "the tasks to reach a");
        await new Promise((r) => setTimeout(r, 200)); // the first is running
        process.kill(workerPid, "SIGSTOP");
        try {
          await waitFor(async () => !((a!) in (await client.schedulerInfo()).workers), "the stopped worker to be removed", 15_000);
          // Its tasks now run on b.
          assert.deepEqual((await client.gather(fs)).length, 12);
        } finally {
          process.kill(workerPid, "SIGCONT");
        }
        // Give the resumed worker the time it would need to run what it had queued.
        await waitFor(() => !alive(workerPid), "the resumed worker to stop", 15_000).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 1500));
        const runs = readFileSync(file, "utf8").trim().split("\n");
        const counts = new Map<string, number>();
        for (const r of runs) counts.set(r, (counts.get(r) ?? 0) + 1);
        for (let i = 1; i < 12; i++) assert.equal(counts.get(`t${i}`), 1, `t${i} ran ${counts.get(`t${i}`)} times: ${runs.join(",")}`);
        assert.ok((counts.get("t0") ?? 0) >= 1, "the task running at the removal ran");
        assert.ok(b);
      });
    } finally {
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    }
  });
});

