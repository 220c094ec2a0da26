// Runs of plain tasks, and their small results, cross between a worker's
// threads as parallel arrays over one buffer. What may pack, what must not,
// and that nothing changes on the way.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  NO_DEPS,
  packDones,
  packRuns,
  unpackDones,
  unpackRuns,
  type FromThread,
  type RunTask,
  type RunTasks,
  type TasksDone,
  type ToThread,
} from "../../src/worker/thread-protocol.js";

const clone = structuredClone;
const fn = { kind: "source" as const, source: "(x) => x", name: "f", isClass: false };
const other = { kind: "source" as const, source: "(x) => x + 1", name: "g", isClass: false };

function run(id: number, bytes: number[], extra: Partial<RunTask> = {}): RunTask {
  return { t: "run", id, key: `k${id}`, fn, args: [new Uint8Array(bytes)], deps: NO_DEPS, actor: false, ...extra };
}

test("consecutive plain tasks of one function pack into one runs message and come back unchanged", () => {
  const batch = [run(1, [1, 2]), run(2, []), run(3, [3, 4, 5])];
  const out = packRuns(batch);
  assert.equal(out.length, 1);
  const m = out[0] as RunTasks;
  assert.equal(m.t, "runs");
  assert.deepEqual(m.ids, [1, 2, 3]);
  assert.equal(m.bytes.byteLength, 5, "one buffer holds every argument");
  const back = unpackRuns(clone(m) as RunTasks);
  assert.deepEqual(back.map((r) => [r.id, r.key, [...r.args[0]!], r.deps === NO_DEPS, r.actor]), [
    [1, "k1", [1, 2], true, false],
    [2, "k2", [], true, false],
    [3, "k3", [3, 4, 5], true, false],
  ]);
  assert.deepEqual(back[0]!.fn, fn);
});

test("what must travel as it is: actors, deps, chained tasks, several or large parts, another function, a lone task", () => {
  const big = new Uint8Array(5000);
  const batch: ToThread[] = [
    run(1, [1]),
    run(2, [2], { actor: true }),
    run(3, [3], { deps: { d: [new Uint8Array([9])] } }),
    run(4, [4], { chained: ["d"] }),
    { ...run(5, []), args: [new Uint8Array([5]), new Uint8Array([6])] },
    { ...run(6, []), args: [big] },
    run(7, [7]),
    run(8, [8], { fn: other }),
    { t: "free", keys: ["x"] },
    run(9, [9]),
    run(10, [10]),
  ];
  const out = packRuns(batch);
  assert.deepEqual(
    out.map((m) => (m.t === "runs" ? `runs:${m.ids.join(",")}` : m.t === "run" ? `run:${m.id}` : m.t)),
    ["run:1", "run:2", "run:3", "run:4", "run:5", "run:6", "run:7", "run:8", "free", "runs:9,10"],
  );
});

test("a task posted alone has its parts compacted: a view does not drag its whole buffer along", () => {
  const chunk = new Uint8Array(65536).fill(7);
  const [m] = packRuns([{ ...run(1, []), args: [chunk.subarray(10, 14)] }]);
  assert.equal(m!.t, "run");
  const part = (m as RunTask).args[0]!;
  assert.equal(part.buffer.byteLength, 4);
  assert.deepEqual([...part], [7, 7, 7, 7]);
});

test("successful small results pack into one dones message; each comes back in bytes of its own", () => {
  const replies: FromThread[] = [
    { t: "done", id: 1, ok: true, value: [new Uint8Array([1])] },
    { t: "done", id: 2, ok: true, value: [new Uint8Array([2, 2])] },
    { t: "done", id: 3, ok: false, error: { name: "Error", message: "boom", stack: "" } },
    { t: "done", id: 4, ok: true, value: [new Uint8Array([4])], actor: { className: "A", methods: [], attributes: [] } },
    { t: "done", id: 5, ok: true, value: [{ shm: "/x", byteLength: 1 << 20 }] },
    { t: "done", id: 6, ok: true, value: [new Uint8Array([6])] },
    { t: "done", id: 7, ok: true, value: [new Uint8Array([7])] },
    { t: "done", id: 8, ok: true, value: [new Uint8Array([8])] },
  ];
  const out = packDones(replies);
  assert.deepEqual(
    out.map((m) => (m.t === "dones" ? `dones:${m.ids.join(",")}` : m.t === "done" ? `done:${m.id}` : m.t)),
    ["dones:1,2", "done:3", "done:4", "done:5", "dones:6,7,8"],
  );
  const done = unpackDones(clone(out[0]) as TasksDone);
  assert.deepEqual(done.map((d) => d.ok && [d.id, [...(d.value[0] as Uint8Array)]]), [
    [1, [1]],
    [2, [2, 2]],
  ]);
  // Kept in a worker's store for long: a result must not hold the whole batch's buffer.
  for (const d of done) {
    assert.ok(d.ok);
    const part = d.value[0] as Uint8Array;
    assert.equal(part.buffer.byteLength, part.byteLength);
  }
});
