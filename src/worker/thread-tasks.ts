// A task thread's tasks: one runs at a time (a thread is one unit of
// `nthreads`), taken from the queue the worker's main thread fills a little
// ahead. Each task is claimed before it starts (the main thread may take back
// any it has not started), starts only while the worker's lease from the
// scheduler holds, runs as a Work whose faults fail it alone, and answers at
// the end of the turn.

import { isThenable } from "../comm/index.js";
import { withThreadClient } from "../client/thread-context.js";
import type { CodeRef, Key } from "../protocol/messages.js";
import { errorInfoOf, errorToInfo, explainSourceError, type CodeOptions } from "../serialize/index.js";
import { SHARE_MIN_BYTES, share } from "../shm/index.js";
import { within, Work } from "./thread-faults.js";
import { isAsyncGenerator } from "./actor-streams.js";
import { ConfigError } from "../errors.js";
import { claimSlot, NO_DEPS, unpackRuns, type RunTask, type RunTasks, type ThreadConfig, type ThreadPart, type ToThread } from "./thread-protocol.js";
import type { Replies } from "./thread-turn.js";
import { decodeArgs, DepGone, encodeResult, errorReply, isClass, NO_ARGS } from "./thread-values.js";

/** Quick tasks run back to back; every so many the thread yields a turn, so their answers (and faults) are reported. */
const YIELD_EVERY = 64;
/** How often a thread whose lease ran out looks again. */
const LEASE_POLL_MS = 10;
// Small results of the last tasks run here, encoded: a task chained right
// behind the one it depends on takes its input from here rather than waiting
// for the main thread to store it and post it back.
const CHAIN_RESULTS_MAX = 32;
const CHAIN_RESULT_MAX_BYTES = 16 * 1024;

type CodeLoader = (ref: CodeRef) => Function | Promise<Function>;

class TaskWork extends Work {
  /** running → answered (its success waits for the end of the turn) → done; or failed. */
  state: "running" | "answered" | "failed" | "done" = "running";
  /** It waits for other tasks' results and holds no turn of the thread meanwhile. */
  seceded = false;

  constructor(
    private readonly runner: TaskRunner,
    readonly msg: RunTask,
  ) {
    super();
  }

  get what(): string {
    return `task ${this.msg.key}`;
  }

  fault(err: Error): boolean {
    return this.runner.faulted(this, err);
  }

  secede(): void {
    this.runner.seceded(this);
  }
}

class FunctionWork extends Work {
  constructor(
    readonly what: string,
    readonly fault: (err: Error) => boolean,
  ) {
    super();
  }
}

export class TaskRunner {
  readonly #queue: RunTask[] = [];
  /** The task holding the thread's turn (one at a time; a task that secedes gives it up). */
  #current: TaskWork | undefined;
  #pumping = false;
  #resumeLater = false;
  /** A fault hit a task still running: no further task starts here; the worker replaces this thread. */
  #broken = false;
  #sinceYield = 0;
  readonly #chainResults = new Map<Key, Uint8Array[]>();
  /** Works running, by id: what an abort reaches. */
  readonly #running = new Map<number, Work>();
  /** When the running task started (ThreadConfig.taskSince), for the main thread to see. */
  readonly #taskSince: Float64Array;
  readonly #claims: Int32Array | undefined;
  readonly #lease: Float64Array | undefined;

  constructor(
    config: ThreadConfig,
    private readonly replies: Replies,
    private readonly codeFor: CodeLoader,
    private readonly codeOpts: CodeOptions,
  ) {
    this.#taskSince = config.taskSince ? new Float64Array(config.taskSince) : new Float64Array(1);
    this.#claims = config.claims ? new Int32Array(config.claims) : undefined;
    this.#lease = config.lease ? new Float64Array(config.lease) : undefined;
  }

  push(msg: RunTask): void {
    this.#queue.push(msg);
    this.#pump();
  }

  pushRuns(msg: RunTasks): void {
    for (const task of unpackRuns(msg)) this.#queue.push(task);
    this.#pump();
  }

