// Options of every public entry point: one validator per options type, with
// defaults from one place, refusing bad options with a ConfigError that names
// the option before anything starts.

import assert from "node:assert/strict";
import { totalmem } from "node:os";
import { describe, test } from "node:test";
import { resolveClientOptions } from "../../src/client/options.js";
import { DEFAULT_START_TIMEOUT_MS, resolveAddWorkerOptions, resolveLocalClusterOptions } from "../../src/cluster/options.js";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "../../src/comm/index.js";
import { Client, ConfigError, LocalCluster, Scheduler, Worker } from "../../src/index.js";
import { checkOptions, NON_NEGATIVE_INT, POSITIVE_INT, type Rules } from "../../src/options.js";
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, resolveSchedulerOptions } from "../../src/scheduler/options.js";
import { DEFAULT_CANCEL_GRACE_MS, DEFAULT_HEARTBEAT_INTERVAL_MS, resolveWorkerOptions } from "../../src/worker/options.js";

/** A ConfigError whose message matches. */
const configError = (message: RegExp) => (err: unknown) => {
  assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
  assert.match(err.message, message);
  return true;
};

describe("options - checkOptions", () => {
  interface Shape {
    count?: number;
    threads?: number;
  }
  const rules: Rules<Shape> = { count: NON_NEGATIVE_INT, threads: POSITIVE_INT };

  test("options - an unknown option is named, with the near miss it probably meant", () => {
    assert.throws(() => checkOptions({ thread: 2 } as Shape, rules, "f"), configError(/^f: unknown option "thread"; did you mean "threads"\?$/));
    assert.throws(() => checkOptions({ COUNT: 2 } as Shape, rules, "f"), configError(/did you mean "count"/));
    assert.throws(() => checkOptions({ somethingElse: 1 } as Shape, rules, "f"), configError(/^f: unknown option "somethingElse"$/));
  });

  test("options - a mistyped value names the option, what it must be, and what it got", () => {
    assert.throws(() => checkOptions({ threads: 0 }, rules, "f"), configError(/^f: option threads must be a positive integer, got 0$/));
    assert.throws(() => checkOptions({ count: "3" } as never, rules, "f"), configError(/option count must be a non-negative integer, got "3"/));
    assert.throws(() => checkOptions(5 as never, rules, "f"), configError(/^f: options must be an object, got 5$/));
    assert.throws(() => checkOptions([] as never, rules, "f"), configError(/options must be an object, got an array/));
  });

  test("options - undefined counts as not given, and nothing given is no options", () => {
    assert.deepEqual(checkOptions({ count: undefined }, rules, "f"), { count: undefined });
    assert.deepEqual(checkOptions(undefined, rules, "f"), {});
  });
});

describe("options - defaults", () => {
  test("options - a client connects within 10 s, directly to workers, from the working directory, with up to 10,000 calls in flight per actor, and waits a minute for a lost scheduler", () => {
    assert.deepEqual(resolveClientOptions(), {
      token: undefined,
      directToWorkers: true,
      timeout: 10_000,
      tls: undefined,
      codeRoot: process.cwd(),
      maxPendingCalls: { calls: 10_000, bytes: 64 * 2 ** 20 },
      schedulerTimeout: 60_000,
      dashboard: true,
    });
    assert.equal(DEFAULT_CONNECT_TIMEOUT_MS, 10_000);
  });

  test("options - a scheduler listens on loopback, on any port, and removes a worker silent for 3 s", () => {
    const o = resolveSchedulerOptions();
    assert.equal(o.host, "127.0.0.1");
    assert.equal(o.port, 0);
    assert.equal(o.heartbeatTimeoutMs, DEFAULT_HEARTBEAT_TIMEOUT_MS);
    assert.equal(DEFAULT_HEARTBEAT_TIMEOUT_MS, 3000);
    assert.equal(o.dashboardPort, undefined);
    // Three heartbeats missed, and a dead worker is noticed within 5 s (R-FAIL-1).
    assert.equal(DEFAULT_HEARTBEAT_TIMEOUT_MS, 3 * DEFAULT_HEARTBEAT_INTERVAL_MS);
  });

  test("options - a worker gets one task and one actor thread, and the client's connect timeout", () => {
    const o = resolveWorkerOptions({ scheduler: "tcp://127.0.0.1:8786" });
    assert.equal(o.nthreads, 1);
    assert.equal(o.actorThreads, 1);
    assert.equal(o.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS);
    assert.equal(o.heartbeatIntervalMs, DEFAULT_HEARTBEAT_INTERVAL_MS);
    assert.equal(o.schedulerTimeout, 60_000);
    assert.equal(o.cancelGraceMs, DEFAULT_CANCEL_GRACE_MS);
    assert.equal(o.memoryLimit, totalmem());
    assert.match(o.name, /-\d+$/);
    assert.equal(resolveWorkerOptions({ scheduler: "tcp://127.0.0.1:8786", memoryLimit: "1GiB" }).memoryLimit, 2 ** 30);
    // Four fetches from peers at once, holding at most a tenth of the memory limit between them.
    assert.equal(o.transferIncomingCountLimit, 4);
    assert.equal(resolveWorkerOptions({ scheduler: "tcp://127.0.0.1:8786", memoryLimit: "1GiB" }).transferIncomingBytesLimit, Math.floor(2 ** 30 / 10));
    assert.equal(resolveWorkerOptions({ scheduler: "tcp://127.0.0.1:8786", transferIncomingBytesLimit: "64MiB" }).transferIncomingBytesLimit, 64 * 2 ** 20);
  });

  test("options - a LocalCluster shares the machine's memory among its workers and makes a token", () => {
    const o = resolveLocalClusterOptions({ workers: 2 });
    assert.equal(o.threadsPerWorker, 1);
    assert.equal(o.memoryLimit, Math.floor(totalmem() / 2));
    assert.equal(o.startTimeout, DEFAULT_START_TIMEOUT_MS);
    assert.match(o.token, /^[0-9a-f]{48}$/);
    assert.notEqual(resolveLocalClusterOptions().token, o.token);
    assert.equal(o.dashboard, true);
    // An added worker takes the cluster's settings unless given its own.
    assert.deepEqual(resolveAddWorkerOptions({ nthreads: 3 }, { ...o, threadsPerWorker: 2, resources: { GPU: 1 } }), {
      nthreads: 3,
      actorThreads: 1,
      resources: { GPU: 1 },
      name: undefined,
      port: undefined,
      memoryLimit: o.memoryLimit,
    });
  });
});

