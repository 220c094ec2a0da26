// fireAndForget (R-TASK-12): a task that runs to completion even though no
// client holds its Future any more, as Dask's fire_and_forget.

import { ConfigError } from "../errors.js";
import { Future } from "./future.js";

/**
 * Run the tasks behind these Futures to completion whatever happens to the
 * Futures and their client: the scheduler holds each until it has finished
 * (or failed), then lets its result go. Their dependencies run too.
 */
export function fireAndForget(futures: Future | Iterable<Future>): void {
  const list: unknown[] = futures instanceof Future ? [futures] : isIterable(futures) ? [...futures] : [futures];
  for (const f of list) if (!(f instanceof Future)) throw new ConfigError("fireAndForget() takes a Future or an array of Futures (from submit, map or compute)");
  for (const f of list as Future[]) f._fireAndForget();
}

function isIterable(x: unknown): x is Iterable<unknown> {
  return x !== null && typeof x === "object" && typeof (x as Iterable<unknown>)[Symbol.iterator] === "function";
}
