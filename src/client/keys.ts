// What a client knows about each key it holds: how many Futures refer to it,
// its last reported state, and who is waiting for it to settle.

import { LostError } from "../errors.js";
import type { ActorMeta, Address, ErrorInfo, Key, KeyStatus } from "../protocol/messages.js";
import { infoToError } from "../serialize/index.js";

const RESOLVED = Promise.resolve();

export class KeyRecord {
  /** Live Futures (and handles) of this client referring to the key. */
  refs = 1;
  status: KeyStatus = "pending";
  workers: Address[] = [];
  error?: ErrorInfo;
  /** Local failure (e.g. the scheduler connection is gone): wins over `error`. */
  localError?: Error;
  actor?: ActorMeta;
  decodedError?: Promise<Error>;
  /** The submit option `timeout`, ms: a deadline of the task's own, and result(timeout)'s, cancel it. */
  timeoutMs?: number;
  #settled: Promise<void> | undefined;
  /** Called once it settles: the `settled` promise, and KeyTable.allSettled without a promise per key. */
  #waiters: Array<() => void> | undefined;
  #isSettled = false;

  constructor(readonly key: Key) {}

  /** Resolves once the key settles or is forgotten. Made on first use: a map's keys are mostly waited on all at once. */
  get settled(): Promise<void> {
    if (this.#isSettled) return RESOLVED;
    return (this.#settled ??= new Promise<void>((r) => this.onSettled(r)));
  }

  get isSettled(): boolean {
    return this.#isSettled;
  }

  /** Calls `fn` once the key settles or is forgotten (at once if it has). */
  onSettled(fn: () => void): void {
    if (this.#isSettled) fn();
    else (this.#waiters ??= []).push(fn);
  }

  resolveSettled(): void {
    this.#isSettled = true;
    this.#settled = undefined;
    const waiters = this.#waiters;
    this.#waiters = undefined;
    if (waiters) for (const fn of waiters) fn();
  }

  /** Pending again (being recomputed): waits from now on wait for the next outcome. */
  unsettle(): void {
    this.#isSettled = false;
  }
}

export class KeyTable {
  readonly #records = new Map<Key, KeyRecord>();

  get(key: Key): KeyRecord | undefined {
    return this.#records.get(key);
  }

  /** Resolves once every one of these keys has settled or been forgotten (one promise, however many keys). */
  allSettled(keys: readonly Key[]): Promise<void> {
    let left = 0;
    let done!: () => void;
    const one = () => {
      if (--left === 0) done();
    };
    for (const key of keys) {
      const rec = this.#records.get(key);
      if (!rec || rec.isSettled) continue;
      left++;
      rec.onSettled(one);
    }
    return left === 0 ? RESOLVED : new Promise<void>((r) => (done = r));
  }

  /** Add one reference; returns true when the key is new to this client. */
  ref(key: Key): boolean {
    const rec = this.#records.get(key);
    if (rec) {
      rec.refs++;
      return false;
    }
    this.#records.set(key, new KeyRecord(key));
    return true;
  }

  /** Drop one reference; returns true when it was the last one (the key is forgotten). */
  unref(key: Key): boolean {
    const rec = this.#records.get(key);
    if (!rec) return false;
    if (--rec.refs > 0) return false;
    this.#drop(rec);
    return true;
  }

  /** Drop every reference at once; true when the key was held. */
  forget(key: Key): boolean {
    const rec = this.#records.get(key);
    if (rec) this.#drop(rec);
    return rec !== undefined;
  }

  /** Forget a record; anyone still waiting on it wakes up and finds it gone. */
  #drop(rec: KeyRecord): void {
    this.#records.delete(rec.key);
    rec.resolveSettled();
  }

  /** Apply a state reported by the scheduler. */
  update(key: Key, status: KeyStatus, fields: { workers?: Address[]; error?: ErrorInfo; actor?: ActorMeta }): KeyRecord | undefined {
    const rec = this.#records.get(key);
    if (!rec) return undefined;
    if (status === "pending") {
      // Being recomputed (or an actor being re-created): wait again.
      if (rec.status !== "pending") rec.unsettle();
      rec.status = "pending";
      rec.workers = [];
      rec.error = undefined;
      rec.decodedError = undefined;
      return rec;
    }
    rec.status = status;
    rec.workers = fields.workers ?? [];
    rec.error = fields.error;
    rec.decodedError = undefined;
    if (fields.actor) rec.actor = fields.actor;
    rec.resolveSettled();
    return rec;
  }

  /** The key failed here, before the scheduler could report on it. */
  failLocally(key: Key, err: unknown): void {
    const rec = this.#records.get(key);
    if (!rec) return;
    rec.localError = err as Error;
    this.update(key, "error", {});
  }

  /** Why a key that did not finish failed, as an Error of its kind (its user code's classes loaded from `codeRoot`). */
  errorOf(key: Key, codeRoot: string): Promise<Error> {
    const rec = this.#records.get(key);
    if (!rec) return Promise.resolve(new LostError(`${key} was released by this client`));
    if (rec.localError) return Promise.resolve(rec.localError);
    if (!rec.decodedError) {
      const info = rec.error ?? {
        name: rec.status === "cancelled" ? "CancelledError" : "LostError",
        message: rec.status === "cancelled" ? `${key} was cancelled` : `${key} was lost`,
        stack: "",
      };
      rec.decodedError = infoToError(info, { codeRoot });
    }
    return rec.decodedError;
  }

  /** Fail every unsettled key locally (the scheduler is gone). */
  failPending(err: Error): void {
    for (const rec of this.#records.values()) {
      if (rec.status !== "pending") continue;
      rec.localError = err;
      rec.status = "lost";
      rec.resolveSettled();
    }
  }

  keys(): Key[] {
    return [...this.#records.keys()];
  }

  /** The incarnation of each actor held, as last told. */
  actorIncarnations(): Record<Key, number> {
    const out: Record<Key, number> = {};
    for (const [key, rec] of this.#records) if (rec.actor) out[key] = rec.actor.incarnation;
    return out;
  }

  clear(): void {
    this.#records.clear();
  }
}
