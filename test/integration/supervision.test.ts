// Supervision of worker processes (R-FAIL-5): workers that
// die are started again, in a LocalCluster and under `troupe worker`'s nanny;
// exit statuses say whether a worker stopped on request or because of a fault.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Client, KilledWorkerError } from "../../src/index.js";
import { crash, double } from "../fixtures/failures.js";
import { waitFor, withCluster } from "../helpers/cluster.js";
import { ProcGroup, requireBuilt } from "../helpers/procs.js";
import { alive, workerPids } from "../helpers/workers.js";

const T = { timeout: 90_000 };
const SCHEDULER_LINE = /troupe scheduler at ((?:tcp|tls):\/\/\S+)/;
const WORKER_LINE = /troupe worker (\S+) at ((?:tcp|tls):\/\/\S+)/g;

describe("supervision in a LocalCluster", () => {
  test("supervision - a task killing worker after worker ends in KilledWorkerError, and 2 workers are live again", T, async () => {
    await withCluster({ workers: 2 }, async ({ cluster, client }) => {
      const err = await client.submit(crash, []).exception();
      assert.ok(err instanceof KilledWorkerError, `expected KilledWorkerError, got ${err?.name}: ${err?.message}`);
      await waitFor(() => cluster.workerAddresses().length === 2, "both workers to be back", 20_000);
      await waitFor(async () => Object.keys((await client.schedulerInfo()).workers).length === 2, "both workers to join the scheduler", 20_000);
      const restarts = Object.values(cluster.workerRestarts()).reduce((n, r) => n + r.restarts, 0);
      assert.ok(restarts >= 2, `3 deaths, so at least 2 restarts; got ${restarts}`);
      assert.deepEqual(await client.gather(client.map(double, [[1], [2], [3]])), [2, 4, 6]);
    });
  });

  test("supervision - a worker killed from outside comes back as a new worker, and tasks keep running", T, async () => {
    await withCluster({ workers: 2 }, async ({ cluster, client }) => {
      const before = await workerPids(client);
      const [victimAddress, victimPid] = Object.entries(before)[0]!;
      process.kill(victimPid, "SIGKILL");
      await waitFor(async () => {
        const now = Object.values(await workerPids(client));
        return now.length === 2 && !now.includes(victimPid);
      }, "a new worker process in place of the killed one", 20_000);
      const info = await client.schedulerInfo();
      const back = Object.keys(info.workers);
      assert.equal(back.length, 2);
      assert.deepEqual(cluster.workerAddresses().sort(), back.sort());
      assert.equal(Object.values(cluster.workerRestarts()).reduce((n, r) => n + r.restarts, 0), 1);
      // A new worker holds nothing of the old one, even at the same address (R-FAIL-3).
      if (back.includes(victimAddress)) assert.equal(info.workers[victimAddress]!.storedKeys, 0);
      assert.deepEqual(await client.gather(client.map(double, [[5], [6], [7], [8]])), [10, 12, 14, 16]);
    });
  });

  test("supervision - stopWorker and close are requested stops: no worker is started again", T, async () => {
    await withCluster({ workers: 2 }, async ({ cluster, client }) => {
      const [a, b] = cluster.workerAddresses();
      const pids = await workerPids(client);
      await cluster.stopWorker(a!, { graceful: false });
      await cluster.stopWorker(b!);
      assert.deepEqual(cluster.workerAddresses(), []);
      assert.deepEqual(cluster.workerRestarts(), {});
      await waitFor(() => !alive(pids[a!]!) && !alive(pids[b!]!), "both processes to be gone");
      // A restart would come within a second of the exit, and join within a few more.
      await assert.rejects(
        waitFor(async () => Object.keys((await client.schedulerInfo()).workers).length > 0, "a worker to come back", 4000),
        /timed out/,
      );
    });
  });

  test("supervision - a worker whose new process cannot start is tried again, with backoff, until one can", T, async () => {
    await withCluster({ workers: 1 }, async ({ cluster, client }) => {
      const [victim] = Object.values(await workerPids(client));
      const nodeArgs = process.env.TROUPE_WORKER_NODE_ARGS;
      // From now on a new worker process fails before it is ready.
      process.env.TROUPE_WORKER_NODE_ARGS = `--import ${join(tmpdir(), "troupe-no-such-module.mjs")}`;
      try {
        process.kill(victim!, "SIGKILL");
        await waitFor(() => cluster.workerRestarts()["worker-0"]!.restarts >= 2, "two failed starts", 20_000);
        assert.deepEqual(cluster.workerAddresses(), []);
      } finally {
        if (nodeArgs === undefined) delete process.env.TROUPE_WORKER_NODE_ARGS;
        else process.env.TROUPE_WORKER_NODE_ARGS = nodeArgs;
      }
      await waitFor(() => cluster.workerAddresses().length === 1, "a start that works", 40_000);
      assert.equal(await client.submit(double, [2]).result(20_000), 4);
    });
  });
});