  /** Abort the signals of these works, if they are running here. */
  abort(ids: number[], reason: string): void {
    for (const id of ids) this.#running.get(id)?.controller.abort(new Error(reason));
  }

  /**
   * Starts queued tasks one at a time: the next when the current one ends or
   * secedes. Quick tasks run back to back without a promise between them;
   * every YIELD_EVERY the thread yields a turn so their answers (and any
   * faults they left) are reported.
   */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#current === undefined && !this.#broken && this.#queue.length > 0 && !this.#resumeLater) {
        if (!this.#leaseHolds()) {
          this.#resumeLater = true;
          setTimeout(() => {
            this.#resumeLater = false;
            this.#pump();
          }, LEASE_POLL_MS);
          return;
        }
        if (this.#sinceYield >= YIELD_EVERY) {
          this.#sinceYield = 0;
          this.#resumeLater = true;
          setImmediate(() => {
            this.#resumeLater = false;
            this.#pump();
          });
          return;
        }
        const msg = this.#queue.shift()!;
        if (!this.#claim(msg.id)) continue; // taken back by the main thread
        this.#sinceYield++;
        const work = new TaskWork(this, msg);
        this.#current = work;
        this.#taskSince[0] = Date.now();
        void this.#run(msg, work);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** The task no longer holds the thread's turn (it ended, or secedes): the next may start. */
  #endTurn(work: TaskWork): void {
    if (this.#current !== work) return;
    this.#current = undefined;
    this.#taskSince[0] = 0;
    this.#pump();
  }

  /** A task waits for other tasks' results: the thread starts the next one meanwhile. */
  seceded(work: TaskWork): void {
    if (work.seceded || work.state !== "running") return;
    work.seceded = true;
    this.replies.add({ t: "seceded", id: work.msg.id });
    this.#endTurn(work);
  }

  /** Whether the scheduler surely still counts this worker in (see ThreadConfig.lease). */
  #leaseHolds(): boolean {
    const until = this.#lease?.[0] ?? 0;
    return until === 0 || Date.now() <= until;
  }

