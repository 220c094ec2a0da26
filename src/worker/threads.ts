// The worker's task threads and actor threads, seen from its main thread:
// post work, get its outcome (in a callback, or a promise), take back a task
// the thread has not started, and replace a thread that died or had to be
// stopped. Messages to and from a thread go in batches (one postMessage per
// turn), which matters for pipelined calls.

import { Worker as Thread } from "node:worker_threads";
import { createLogger } from "../log.js";
import { Payload } from "../protocol/payload.js";
import type { ActorStats } from "../protocol/messages.js";
import { CLAIM_SLOTS, claimSlot, packRuns, unpackDones, type FromThread, type ThreadConfig, type ThreadDone, type ToThread } from "./thread-protocol.js";

type Work = Exclude<ToThread, { t: "free" } | { t: "close" } | { t: "runs" } | { t: "abort" }>;
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
/** Claimed tasks in flight on one thread stay below this (see CLAIM_SLOTS). */
const MAX_CLAIMED = CLAIM_SLOTS / 2;

const entryUrl = new URL(import.meta.url.endsWith(".ts") ? "./thread-main.ts" : "./thread-main.js", import.meta.url);

/** Why a thread's running work ended without an answer. */
export type ThreadDeath = "memory" | "stopped" | "broken" | "exited";

export interface ThreadEvents {
  /** The thread died or was stopped (not by close()); it has been replaced. Answers to its works follow. */
  onDeath?(cause: ThreadDeath, detail: string): void;
  onStats?(actors: Record<string, ActorStats>): void;
}

export interface RunnerThreadOptions {
  /** Start with the first piece of work rather than now. */
  lazy?: boolean;
  /** Bound of the thread's V8 heap (old generation), MiB. */
  heapMb?: number;
}

export class RunnerThread {
  #thread: Thread | undefined;
  /** A thread started ahead to take over from this one, should it have to be stopped (see prepareReplacement). */
  #standby: Thread | undefined;
  readonly #config: ThreadConfig;
  readonly #events: ThreadEvents;
  readonly #heapMb: number | undefined;
  readonly #pending = new Map<number, (d: ThreadDone) => void>();
  #nextId = 1;
  #closed: Promise<void> | undefined;
  #outbox: ToThread[] = [];
  #flushQueued = false;
  /** Why the current thread is being stopped by us, if it is. */
  #stopping: { cause: ThreadDeath; detail: string } | undefined;
  /** Work posted and not yet answered. */
  inFlight = 0;
  /** Tasks among them waiting for other tasks' results: they hold no slot meanwhile. */
  readonly #seceded = new Set<number>();
  /** Why the thread is being stopped, and for which task (see stop()). */
  #stopTarget: number | undefined;
  /** Moving mean of how long its tasks ran, as the thread measured them. */
  #meanTaskMs = AHEAD_MS / 16;
  /** When the thread's current task started (Date.now()), 0 when it has none: written by the thread. */
  readonly #taskSince = new Float64Array(new SharedArrayBuffer(8));
  /** Who runs each posted task (see CLAIM_SLOTS). */
  readonly #claims = new Int32Array(new SharedArrayBuffer(CLAIM_SLOTS * 4));

  constructor(config: ThreadConfig, events: ThreadEvents = {}, options: RunnerThreadOptions = {}) {
    this.#config = { ...config, taskSince: this.#taskSince.buffer as SharedArrayBuffer, claims: this.#claims.buffer as SharedArrayBuffer };
    this.#events = events;
    this.#heapMb = options.heapMb;
    if (!options.lazy) this.#thread = this.#spawn();
  }

  get kind(): ThreadConfig["kind"] {
    return this.#config.kind;
  }

  /** Its place among the worker's threads of its kind (a replacement keeps it). */
  get index(): number {
    return this.#config.index;
  }

