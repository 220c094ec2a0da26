import { test } from "node:test";
import assert from "node:assert/strict";
import { prometheusText } from "../../src/dashboard/metrics.js";
import type { SchedulerInfo } from "../../src/protocol/messages.js";

test("metrics - queued tasks are a gauge of their own, not a state summed with processing", () => {
  const info: SchedulerInfo = {
    address: "tcp://127.0.0.1:1",
    workers: {},
    unrunnable: [],
    groups: {},
    tasks: { waiting: 1, processing: 5, memory: 2, erred: 0, lost: 0, "no-worker": 0, queued: 3 },
  };
  const text = prometheusText(info);
  assert.match(text, /^troupe_tasks\{state="processing"\} 5$/m);
  assert.doesNotMatch(text, /state="queued"/);
  assert.match(text, /^troupe_tasks_queued 3$/m);
  const byState = [...text.matchAll(/^troupe_tasks\{state="[^"]+"\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
  assert.equal(byState, 8, "the states add up to the tasks known");
});