describe("troupe worker under its nanny, and without", () => {
  const procs = new ProcGroup();
  const dir = mkdtempSync(join(tmpdir(), "troupe-nanny-"));
  const token = "nanny-test-token-" + process.pid;
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, token + "\n", { mode: 0o600 });

  before(requireBuilt);
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startScheduler(): Promise<string> {
    const s = procs.cli("scheduler", ["scheduler", "--port", "0", "--dashboard-port", "0", "--token-file", tokenFile]);
    return (await s.line(SCHEDULER_LINE))[1]!;
  }

  test("supervision - the nanny restarts its worker after a SIGKILL, and exits 0 on SIGTERM", T, async () => {
    const address = await startScheduler();
    const nanny = procs.cli("nanny", ["worker", address, "--token-file", tokenFile, "--name", "nannied"]);
    await nanny.line(/troupe worker nannied at /);
    const client = await Client.connect(address, { token });
    try {
      await waitFor(async () => Object.keys(await workerPids(client)).length === 1, "the worker to join");
      const [childPid] = Object.values(await workerPids(client));
      assert.notEqual(childPid, nanny.pid, "the worker runs in a child process");
      process.kill(childPid!, "SIGKILL");
      await waitFor(() => [...nanny.stdout.matchAll(WORKER_LINE)].length === 2, "the nanny to start a new worker", 20_000);
      await waitFor(async () => {
        const now = Object.values(await workerPids(client));
        return now.length === 1 && now[0] !== childPid;
      }, "the new worker to join", 20_000);
      assert.equal(await client.submit(double, [4]).result(20_000), 8);
      const [newPid] = Object.values(await workerPids(client));
      nanny.child.kill("SIGTERM");
      await nanny.waitExit(15_000);
      assert.equal(nanny.exitCode, 0, `stderr: ${nanny.stderr}`);
      assert.ok(!alive(newPid!), "the worker went with its nanny");
    } finally {
      await client.close();
    }
  });

  test("supervision - --no-nanny runs the worker in the same process and exits 3 when its scheduler is gone for longer than --scheduler-timeout", T, async () => {
    const scheduler = procs.cli("scheduler", ["scheduler", "--port", "0", "--dashboard-port", "0", "--token-file", tokenFile]);
    const address = (await scheduler.line(SCHEDULER_LINE))[1]!;
    const bare = procs.cli("bare worker", ["worker", address, "--token-file", tokenFile, "--no-nanny", "--scheduler-timeout", "1000"]);
    await bare.line(/troupe worker \S+ at /);
    const client = await Client.connect(address, { token });
    try {
      await waitFor(async () => Object.keys(await workerPids(client)).length === 1, "the worker to join");
      assert.deepEqual(Object.values(await workerPids(client)), [bare.pid]);
    } finally {
      await client.close();
    }
    await scheduler.kill();
    await bare.waitExit(15_000);
    assert.equal(bare.exitCode, 3, `stderr: ${bare.stderr}`);
  });

  test("supervision - a bad --memory-limit is a usage error", T, async () => {
    const p = procs.cli("bad limit", ["worker", "tcp://127.0.0.1:1", "--memory-limit", "lots"]);
    await p.waitExit(15_000);
    assert.equal(p.exitCode, 2);
    assert.match(p.stderr, /^troupe: --memory-limit/);
  });
});
