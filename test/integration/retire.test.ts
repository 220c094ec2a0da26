// Graceful retirement (R-OPS-2): a retired worker's data moves to other
// workers (no recomputation), its restartable actors are re-created
// elsewhere, others are waited for until released, and it exits 0 without
// being restarted: through client.retireWorkers, and SIGTERM to `troupe worker`.

import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { actorInfo, ActorLostError, Client, ConfigError, type Actor } from "../../src/index.js";
import { Counter } from "../fixtures/actors.js";
import { recorded, runs } from "../fixtures/retire.js";
import { waitFor, withCluster } from "../helpers/cluster.js";
import { ProcGroup, requireBuilt } from "../helpers/procs.js";

const T = { timeout: 120_000 };
const MIB = 1 << 20;

describe("retire", () => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-retire-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("retire - retireWorkers moves held data without recomputing it, re-creates a restartable actor elsewhere, and the worker is not restarted", T, async () => {
    await withCluster({ workers: 2 }, async ({ cluster, client }) => {
      const [a, b] = cluster.workerAddresses();
      // A small value and a large one (a shared segment on this host), both only on a.
      const small = client.submit(recorded, [dir, "small", 10, 1], { workers: a });
      const large = client.submit(recorded, [dir, "large", 4 * MIB, 2], { workers: a });
      await client.gather([small, large]);
      const counter = (await client.submit(Counter, [], { actor: true, restarts: 1, workers: a, allowOtherWorkers: true })) as Actor<Counter>;
      assert.equal(await counter.add(5), 5);
      assert.equal(actorInfo(counter).workerAddress, a);

      assert.deepEqual(await client.retireWorkers([a!]), [a]);

      assert.deepEqual(await client.whoHas([small, large]), { [small.key]: [b], [large.key]: [b] });
      assert.deepEqual(Array.from(await small), Array.from(new Uint8Array(10).fill(1)));
      const big = await large;
      assert.equal(big.byteLength, 4 * MIB);
      assert.ok(big.every((x) => x === 2));
      assert.deepEqual(runs(dir), { small: 1, large: 1 }, "each task ran once: the data moved");
      // Re-created from its constructor on b (one of its restarts).
      assert.equal(await counter.increment(), 1);
      assert.equal(await counter.where(), b);
      // The worker exited 0, so its supervisor dropped it rather than start another.
      await waitFor(() => cluster.workerAddresses().length === 1, "the retired worker's process to exit", 30_000);
      assert.deepEqual(cluster.workerAddresses(), [b]);
      assert.deepEqual(Object.keys(cluster.workerRestarts()), ["worker-1"]);
      assert.deepEqual(Object.keys((await client.schedulerInfo()).workers), [b]);
    });
  });

  test("retire - an actor without restarts keeps its worker until released; past the timeout it is lost", T, async () => {
    await withCluster({ workers: 2 }, async ({ cluster, client }) => {
      const [a] = cluster.workerAddresses();
      const kept = (await client.submit(Counter, [], { actor: true, workers: a })) as Actor<Counter>;
      await kept.increment();
      const retiring = client.retireWorkers(a!, { timeout: 60_000 });
      await waitFor(async () => (await client.schedulerInfo()).workers[a!]?.status === "retiring", "the worker to show as retiring");
      // Still served where it is while it waits.
      assert.equal(await kept.increment(), 2);
      client.release(kept);
      assert.deepEqual(await retiring, [a]);

      const [c] = cluster.workerAddresses().filter((x) => x !== a);
      const lost = (await client.submit(Counter, [], { actor: true, workers: c })) as Actor<Counter>;
      await lost.increment();
      await client.retireWorkers(c!, { timeout: 500 });
      await assert.rejects(async () => await lost.increment(), ActorLostError);
    });
  });

  test("retire - an address that is not a worker is refused", T, async () => {
    await withCluster({ workers: 1 }, async ({ client }) => {
      await assert.rejects(client.retireWorkers("tcp://127.0.0.1:1"), (err: Error) => err instanceof ConfigError && /no worker at tcp:\/\/127\.0\.0\.1:1/.test(err.message));
      await assert.rejects(client.retireWorkers([1 as unknown as string]), ConfigError);
      await assert.rejects(client.retireWorkers([], { timeout: -1 }), ConfigError);
    });
  });
});

describe("retire - SIGTERM to troupe worker", () => {
  const procs = new ProcGroup();
  const dir = mkdtempSync(join(tmpdir(), "troupe-sigterm-"));
  const tokenFile = join(dir, "token");
  const token = "retire-" + process.pid;
  before(() => {
    requireBuilt();
    writeFileSync(tokenFile, token);
    chmodSync(tokenFile, 0o600);
  });
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test("retire - SIGTERM to troupe worker moves its data and actors, and its nanny exits 0 without restarting it", T, async () => {
    const s = procs.cli("scheduler", ["scheduler", "--port", "0", "--dashboard-port", "0", "--token-file", tokenFile]);
    const address = (await s.line(/troupe scheduler at ((?:tcp|tls):\/\/\S+)/))[1]!;
    const first = procs.cli("worker a", ["worker", address, "--token-file", tokenFile, "--name", "a"]);
    const [, a] = (await first.line(/troupe worker a at (\S+)/))!;
    const health = (await first.line(/health at (\S+)/))[1]!;
    const second = procs.cli("worker b", ["worker", address, "--token-file", tokenFile, "--name", "b"]);
    const [, b] = (await second.line(/troupe worker b at (\S+)/))!;
    const client = await Client.connect(address, { token });
    try {
      assert.equal((await fetch(health)).status, 200);
      await client.waitForWorkers(2, { timeout: 30_000 });
      const value = client.submit(recorded, [dir, "held", 1000, 7], { workers: a });
      await value;
      const counter = (await client.submit(Counter, [], { actor: true, restarts: 2, workers: a, allowOtherWorkers: true })) as Actor<Counter>;
      assert.equal(await counter.add(3), 3);

      first.child.kill("SIGTERM");
      await first.waitExit(45_000);
      assert.equal(first.exitCode, 0, `stderr: ${first.stderr}`);
      assert.equal([...first.stdout.matchAll(/troupe worker a at /g)].length, 1, "the nanny started no other worker");

      assert.deepEqual(await client.whoHas([value]), { [value.key]: [b] });
      assert.equal((await value).byteLength, 1000);
      assert.deepEqual(runs(dir), { held: 1 }, "the task ran once: the data moved");
      assert.equal(await counter.increment(), 1);
      assert.equal(await counter.where(), b);
      assert.deepEqual(Object.keys((await client.schedulerInfo()).workers), [b]);
    } finally {
      await client.close();
    }
  });
});