  #claim(id: number): boolean {
    const claims = this.#claims;
    return claims === undefined || Atomics.compareExchange(claims, claimSlot(id), id, -id) === id;
  }

  #keepForChain(key: Key, parts: Uint8Array[]): void {
    // Only results encoded whole into bytes of their own: out-of-band parts are views of user buffers.
    if (parts.length !== 1 || parts[0]!.byteLength > CHAIN_RESULT_MAX_BYTES) return;
    this.#chainResults.set(key, parts);
    if (this.#chainResults.size > CHAIN_RESULTS_MAX) this.#chainResults.delete(this.#chainResults.keys().next().value!);
  }

  /** The task's deps, with those chained before it here taken from the chain results; undefined if one is not there. */
  #chainedDeps(msg: RunTask): Record<Key, ThreadPart[]> | undefined {
    if (!msg.chained) return msg.deps;
    const deps = { ...msg.deps };
    for (const key of msg.chained) {
      const parts = this.#chainResults.get(key);
      if (!parts) return undefined;
      deps[key] = parts;
    }
    return deps;
  }

  /** A fault in a task's own code (thread-faults.ts). */
  faulted(work: TaskWork, err: Error): boolean {
    const failed = { t: "done" as const, id: work.msg.id, ok: false as const, error: errorToInfo(err, this.codeOpts) };
    if (work.state === "running") {
      work.state = "failed";
      this.replies.add(failed);
      // Its code may still be running, or waiting for ever: the thread is given up.
      this.#broken = true;
      this.replies.now({ t: "broken", reason: `${work.what} failed with a fault in its own code and may still be running` });
      return true;
    }
    if (work.state === "answered" && this.replies.replace(work.msg.id, failed)) {
      work.state = "failed";
      return true;
    }
    return false;
  }

  async #run(msg: RunTask, work: TaskWork): Promise<void> {
    // A result of an earlier run of this key must not stand in for this run's.
    this.#chainResults.delete(msg.key);
    this.#running.set(msg.id, work);
    try {
      const deps = this.#chainedDeps(msg);
      if (!deps) {
        // The dep failed here, or is no longer among the chain results: the main thread runs it the usual way.
        work.state = "done";
        this.replies.add({ t: "done", id: msg.id, ok: false, notRun: true, error: errorInfoOf("Error", `a dependency of ${msg.key} was not computed on this thread`) });
        return;
      }
      // Each await costs a turn of the microtask queue: a quick task waits only where something is pending.
      const code = this.codeFor(msg.fn);
      const fn = code instanceof Promise ? await code : code;
      const decoded = withThreadClient(() => decodeArgs(msg.args, deps));
      const args = decoded instanceof Promise ? await decoded : decoded;
      let result: unknown;
      // The function's own run time, as Dask measures a task's: not its wait in the queue, nor decoding
      // and encoding (where one busy moment of the machine would count for a quick task). The
      // scheduler places work by it, the worker posts ahead by it.
      const started = performance.now();
      try {
        // Classes run as constructors (delayed(Class)() outside actors).
        result = within(work, () => (isClass(fn) ? Reflect.construct(fn, args) : (fn as (...a: unknown[]) => unknown)(...args)));
        if (isThenable(result)) result = await result;
      } catch (err) {
        throw explainSourceError(err, msg.fn);
      }
      if (isAsyncGenerator(result)) {
        void result.return(undefined).catch(() => undefined);
        throw new ConfigError(
          `task ${msg.key} returned an async generator: a task's result is one value, and only actor methods stream (make it an async * method of an actor class, or return an array)`,
        );
      }
      const ms = performance.now() - started;
      const encoded = encodeResult(result, this.codeOpts);
      const parts = encoded instanceof Promise ? await encoded : encoded;
      if (work.state !== "running") return; // a fault failed it meanwhile
      work.state = "answered";
      this.#keepForChain(msg.key, parts);
      this.replies.add({ t: "done", id: msg.id, ok: true, value: shareLarge(parts), ms });
    } catch (err) {
      if (work.state !== "running") return;
      work.state = "done";
      if (err instanceof DepGone) this.replies.add({ t: "done", id: msg.id, ok: false, notRun: true, gone: [err.key], error: errorInfoOf("Error", err.message) });
      else {
        const r = await errorReply(err, this.codeOpts);
        this.replies.add({ t: "done", id: msg.id, ok: false, error: r.error });
      }
    } finally {
      this.#running.delete(msg.id);
      this.#endTurn(work);
    }
  }

  /** A function run once outside the task graph (client.run), beside any task. */
  async runFunction(msg: Extract<ToThread, { t: "runfn" }>): Promise<void> {
    let settled = false;
    const answer = (ok: boolean, value: unknown) => {
      if (settled) return false;
      settled = true;
      this.replies.add(ok ? { t: "done", id: msg.id, ok: true, value: value as Uint8Array[] } : { t: "done", id: msg.id, ok: false, error: value as never });
      return true;
    };
    const work = new FunctionWork(`function ${msg.fn.name || "(anonymous)"} run on every worker`, (err) => answer(false, errorToInfo(err, this.codeOpts)));
    try {
      const fn = await this.codeFor(msg.fn);
      const args = await withThreadClient(() => decodeArgs(msg.args, NO_DEPS));
      let result: unknown;
      try {
        result = await within(work, () => (fn as (...a: unknown[]) => unknown)(...(args ?? NO_ARGS)));
      } catch (err) {
        throw explainSourceError(err, msg.fn);
      }
      answer(true, await encodeResult(result, this.codeOpts));
    } catch (err) {
      if (!settled) answer(false, (await errorReply(err, this.codeOpts)).error);
    }
  }
}

/** Large parts of a task's result go into shared segments: peers and clients on this host map them instead of copying. */
function shareLarge(parts: Uint8Array[]): ThreadPart[] {
  return parts.map((p) => {
    const shm = p.byteLength >= SHARE_MIN_BYTES ? share(p) : undefined;
    return shm === undefined ? p : { shm, byteLength: p.byteLength };
  });
}
