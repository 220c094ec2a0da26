// Code the benchmarks ship to workers (by module reference).

import { randomFillSync } from "node:crypto";
import type { Actor } from "troupe";

export function noop(i: number): number {
  return i;
}

export function inc(x: number): number {
  return x + 1;
}

/** n random bytes: nothing on the path can compress them. */
export function makeBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  // randomFillSync fills at most 2^31 - 1 bytes per call.
  for (let at = 0; at < n; at += 1 << 30) randomFillSync(b, at, Math.min(1 << 30, n - at));
  return b;
}

/** Reads every byte (XOR of 32-bit words, then the bytes left over), then gives the length; -1 never happens but keeps the read from being optimized away. */
export function size(b: Uint8Array): number {
  const head = Math.min(b.byteLength, (4 - (b.byteOffset % 4)) % 4);
  const words = new Int32Array(b.buffer, b.byteOffset + head, (b.byteLength - head) >>> 2);
  let x = 0;
  for (let i = 0; i < words.length; i++) x ^= words[i]!;
  for (let i = 0; i < head; i++) x ^= b[i]!;
  for (let i = head + words.length * 4; i < b.byteLength; i++) x ^= b[i]!;
  return x === 0.5 ? -1 : b.byteLength;
}

export class Counter {
  n = 0;
  increment(): number {
    return ++this.n;
  }
}

/** A streaming method: yields 0 … n−1. */
export class Source {
  async *items(n: number): AsyncGenerator<number> {
    for (let i = 0; i < n; i++) yield i;
  }
}

/** One caller of the n:n workload: n calls spread over the targets, all in flight at once. */
export class Caller {
  async run(targets: Array<Actor<Counter>>, n: number): Promise<number> {
    const calls = [];
    for (let i = 0; i < n; i++) calls.push(targets[i % targets.length]!.increment());
    await Promise.all(calls);
    return n;
  }
}

export function total(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
