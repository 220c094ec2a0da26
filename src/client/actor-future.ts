// The result of one actor method call or attribute read (R-ACT-3). The call
// is already on its way when this object exists; the outcome is cached, so
// awaiting it again (or from many places) sends nothing.

import { inspect } from "node:util";
import { CancelledError, TimeoutError } from "../errors.js";
import { TO_REF } from "../serialize/index.js";
import { SETTLED, withTimeout, type Settleable } from "./settle.js";
import { waitingForResults } from "./thread-context.js";

type State = "pending" | "finished" | "error";

/** What cancels a call: its caller, which knows where the call is. */
export interface CallCanceller {
  cancel(future: ActorFuture<any>, err: Error, why: "cancelled" | "timeout"): Promise<void>;
}

export class ActorFuture<T = unknown> implements PromiseLike<T>, Settleable {
  #state: State = "pending";
  #value: T | undefined;
  #error: unknown;
  readonly #className: string;
  readonly #method: string;
  // The promise exists only once someone awaits: a call nobody awaits costs
  // no promise.
  #promise: Promise<T> | undefined;
  #resolve: ((v: T) => void) | undefined;
  #reject: ((e: unknown) => void) | undefined;
  /** Told once the call has an outcome: its caller counts the calls still outstanding. */
  readonly #onSettled: ((future: ActorFuture<any>) => void) | undefined;
  /** @internal Bytes of the call's encoded arguments once sent, which its caller counts until it settles; -1 before. */
  _sentBytes = -1;
  /** @internal Who cancels the call (absent: the call cannot be reached, cancelling only settles the future). */
  _canceller: CallCanceller | undefined;
  /** @internal The call as its caller tracks it once it is on its way. */
  _call: unknown;
  /** @internal Made with the call option `timeout`: a deadline of result(timeout) cancels the call too. */
  _cancelOnTimeout = false;

  /** @internal Created by actor handles; users never construct one. */
  constructor(className: string, method: string, onSettled?: (future: ActorFuture<any>) => void) {
    this.#className = className;
    this.#method = method;
    this.#onSettled = onSettled;
  }

  /** @internal */
  _resolve(value: T): void {
    if (this.#state !== "pending") return;
    this.#state = "finished";
    this.#value = value;
    this.#resolve?.(value);
    this.#resolve = this.#reject = undefined;
    this.#onSettled?.(this);
  }

  /** @internal */
  _reject(err: unknown): void {
    if (this.#state !== "pending") return;
    this.#state = "error";
    this.#error = err;
    this.#reject?.(err);
    this.#resolve = this.#reject = undefined;
    this.#onSettled?.(this);
  }

  #getPromise(): Promise<T> {
    if (!this.#promise) {
      if (this.#state === "finished") this.#promise = Promise.resolve(this.#value as T);
      else if (this.#state === "error") this.#promise = Promise.reject(this.#error);
      else {
        this.#promise = new Promise<T>((resolve, reject) => {
          this.#resolve = resolve;
          this.#reject = reject;
        });
      }
    }
    return this.#promise;
  }

  done(): boolean {
    return this.#state !== "pending";
  }

  result(timeoutMs?: number): Promise<T> {
    if (this.#state === "pending") waitingForResults();
    return withTimeout(this.#getPromise(), timeoutMs, () => {
      if (!this._cancelOnTimeout) return new TimeoutError(`actor call ${this.#className}.${this.#method} did not finish within ${timeoutMs} ms; the call is still running`);
      const err = this._timedOut(timeoutMs!);
      void this._cancel(err, "timeout");
      return err;
    });
  }

  /**
   * Cancel the call (R-ACT-17): one not started yet never runs; a running one
   * sees its `currentSignal()` abort. Awaiting it then rejects with
   * `CancelledError`. Resolves once the call no longer runs.
   */
  cancel(): Promise<void> {
    return this._cancel(new CancelledError(`actor call ${this.#className}.${this.#method} was cancelled`), "cancelled");
  }

  /** @internal The error of a call whose `timeout` option ran out. */
  _timedOut(timeoutMs: number): TimeoutError {
    return new TimeoutError(`actor call ${this.#className}.${this.#method} did not finish within its timeout of ${timeoutMs} ms and was cancelled`);
  }

  /** @internal Cancel with this error (a TimeoutError when its deadline passed). */
  _cancel(err: Error, why: "cancelled" | "timeout"): Promise<void> {
    if (this.#state !== "pending") return Promise.resolve();
    if (this._canceller) return this._canceller.cancel(this, err, why);
    this._reject(err);
    return Promise.resolve();
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    if (this.#state === "pending") waitingForResults();
    return this.#getPromise().then(onfulfilled, onrejected);
  }

  [SETTLED](): Promise<void> {
    if (this.#state === "pending") waitingForResults();
    return this.#getPromise().then(() => undefined, () => undefined);
  }

  /** Finished ActorFutures travel as their value; unfinished ones are awaited by the sender first. */
  [TO_REF]() {
    if (this.#state === "finished") return { type: "inline" as const, value: this.#value };
    const promise = this.#getPromise();
    // Handed to the serializer, which may drop it unawaited: its failure must never count as unhandled.
    promise.catch(() => undefined);
    return { type: "pending" as const, promise };
  }

  /** "pending", "finished", or "error" (the call failed). */
  get status(): "pending" | "finished" | "error" {
    return this.#state;
  }

  toString(): string {
    return `<ActorFuture: status=${this.#state}, call=${this.#className}.${this.#method}>`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
