// The policy behind LocalCluster.adapt() (R-OPS-3): how many workers the
// queue asks for, and which workers go first when there are too many.

import assert from "node:assert/strict";
import { test } from "node:test";
import { idleToRetire, targetWorkers } from "../../src/cluster/adaptive.js";
import { resolveAdaptOptions } from "../../src/cluster/options.js";
import { ConfigError } from "../../src/errors.js";
import type { SchedulerInfo, WorkerInfo } from "../../src/protocol/messages.js";

function worker(extra: Partial<WorkerInfo>): WorkerInfo {
  return {
    name: "w", nthreads: 1, actorThreads: 1, resources: {}, tasksProcessing: 0, storedKeys: 0, actors: {},
    memoryBytes: 0, memoryLimit: 0, spilledBytes: 0, status: "running", pauses: 0, restarts: 0, ...extra,
  };
}

function info(processing: number, noWorker: number, workers: Record<string, WorkerInfo> = {}): SchedulerInfo {
  return { address: "tcp://s:1", workers, unrunnable: [], groups: {}, tasks: { waiting: 50, processing, memory: 0, erred: 0, lost: 0, "no-worker": noWorker, queued: 0 } };
}

test("adapt - the target is one thread per task running or waiting for a worker, within minimum and maximum", () => {
  const opts = { minimum: 1, maximum: 4 };
  assert.equal(targetWorkers(info(200, 0), 1, opts), 4, "a long queue asks for the maximum");
  assert.equal(targetWorkers(info(3, 0), 1, opts), 3);
  assert.equal(targetWorkers(info(2, 3), 2, opts), 3, "tasks no worker can take yet count too; threads per worker divide");
  assert.equal(targetWorkers(info(0, 0), 1, opts), 1, "idle: the minimum (tasks waiting for deps ask for nothing)");
  assert.equal(targetWorkers(info(0, 0), 1, { minimum: 0, maximum: Infinity }), 0);
});

test("adapt - idle workers go first, the fewest actors and least data before the others; busy and retiring ones never", () => {
  const workers = {
    busy: worker({ tasksProcessing: 1 }),
    actor: worker({ actors: { "A-1": { calls: 0, inFlight: 0, meanCallMs: 0, className: "A" } } }),
    data: worker({ storedKeys: 5 }),
    empty: worker({}),
    leaving: worker({ status: "retiring" }),
  };
  assert.deepEqual(idleToRetire(info(1, 0, workers), 2), ["empty", "data"]);
  assert.deepEqual(idleToRetire(info(1, 0, workers), 10), ["empty", "data", "actor"]);
  assert.deepEqual(idleToRetire(info(1, 0, workers), 0), []);
});

test("adapt - options are checked, naming the option", () => {
  assert.deepEqual(resolveAdaptOptions({ minimum: 1, maximum: 4 }), { minimum: 1, maximum: 4, interval: 1000, waitCount: 3, retireTimeout: 20_000 });
  assert.equal(resolveAdaptOptions().maximum, Infinity);
  assert.throws(() => resolveAdaptOptions({ minimum: 3, maximum: 2 }), (e: Error) => e instanceof ConfigError && /maximum \(2\) must be at least minimum \(3\)/.test(e.message));
  assert.throws(() => resolveAdaptOptions({ minimum: -1 }), ConfigError);
  assert.throws(() => resolveAdaptOptions({ maximun: 3 } as never), (e: Error) => e instanceof ConfigError && /did you mean "maximum"/.test(e.message));
});
