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

export function size(b: Uint8Array): number {
  return b.byteLength;
}

export class Counter {
  n = 0;
  increment(): number {
    return ++this.n;
  }
}
