// The result of one actor method call or attribute read (R-ACT-3). The call
// is already on its way when this object exists; the outcome is cached, so
// awaiting it again (or from many places) sends nothing.

import { inspect } from "node:util";
import { TimeoutError } from "../errors.js";
import { TO_REF } from "../serialize/index.js";
import { SETTLED, withTimeout, type Settleable } from "./settle.js";

type State = "pending" | "finished" | "error";

export class ActorFuture<T = unknown> implements PromiseLike<T>, Settleable {
  readonly #promise: Promise<T>;
  #state: State = "pending";
  #value: T | undefined;
  readonly #label: string;
  /** @internal */ _resolve!: (value: T) => void;
  /** @internal */ _reject!: (err: unknown) => void;

  /** @internal Created by actor handles; users never construct one. */
  constructor(label: string) {
    this.#label = label;
    this.#promise = new Promise<T>((resolve, reject) => {
      this._resolve = (v) => {
        if (this.#state !== "pending") return;
        this.#state = "finished";
        this.#value = v;
        resolve(v);
      };
      this._reject = (e) => {
        if (this.#state !== "pending") return;
        this.#state = "error";
        reject(e);
      };
    });
    // Fire-and-forget calls are legitimate: a failure nobody awaits must not
    // crash the process as an unhandled rejection.
    this.#promise.catch(() => undefined);
  }

  done(): boolean {
    return this.#state !== "pending";
  }

  result(timeoutMs?: number): Promise<T> {
    return withTimeout(this.#promise, timeoutMs, () =>
      new TimeoutError(`actor call ${this.#label} did not finish within ${timeoutMs} ms; the call is still running`),
    );
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#promise.then(onfulfilled, onrejected);
  }

  [SETTLED](): Promise<void> {
    return this.#promise.then(() => undefined, () => undefined);
  }

  /** Finished ActorFutures travel as their value; unfinished ones are awaited by the sender first. */
  [TO_REF]() {
    if (this.#state === "finished") return { type: "inline" as const, value: this.#value };
    return { type: "pending" as const, promise: this.#promise };
  }

  toString(): string {
    return `<ActorFuture: status=${this.#state}, call=${this.#label}>`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
