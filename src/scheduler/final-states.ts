// The final states a task reaches without a result: erred, lost and
// cancelled. Each spreads to the pending dependents, which can no longer run.

import type { ErrorInfo } from "../protocol/messages.js";
import { errorInfoOf } from "../serialize/errors.js";
import { isPending, type TaskStateName } from "./groups.js";
import { notify } from "./key-state.js";
import { leave } from "./leaving.js";
import { maybeRelease } from "./release.js";
import type { Task, Tables } from "./tables.js";

/** Fails a task and, recursively, its pending dependents with the same error. */
export function fail(tb: Tables, t: Task, error: ErrorInfo): void {
  finalize(tb, t, "erred", error);
}

export function lose(tb: Tables, t: Task, error: ErrorInfo): void {
  finalize(tb, t, "lost", error);
}

export function cancel(tb: Tables, t: Task): void {
  finalize(tb, t, "cancelled", errorInfoOf("CancelledError", `task ${t.key} was cancelled before it produced a result`));
}

export function finalize(tb: Tables, root: Task, state: "erred" | "lost" | "cancelled", rootError: ErrorInfo): void {
  // Dependents of a lost key fail (they cannot run), of a cancelled key are cancelled too.
  const depState = state === "cancelled" ? "cancelled" : "erred";
  const stack: [Task, TaskStateName, ErrorInfo][] = [[root, state, rootError]];
  const touched: Task[] = [];
  while (stack.length > 0) {
    const [t, s, err] = stack.pop()!;
    if (t.state === s) continue;
    leave(tb, t, true);
    tb.setState(t, s);
    t.error = err;
    t.waitingOn = 0;
    notify(tb, t);
    touched.push(t);
    for (const dk of t.dependents) {
      const d = tb.tasks.get(dk);
      if (d && isPending(d.state)) stack.push([d, depState, s === "cancelled" ? errorInfoOf("CancelledError", `task ${d.key} was cancelled because its dependency ${t.key} was cancelled`) : err]);
    }
  }
  // Their deps may not be needed any more; they themselves may not be wanted.
  for (const t of touched) {
    if (t.spec) for (const dk of t.spec.deps) {
      const d = tb.tasks.get(dk);
      if (d) maybeRelease(tb, d);
    }
  }
  for (const t of touched) if (!t.forgotten) maybeRelease(tb, t);
}
