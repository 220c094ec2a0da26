// The keys a client holds, seen from its Futures: references counted (and
// released to the scheduler when the last goes), waits that keep the process
// alive, deadlines of tasks submitted with a timeout, cancellation.

import { holdWhile } from "../comm/keep-alive.js";
import { LostError, TimeoutError } from "../errors.js";
import type { Key, Message, ReplyTo } from "../protocol/messages.js";
import { Future, type FutureOwner } from "./future.js";
import type { KeyTable } from "./keys.js";
import type { Outbox } from "./outbox.js";

export interface HeldKeysOptions {
  keys: KeyTable;
  outbox: Outbox;
  codeRoot: string;
  request<M extends Message>(msg: M): Promise<ReplyTo<M>>;
  /** Values of finished keys, after what was submitted so far. */
  gather(keys: Key[]): Promise<Map<Key, unknown>>;
  /** Settles once this client's calls to an actor have (undefined when none are in flight). */
  callsSettled(key: Key): Promise<void> | undefined;
  /** Throws when the client can no longer take work. */
  checkOpen(): void;
  /** Closing, or cut off from the scheduler: nothing more is told to it. */
  done(): boolean;
}

export class HeldKeys {
  readonly #o: HeldKeysOptions;

  constructor(options: HeldKeysOptions) {
    this.#o = options;
  }

  /** A new reference to key; a key new to this client is wanted from the scheduler unless its task in the outbox says so. */
  future<T>(key: Key, wantedInOutbox: boolean): Future<T> {
    const isNew = this.#o.keys.ref(key);
    if (isNew && !wantedInOutbox) this.#o.outbox.want(key);
    return new Future<T>(this.#owner, key);
  }

  /** The submit option `timeout` of a key this client holds: cancelled if not finished by then, failing with TimeoutError. */
  keepDeadline(key: Key, timeoutMs: number | undefined): void {
    const rec = this.#o.keys.get(key);
    if (timeoutMs === undefined || !rec) return;
    rec.timeoutMs = timeoutMs;
    setTimeout(() => void this.#timedOut(key, `its timeout of ${timeoutMs} ms`), timeoutMs).unref();
  }

  async cancel(keys: Key[]): Promise<void> {
    await this.#o.outbox.flush();
    await this.#o.request({ op: "cancel-keys", keys });
    await holdWhile(this.#o.keys.allSettled(keys));
  }

  /**
   * This client no longer holds key: tell the scheduler with the next flush,
   * and for an actor, once our calls to it have settled (R-ACT-9b). The
   * release goes to the scheduler while calls go to the worker: sent at once,
   * it could overtake them.
   */
  released(key: Key): void {
    if (this.#o.done()) return;
    const calls = this.#o.callsSettled(key);
    if (!calls) return this.#tell(key);
    void calls.then(() => {
      // Held again meanwhile (a handle to it arrived anew): that hold's own release tells.
      if (this.#o.keys.get(key) === undefined) this.#tell(key);
    });
  }

  errorOf(key: Key): Promise<Error> {
    return this.#o.keys.errorOf(key, this.#o.codeRoot);
  }

  #tell(key: Key): void {
    if (this.#o.done()) this.#o.outbox.settled(key);
    else this.#o.outbox.release(key);
  }

  /** A deadline of a task submitted with `timeout` passed: it is cancelled, and its error is a TimeoutError. */
  #timedOut(key: Key, deadline: string): Error | undefined {
    const rec = this.#o.keys.get(key);
    if (!rec || rec.isSettled || rec.timeoutMs === undefined || this.#o.done()) return undefined;
    const err = new TimeoutError(`${key} did not finish within ${deadline} and was cancelled`);
    rec.localError ??= err;
    this.cancel([key]).catch(() => undefined);
    return err;
  }

  // Whatever a Future's user awaits keeps the process alive until it settles (R-PKG-6).
  readonly #owner: FutureOwner = {
    status: (key) => this.#o.keys.get(key)?.status ?? "lost",
    settled: (key) => {
      const rec = this.#o.keys.get(key);
      return !rec || rec.isSettled ? Promise.resolve() : holdWhile(rec.settled);
    },
    value: async (key) => (await this.#o.gather([key])).get(key),
    error: async (key) => {
      const rec = this.#o.keys.get(key);
      if (!rec) return new LostError(`${key} was released by this client`);
      if (!rec.isSettled) await holdWhile(rec.settled);
      return rec.status === "finished" ? undefined : this.errorOf(key);
    },
    cancel: (keys) => this.cancel(keys),
    deadlinePassed: (key, timeoutMs) => (this.#o.keys.get(key)?.timeoutMs === undefined ? undefined : this.#timedOut(key, `result(${timeoutMs})'s deadline`)),
    unref: (key) => {
      if (this.#o.keys.unref(key)) this.released(key);
    },
    fireAndForget: (keys) => {
      this.#o.checkOpen();
      this.#o.outbox.fire(keys);
    },
  };
}
