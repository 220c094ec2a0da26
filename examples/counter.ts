// Code the quick start ships to workers. It lives in its own module because
// workers import it: a module with top-level work would run that work there too.

import type { Actor } from "troupe";

export class Counter {
  n = 0;
  increment(): number {
    return ++this.n;
  }
  add(x: number): number {
    this.n += x;
    return this.n;
  }
}

export function square(x: number): number {
  return x * x;
}

/** A task that updates an actor it was given. */
export async function bump(counter: Actor<Counter>, by: number): Promise<number> {
  return counter.add(by);
}