  #spawn(): Thread {
    const config = this.#config;
    const resourceLimits = this.#heapMb ? { maxOldGenerationSizeMb: this.#heapMb } : undefined;
    const thread = entryUrl.pathname.endsWith(".ts")
      ? // Running from source (tests under tsx): register the loader in the thread before its entry.
        new Thread(
          `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((m) => { m.register(); return import(${JSON.stringify(entryUrl.href)}); })`,
          { eval: true, workerData: config, resourceLimits },
        )
      : new Thread(entryUrl, { workerData: config, resourceLimits });
    let outOfMemory = false;
    thread.on("message", (batch: FromThread[]) => {
      for (const msg of batch) {
        if (msg.t === "stats") this.#events.onStats?.(msg.actors);
        else if (msg.t === "done") this.#settle(msg);
        else if (msg.t === "dones") for (const done of unpackDones(msg)) this.#settle(done);
        else if (msg.t === "seceded") {
          if (this.#pending.has(msg.id)) this.#seceded.add(msg.id);
        } else if (msg.t === "broken" && this.#thread === thread) this.#stop(thread, "broken", msg.reason);
      }
    });
    thread.on("error", (err) => {
      if ((err as { code?: string }).code === "ERR_WORKER_OUT_OF_MEMORY") outOfMemory = true;
      else log.error(`a ${config.kind} thread failed`, { error: String(err?.stack ?? err) });
    });
    thread.on("exit", (code) => {
      if (this.#standby === thread) this.#standby = undefined;
      if (this.#thread !== thread) return;
      this.#thread = undefined;
      if (this.#closed) return this.#failPending({ cause: "exited", detail: `its ${config.kind} thread stopped with the worker` });
      const target = this.#stopTarget;
      this.#stopTarget = undefined;
      const why = this.#stopping ?? (outOfMemory
        ? { cause: "memory" as const, detail: `its thread's heap reached its bound of ${this.#heapMb} MiB` }
        : { cause: "exited" as const, detail: `its ${config.kind} thread exited (code ${code})` });
      this.#stopping = undefined;
      log.warn(`a ${config.kind} thread ended; starting another`, { cause: why.cause, detail: why.detail });
      // Task threads come back at once (a worker keeps its slots); an actor thread with its next actor.
      if (config.kind === "task" || this.#outbox.length > 0) this.#thread = this.#takeStandby() ?? this.#spawn();
      this.#events.onDeath?.(why.cause, why.detail);
      this.#failPending(why, target);
      this.#flush(); // work posted while it was being stopped
    });
    return thread;
  }

  /**
   * Every work still waiting for an answer from a thread that is gone: a
   * task it never started is handed back unrun, anything else failed with
   * why its thread ended.
   */
  #failPending(why: { cause: ThreadDeath; detail: string }, target?: number): void {
    // Work still in the outbox never reached the thread that died: it goes to the next one.
    const unsent = new Set<number>();
    for (const m of this.#outbox) if ("id" in m) unsent.add(m.id);
    const orphans = [...this.#pending].filter(([id]) => !unsent.has(id));
    for (const [id] of orphans) this.#pending.delete(id);
    this.inFlight = this.#pending.size;
    this.#seceded.clear();
    this.#taskSince[0] = 0;
    const error = { name: why.cause === "memory" ? "WorkerMemoryError" : "Error", message: why.detail, stack: "" };
    // Tasks that were running beside the one a stop or a fault was about (tasks waiting for
    // results give their turn to others) run again elsewhere: they did nothing wrong.
    const innocent = (id: number) => (why.cause === "stopped" && id !== target) || why.cause === "broken";
    for (const [id, onDone] of orphans) {
      const slot = claimSlot(id);
      const notRun = this.#claims[slot] === id || (this.#claims[slot] === -id && innocent(id));
      if (this.#claims[slot] === id || this.#claims[slot] === -id) this.#claims[slot] = 0;
      this.#deliver(onDone, notRun ? { t: "done", id, ok: false, notRun: true, error } : { t: "done", id, ok: false, error, died: why.cause });
    }
  }

  /** Stop the thread now (it is replaced); its works end as its death says. */
  #stop(thread: Thread, cause: ThreadDeath, detail: string): void {
    if (this.#stopping || this.#closed) return;
    this.#stopping = { cause, detail };
    void thread.terminate();
  }

  #takeStandby(): Thread | undefined {
    const t = this.#standby;
    this.#standby = undefined;
    return t;
  }

  /**
   * Start the thread that will replace this one if it has to be stopped (a
   * task asked to stop may ignore it): starting a thread takes a while, and
   * this way it overlaps the grace period rather than following it.
   */
  prepareReplacement(): void {
    if (!this.#standby && !this.#closed) this.#standby = this.#spawn();
  }

  /** Stop the thread by force because of the task posted as `id` (it ignored its abort signal); the thread is replaced. */
  stop(detail: string, id: number): void {
    if (!this.#thread || this.#stopping) return;
    this.#stopTarget = id;
    this.#stop(this.#thread, "stopped", detail);
  }

  /** How many tasks to keep posted to this thread (see AHEAD_MS). */
  get ahead(): number {
    return Math.max(2, Math.min(MAX_AHEAD, Math.ceil(AHEAD_MS / this.#meanTaskMs)));
  }

  /** Whether to post another task here now: below `ahead`, and not busy with a long task (see LONG_TASK_MS). */
  hasRoom(nowMs: number): boolean {
    const load = this.load;
    if (load === 0) return true;
    if (this.busyWithLongTask(nowMs)) return false;
    return load < this.ahead;
  }

  /** Works in flight that hold a slot (not those waiting for other tasks' results). */
  get load(): number {
    return this.inFlight - this.#seceded.size;
  }

  /** How long the task running here has run (0 when none). */
  runningFor(nowMs: number): number {
    const since = this.#taskSince[0]!;
    return since > 0 ? Math.max(0, nowMs - since) : 0;
  }

  /** Whether the task running here has run well beyond this thread's usual task time. */
  busyWithLongTask(nowMs: number): boolean {
    const since = this.#taskSince[0]!;
    return since > 0 && nowMs - since > Math.max(LONG_TASK_MS, 4 * this.#meanTaskMs);
  }

  /** Whether more tasks may be chained behind their deps here without running out of claim slots. */
  get canClaimMore(): boolean {
    return this.inFlight < MAX_CLAIMED;
  }

  /** Whether the task posted as `id` has started. */
  started(id: number): boolean {
    return this.#claims[claimSlot(id)] === -id;
  }

  /**
   * Takes back a task posted as `id` that the thread has not started: it will
   * never run there, and its callback is dropped. False when it has started
   * (or already ended).
   */
  retract(id: number): boolean {
    if (Atomics.compareExchange(this.#claims, claimSlot(id), id, 0) !== id) return false;
    if (this.#pending.delete(id)) this.inFlight--;
    this.#seceded.delete(id);
    return true;
  }

  #settle(done: ThreadDone): void {
    const onDone = this.#pending.get(done.id);
    if (!onDone) return;
    // Structured clone keeps a Payload's parts but not its class.
    if (!done.ok && done.error.props) done.error.props = new Payload(done.error.props.parts);
    this.#pending.delete(done.id);
    this.#seceded.delete(done.id);
    const slot = claimSlot(done.id);
    if (this.#claims[slot] === -done.id) this.#claims[slot] = 0;
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

  /** Posts work; the thread's answer resolves the promise, or goes to `onDone` (no promise: for tasks, the hot path). Returns the work's id. */
  post(work: WorkBody): Promise<ThreadDone>;
  post(work: WorkBody, onDone: (d: ThreadDone) => void): number;
  post(work: WorkBody, onDone?: (d: ThreadDone) => void): Promise<ThreadDone> | number {
    if (!onDone) return new Promise<ThreadDone>((resolve) => this.post(work, resolve));
    // Ids stay positive int32 (claims hold -id for a started task).
    const id = this.#nextId;
    this.#nextId = id === 0x7fffffff ? 1 : id + 1;
    this.inFlight++;
    this.#pending.set(id, onDone);
    // The work becomes the message. Not `{ ...work, id }`: optimized code gives
    // every spread copy a map of its own, and each later read of it misses its cache.
    const msg = work as Work;
    msg.id = id;
    // A task must be claimed by the thread before it starts: the main thread may still take it back.
    if (msg.t === "run" && !msg.actor) this.#claims[claimSlot(id)] = id;
    this.#send(msg);
    return id;
  }

  free(keys: string[]): void {
    if (this.#thread || this.#outbox.length > 0) this.#send({ t: "free", keys });
  }

  /** Abort the signals of running works. */
  abort(ids: number[], reason: string): void {
    if (this.#thread) this.#send({ t: "abort", ids, reason });
  }

  #send(msg: ToThread): void {
    this.#outbox.push(msg);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    // A thread being stopped takes nothing more: the work waits for its replacement.
    if (this.#stopping) return;
    const batch = this.#outbox;
    this.#outbox = [];
    if (batch.length === 0) return;
    if (this.#closed && !batch.some((m) => m.t === "close")) return;
    const thread = (this.#thread ??= this.#spawn());
    thread.postMessage(packRuns(batch));
  }

  /** Dispose actors, then stop the thread; bounded so a stuck hook cannot hold the worker. */
  close(timeoutMs = 5000): Promise<void> {
    void this.#takeStandby()?.terminate();
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
