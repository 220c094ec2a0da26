// Each decoded task spec carries its own copy of its code reference, though
// the tasks of a map all name the same code: the scheduler keeps every spec
// (for recomputation), so a map of 1,000,000 tasks held a million copies of
// one module's URL, path and hash, and the sender to workers built a content
// string for each to find the number a worker knows it by. Specs that name
// the same code as the one before them share that one's object instead.

import type { CodeRef, TaskSpec } from "../protocol/messages.js";

/** Same fields, same primitive values (a nested object never matches, so nothing unequal is merged). */
function sameCode(a: CodeRef, b: CodeRef): boolean {
  let n = 0;
  for (const k in a) {
    if ((a as Record<string, unknown>)[k] !== (b as Record<string, unknown>)[k]) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

export function shareCode(specs: readonly TaskSpec[]): void {
  let last: CodeRef | undefined;
  for (const spec of specs) {
    if (last !== undefined && spec.fn !== last && sameCode(spec.fn, last)) spec.fn = last;
    else last = spec.fn;
  }
}
