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

test("many distinct priorities come out highest first, arrival order within each", () => {
  const q = new ReadyQueue<[number, number]>();
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pushed: Array<[number, number]> = [];
  for (let i = 0; i < 20_000; i++) {
    const item: [number, number] = [Math.floor(rand() * 5000) - 2500, i];
    pushed.push(item);
    q.push(item, item[0]);
    // Interleave some pops: what comes out is always the best waiting.
    if (i % 7 === 0) {
      const best = q.pop()!;
      pushed.splice(pushed.indexOf(best), 1);
      for (const other of pushed) assert.ok(other[0] < best[0] || (other[0] === best[0] && other[1] > best[1]));
    }
  }
  const expected = [...pushed].sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const out: Array<[number, number]> = [];
  for (let v = q.pop(); v !== undefined; v = q.pop()) out.push(v);
  assert.deepEqual(out, expected);
});
