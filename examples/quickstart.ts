// The troupe demo: an actor, a map of tasks with a progress bar, and an actor
// handed to tasks that update it. Run with `npm start`.

import { Client, progress } from "troupe";
import { bump, Counter, square } from "./counter.js";

function step(label: string, since: number): number {
  const now = performance.now();
  console.log(`${label.padEnd(44)} ${(now - since).toFixed(1).padStart(8)} ms`);
  return now;
}

let t = performance.now();
await using client = await Client.connect();
t = step("embedded cluster started, client connected", t);

const counter = await client.submit(Counter, [], { actor: true });
console.log(`  ${String(counter)}`);
t = step("Counter actor created", t);

console.log(`  increment() → ${await counter.increment()}`);
console.log(`  add(10)     → ${await counter.add(10)}`);
console.log(`  n           → ${await counter.n}`);
t = step("three actor calls", t);

const futures = client.map(square, Array.from({ length: 300 }, (_, i) => [i] as [number]));
await progress(futures, { label: "  squares" });
const squares = await client.gather(futures);
console.log(`  sum of squares 0..299 = ${squares.reduce((a, b) => a + b, 0)}`);
t = step("map of 300 tasks, gathered", t);

const bumps = client.map(bump, [1, 2, 3, 4, 5].map((by) => [counter, by] as [typeof counter, number]));
await client.gather(bumps);
console.log(`  counter after 5 tasks added 1..5: ${await counter.n}`);
step("actor passed to 5 tasks", t);
