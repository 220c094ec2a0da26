// A reference to a task's result living on a worker (R-TASK-3). Holding a
// Future keeps the result alive; releasing it (or losing every reference to
// it) lets the scheduler free it.

import { inspect } from "node:util";
import { TimeoutError } from "../errors.js";
import type { Key, KeyStatus } from "../protocol/messages.js";
import { TO_REF } from "../serialize/index.js";
import { SETTLED, withTimeout, type Settleable } from "./settle.js";
import { waitingForResults } from "./thread-context.js";

/** What a Future needs from the client that owns it. */
export interface FutureOwner {
  status(key: Key): KeyStatus;
  settled(key: Key): Promise<void>;
  value(key: Key): Promise<unknown>;
  error(key: Key): Promise<Error | undefined>;
  cancel(keys: Key[]): Promise<void>;
  /** A result(timeout) deadline passed: for a task submitted with the `timeout` option, it is cancelled, and this is its error. */
  deadlinePassed(key: Key, timeoutMs: number): Error | undefined;
  /** Drop one reference to key. */
  unref(key: Key): void;
  /** Have the scheduler run these keys to completion whoever holds them. */
  fireAndForget(keys: Key[]): void;
}

// When a Future is garbage collected without release(), its reference goes too.
// One registry per owner, so that what it holds per Future is just the key.
const registries = new WeakMap<FutureOwner, FinalizationRegistry<Key>>();

function registryOf(owner: FutureOwner): FinalizationRegistry<Key> {
  let r = registries.get(owner);
  if (!r) registries.set(owner, (r = new FinalizationRegistry<Key>((key) => owner.unref(key))));
  return r;
}

export class Future<T = unknown> implements PromiseLike<T>, Settleable {
  readonly key: Key;
  readonly #owner: FutureOwner;
  #released = false;

  /** @internal Futures come from Client.submit/map/scatter/compute. The owner already counted this reference. */
  constructor(owner: FutureOwner, key: Key) {
    this.key = key;
    this.#owner = owner;
    registryOf(owner).register(this, key, this);
  }

  get status(): KeyStatus {
    return this.#owner.status(this.key);
  }

  done(): boolean {
    return this.status !== "pending";
  }

  /** The value, fetched from the worker holding it; rejects with the task's error. */
  result(timeoutMs?: number): Promise<T> {
    waitingForResults();
    // Whoever awaits the value holds this Future through the promise, so the
    // key is not released (by garbage collection) while its value is on the way.
    const value = (this.#owner.value(this.key) as Promise<T>).finally(() => this.#released);
    return withTimeout(
      value,
      timeoutMs,
      () => this.#owner.deadlinePassed(this.key, timeoutMs!) ?? new TimeoutError(`${this.key} did not finish within ${timeoutMs} ms; the task keeps running`),
    );
  }

  /** The task's error, or undefined if it succeeded. Waits for the task to finish. */
  exception(): Promise<Error | undefined> {
    waitingForResults();
    return this.#owner.error(this.key).finally(() => this.#released);
  }

  cancel(): Promise<void> {
    return this.#owner.cancel([this.key]);
  }

  /** Give up this reference now (idempotent); the result may be freed once no one holds it. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    registryOf(this.#owner).unregister(this);
    this.#owner.unref(this.key);
  }

  /** @internal */
  get released(): boolean {
    return this.#released;
  }

  /** @internal See fireAndForget(). */
  _fireAndForget(): void {
    this.#owner.fireAndForget([this.key]);
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.result().then(onfulfilled, onrejected);
  }

  [SETTLED](): Promise<void> {
    waitingForResults();
    return this.#owner.settled(this.key).finally(() => this.#released);
  }

  [TO_REF]() {
    return { type: "future" as const, key: this.key };
  }

  toString(): string {
    return `<Future: status=${this.status}, key=${this.key}>`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
