// A scheduler that dies and is started again at its address (SPEC R-FAIL-9):
// workers and clients keep their state and reconnect, the new scheduler
// rebuilds from what they report, futures stay pending through the gap and
// complete after it, actors keep their state, and nothing held runs again.
// With no scheduler for longer than schedulerTimeout, workers exit non-zero
// and clients fail with CommError.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Client, CommError } from "../../src/index.js";
import { Counter } from "../fixtures/actors.js";
import { add } from "../fixtures/tasks.js";
import { countRun, countSlowly } from "../fixtures/tasks-extra.js";
import { waitFor } from "../helpers/cluster.js";
import { unusedAddress } from "../helpers/ports.js";
import { ProcGroup, requireBuilt, type Proc } from "../helpers/procs.js";

const T = { timeout: 90_000 };
const SCHEDULER_LINE = /troupe scheduler at ((?:tcp|tls):\/\/\S+)/;
const WORKER_LINE = /troupe worker (\S+) at ((?:tcp|tls):\/\/\S+)/;

describe("a scheduler restarted at its address", () => {
  const procs = new ProcGroup();
  const dir = mkdtempSync(join(tmpdir(), "troupe-restart-"));
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, "restart-token\n", { mode: 0o600 });
  let address = "";
  let port = "";
  const startScheduler = (label: string): Proc => procs.cli(label, ["scheduler", "--port", port, "--dashboard-port", "0", "--token-file", tokenFile]);

  before(async () => {
    requireBuilt();
    address = await unusedAddress();
    port = address.split(":").at(-1)!;
  });
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test("loses nothing: futures complete, the actor keeps its state, held results are not computed again", T, async () => {
    const first = startScheduler("scheduler 1");
    await first.line(SCHEDULER_LINE);
    for (const name of ["w1", "w2"]) await procs.cli(name, ["worker", address, "--name", name, "--token-file", tokenFile]).line(WORKER_LINE);
    const client = await Client.connect(address, { token: "restart-token" });
    try {
      await client.waitForWorkers(2, { timeout: 20_000 });
      const counter = await client.submit(Counter, [], { actor: true });
      for (let i = 1; i <= 3; i++) assert.equal(await counter.increment(), i);
      // Held results: each counts its runs in a file of its own.
      const held = Array.from({ length: 6 }, (_, i) => client.submit(countRun, [join(dir, `held-${i}`), i]));
      assert.deepEqual(await client.gather(held), [0, 1, 2, 3, 4, 5]);
      // In flight when the scheduler dies: they finish during the gap, or run after it.
      const inFlight = Array.from({ length: 4 }, (_, i) => client.submit(countSlowly, [join(dir, `slow-${i}`), 1500, i * 10]));
      await waitFor(async () => (await client.schedulerInfo()).tasks.processing === 4, "the slow tasks to be placed");

      first.child.kill("SIGKILL");
      await first.waitExit(10_000);
      // No scheduler: calls between the client and the actor still work (they never pass through it).
      assert.equal(await counter.increment().result(10_000), 4);
      // Submitted during the gap: sent once a scheduler is back.
      const later = client.submit(add, [20, 22]);

      const second = startScheduler("scheduler 2");
      await second.line(SCHEDULER_LINE);
      assert.deepEqual(await Promise.all(inFlight.map((f) => f.result(30_000))), [0, 10, 20, 30]);
      assert.equal(await later.result(30_000), 42);
      assert.equal(await counter.increment().result(10_000), 5, "the actor kept its state");
      assert.deepEqual(await client.gather(held), [0, 1, 2, 3, 4, 5], "held results are still there");
      for (let i = 0; i < 6; i++) assert.equal(readFileSync(join(dir, `held-${i}`), "utf8"), "run\n", `held-${i} ran again`);
      // Running through the gap, they were adopted where they ran, not started again elsewhere.
      for (let i = 0; i < 4; i++) assert.equal(readFileSync(join(dir, `slow-${i}`), "utf8"), "run\n", `slow-${i} ran again`);
      // Both workers are members of the new scheduler, with what they held.
      const info = await client.schedulerInfo();
      assert.equal(Object.keys(info.workers).length, 2);
      assert.ok(Object.values(info.workers).reduce((n, w) => n + w.storedKeys, 0) >= 6);
      assert.equal(await client.submit(add, [1, 2]).result(20_000), 3);
    } finally {
      await client.close();
    }
  });
});

