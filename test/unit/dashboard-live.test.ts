// What the live dashboard keeps and sends (R-OBS-5): bars on the scheduler's
// clock, bounded journals read from a cursor, workers that left, actors'
// call rates and states, and the worker's bounded ring of task ends.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { groupFromKey, Journal, LiveData, type LiveActorState, type LiveSource } from "../../src/dashboard/live.js";
import type { SchedulerInfo, WorkerInfo, WorkerObservations } from "../../src/protocol/messages.js";
import { WorkerObserver } from "../../src/worker/observer.js";

const W = "tcp://127.0.0.1:1";

function workerInfo(over: Partial<WorkerInfo> = {}): WorkerInfo {
  return { name: "w0", nthreads: 2, actorThreads: 1, resources: {}, tasksProcessing: 0, storedKeys: 0, actors: {}, memoryBytes: 1, memoryLimit: 10, spilledBytes: 0, status: "running", pauses: 0, restarts: 0, ...over };
}

class FakeScheduler implements LiveSource {
  workers: Record<string, WorkerInfo> = { [W]: workerInfo() };
  states: Record<string, LiveActorState> = {};
  groups: Record<string, string> = {};
  info(): SchedulerInfo {
    return { address: "tcp://s:1", workers: this.workers, unrunnable: [], groups: {}, tasks: { waiting: 0, processing: 0, memory: 0, erred: 0, lost: 0, "no-worker": 0, queued: 0 } };
  }
  actorStates(keys: Iterable<string>): Record<string, LiveActorState> {
    return Object.fromEntries([...keys].map((k) => [k, this.states[k] ?? { state: "released", restarts: 0 }]));
  }
  groupOf(key: string): string | undefined {
    return this.groups[key];
  }
}

function observed(over: Partial<WorkerObservations> = {}): WorkerObservations {
  return { now: 0, cpu: 0, netSent: 0, netReceived: 0, tasks: { keys: [], thread: [], startMs: [], stopMs: [], erred: [] }, dropped: 0, running: [], logs: [], ...over };
}

describe("dashboard - live data", () => {
  test("dashboard - task ends become bars on the scheduler's clock, in the scheduler's group or the key's prefix", () => {
    const s = new FakeScheduler();
    s.groups["inc-1"] = "inc";
    const live = new LiveData(s);
    // The worker's clock runs 5 s ahead of the scheduler's.
    const tasks = { keys: ["inc-1", "square-3f9a"], thread: [0, 1], startMs: [105_000, 105_500], stopMs: [105_200, 106_000], erred: [0, 1] };
    live.observe(W, "w0", observed({ now: 106_000, tasks, logs: ["hello"], running: [{ thread: 0, key: "inc-2", sinceMs: 105_900 }] }), 101_000);
    const bars = live.bars.since(0);
    assert.deepEqual(
      bars.map((b) => [b.key, b.group, b.thread, b.start, b.stop, b.erred]),
      [
        ["inc-1", "inc", 0, 100_000, 100_200, false],
        ["square-3f9a", "square", 1, 100_500, 101_000, true],
      ],
    );
    assert.deepEqual(live.logs.since(0).map((l) => [l.name, l.line]), [["w0", "hello"]]);
    assert.deepEqual(live.state(101_000).running, [{ worker: W, thread: 0, key: "inc-2", group: "inc", since: 100_900 }]);
    assert.equal(groupFromKey("map-name-17"), "map-name");
  });

  test("dashboard - a journal gives each reader what it has not seen, and drops the oldest past its bound", () => {
    const j = new Journal<number>(100);
    for (let i = 0; i < 1000; i++) j.push(i);
    assert.equal(j.end, 1000);
    const held = j.since(0);
    assert.ok(held.length >= 100 && held.length <= 125, `holds about its bound, not ${held.length}`);
    assert.equal(held.at(-1), 999);
    assert.deepEqual(j.since(998), [998, 999]);
    assert.deepEqual(j.since(1000), []);
  });

  test("dashboard - a worker that left stays, gone or restarting, until a worker of its name joins", () => {
    const s = new FakeScheduler();
    const live = new LiveData(s);
    live.observe(W, "w0", observed({ now: 1000 }), 1000);
    live.restarting(W);
    live.workerLeft(W, "connection closed", 2000);
    s.workers = {};
    assert.deepEqual(live.state(2500).workers.map((w) => [w.name, w.state, w.reason]), [["w0", "restarting", "connection closed"]]);
    const back = "tcp://127.0.0.1:2";
    s.workers = { [back]: workerInfo({ restarts: 1 }) };
    live.observe(back, "w0", observed({ now: 3000 }), 3000);
    assert.deepEqual(live.state(3000).workers.map((w) => [w.address, w.state, w.restarts]), [[back, "running", 1]]);
  });

  test("dashboard - actors: calls per second over the last seconds, then lost with the reason, and gone once released", () => {
    const s = new FakeScheduler();
    const live = new LiveData(s);
    const alive = (calls: number) => {
      s.workers = { [W]: workerInfo({ actors: { A: { className: "Counter", calls, inFlight: 1, meanCallMs: 2, p50Ms: 1, p99Ms: 9 } } }) };
      s.states = { A: { state: "alive", restarts: 0 } };
    };
    alive(100);
    live.state(0);
    alive(300);
    const a = live.state(2000).actors[0]!;
    assert.deepEqual([a.className, a.state, a.worker, a.calls, a.callsPerSecond, a.p50Ms, a.p99Ms], ["Counter", "alive", W, 300, 100, 1, 9]);
    s.workers = { [W]: workerInfo() };
    s.states = { A: { state: "lost", restarts: 1, error: "ActorLostError: its worker died" } };
    const lost = live.state(3000).actors[0]!;
    assert.deepEqual([lost.state, lost.worker, lost.restarts, lost.error, lost.callsPerSecond, lost.inFlight], ["lost", undefined, 1, "ActorLostError: its worker died", 0, 0]);
    s.states = {};
    assert.deepEqual(live.state(4000).actors, []);
  });

  test("dashboard - a worker's ring keeps the newest task ends and counts the rest as dropped", () => {
    const o = new WorkerObserver();
    for (let i = 0; i < 1500; i++) o.taskEnded(`t-${i}`, i % 2, i, i + 1, i === 1499);
    const first = o.take([]);
    assert.equal(first.tasks.keys.length, 1024);
    assert.equal(first.dropped, 1500 - 1024);
    assert.equal(first.tasks.keys[0], "t-476");
    assert.equal(first.tasks.keys.at(-1), "t-1499");
    assert.equal(first.tasks.erred.at(-1), 1);
    assert.deepEqual(o.take([]).tasks.keys, [], "each end is sent once");
    assert.ok(first.cpu >= 0 && first.now > 0);
  });
});
