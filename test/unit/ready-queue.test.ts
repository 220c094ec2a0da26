// The worker's queue of ready tasks: highest priority first, then in arrival order.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ReadyQueue } from "../../src/worker/ready-queue.js";

test("highest priority first, arrival order among equals, negative priorities last", () => {
  const q = new ReadyQueue<string>();
  q.push("a0", 0);
  q.push("b5", 5);
  q.push("c-1", -1);
  q.push("d0", 0);
  q.push("e5", 5);
  assert.equal(q.size, 5);
  const out: string[] = [];
  for (let v = q.pop(); v !== undefined; v = q.pop()) out.push(v);
  assert.deepEqual(out, ["b5", "e5", "a0", "d0", "c-1"]);
  assert.equal(q.size, 0);
});

test("a long run pushed and popped in waves keeps its order (and its memory in check)", () => {
  const q = new ReadyQueue<number>();
  let next = 0;
  const out: number[] = [];
  for (let wave = 0; wave < 20; wave++) {
    for (let i = 0; i < 3000; i++) q.push(next++, 0);
    for (let i = 0; i < 2500; i++) out.push(q.pop()!);
    // A higher priority arriving late still goes first.
    q.push(-wave - 1, 1);
    assert.equal(q.pop(), -wave - 1);
  }
  while (q.size > 0) out.push(q.pop()!);
  assert.deepEqual(out, Array.from({ length: next }, (_, i) => i));
  assert.equal(q.pop(), undefined);
});