describe("a detached named actor across a scheduler restart", () => {
  const procs = new ProcGroup();
  const dir = mkdtempSync(join(tmpdir(), "troupe-detached-"));
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, "detached-token\n", { mode: 0o600 });
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test("survives with no client holding it: found by its name afterwards, state intact", T, async () => {
    requireBuilt();
    const address = await unusedAddress();
    const port = address.split(":").at(-1)!;
    const startScheduler = (label: string): Proc => procs.cli(label, ["scheduler", "--port", port, "--dashboard-port", "0", "--token-file", tokenFile]);
    const first = startScheduler("scheduler 1");
    await first.line(SCHEDULER_LINE);
    await procs.cli("w1", ["worker", address, "--name", "w1", "--token-file", tokenFile]).line(WORKER_LINE);
    const creator = await Client.connect(address, { token: "detached-token" });
    await creator.waitForWorkers(1, { timeout: 20_000 });
    const made = await creator.submit(Counter, [], { actor: true, name: "survivor", lifetime: "detached" });
    assert.equal(await made.add(41), 41);
    await creator.close();

    first.child.kill("SIGKILL");
    await first.waitExit(10_000);
    const second = startScheduler("scheduler 2");
    await second.line(SCHEDULER_LINE);
    const client = await Client.connect(address, { token: "detached-token" });
    try {
      // Tasks are placed again only once recovery is over: by then, whatever no one holds has been let go.
      assert.equal(await client.submit(add, [1, 2]).result(30_000), 3);
      const found = await client.getActor<Counter>("survivor");
      assert.equal(await found.increment(), 42, "its state survived the restart");
      await client.killActor("survivor");
    } finally {
      await client.close();
    }
  });
});

describe("a scheduler gone for longer than schedulerTimeout", () => {
  const procs = new ProcGroup();
  const dir = mkdtempSync(join(tmpdir(), "troupe-gone-"));
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, "gone-token\n", { mode: 0o600 });
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test("workers exit with status 3 (their nannies too), clients fail with CommError, nothing hangs", T, async () => {
    requireBuilt();
    const address = await unusedAddress();
    const port = address.split(":").at(-1)!;
    const scheduler = procs.cli("scheduler", ["scheduler", "--port", port, "--dashboard-port", "0", "--token-file", tokenFile]);
    await scheduler.line(SCHEDULER_LINE);
    const nanny = procs.cli("nanny", ["worker", address, "--token-file", tokenFile, "--scheduler-timeout", "3000"]);
    const bare = procs.cli("bare", ["worker", address, "--no-nanny", "--token-file", tokenFile, "--scheduler-timeout", "3000"]);
    await nanny.line(WORKER_LINE);
    await bare.line(WORKER_LINE);
    const client = await Client.connect(address, { token: "gone-token", schedulerTimeout: 3000 });
    try {
      const pending = client.submit(countSlowly, [join(dir, "never"), 60_000, 1]);
      await waitFor(async () => (await client.schedulerInfo()).tasks.processing === 1, "the task to start");
      scheduler.child.kill("SIGKILL");
      const t0 = Date.now();
      await assert.rejects(pending.result(30_000), CommError);
      assert.ok(Date.now() - t0 < 15_000, "the client gave up after its schedulerTimeout");
      await bare.waitExit(20_000);
      await nanny.waitExit(20_000);
      assert.equal(bare.exitCode, 3);
      assert.equal(nanny.exitCode, 3);
      assert.throws(() => client.submit(add, [1, 2]), CommError);
    } finally {
      await client.close();
    }
  });
});

describe("a scheduler whose state machine throws", () => {
  const procs = new ProcGroup();
  const dir = mkdtempSync(join(tmpdir(), "troupe-faulty-"));
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, "faulty-token\n", { mode: 0o600 });
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test("exits non-zero; started again, it rebuilds, and the work that made it fail completes", T, async () => {
    requireBuilt();
    const address = await unusedAddress();
    const port = address.split(":").at(-1)!;
    const faulty = procs.node("faulty scheduler", ["--import", "tsx", "test/fixtures/faulty-scheduler.ts", port, "faulty-token"]);
    await faulty.line(/faulty scheduler at/);
    await procs.cli("w1", ["worker", address, "--token-file", tokenFile]).line(WORKER_LINE);
    const client = await Client.connect(address, { token: "faulty-token" });
    try {
      await client.waitForWorkers(1, { timeout: 20_000 });
      const before = client.submit(add, [1, 1]);
      assert.equal(await before.result(20_000), 2);
      const boom = client.submit(add, [2, 3], { key: "boom-1" });
      await faulty.waitExit(20_000);
      assert.equal(faulty.exitCode, 70);
      assert.match(faulty.stderr, /failed to handle an event/);
      // Its supervisor (here, the test) starts it again at the same address: nothing the client held is lost.
      await procs.cli("scheduler", ["scheduler", "--port", port, "--dashboard-port", "0", "--token-file", tokenFile]).line(SCHEDULER_LINE);
      assert.equal(await boom.result(30_000), 5);
      assert.equal(await before.result(10_000), 2);
    } finally {
      await client.close();
    }
  });
});
