// Code the benchmarks ship to workers (by module reference).

export function noop(i: number): number {
  return i;
}

export function inc(x: number): number {
  return x + 1;
}

export function makeBytes(n: number): Uint8Array {
  return new Uint8Array(n).fill(7);
}

/** Reads one byte of every page (the data must really be there, not only mapped), then gives the length. */
export function size(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.byteLength; i += 4096) s += b[i]!;
  return s >= 0 ? b.byteLength : -1;
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
