import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_RESTART_INTERVAL_MS, MIN_RESTART_INTERVAL_MS, restartDelayMs } from "../../src/cluster/supervisor.js";

test("supervisor backoff - a worker that ran a while starts again at once, one that just started a second after its start", () => {
  assert.equal(restartDelayMs(0, 60_000), 0);
  assert.equal(restartDelayMs(0, 300), MIN_RESTART_INTERVAL_MS - 300);
  assert.equal(restartDelayMs(0, 0), MIN_RESTART_INTERVAL_MS);
});

test("supervisor backoff - each failed start in a row doubles the interval between starts, up to its bound", () => {
  const intervals = [1, 2, 3, 4, 5, 6, 7, 10].map((n) => restartDelayMs(n, 0));
  assert.deepEqual(intervals, [2000, 4000, 8000, 16_000, MAX_RESTART_INTERVAL_MS, MAX_RESTART_INTERVAL_MS, MAX_RESTART_INTERVAL_MS, MAX_RESTART_INTERVAL_MS]);
  // The time the failed start took counts towards the wait.
  assert.equal(restartDelayMs(2, 1500), 4000 - 1500);
});
