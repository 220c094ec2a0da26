// Waiting on many futures at once (R-TASK-6); Futures and ActorFutures mix.

import { ConfigError, TimeoutError } from "../errors.js";
import { BOOLEAN, checkOptions, NON_NEGATIVE_MS, type Rules } from "../options.js";
import { isSettleable, SETTLED, type Settleable } from "./settle.js";

export interface WaitOptions {
  timeout?: number;
  returnWhen?: "ALL_COMPLETED" | "FIRST_COMPLETED";
}

const WAIT_RULES: Rules<WaitOptions> = {
  timeout: NON_NEGATIVE_MS,
  returnWhen: { what: '"ALL_COMPLETED" or "FIRST_COMPLETED"', ok: (v) => v === "ALL_COMPLETED" || v === "FIRST_COMPLETED" },
};

const AS_COMPLETED_RULES: Rules<{ withResults?: boolean }> = { withResults: BOOLEAN };

function settleables<T>(futures: Iterable<T>, where: string): T[] {
  const list = [...futures];
  for (const f of list) if (!isSettleable(f)) throw new ConfigError(`${where} takes Futures and ActorFutures`);
  return list;
}

/** Resolves once all (or the first) have finished; with a timeout, rejects with TimeoutError if that comes first. */
export async function wait<T extends Settleable>(futures: Iterable<T>, options?: WaitOptions): Promise<{ done: Set<T>; notDone: Set<T> }> {
  const list = settleables(futures, "wait()");
  const { timeout, returnWhen: mode = "ALL_COMPLETED" } = checkOptions(options, WAIT_RULES, "wait");
  const settled = list.map((f) => f[SETTLED]());
  const all = mode === "ALL_COMPLETED" ? Promise.all(settled) : list.length ? Promise.race(settled) : Promise.resolve();
  if (timeout !== undefined) {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`wait(): not ${mode === "ALL_COMPLETED" ? "all" : "any"} of ${list.length} futures finished within ${timeout} ms`)), timeout);
    });
    try {
      await Promise.race([all, late]);
    } finally {
      clearTimeout(timer);
    }
  } else {
    await all;
  }
  // Give other settlements in this turn a chance to be counted.
  await new Promise((r) => setImmediate(r));
  const done = new Set<T>();
  const notDone = new Set<T>();
  for (const f of list) (f.done() ? done : notDone).add(f);
  return { done, notDone };
}

/**
 * Yields each future as it finishes (or [future, value] with withResults).
 * A hand-written iterator: an async generator would await the (thenable)
 * futures it yields and hand out their values instead.
 */
export function asCompleted<T extends Settleable>(futures: Iterable<T>, options: { withResults: true }): AsyncIterableIterator<[T, unknown]>;
export function asCompleted<T extends Settleable>(futures: Iterable<T>, options?: { withResults?: false }): AsyncIterableIterator<T>;
export function asCompleted<T extends Settleable>(futures: Iterable<T>, options?: { withResults?: boolean }): AsyncIterableIterator<T | [T, unknown]> {
  const list = settleables(futures, "asCompleted()");
  const { withResults } = checkOptions(options, AS_COMPLETED_RULES, "asCompleted");
  const finished: T[] = [];
  let wake: (() => void) | undefined;
  for (const f of list) {
    void f[SETTLED]().then(() => {
      finished.push(f);
      wake?.();
    });
  }
  let yielded = 0;
  const iterator: AsyncIterableIterator<T | [T, unknown]> = {
    async next(): Promise<IteratorResult<T | [T, unknown]>> {
      if (yielded >= list.length) return { done: true, value: undefined };
      while (finished.length === 0) await new Promise<void>((r) => (wake = r));
      const f = finished.shift()!;
      yielded++;
      return { done: false, value: withResults ? [f, await f.result()] : f };
    },
    async return(): Promise<IteratorResult<T | [T, unknown]>> {
      yielded = list.length;
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
