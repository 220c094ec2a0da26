import { test } from "node:test";
import assert from "node:assert/strict";
import { prometheusText } from "../../src/dashboard/metrics.js";
import { ActorCallTotals } from "../../src/metrics/actor-calls.js";
import { MAX_LABEL_VALUES, OTHER } from "../../src/metrics/labels.js";
import type { SchedulerInfo, TaskSpec } from "../../src/protocol/messages.js";
import { Payload } from "../../src/protocol/payload.js";
import { SchedulerState } from "../../src/scheduler/state.js";

test("metrics - queued tasks are a gauge of their own, not a state summed with processing", () => {
  const info: SchedulerInfo = {
    address: "tcp://127.0.0.1:1",
    workers: {},
    unrunnable: [],
    groups: {},
    tasks: { waiting: 1, processing: 5, memory: 2, erred: 0, lost: 0, "no-worker": 0, queued: 3 },
  };
  const text = prometheusText({ info, groups: [], actorCalls: new ActorCallTotals() });
  assert.match(text, /^troupe_tasks\{state="processing"\} 5$/m);
  assert.doesNotMatch(text, /state="queued"/);
  assert.match(text, /^troupe_tasks_queued 3$/m);
  const byState = [...text.matchAll(/^troupe_tasks\{state="[^"]+"\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
  assert.equal(byState, 8, "the states add up to the tasks known");
});

test("metrics - group labels are bounded: groups beyond the first 100 add up under \"other\"", () => {
  const s = new SchedulerState();
  s.handle({ type: "client-added", client: "c" }, 0);
  s.handle({ type: "worker-added", address: "tcp://w:1", name: "w", nthreads: 1, actorThreads: 1, resources: {}, incarnation: "w1" }, 0);
  const tasks: TaskSpec[] = Array.from({ length: 150 }, (_, i) => ({
    key: `k${i}`,
    fn: { kind: "source", source: "x=>x", name: `g${i}`, isClass: false },
    args: new Payload([]),
    deps: [],
    options: {},
    group: `g${i}`,
  }));
  s.handle({ type: "update-graph", client: "c", tasks, wanted: tasks.map((t) => t.key) }, 0);
  s.handle({ type: "tasks-finished", worker: "tcp://w:1", keys: tasks.map((t) => t.key), nbytes: tasks.map(() => 1), durationMs: tasks.map(() => 2) }, 1);
  const { groups, actorCalls } = s.metrics();
  assert.equal(groups.length, MAX_LABEL_VALUES + 1);
  const other = groups.find((g) => g.label === OTHER)!;
  assert.equal(other.durations.count, 150 - MAX_LABEL_VALUES);
  assert.equal(other.states.memory, 150 - MAX_LABEL_VALUES);
  const text = prometheusText({ info: { address: "tcp://s:1", ...s.info() }, groups, actorCalls });
  assert.equal(text.match(/^troupe_tasks_finished_total\{/gm)?.length, MAX_LABEL_VALUES + 1);
  assert.match(text, /^troupe_tasks_finished_total\{group="other"\} 50$/m);
});
