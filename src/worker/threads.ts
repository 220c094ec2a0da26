// The worker's task threads and actor threads, seen from its main thread:
// post work, get its outcome (in a callback, or a promise). Messages to and
// from a thread go in batches (one postMessage per turn), which matters for
// pipelined calls.

import { Worker as Thread } from "node:worker_threads";
import { CommError } from "../errors.js";
import { createLogger } from "../log.js";
import type { ActorStats } from "../protocol/messages.js";
import { packRuns, unpackDones, type FromThread, type ThreadConfig, type ThreadDone, type ToThread } from "./thread-protocol.js";

type Work = Exclude<ToThread, { t: "free" } | { t: "close" } | { t: "runs" }>;
type WorkBody = Work extends infer W ? (W extends Work ? Omit<W, "id"> : never) : never;

const log = createLogger("worker");

/**
 * Tasks kept posted to a task thread: about AHEAD_MS of work at the mean run
 * time of its recent tasks, at least 2 (the thread never waits for the main
 * thread between tasks) and at most MAX_AHEAD. Quick tasks then cross in large
 * batches (a post and a wake-up per batch, not per few tasks), while long ones
 * stay in the worker's queue, where priorities and the scheduler still reach them.
 */
const AHEAD_MS = 4;
const MAX_AHEAD = 256;
/**
 * A thread whose current task has run this long (or several of its mean task
 * times, if longer) is on a long task: nothing more is posted to it, since
 * whatever is posted waits behind that task.
 */
const LONG_TASK_MS = 5;

const entryUrl = new URL(import.meta.url.endsWith(".ts") ? "./thread-main.ts" : "./thread-main.js", import.meta.url);

export class RunnerThread {
  #thread: Thread | undefined;
  readonly #start: () => Thread;
  readonly #pending = new Map<number, (d: ThreadDone) => void>();
  #nextId = 1;
  #closed: Promise<void> | undefined;
  #outbox: ToThread[] = [];
  #flushQueued = false;
  /** Work posted and not yet answered. */
  inFlight = 0;
  /** Moving mean of how long its tasks ran, as the thread measured them. */
  #meanTaskMs = AHEAD_MS / 16;
  /** When the thread's current task started (Date.now()), 0 when it has none: written by the thread. */
  readonly #taskSince = new Float64Array(new SharedArrayBuffer(8));

  /** `lazy`: the thread starts with its first piece of work rather than now. */
  constructor(config: ThreadConfig, onExit: (err: Error) => void, onStats?: (actors: Record<string, ActorStats>) => void, lazy = false) {
    config = { ...config, taskSince: this.#taskSince.buffer as SharedArrayBuffer };
    this.#start = () => this.#spawn(config, onExit, onStats);
    if (!lazy) this.#thread = this.#start();
  }

  #spawn(config: ThreadConfig, onExit: (err: Error) => void, onStats?: (actors: Record<string, ActorStats>) => void): Thread {
    const thread = entryUrl.pathname.endsWith(".ts")
      ? // Running from source (tests under tsx): register the loader in the thread before its entry.
        new Thread(
          `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => { m.register(); return import(${JSON.stringify(entryUrl.href)}); })`,
          { eval: true, workerData: config },
        )
      : new Thread(entryUrl, { workerData: config });
    thread.on("message", (batch: FromThread[]) => {
      for (const msg of batch) {
        if (msg.t === "stats") onStats?.(msg.actors);
        else if (msg.t === "done") this.#settle(msg);
        else if (msg.t === "dones") for (const done of unpackDones(msg)) this.#settle(done);
      }
    });
    thread.on("error", (err) => onExit(err));
    thread.on("exit", (code) => {
      const err = new CommError(`a ${config.kind} thread exited (code ${code})`);
      const orphans = [...this.#pending.values()];
      this.#pending.clear();
      this.inFlight = 0;
      // The worker reacts to the exit first (it shuts down, and its tasks are rescheduled
      // elsewhere); only then do the callers hear that their work is gone.
      if (!this.#closed) onExit(err);
      const lost: ThreadDone = { t: "done", id: 0, ok: false, error: { name: err.name, message: err.message, stack: err.stack ?? "" } };
      queueMicrotask(() => {
        for (const onDone of orphans) this.#deliver(onDone, lost);
      });
    });
    return thread;
  }

  /** How many tasks to keep posted to this thread (see AHEAD_MS). */
  get ahead(): number {
    return Math.max(2, Math.min(MAX_AHEAD, Math.ceil(AHEAD_MS / this.#meanTaskMs)));
  }

  /** Whether to post another task here now: below `ahead`, and not busy with a long task (see LONG_TASK_MS). */
  hasRoom(nowMs: number): boolean {
    if (this.inFlight === 0) return true;
    const since = this.#taskSince[0]!;
    if (since > 0 && nowMs - since > Math.max(LONG_TASK_MS, 4 * this.#meanTaskMs)) return false;
    return this.inFlight < this.ahead;
  }

  #settle(done: ThreadDone): void {
    const onDone = this.#pending.get(done.id);
    if (!onDone) return;
    this.#pending.delete(done.id);
    this.inFlight--;
    if (done.ok && done.ms !== undefined) this.#meanTaskMs += (done.ms - this.#meanTaskMs) / 16;
    this.#deliver(onDone, done);
  }

  /** One caller's failure must not keep the answers after it in the batch from theirs. */
  #deliver(onDone: (d: ThreadDone) => void, done: ThreadDone): void {
    try {
      onDone(done);
    } catch (err) {
      log.error("handling a thread's answer failed", { error: String((err as Error)?.stack ?? err) });
    }
  }

  /** Posts work; the thread's answer resolves the promise, or goes to `onDone` (no promise: for tasks, the hot path). */
  post(work: WorkBody): Promise<ThreadDone>;
  post(work: WorkBody, onDone: (d: ThreadDone) => void): void;
  post(work: WorkBody, onDone?: (d: ThreadDone) => void): Promise<ThreadDone> | void {
    if (!onDone) return new Promise<ThreadDone>((resolve) => this.post(work, resolve));
    const id = this.#nextId++;
    this.inFlight++;
    this.#pending.set(id, onDone);
    // The work becomes the message. Not `{ ...work, id }`: optimized code gives
    // every spread copy a map of its own, and each later read of it misses its cache.
    const msg = work as Work;
    msg.id = id;
    this.#send(msg);
  }

  free(keys: string[]): void {
    this.#send({ t: "free", keys });
  }

  #send(msg: ToThread): void {
    this.#outbox.push(msg);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    const thread = (this.#thread ??= this.#start());
    queueMicrotask(() => {
      this.#flushQueued = false;
      const batch = this.#outbox;
      this.#outbox = [];
      thread.postMessage(packRuns(batch));
    });
  }

  /** Dispose actors, then stop the thread; bounded so a stuck hook cannot hold the worker. */
  close(timeoutMs = 5000): Promise<void> {
    const thread = this.#thread;
    if (!thread) return (this.#closed ??= Promise.resolve()); // never started
    this.#closed ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => void thread.terminate().then(() => resolve()), timeoutMs);
      thread.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      thread.on("message", (batch: FromThread[]) => {
        if (batch.some((m) => m.t === "closed")) void thread.terminate();
      });
      this.#send({ t: "close" });
    });
    return this.#closed;
  }
}
