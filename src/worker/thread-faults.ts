// Faults of user code on a task or actor thread (R-FAIL-6): an unhandled
// promise rejection, an exception thrown from a timer or callback, a call of
// process.exit(). Node would end the thread for each of them, and with it
// every other task and actor it serves. Instead the fault is charged to the
// work whose code caused it (AsyncLocalStorage follows a work's asynchronous
// continuations, and Node reports both kinds of fault in the context of the
// code that caused them) and fails that work alone.

import { promiseHooks } from "node:v8";
import type { Logger } from "../log.js";
import { workStorage, type WorkContext } from "../client/thread-context.js";

/** A task, an actor call or a function run on the thread. */
export abstract class Work implements WorkContext {
  #controller: AbortController | undefined;

  abstract get what(): string;

  /** Made on first use: most works never look at their signal. */
  get controller(): AbortController {
    return (this.#controller ??= new AbortController());
  }

  /** Fail it because of a fault in its code; false when it is too late (its answer has left). */
  abstract fault(err: Error): boolean;
}

export const storage = workStorage();

/** Runs `fn` as part of `work`: faults in it and in its continuations are charged to `work`. */
export function within<T>(work: Work, fn: () => T): T {
  return storage.run(work, fn);
}

/** The error a fault fails its work with: names the cause, keeps the original as `cause` and its stack. */
export function faultError(reason: unknown, what: string, kind: string): Error {
  const original = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
  const err = new Error(`${what} ${kind}: ${original}`, { cause: reason });
  const stack = reason instanceof Error ? reason.stack : undefined;
  if (stack) err.stack = `Error: ${err.message}\n${stack.split("\n").slice(1).join("\n")}`;
  return err;
}

/** Thrown by process.exit() on a task or actor thread: the work fails, the thread and its worker live on. */
export class ExitCalled extends Error {
  constructor(code: unknown, what: string | undefined) {
    super(
      `process.exit(${code === undefined ? "" : String(code)}) was called in ${what ?? "code running on a worker thread"}: ` +
        "a task or actor cannot stop its worker, so it failed instead; throw an error to fail it",
    );
    this.name = "Error";
  }
}

let promisesMade = 0;

/**
 * How many promises code on this thread has made so far. Code that made
 * none cannot have left a rejection unhandled: its answer need not wait for
 * the end of the turn (where Node reports such rejections).
 */
export function promiseCount(): number {
  return promisesMade;
}

/** Installs the handlers on this thread: faults go to their work, or to the log when none can be found. */
export function containFaults(log: Logger): void {
  const charge = (reason: unknown, kind: string) => {
    const work = storage.getStore() as Work | undefined;
    if (!work) {
      log.error(`code outside any task or actor call ${kind}; nothing failed because of it`, { error: describe(reason) });
      return;
    }
    if (!work.fault(reason instanceof ExitCalled ? reason : faultError(reason, work.what, kind))) {
      log.warn(`${work.what} ${kind} after it had finished; its result stands`, { error: describe(reason) });
    }
  };
  promiseHooks.onInit(() => {
    promisesMade++;
  });
  process.on("unhandledRejection", (reason) => charge(reason, "left a promise rejection unhandled (a missing await?)"));
  process.on("uncaughtException", (err) => charge(err, "threw from a timer or callback"));
  process.exit = ((code?: unknown) => {
    throw new ExitCalled(code, (storage.getStore() as Work | undefined)?.what);
  }) as typeof process.exit;
}

function describe(reason: unknown): string {
  return reason instanceof Error ? String(reason.stack ?? reason) : String(reason);
}
