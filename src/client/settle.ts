// Shared by Future and ActorFuture: something that completes, which wait()
// and asCompleted() can watch without fetching its value.

import { ConfigError } from "../errors.js";

export const SETTLED = Symbol("troupe.settled");

export interface Settleable {
  /** Resolves (never rejects) when the future has reached a final state. */
  [SETTLED](): Promise<void>;
  done(): boolean;
  result(timeoutMs?: number): Promise<unknown>;
  /** "finished" once it succeeded; another final status when it failed, was cancelled or lost. */
  readonly status: string;
}

export function isSettleable(x: unknown): x is Settleable {
  return typeof x === "object" && x !== null && typeof (x as Settleable)[SETTLED] === "function";
}

/** Race a promise against a timeout; the promise keeps running. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number | undefined, what: () => Error): Promise<T> {
  if (timeoutMs === undefined) return promise;
  if (!(typeof timeoutMs === "number" && timeoutMs >= 0)) {
    promise.catch(() => undefined); // nobody will see its outcome through this call
    return Promise.reject(new ConfigError(`result(timeout): timeout must be a non-negative number of milliseconds, got ${String(timeoutMs)}`));
  }
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(what()), timeoutMs);
    promise.then(
      (v) => { clearTimeout(timer); resolve(v); },
      (e) => { clearTimeout(timer); reject(e); },
    );
  });
}
