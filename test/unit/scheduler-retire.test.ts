// Graceful retirement in the scheduler's state machine (R-OPS-2): what the
// scheduler asks of the retiring worker and of the others, event by event.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { TaskSpec } from "../../src/protocol/messages.js";
import { SchedulerState, type Instruction, type SchedulerEvent } from "../../src/scheduler/state.js";
import { spec } from "../helpers/specs.js";

function harness() {
  const s = new SchedulerState();
  let now = 0;
  const h = {
    s,
    ev(e: SchedulerEvent, at?: number): Instruction[] {
      if (at !== undefined) now = at;
      const out = s.handle(e, now);
      s.checkInvariants();
      return out;
    },
    worker(address: string, nthreads = 1) {
      return h.ev({ type: "worker-added", address, name: address, nthreads, actorThreads: 1, resources: {}, incarnation: address + "-1" });
    },
    submit(tasks: TaskSpec[], wanted = tasks.map((t) => t.key)) {
      return h.ev({ type: "update-graph", client: "c1", tasks, wanted });
    },
    finish(worker: string, key: string, actor = false) {
      return h.ev({
        type: "task-finished", worker, key, nbytes: 10, startMs: 0, stopMs: 1,
        ...(actor ? { actor: { key, className: "A", workerAddress: worker, methods: ["m"], attributes: [], incarnation: 0 } } : {}),
      });
    },
    retire(address: string, timeoutMs = 20_000) {
      return h.ev({ type: "retire-workers", workers: [address], timeoutMs });
    },
  };
  h.ev({ type: "client-added", client: "c1" });
  return h;
}

const toWorker = (out: Instruction[], op: string) =>
  out.flatMap((i) => (i.to === "worker" && i.msg.op === op ? [{ address: i.address, msg: i.msg as unknown as Record<string, unknown> }] : []));
const retired = (out: Instruction[]) => out.flatMap((i) => (i.to === "retired" ? [i.address] : []));

test("retire - data held only by the retiring worker is copied to another before the worker is told it is retired", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a")]);
  h.finish("w1", "a");
  h.worker("w2");
  let out = h.retire("w1");
  assert.deepEqual(toWorker(out, "acquire-replicas"), [{ address: "w2", msg: { op: "acquire-replicas", holder: "w1", keys: ["a"] } }]);
  assert.deepEqual(retired(out), [], "not before the copy is made");
  assert.equal(h.s.info().workers.w1!.status, "retiring");
  // A tick in between asks nothing twice.
  assert.deepEqual(toWorker(h.ev({ type: "tick" }, 500), "acquire-replicas"), []);
  out = h.ev({ type: "add-keys", worker: "w2", keys: ["a"], nbytes: { a: 10 } });
  assert.deepEqual(retired(out), ["w1"]);
  assert.deepEqual(h.s.whoHas(["a"]), { a: ["w2"] });
  assert.equal(h.s.taskState("a"), "memory");
  assert.deepEqual(toWorker(out, "compute-task"), [], "nothing is recomputed");
  assert.deepEqual(h.s.workerAddresses(), ["w2"]);
});

test("retire - a retiring worker takes no new work and gives back what it has not started", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a"), spec("b")]);
  h.worker("w2");
  // Both went to w1 before w2 joined; w1 runs a, b waits in its queue.
  assert.equal(h.s.processingOn("b"), "w1");
  const out = h.retire("w1");
  assert.deepEqual(toWorker(out, "steal-request"), [{ address: "w1", msg: { op: "steal-request", keys: ["a", "b"] } }]);
  const back = h.ev({ type: "steal-response", worker: "w1", released: ["b"], kept: ["a"] });
  assert.deepEqual(toWorker(back, "compute-task").map((c) => [c.address, c.msg.key]), [["w2", "b"]]);
  assert.deepEqual(toWorker(h.submit([spec("c")]), "compute-task").map((c) => c.address), ["w2"], "new work goes elsewhere");
  // Its running task finishes there, and its result moves before it leaves.
  let done = h.finish("w1", "a");
  assert.deepEqual(retired(done), []);
  assert.deepEqual(toWorker(done, "acquire-replicas").map((c) => c.msg.keys), [["a"]]);
  done = h.ev({ type: "add-keys", worker: "w2", keys: ["a"], nbytes: { a: 10 } });
  assert.deepEqual(retired(done), ["w1"]);
});

test("retire - an actor with restarts left is re-created elsewhere; one without is waited for until released", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("A-1", [], { actor: true, restarts: 1 }), spec("B-1", [], { actor: true })]);
  h.finish("w1", "A-1", true);
  // Both actors on w1 (the only worker when they were placed).
  assert.equal(h.s.processingOn("B-1"), "w1");
  h.finish("w1", "B-1", true);
  h.worker("w2");
  let out = h.retire("w1");
  assert.deepEqual(toWorker(out, "free-keys"), [{ address: "w1", msg: { op: "free-keys", keys: ["A-1"] } }], "the old instance goes");
  const created = toWorker(out, "compute-task");
  assert.deepEqual(created.map((c) => [c.address, c.msg.key, c.msg.incarnation]), [["w2", "A-1", 1]]);
  out = h.finish("w2", "A-1", true);
  assert.deepEqual(retired(out), [], "B-1 has no restarts: it keeps w1 until released");
  out = h.ev({ type: "release-keys", client: "c1", keys: ["B-1"] });
  assert.deepEqual(retired(out), ["w1"]);
  assert.equal(h.s.taskState("A-1"), "memory");
  assert.deepEqual(h.s.whoHas(["A-1"]), { "A-1": ["w2"] });
});

test("retire - past its timeout the worker leaves anyway: what it held alone is recomputed, its actors without restarts lost", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a"), spec("B-1", [], { actor: true })]);
  h.finish("w1", "a");
  h.finish("w1", "B-1", true);
  h.worker("w2");
  h.retire("w1", 1000);
  assert.deepEqual(retired(h.ev({ type: "tick" }, 500)), []);
  const out = h.ev({ type: "tick" }, 1000);
  assert.deepEqual(retired(out), ["w1"]);
  assert.deepEqual(toWorker(out, "compute-task").map((c) => [c.address, c.msg.key]), [["w2", "a"]]);
  assert.equal(h.s.taskState("B-1"), "lost");
});

test("retire - with no other worker to take anything, the worker is retired at once", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a")]);
  h.finish("w1", "a");
  const out = h.retire("w1");
  assert.deepEqual(retired(out), ["w1"]);
  assert.equal(h.s.taskState("a"), "no-worker", "wanted still: it waits for a worker to recompute it on");
});

test("retire - an actor restricted to the retiring worker is not re-created (it would have nowhere to live): it is waited for", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  h.submit([spec("A-1", [], { actor: true, restarts: 3, workers: ["w1"] })]);
  h.finish("w1", "A-1", true);
  const out = h.retire("w1");
  assert.deepEqual(toWorker(out, "free-keys"), []);
  assert.deepEqual(retired(out), []);
  assert.deepEqual(retired(h.ev({ type: "release-keys", client: "c1", keys: ["A-1"] })), ["w1"]);
});