describe("options - every entry point refuses bad options before starting anything", () => {
  test("options - LocalCluster.start", async () => {
    await assert.rejects(LocalCluster.start({ threadPerWorker: 2 } as never), configError(/LocalCluster\.start: unknown option "threadPerWorker"; did you mean "threadsPerWorker"\?/));
    await assert.rejects(LocalCluster.start({ workers: -1 }), configError(/option workers must be a non-negative integer, got -1/));
    await assert.rejects(LocalCluster.start({ memoryLimit: "lots" }), configError(/memoryLimit must be a number of bytes or a size/));
  });

  test("options - addWorker", async () => {
    const cluster = await LocalCluster.start({ workers: 0 });
    try {
      await assert.rejects(cluster.addWorker({ nthreads: 0 }), configError(/addWorker: option nthreads must be a positive integer, got 0/));
      await assert.rejects(cluster.addWorker({ threads: 2 } as never), configError(/addWorker: unknown option "threads"/));
      assert.deepEqual(cluster.workerAddresses(), []);
    } finally {
      await cluster.close();
    }
  });

  test("options - Scheduler.start", async () => {
    await assert.rejects(Scheduler.start({ port: 70_000 }), configError(/Scheduler\.start: option port must be an integer from 0 to 65535/));
    await assert.rejects(Scheduler.start({ heartbeatTimeout: 5 } as never), configError(/did you mean "heartbeatTimeoutMs"/));
  });

  test("options - Worker.start", async () => {
    await assert.rejects(Worker.start({} as never), configError(/Worker\.start: option scheduler is required/));
    await assert.rejects(Worker.start({ scheduler: "localhost" }), configError(/Invalid address "localhost"/));
    // Nothing listens at port 1: the option is refused before any connection is tried.
    await assert.rejects(Worker.start({ scheduler: "tcp://127.0.0.1:1", nthreads: 1.5 }), configError(/option nthreads must be a positive integer, got 1.5/));
    await assert.rejects(Worker.start({ scheduler: "tcp://127.0.0.1:1", transferIncomingCountLimit: 0 }), configError(/option transferIncomingCountLimit must be a positive integer, got 0/));
    await assert.rejects(Worker.start({ scheduler: "tcp://127.0.0.1:1", transferIncomingBytesLimit: "lots" }), configError(/transferIncomingBytesLimit must be a number of bytes or a size/));
  });

  test("options - Client.connect", async () => {
    await assert.rejects(Client.connect("tcp://127.0.0.1:1", { timeout: -1 }), configError(/Client\.connect: option timeout must be a positive number of milliseconds, got -1/));
    await assert.rejects(Client.connect("tcp://127.0.0.1:1", { directToWorker: false } as never), configError(/did you mean "directToWorkers"/));
  });
});
