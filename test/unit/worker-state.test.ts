// The worker's task bookkeeping, events in → instructions out.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Payload } from "../../src/protocol/payload.js";
import type { ComputeTask } from "../../src/protocol/messages.js";
import { WorkerState, type WorkerInstruction } from "../../src/worker/state.js";
import { compactPart } from "../../src/worker/thread-protocol.js";

const SELF = "tcp://self:1";
const fn = { kind: "source" as const, source: "(x) => x", name: "f", isClass: false };

function task(key: string, whoHas: Record<string, string[]> = {}, extra: Partial<ComputeTask> = {}): ComputeTask {
  return { op: "compute-task", key, fn, args: new Payload([new Uint8Array([0x90])]), whoHas, actor: false, priority: 0, ...extra };
}

const fetches = (out: WorkerInstruction[]) => out.filter((i) => i.do === "fetch");
const sends = (out: WorkerInstruction[]) => out.flatMap((i) => (i.do === "send" ? [i.msg] : []));

test("a task without dependencies is ready at once; tasks come out by priority", () => {
  const s = new WorkerState(SELF);
  s.compute(task("low", {}, { priority: 0 }));
  s.compute(task("high", {}, { priority: 5 }));
  assert.equal(s.nextTask()?.key, "high");
  assert.equal(s.nextTask()?.key, "low");
  assert.equal(s.nextTask(), undefined);
});

test("missing dependencies are fetched, one request per holder, each key once, with the sizes the scheduler knows", () => {
  const s = new WorkerState(SELF, () => 0);
  const out = s.compute(task("t", { a: ["tcp://p:1"], b: ["tcp://p:1"], c: ["tcp://q:1"] }, { nbytes: { a: 10, c: 30 } }));
  assert.deepEqual(fetches(out), [
    { do: "fetch", holder: "tcp://p:1", keys: ["a", "b"], sizes: [10, 0] },
    { do: "fetch", holder: "tcp://q:1", keys: ["c"], sizes: [30] },
  ]);
  // A second task needing a key already on its way does not fetch it again.
  assert.deepEqual(fetches(s.compute(task("u", { a: ["tcp://p:1"] }))), []);
  s.fetched("tcp://p:1", ["a", "b"], ["a", "b"], { a: 1, b: 1 }, []);
  assert.equal(s.nextTask()?.key, "u");
  assert.equal(s.nextTask(), undefined); // t still waits for c
  s.fetched("tcp://q:1", ["c"], ["c"], { c: 1 }, []);
  assert.equal(s.nextTask()?.key, "t");
});

test("fetched copies are reported; missing keys are reported against their holder", () => {
  const s = new WorkerState(SELF, () => 0);
  s.compute(task("t", { a: ["tcp://p:1"], h: ["tcp://p:1"] }));
  const out = s.fetched("tcp://p:1", ["a", "h"], ["h"], {}, ["a"]);
  assert.deepEqual(sends(out), [{ op: "missing-data", key: "a", worker: "tcp://p:1" }]);
  assert.equal(s.nextTask(), undefined);
  // The scheduler re-sends the task with a new holder.
  const again = s.compute(task("t", { a: ["tcp://r:1"], h: ["tcp://p:1"] }));
  assert.deepEqual(fetches(again), [{ do: "fetch", holder: "tcp://r:1", keys: ["a"], sizes: [0] }]);
  assert.deepEqual(sends(s.fetched("tcp://r:1", ["a"], ["a"], { a: 3 }, [])), [{ op: "add-keys", keys: ["a"], nbytes: { a: 3 } }]);
  assert.equal(s.nextTask()?.key, "t");
});

test("a dependency held here is not fetched, and a local result wakes its waiters", () => {
  const s = new WorkerState(SELF);
  s.stored("a");
  s.compute(task("t", { a: [SELF] }));
  assert.equal(s.nextTask()?.key, "t");
  // A task whose dependency only this worker will have waits for it, without fetching.
  assert.deepEqual(fetches(s.compute(task("u", { b: [] }))), []);
  s.stored("b");
  assert.equal(s.nextTask()?.key, "u");
  // Re-sent with a holder elsewhere (a copy turned up there first): fetched from it.
  s.compute(task("v", { c: [] }));
  assert.deepEqual(fetches(s.compute(task("v", { c: ["tcp://p:1"] }))), [{ do: "fetch", holder: "tcp://p:1", keys: ["c"], sizes: [0] }]);
});

test("freed tasks are not run and their results are dropped", () => {
  const s = new WorkerState(SELF);
  const a = task("a");
  s.compute(a);
  s.compute(task("b"));
  assert.equal(s.nextTask(), a);
  s.free(["a", "b"]);
  assert.equal(s.nextTask(), undefined);
  assert.equal(s.finished("a", a), false);
  assert.equal(s.taskCount, 0);
});

test("a finished task's duplicate is ignored; actors are created at once", () => {
  const s = new WorkerState(SELF);
  const t = task("t");
  s.compute(t);
  s.nextTask();
  assert.equal(s.finished("t", t), true);
  s.stored("t");
  assert.deepEqual(s.compute(task("t")), []);
  assert.equal(s.readyCount, 0);
  const out = s.compute(task("A", {}, { actor: true }));
  assert.deepEqual(out.map((i) => i.do), ["create-actor"]);
  assert.equal(s.nextTask(), undefined);
});

test("a chained task runs right behind its dep; if it cannot, it waits for the dep again", () => {
  const s = new WorkerState(SELF);
  const a = task("a");
  s.compute(a);
  assert.equal(s.nextTask(), a); // a is running on some thread
  s.compute(task("b", { a: [] }));
  assert.deepEqual([...s.missingOf("b")!], ["a"]);
  const b = s.startChained("b")!;
  assert.equal(b.key, "b");
  assert.equal(s.missingOf("b"), undefined); // running now, not waiting
  // a's result arriving does not queue b a second time.
  assert.equal(s.finished("a", a), true);
  s.stored("a");
  assert.equal(s.nextTask(), undefined);
  // The thread could not run b after all: it becomes ready (a is held now).
  s.requeue("b", b);
  assert.equal(s.nextTask()?.key, "b");
});

test("a chained task whose dep failed waits until the scheduler frees it", () => {
  const s = new WorkerState(SELF);
  const a = task("a");
  s.compute(a);
  s.nextTask();
  s.compute(task("b", { a: [] }));
  const b = s.startChained("b")!;
  s.finished("a", a); // a failed: never stored
  assert.deepEqual(fetches(s.requeue("b", b)), []);
  assert.equal(s.nextTask(), undefined);
  assert.deepEqual([...s.missingOf("b")!], ["a"]);
  s.free(["b"]);
  assert.equal(s.taskCount, 0);
});

test("a part posted to a thread carries only its own bytes, also when it is a view into a socket's Buffer", () => {
  const chunk = Buffer.alloc(64 * 1024, 7);
  const part = compactPart(chunk.subarray(100, 105));
  // Structured clone copies a view's whole buffer: 5 bytes must not take 64 KiB with them.
  assert.equal(part.buffer.byteLength, 5);
  chunk.fill(0);
  assert.deepEqual([...part], [7, 7, 7, 7, 7]);
  const whole = new Uint8Array([1, 2, 3]);
  assert.equal(compactPart(whole), whole, "a part that is its whole buffer is posted as it is");
});
