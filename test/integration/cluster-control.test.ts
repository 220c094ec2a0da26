// R-TASK-12: fireAndForget, client.restart() and client.waitForWorkers(),
// over real worker processes.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CancelledError, Client, ConfigError, fireAndForget, LocalCluster, TimeoutError, type Actor } from "../../src/index.js";
import { Counter } from "../fixtures/actors.js";
import { double, pid } from "../fixtures/failures.js";
import { countRun } from "../fixtures/tasks-extra.js";
import { sleep } from "../fixtures/tasks.js";
import { waitFor, withCluster } from "../helpers/cluster.js";
import { ProcGroup, requireBuilt } from "../helpers/procs.js";

const T = { timeout: 90_000 };
const scratch = mkdtempSync(join(tmpdir(), "troupe-control-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;
const scratchFile = (): string => join(scratch, `f${files++}`);

/** A task that appends to `file` once a dependency sleeping `ms` on another worker is done. */
function waitingTask(client: Client, cluster: LocalCluster, file: string, ms: number) {
  const [a, b] = cluster.workerAddresses();
  return client.submit(countRun, [file, client.submit(sleep, [ms], { workers: a! })], { workers: b! });
}

describe("fireAndForget", () => {
  test("fireAndForget - a task runs to completion after its client let go of it and closed", T, async () => {
    const cluster = await LocalCluster.start({ workers: 2 });
    const watcher = await Client.connect(cluster);
    try {
      const file = scratchFile();
      const client = await Client.connect(cluster);
      // Still waiting for its dependency, computed on the other worker, when the client closes:
      // without the scheduler's hold it would never run.
      const f = waitingTask(client, cluster, file, 1500);
      fireAndForget(f);
      f.release();
      await client.close();
      await waitFor(() => existsSync(file), "the task to run", 20_000);
      assert.equal(readFileSync(file, "utf8"), "run\n");
      // Done, so the scheduler let go of it and of its dependency.
      await waitFor(async () => {
        const { tasks } = await watcher.schedulerInfo();
        return Object.values(tasks).every((n) => n === 0);
      }, "the scheduler to forget the tasks", 10_000);
    } finally {
      await watcher.close();
      await cluster.close();
    }
  });

  test("fireAndForget - without it, a task its closed client no longer holds never runs", T, async () => {
    await withCluster({ workers: 2 }, async ({ cluster }) => {
      const file = scratchFile();
      const client = await Client.connect(cluster);
      waitingTask(client, cluster, file, 500);
      await client.close();
      // Long enough for the dependency and the task to have run, had they been kept.
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(existsSync(file), false);
    });
  });

  test("fireAndForget - takes Futures, one or many", () => {
    assert.throws(() => fireAndForget(42 as never), ConfigError);
    assert.throws(() => fireAndForget([Promise.resolve(1)] as never), ConfigError);
  });
});

describe("client.restart()", () => {
  test("restart - every worker is replaced, every Future cancelled, and the cluster serves again", T, async () => {
    await withCluster({ workers: 2 }, async ({ cluster, client }) => {
      const before = Object.values(await client.run(pid));
      const done = client.submit(double, [21]);
      assert.equal(await done, 42);
      const running = client.submit(sleep, [60_000]);
      const counter: Actor<Counter> = await client.submit(Counter, [], { actor: true });
      assert.equal(await counter.increment(), 1);

      await client.restart();
      // Resolved once as many workers as before are back.
      assert.equal(Object.keys((await client.schedulerInfo()).workers).length, 2);
      // The cluster hears from its new processes on a channel of their own, maybe a moment later.
      await waitFor(() => cluster.workerAddresses().length === 2, "the cluster to list both workers");
      const after = Object.values(await client.run(pid));
      assert.equal(after.length, 2);
      for (const p of after) assert.ok(!before.includes(p), "new processes");

      assert.equal(done.status, "cancelled");
      assert.equal(running.status, "cancelled");
      await assert.rejects(done.result(), CancelledError);
      await assert.rejects(running.result(), CancelledError);
      await assert.rejects(counter.increment().result(10_000));
      assert.equal((await client.schedulerInfo()).tasks.memory, 0, "nothing of the old workers is held");
      assert.equal(await client.submit(double, [4]).result(20_000), 8);
      const again: Actor<Counter> = await client.submit(Counter, [], { actor: true });
      assert.equal(await again.increment().result(20_000), 1);
    });
  });
});

describe("client.restart() with workers that have no supervisor", () => {
  const procs = new ProcGroup();
  const dir = mkdtempSync(join(tmpdir(), "troupe-bare-"));
  const tokenFile = join(dir, "token");
  const token = "bare-token-" + process.pid;
  writeFileSync(tokenFile, token, { mode: 0o600 });
  before(requireBuilt);
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test("restart - a worker run with --no-nanny leaves, and restart() says they did not come back", T, async () => {
    const s = procs.cli("scheduler", ["scheduler", "--port", "0", "--dashboard-port", "0", "--token-file", tokenFile]);
    const address = (await s.line(/troupe scheduler at (\S+)/))[1]!;
    const bare = procs.cli("bare worker", ["worker", address, "--no-nanny", "--token-file", tokenFile]);
    await bare.line(/troupe worker \S+ at /);
    const client = await Client.connect(address, { token });
    try {
      await client.waitForWorkers(1, { timeout: 20_000 });
      await assert.rejects(client.restart({ timeout: 2000 }), (err: Error) => err instanceof TimeoutError && /0 of the 1 workers/.test(err.message));
      await bare.waitExit(15_000);
      assert.notEqual(bare.exitCode, 0);
    } finally {
      await client.close();
    }
  });
});

describe("client.waitForWorkers()", () => {
  test("waitForWorkers - resolves once that many workers have joined", T, async () => {
    await withCluster({ workers: 0 }, async ({ cluster, client }) => {
      let resolved = false;
      const waiting = client.waitForWorkers(2, { timeout: 60_000 }).then(() => (resolved = true));
      await cluster.addWorker();
      await client.schedulerInfo(); // a round trip after the first worker joined
      assert.equal(resolved, false, "one worker is not two");
      await cluster.addWorker();
      await waiting;
      assert.equal(Object.keys((await client.schedulerInfo()).workers).length, 2);
      await client.waitForWorkers(1); // enough already: at once
    });
  });

  test("waitForWorkers - TimeoutError when they do not come; bad arguments are refused", T, async () => {
    await withCluster({ workers: 1 }, async ({ client }) => {
      await assert.rejects(client.waitForWorkers(3, { timeout: 300 }), (err: Error) => err instanceof TimeoutError && /1 of 3/.test(err.message));
      await assert.rejects(client.waitForWorkers(-1), ConfigError);
      await assert.rejects(client.waitForWorkers(1, { timeout: -5 }), ConfigError);
    });
  });
});
