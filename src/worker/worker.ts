// A worker process's main thread: serves connections (scheduler, peers,
// clients), keeps the object store, fetches dependencies from peers, and
// hands user code to task threads and actor threads. It never runs user code
// itself, so heartbeats and transfers go on while tasks and actors compute.

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { connect, formatAddress, isWildcardHost, listen, OOB_THRESHOLD_BYTES, parseAddress, type Connection, type Listener } from "../comm/index.js";
import { WorkerPool } from "../comm/pool.js";
import { getDataRequest, receiveData, type Received } from "../transfer/get-data.js";
import { Payload } from "../protocol/payload.js";
import { mappedPayload, releaseShared, splitShared, type SharedParts } from "../transfer/shared.js";
import { CommError, ProtocolError } from "../errors.js";
import { createLogger } from "../log.js";
import { isGone, segmentsPresent, shmDomain, sweepStale, type Part } from "../shm/index.js";
import type {
  ActorCall,
  ActorCallReply,
  RunFunctionReply,
  ActorMeta,
  ActorStats,
  Address,
  CodeRef,
  ComputeTask,
  ComputeTasks,
  GetDataReply,
  Key,
  AwaitStopped,
  CheckpointRequest,
  SchedulerToWorker,
  Story,
  WorkerRejoin,
  WorkerRequest,
  PutData,
  ErrorInfo,
  RunFunction,
  TasksFinished,
  WorkerToScheduler,
} from "../protocol/messages.js";
import { CheckpointStore } from "./checkpoint-store.js";
import { NO_HOLDERS } from "../protocol/messages.js";
import { errorInfoOf, serialize, TO_REF } from "../serialize/index.js";
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from "./options.js";
import { WorkerState, type WorkerInstruction } from "./state.js";
import { Store } from "./store.js";
import { RunnerThread, type ThreadDeath } from "./threads.js";
import { accepting, messageWeight } from "../protocol/schemas.js";
import { TaskThreads } from "./task-threads.js";
import { IncomingTransfers } from "./transfers.js";
import { MemoryMonitor } from "./memory.js";
import { startWorkerHttp, type WorkerHttp } from "./http.js";
import { threadHeapMb } from "./memory-limit.js";
import { WorkerMetrics } from "./metrics.js";
import { watchEventLoop } from "../metrics/process.js";
import { WorkerObserver } from "./observer.js";
import { compactParts, discardParts, NO_DEPS, partsFromThread, partsToThread, type ThreadConfig, type ThreadDone } from "./thread-protocol.js";

const log = createLogger("worker");

/** Most finished tasks reported in one message. */
const MAX_REPORTED = 1024;
/** How often tasks queued on a thread behind a long task are taken back for others. */
const UNSTICK_EVERY_MS = 100;
/** A retiring worker not told `retired` this long after its retire timeout (a scheduler gone quiet) leaves anyway. */
const RETIRE_MARGIN_MS = 5000;

/** How a worker ended. */
export interface WorkerExit {
  /** Why it stopped when nobody asked it to (lost its scheduler, a thread crashed): its process exits non-zero. */
  fault?: string;
}

interface ActorHere {
  thread: RunnerThread;
  /** Reported by its thread, which counts every call, direct or forwarded. */
  stats: ActorStats;
  /** Where it lives and what it looks like: a restarted scheduler hears it from here. */
  meta: ActorMeta;
}

export class Worker {
  readonly name: string;
  readonly nthreads: number;
  readonly actorThreads: number;
  readonly resources: Record<string, number>;
  #address = "";
  readonly #opts: ResolvedWorkerOptions;
  readonly #store: Store;
  #memory: MemoryMonitor | undefined;
  /** Actor handles fetched from peers (never reported: the actor lives elsewhere). */
  readonly #handles = new Map<Key, Payload<Part>>();
  #state!: WorkerState;
  readonly #actors = new Map<Key, ActorHere>();
  /** Checkpoints of actors living on other workers (R-ACT-19). */
  readonly #checkpoints = new CheckpointStore();
  #tasks = new TaskThreads([]);
  /** Code the scheduler sent, by the number later compute-tasks name it with. */
  readonly #code = new Map<number, CodeRef>();
  #actorThreadPool: RunnerThread[] = [];
  /** Bytes this worker may use (R-FAIL-7). */
  readonly memoryLimit: number;
  readonly #cancelGraceMs: number;
  /**
   * Until when (Date.now()) the scheduler surely still counts this worker in:
   * the time a heartbeat that it answered was sent, plus its heartbeat
   * timeout. Shared with the threads, which start no queued task past it: a
   * worker the scheduler removed (it stopped answering, e.g. a stopped
   * process that resumes) never runs tasks the scheduler gave to others.
   */
  readonly #lease = new Float64Array(new SharedArrayBuffer(8));
  #heartbeatTimeoutMs = 0;
  /** Names this process to the scheduler: a restart at the same address is another worker (R-FAIL-3). */
  readonly #incarnation = randomBytes(8).toString("hex");
  /** The scheduler process this worker registered with, for a rejoin (R-FAIL-9). */
  #schedulerId: string | undefined;
  readonly #schedulerTimeoutMs: number;
  #schedulerGone = false;
  /** Why the worker stopped, when a fault stopped it (its process then exits non-zero). */
  #fault: string | undefined;
  #listener?: Listener;
  readonly #metrics = new WorkerMetrics();
  /** Stimuli handled: each one's number is part of its cause id. */
  #stimuli = 0;
  /** Where /health and /metrics are served, as others reach them. */
  #httpUrl = "";
  #http?: WorkerHttp;
  #scheduler?: Connection;
  #peers: WorkerPool;
  /** Dependencies being fetched from peers, and those waiting their turn (R-FLOW-3). */
  readonly #transfers: IncomingTransfers;
  #heartbeat?: NodeJS.Timeout;
  readonly #observer = new WorkerObserver();
  #unstickTimer?: NodeJS.Timeout;
  #closing?: Promise<void>;
  /** Set once it asked the scheduler to retire it (R-OPS-2). */
  #retiring?: Promise<void>;
  #closedResolve!: (exit: WorkerExit) => void;
  /** Resolves once the worker has shut down: asked to, or because of a fault. */
  readonly closed = new Promise<WorkerExit>((r) => (this.#closedResolve = r));

  private constructor(options: WorkerOptions) {
    const opts = resolveWorkerOptions(options);
    this.#opts = opts;
    this.nthreads = opts.nthreads;
    this.actorThreads = opts.actorThreads;
    this.resources = opts.resources;
    this.name = opts.name;
    this.memoryLimit = opts.memoryLimit;
    this.#cancelGraceMs = opts.cancelGraceMs;
    this.#schedulerTimeoutMs = opts.schedulerTimeout;
    this.#store = new Store(opts.localDirectory);
    this.#transfers = new IncomingTransfers({ count: opts.transferIncomingCountLimit, bytes: opts.transferIncomingBytesLimit });
    this.#peers = new WorkerPool({ token: opts.token, connectTimeoutMs: opts.connectTimeoutMs, tls: opts.tls, role: "peer", schema: accepting("caller") });
  }

  get address(): Address {
    return this.#address;
  }

  static async start(opts: WorkerOptions): Promise<Worker> {
    const w = new Worker(opts);
    try {
      await w.#start();
    } catch (err) {
      await w.close();
      throw err;
    }
    return w;
  }

  async #start(): Promise<void> {
    const opts = this.#opts;
    // Segments of workers of this host that died without cleaning up.
    sweepStale();
    const scheme = parseAddress(opts.scheduler).scheme;
    this.#listener = await listen({
      host: opts.host,
      port: opts.port,
      token: opts.token,
      tls: opts.tls,
      insecure: opts.insecure,
      onConnection: (conn) => {
        conn.schema = accepting("worker");
        // The schemas let through only what peers and the scheduler send.
        conn.onRequest = (msg) => this.#request(msg as WorkerRequest | CheckpointRequest);
      },
    });
    const listening = parseAddress(this.#listener.address);
    const contactHost = opts.contactHost ?? (isWildcardHost(listening.host) ? hostname() : listening.host);
    this.#address = formatAddress(scheme, contactHost, listening.port);
    this.#state = new WorkerState(this.#address);
    watchEventLoop();
    try {
      this.#http = await startWorkerHttp({
        host: opts.host,
        port: opts.httpPort,
        token: opts.token,
        health: () => (this.#closing ? { ok: false, why: "closing" } : { ok: true }),
        metrics: () => this.#metricsText(),
      });
    } catch (err) {
      throw new CommError(`Could not serve the worker's HTTP endpoint (/health, /metrics) on port ${opts.httpPort}: ${(err as Error).message}; pick another with httpPort (--http-port), or 0 for any free port`, { cause: err });
    }
    const urlHost = contactHost.includes(":") ? `[${contactHost}]` : contactHost;
    this.#httpUrl = `http://${urlHost}:${this.#http.port}/`;
    log.debug("serving /health and /metrics", { url: this.#httpUrl });

    const threadConfig = (kind: "task" | "actor", index: number): ThreadConfig => ({
      kind,
      index,
      scheduler: opts.scheduler,
      token: opts.token,
      tls: opts.tls && { cert: String(opts.tls.cert), key: String(opts.tls.key), ca: String(opts.tls.ca) },
      codeRoot: opts.codeRoot,
      connectTimeoutMs: opts.connectTimeoutMs,
      listenHost: opts.host,
      contactHost,
      insecure: opts.insecure,
      worker: { address: this.#address, name: this.name, nthreads: this.nthreads, resources: this.resources },
      lease: this.#lease.buffer as SharedArrayBuffer,
    });
    const heapMb = threadHeapMb(this.memoryLimit);
    this.#tasks = new TaskThreads(Array.from({ length: this.nthreads }, (_, i) => new RunnerThread(threadConfig("task", i), {}, { heapMb })));
    const onStats = (actors: Record<Key, ActorStats>) => {
      for (const [key, st] of Object.entries(actors)) {
        const a = this.#actors.get(key);
        if (!a) continue;
        a.stats = st;
        this.#metrics.actorCalls.update(key, a.meta.className, st);
      }
    };
    // Actor threads start with their first actor: a worker that never hosts one never pays for them.
    this.#actorThreadPool = Array.from({ length: this.actorThreads }, (_, i) => {
      const thread: RunnerThread = new RunnerThread(
        threadConfig("actor", i),
        { onStats, onDeath: (cause, detail) => this.#actorThreadDied(thread, cause, detail) },
        { lazy: true, heapMb },
      );
      return thread;
    });

    await this.#joinScheduler(false);
    this.#heartbeat = setInterval(() => this.#sendHeartbeat(), opts.heartbeatIntervalMs);
    this.#heartbeat.unref();
    this.#unstickTimer = setInterval(() => this.#unstick(), UNSTICK_EVERY_MS);
    this.#unstickTimer.unref();
    this.#memory = new MemoryMonitor(this.memoryLimit, this.#store, {
      keep: (key) => this.#actors.has(key),
      onPause: (paused) => {
        this.#toScheduler({ op: "worker-status", status: paused ? "paused" : "running" });
        if (!paused) this.#dispatch();
      },
    }, log);
    this.#memory.start();
  }

  /**
   * Its supervisor is about to restart this worker: its memory passed the
   * limit. Tell the scheduler why (the tasks running here die of it), then stop.
   */
  stopForMemory(usedBytes: number): Promise<void> {
    const reason = `memory ${formatBytes(usedBytes)} passed 95 % of the limit of ${formatBytes(this.memoryLimit)}`;
    log.warn("restarting: memory passed the limit", { usedBytes, limitBytes: this.memoryLimit });
    this.#toScheduler({ op: "worker-status", status: "restarting", reason });
    this.#scheduler?.flush();
    return this.close(reason);
  }

  /**
   * Connects to the scheduler and registers; `rejoin`: after losing it, with
   * what this worker holds, for a scheduler started in its place to rebuild
   * from (R-FAIL-9). Throws WorkerRemoved when the scheduler itself removed this
   * worker: it gave the work away, and this worker must start afresh.
   */
  async #joinScheduler(rejoin: boolean): Promise<void> {
    const opts = this.#opts;
    const conn = await connect(opts.scheduler, {
      token: opts.token,
      role: "worker",
      timeoutMs: opts.connectTimeoutMs,
      tls: opts.tls,
    });
    conn.schema = accepting("worker-from-scheduler");
    conn.weigh = messageWeight;
    conn.onMessage = (msg) => {
      try {
        this.#fromScheduler(msg as SchedulerToWorker);
      } catch (err) {
        // Checked against its schema already: a throw is a bug here, and this worker's state can no longer be trusted.
        // It stops with a fault; its supervisor starts a new one, and the scheduler treats its keys as any dead worker's.
        log.error("the worker failed to handle a message from the scheduler; stopping", { op: msg.op, key: (msg as { key?: unknown }).key, error: String((err as Error)?.stack ?? err) });
        void this.close(`failed to handle a "${msg.op}" message: ${(err as Error)?.message ?? err}`);
      }
    };
    conn.onRequest = (msg) => this.#request(msg as WorkerRequest | AwaitStopped | Story);
    void conn.closed.then(() => this.#schedulerLost(conn));
    const sentAt = Date.now();
    const reply = await conn.request({
      op: "register-worker",
      address: this.#address,
      name: this.name,
      nthreads: this.nthreads,
      actorThreads: this.actorThreads,
      resources: this.resources,
      incarnation: this.#incarnation,
      memoryLimit: this.memoryLimit,
      ...(opts.restarts ? { restarts: opts.restarts } : {}),
      metricsUrl: this.metricsUrl,
      ...(rejoin && this.#schedulerId !== undefined ? { rejoin: this.#rejoinReport(this.#schedulerId) } : {}),
    });
    if (reply.removed) {
      conn.close("removed by the scheduler");
      throw new WorkerRemoved();
    }
    this.#schedulerId = reply.schedulerId;
    this.#scheduler = conn;
    this.#heartbeatTimeoutMs = reply.heartbeatTimeoutMs;
    this.#renewLease(sentAt);
    if (rejoin && this.#memory?.paused) this.#toScheduler({ op: "worker-status", status: "paused" });
  }

  /** What this worker holds, for a scheduler started in place of `schedulerId`. */
  #rejoinReport(schedulerId: string): WorkerRejoin {
    const held: Record<Key, number> = {};
    for (const [key, nbytes] of this.#store.sizes()) if (!this.#actors.has(key)) held[key] = nbytes;
    return { schedulerId, held, actors: [...this.#actors.values()].map((a) => a.meta), running: this.#state.runningKeys() };
  }

  /**
   * The scheduler is gone (restarted, or unreachable), or it removed this
   * worker. Tasks not started go back (the scheduler gave them, or will give
   * them, to others); running ones finish, and their results stay here with
   * everything else this worker holds while it tries to reach a scheduler
   * again, for `schedulerTimeout`.
   */
  #schedulerLost(conn: Connection): void {
    if (this.#closing || conn !== this.#scheduler) return;
    this.#scheduler = undefined;
    this.#because("scheduler-lost");
    if (this.#retiring) {
      // Leaving anyway: a scheduler started in its place would only be told the same.
      log.warn("lost the scheduler while retiring; leaving now", { scheduler: this.#opts.scheduler });
      void this.close();
      return;
    }
    this.#state.free(this.#tasks.retractAll());
    this.#state.forgetQueued();
    if (conn.closeKind === "protocol") {
      // The scheduler sent what is not valid troupe (a bug, or another version): nothing it sent can be
      // trusted, so this worker starts afresh rather than rejoin with what it holds.
      void this.close(`lost the connection to the scheduler: ${conn.closeReason}`);
      return;
    }
    log.warn("lost the scheduler connection; trying to reach it again", { scheduler: this.#opts.scheduler, forMs: this.#schedulerTimeoutMs });
    void this.#rejoin();
  }

  async #rejoin(): Promise<void> {
    const deadline = Date.now() + this.#schedulerTimeoutMs;
    for (let delayMs = 100; !this.#closing; delayMs = Math.min(2 * delayMs, 1000)) {
      try {
        await this.#joinScheduler(true);
        log.info("rejoined the scheduler", { scheduler: this.#opts.scheduler });
        this.#dispatch();
        return;
      } catch (err) {
        if (err instanceof WorkerRemoved) {
          void this.close("removed by the scheduler (it stopped hearing from this worker): starting afresh as a new worker");
          return;
        }
        if (Date.now() + delayMs >= deadline) {
          this.#schedulerGone = true;
          void this.close(`lost the connection to the scheduler at ${this.#opts.scheduler} and could not reach it again within ${this.#schedulerTimeoutMs} ms`);
          return;
        }
        log.debug("the scheduler is not back yet", { error: String(err) });
      }
      await new Promise((r) => setTimeout(r, delayMs).unref());
    }
  }

  /** The scheduler answered something sent at `sentAt`: it counts this worker in until then plus its timeout. */
  #renewLease(sentAt: number): void {
    if (this.#heartbeatTimeoutMs <= 0) return;
    const until = sentAt + this.#heartbeatTimeoutMs;
    if (until <= this.#lease[0]!) return;
    const lapsed = !this.#leaseHolds();
    this.#lease[0] = until;
    if (lapsed) this.#dispatch();
  }

  #leaseHolds(): boolean {
    const until = this.#lease[0]!;
    return until === 0 || Date.now() <= until;
  }

  /** The worker's HTTP listener (GET /health, /metrics), e.g. "http://127.0.0.1:40123/". */
  get httpUrl(): string {
    return this.#httpUrl;
  }

  /** It stopped because it could not reach its scheduler again for `schedulerTimeout`. */
  get schedulerGone(): boolean {
    return this.#schedulerGone;
  }

  /** Why the worker stopped, if a fault stopped it; undefined after a requested stop. */
  get fault(): string | undefined {
    return this.#fault;
  }

  // ------------------------------------------------------------ scheduler

  #toScheduler(msg: WorkerToScheduler): void {
    // Finished tasks reported earlier go first: the scheduler hears of things in the order they happened.
    this.#reportFinished();
    // The connection writes everything sent in one turn together.
    if (this.#scheduler?.isOpen) this.#scheduler.send(msg);
  }

  /** Plain tasks finished and not reported yet: they leave together, at the end of the current job at the latest. */
  #finished: TasksFinished | undefined;

  #taskFinished(key: Key, nbytes: number, durationMs: number): void {
    let f = this.#finished;
    if (!f) {
      f = this.#finished = { op: "tasks-finished", keys: [], nbytes: [], durationMs: [] };
      queueMicrotask(() => {
        if (this.#finished === f) this.#reportFinished();
      });
    }
    f.keys.push(key);
    f.nbytes.push(nbytes);
    f.durationMs.push(durationMs);
    if (f.keys.length >= MAX_REPORTED) this.#reportFinished();
  }

  #reportFinished(): void {
    const f = this.#finished;
    if (!f) return;
    this.#finished = undefined;
    if (this.#scheduler?.isOpen) this.#scheduler.send(f);
  }

  #sendHeartbeat(): void {
    const actors: Record<Key, ActorStats> = {};
    for (const [key, a] of this.#actors) actors[key] = a.stats;
    this.#reportFinished();
    const conn = this.#scheduler;
    if (!conn?.isOpen) return;
    const sentAt = Date.now();
    const memoryBytes = this.#memory?.used() ?? process.memoryUsage.rss();
    const busyMs = this.#tasks.busyMs(sentAt);
    const observed = this.#observer.take(this.#tasks.runningNow(sentAt));
    conn.request({ op: "heartbeat", memoryBytes, actors, spilledBytes: this.#store.spilledBytes, busyMs, observed }).then(
      () => this.#renewLease(sentAt),
      () => undefined, // the connection's close says what happened
    );
  }

  #fromScheduler(msg: SchedulerToWorker): void {
    this.#because(msg.op);
    switch (msg.op) {
      case "compute-task":
        if (msg.fnId !== undefined) this.#code.set(msg.fnId, msg.fn);
        return this.#compute(msg);
      case "compute-task-by-id": {
        const fn = this.#code.get(msg.fnId);
        const { fnId: _id, ...rest } = msg;
        return fn ? this.#compute({ ...rest, op: "compute-task", fn }) : this.#codeNotSent(msg.fnId, msg.key);
      }
      case "compute-tasks":
        return this.#computeMany(msg);
      case "free-keys":
        return this.#free(msg.keys);
      case "steal-request":
        return this.#giveUp(msg.keys);
      case "restart":
        // Exiting non-zero has the supervisor start a fresh worker; without one, the worker just leaves.
        log.info("restarting at a client's request");
        return void this.close("restart requested by a client");
      case "acquire-replicas":
        return this.#acquireReplicas(msg.holder, msg.keys);
      case "retired":
        // A requested stop: the process exits 0, and its supervisor starts no other.
        log.info("retired: the scheduler has moved what this worker held");
        return void this.close();
      default:
        log.warn("unexpected message from the scheduler", { op: (msg as { op: string }).op });
    }
  }

  /** Another worker is idle: give up the tasks asked for that have not started here (work stealing). */
  #giveUp(keys: Key[]): void {
    const released: Key[] = [];
    const kept: Key[] = [];
    for (const key of keys) {
      if (this.#state.notStarted(key) || (this.#state.handedToThread(key) && this.#tasks.retract(key))) {
        this.#state.free([key]);
        released.push(key);
      } else kept.push(key);
    }
    this.#toScheduler({ op: "steal-response", released, kept });
  }

  /** Tasks stuck behind a long task on one thread go back to the queue, for another thread or worker. */
  #unstick(): void {
    const taken = this.#tasks.retractBehindLongTasks(Date.now());
    if (taken.length === 0) return;
    this.#because("taken-back");
    const woken: WorkerInstruction[] = [];
    for (const key of taken) {
      const msg = this.#state.runningMsg(key);
      if (msg) woken.push(...this.#state.requeue(key, msg));
    }
    this.#apply(woken);
  }

  /** A task named code by a number this connection never gave it: it cannot run. */
  #codeNotSent(fn: number, key: Key): void {
    const error = errorInfoOf("ProtocolError", `the scheduler named code ${fn} for ${key} without sending it first`);
    this.#toScheduler({ op: "task-erred", key, error });
  }

  // ------------------------------------------------------------ tasks

  /** Plain tasks sent together: each becomes a compute-task of its own here. */
  #computeMany(msg: ComputeTasks): void {
    const fn = this.#code.get(msg.fn);
    for (let i = 0; i < msg.keys.length; i++) {
      const key = msg.keys[i]!;
      if (fn) this.#compute({ op: "compute-task", key, fn, args: msg.args[i]!, whoHas: NO_HOLDERS as Record<Key, Address[]>, actor: false, priority: msg.priority[i]! });
      else this.#codeNotSent(msg.fn, key);
    }
  }

  #compute(msg: ComputeTask): void {
    if (this.#actors.has(msg.key)) return; // a duplicate of a finished actor creation
    this.#apply(this.#state.compute(msg));
    this.#startChained(msg.key);
  }

  /**
   * The chain (scheduler/chain.ts): a task waiting only for deps that are
   * running on one task thread goes to that thread now, right behind them: the
   * thread feeds it their results itself, so a chain runs without a round trip
   * through this thread per link.
   */
  #startChained(key: Key): void {
    const missing = this.#state.missingOf(key);
    if (!missing || missing.size === 0) return;
    let thread: RunnerThread | undefined;
    for (const dep of missing) {
      const on = this.#tasks.threadOf(dep);
      if (!on || (thread && on !== thread)) return;
      thread = on;
    }
    if (!thread!.canClaimMore) return;
    const chained = [...missing];
    const msg = this.#state.startChained(key);
    if (msg) this.#run(msg, thread!, chained);
  }

  /** Carry out what the state machine decided, then keep the task threads busy. */
  #apply(instructions: WorkerInstruction[]): void {
    for (const ins of instructions) {
      if (ins.do === "send") this.#toScheduler(ins.msg);
      else if (ins.do === "fetch") this.#transfers.add(ins.keys, ins.sizes, (keys) => this.#fetch(ins.holder, keys));
      else this.#run(ins.msg, this.#pickActorThread());
    }
    this.#dispatch();
  }

  #pickActorThread(): RunnerThread {
    const counts = new Map<RunnerThread, number>(this.#actorThreadPool.map((t) => [t, 0]));
    for (const a of this.#actors.values()) counts.set(a.thread, (counts.get(a.thread) ?? 0) + 1);
    let best = this.#actorThreadPool[0]!;
    for (const [t, n] of counts) if (n < counts.get(best)!) best = t;
    return best;
  }

  /**
   * Keeps the task threads fed, one task at a time to the least loaded thread
   * with room: idle threads first, and nothing queued behind a long task while
   * another thread could take it.
   */
  #dispatch(): void {
    // Taken up again when the lease is renewed, or memory is below the pause threshold again.
    if (!this.#leaseHolds() || this.#memory?.paused) return;
    const now = Date.now();
    for (;;) {
      const best = this.#tasks.pick(now);
      if (best === undefined) return;
      const msg = this.#state.nextTask();
      if (!msg) return;
      this.#run(msg, best);
    }
  }

  /** `chained`: deps the thread computes just before this task and hands it itself. */
  #run(msg: ComputeTask, thread: RunnerThread, chained?: Key[]): void {
    let deps = NO_DEPS;
    for (const dep in msg.whoHas) {
      const p = this.#store.get(dep) ?? this.#handles.get(dep);
      if (p) (deps === NO_DEPS ? (deps = {}) : deps)[dep] = partsToThread(p.parts);
      else if (!chained?.includes(dep)) {
        // Lost here since the task became ready (its segment was removed from outside): it waits for it again.
        this.#apply(this.#state.requeue(msg.key, msg));
        return;
      }
    }
    const startMs = Date.now();
    // Parts as received: the thread connection compacts or packs them when it posts. One shape, with or without `chained`.
    const work = { t: "run" as const, key: msg.key, fn: msg.fn, args: msg.args.parts, deps, actor: msg.actor, chained };
    const onDone = (done: ThreadDone) => {
      const stopMs = Date.now();
      this.#because(done.ok ? "task-done" : "task-failed");
      if (!done.ok && done.notRun) {
        log.debug("a task did not run (a dep failed on its thread, or is gone); it waits for its deps", { key: msg.key });
        for (const dep of done.gone ?? []) {
          // Not a value stored again since this task was posted (its new segment is there).
          const p = this.#store.get(dep);
          if (p && !segmentsPresent(p.parts)) this.#lost(dep);
        }
        return this.#apply(this.#state.requeue(msg.key, msg));
      }
      // A failure is timed from its posting: the thread measures only what it finished.
      if (!msg.actor) this.#observer.taskEnded(msg.key, thread.index, done.ok && done.ms !== undefined ? stopMs - done.ms : startMs, stopMs, !done.ok);
      if (!this.#state.finished(msg.key, msg)) {
        if (done.ok) discardParts(done.value); // released while running: drop the result
        return this.#dispatch();
      }
      this.#state.record(msg.key, "running", done.ok ? "memory" : "erred");
      if (!done.ok) {
        this.#metrics.erred(msg.fn.name);
        this.#toScheduler({ op: "task-erred", key: msg.key, error: done.died ? this.#deathError(msg.key, done.died, done.error.message) : done.error });
        return this.#dispatch();
      }
      if (msg.actor && done.actor) {
        const meta: ActorMeta = {
          key: msg.key,
          workerAddress: this.#address,
          ...done.actor,
          incarnation: msg.incarnation ?? 0,
          // Reported to a restarted scheduler: a named or detached actor stays so (R-ACT-14).
          ...(msg.name !== undefined ? { name: msg.name } : {}),
          ...(msg.lifetime !== undefined ? { lifetime: msg.lifetime } : {}),
        };
        this.#actors.set(msg.key, { thread, stats: { calls: 0, inFlight: 0, meanCallMs: 0 }, meta });
        // The value of an actor's key is its handle: peers fetching it get a live reference.
        this.#store.set(msg.key, actorRefPayload(meta));
        this.#metrics.finished(msg.fn.name, stopMs - startMs);
        this.#toScheduler({ op: "task-finished", key: msg.key, nbytes: 0, actor: meta, startMs, stopMs });
      } else {
        const payload = resultOf(done);
        this.#store.set(msg.key, payload);
        const ms = done.ms ?? stopMs - startMs;
        this.#metrics.finished(msg.fn.name, ms);
        this.#taskFinished(msg.key, payload.byteLength, ms);
      }
      this.#apply(this.#state.stored(msg.key));
    };
    if (msg.actor) {
      thread.post(
        {
          ...work,
          ...(msg.maxConcurrency !== undefined ? { maxConcurrency: msg.maxConcurrency } : {}),
          ...(msg.checkpointEvery !== undefined ? { checkpointEvery: msg.checkpointEvery } : {}),
          ...(msg.incarnation ? { incarnation: msg.incarnation } : {}),
        },
        onDone,
      );
    }
    else this.#tasks.post(msg.key, thread, work, onDone);
  }

  /** Why a task failed when the thread running it ended without an answer. */
  #deathError(key: Key, died: ThreadDeath, detail: string): ErrorInfo {
    if (died === "memory") {
      return errorInfoOf(
        "WorkerMemoryError",
        `task ${key} ran out of memory: ${detail} (half of this worker's memory limit of ${formatBytes(this.memoryLimit)}); ` +
          "its thread was replaced and the worker carries on. Keep less in memory at once, or give workers a larger memoryLimit.",
      );
    }
    if (died === "stopped") return errorInfoOf("CancelledError", `task ${key} was stopped: ${detail}`);
    return errorInfoOf("Error", `task ${key} did not finish: ${detail}`);
  }

  /** An actor thread died (out of memory, or a fault it could not contain): its actors are gone. */
  #actorThreadDied(thread: RunnerThread, cause: ThreadDeath, detail: string): void {
    const keys: Key[] = [];
    for (const [key, a] of this.#actors) if (a.thread === thread) keys.push(key);
    if (keys.length === 0) return;
    this.#because("actor-thread-ended");
    for (const key of keys) {
      this.#actors.delete(key);
      this.#store.delete(key);
      this.#metrics.actorCalls.forget(key);
    }
    this.#state.free(keys);
    const why = cause === "memory" ? `ran out of memory: ${detail} (half of this worker's memory limit of ${formatBytes(this.memoryLimit)})` : `ended: ${detail}`;
    log.warn("an actor thread ended; its actors are lost", { actors: keys.length, cause, detail });
    this.#toScheduler({ op: "actors-lost", keys, error: errorInfoOf("ActorLostError", `The thread holding these actors on ${this.#address} ${why}`) });
  }

  /** One get-data request to a peer for dependencies it holds; settles when they are stored or known missing. */
  #fetch(holder: Address, keys: Key[]): Promise<void> {
    return this.#peers.request(holder, getDataRequest(keys)).then(
      (reply) => {
        this.#because("get-data-reply");
        const got: Key[] = [];
        const reported: Record<Key, number> = {};
        let received: Received<Part>;
        try {
          received = receiveData(keys, reply, true);
        } catch (err) {
          // A peer answering nonsense holds nothing we can use: as if the fetch had failed.
          log.warn("a peer's get-data reply was malformed", { holder, error: String(err) });
          return this.#apply(this.#state.fetched(holder, keys, [], {}, keys));
        }
        const { values, missing, again, actors } = received;
        for (const [key, payload] of values) {
          got.push(key);
          if (actors.has(key)) {
            this.#handles.set(key, payload); // a handle, not a copy of the actor: never reported
          } else if (!this.#store.has(key)) {
            this.#store.set(key, payload);
            reported[key] = payload.byteLength;
          } else releaseShared(payload); // a copy we already had: drop the segment it came in
        }
        this.#apply(this.#state.fetched(holder, keys.filter((k) => !again.includes(k)), got, reported, missing));
        // In the same turn: the values come again as bytes.
        if (again.length > 0) return this.#fetch(holder, again);
      },
      (err) => {
        this.#because("get-data-failed");
        log.info("could not fetch data from a peer", { holder, error: String(err) });
        this.#apply(this.#state.fetched(holder, keys, [], {}, keys));
      },
    );
  }

  /** Keep copies of keys a retiring worker holds alone (R-OPS-2), and tell the scheduler they are here. */
  #acquireReplicas(holder: Address, keys: Key[]): void {
    this.#peers.request(holder, getDataRequest(keys)).then(
      (reply) => {
        let received: Received<Part>;
        try {
          received = receiveData(keys, reply, true);
        } catch (err) {
          // The scheduler's deadline bounds the retirement: what is not copied is handled as for a worker that left.
          return log.warn("a retiring worker's get-data reply was malformed", { holder, error: String(err) });
        }
        const nbytes: Record<Key, number> = {};
        const woken: WorkerInstruction[] = [];
        for (const [key, payload] of received.values) {
          if (received.actors.has(key) || this.#store.has(key)) {
            releaseShared(payload); // an actor's handle is no copy, and a copy already here is enough
            continue;
          }
          this.#store.set(key, payload);
          nbytes[key] = payload.byteLength;
          woken.push(...this.#state.stored(key));
        }
        if (Object.keys(nbytes).length > 0) this.#toScheduler({ op: "add-keys", keys: Object.keys(nbytes), nbytes });
        this.#apply(woken);
        if (received.again.length > 0) this.#acquireReplicas(holder, received.again);
      },
      (err) => log.info("could not copy data from a retiring worker", { holder, error: String(err) }),
    );
  }

  /**
   * A value's segment was removed behind this process's back: the value is
   * gone here. The scheduler hears it as missing data, strikes this worker
   * off its holders and has it made again if it is still wanted.
   */
  #lost(key: Key): void {
    this.#because("segment-gone");
    log.warn("a value's shared segment was removed from /dev/shm by something else; reporting the value lost here", { key });
    this.#free([key]);
    this.#toScheduler({ op: "missing-data", key, worker: this.address });
  }

  #free(keys: Key[]): void {
    this.#state.free(keys);
    const actorsByThread = new Map<RunnerThread, Key[]>();
    for (const key of keys) {
      // Not started: it never runs. Running: its signal aborts; if it runs on, its thread is replaced.
      this.#tasks.stop(key, "it was cancelled or released", this.#cancelGraceMs);
      this.#store.delete(key);
      this.#handles.delete(key);
      const actor = this.#actors.get(key);
      if (actor) {
        this.#actors.delete(key);
        this.#metrics.actorCalls.forget(key);
        const list = actorsByThread.get(actor.thread) ?? [];
        list.push(key);
        actorsByThread.set(actor.thread, list);
      }
    }
    for (const [thread, list] of actorsByThread) thread.free(list);
  }

  // ------------------------------------------------------------ direct requests

  #request(msg: WorkerRequest | AwaitStopped | CheckpointRequest | Story): unknown {
    switch (msg.op) {
      case "put-checkpoint":
        return this.#checkpoints.put(msg);
      case "get-checkpoint":
        return this.#checkpoints.get(msg.key);
      case "actor-call":
        return this.#actorCall(msg);
      case "get-data":
        return this.#getData(msg.keys, msg.shm);
      case "put-data":
        return this.#putData(msg);
      case "run-function":
        return this.#runFunction(msg);
      case "await-stopped":
        return this.#tasks.whenStopped(msg.keys).then(() => null);
      case "story":
        return this.#state.story.of(msg.key);
      default:
        throw new ProtocolError(`a worker does not serve "${(msg as { op: string }).op}" requests`);
    }
  }

  /** Calls that come through this worker (proxied by the scheduler, or from callers without the direct endpoint). */
  #actorCall(msg: ActorCall): ActorCallReply | Promise<ActorCallReply> {
    const actor = this.#actors.get(msg.key);
    if (!actor) {
      return { ok: false, missing: true, error: errorInfoOf("ActorLostError", `the worker at ${this.#address} holds no actor ${msg.key}`) };
    }
    return actor.thread.post({ t: "call", key: msg.key, kind: msg.kind, name: msg.name, args: compactParts(msg.args.parts) }).then((done): ActorCallReply => {
      if (done.ok) return mappedPayload(resultOf(done));
      return done.missing ? { ok: false, error: done.error, missing: true } : { ok: false, error: done.error };
    });
  }

  /** Values for a peer or client; one on this host (same shared-memory domain) gets large parts by path. */
  #getData(keys: Key[], domain: string | undefined): GetDataReply {
    if (!Array.isArray(keys)) throw new ProtocolError("get-data needs an array of keys");
    const values: GetDataReply["values"] = new Array(keys.length);
    const actors: number[] = [];
    const sameHost = domain !== undefined && domain === shmDomain();
    let shared: Record<number, SharedParts> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const leaving = this.#outgoing(key, sameHost);
      if (!leaving) {
        values[i] = null;
        continue;
      }
      const out = leaving.payload;
      if (leaving.shared) (shared ??= {})[i] = leaving.shared;
      if (this.#actors.has(key)) actors.push(i);
      // One part travels as its bytes alone; large parts stay out of band inside a Payload.
      values[i] = out.parts.length === 1 && out.parts[0]!.byteLength < OOB_THRESHOLD_BYTES ? out.parts[0]! : out;
    }
    const reply: GetDataReply = { values };
    if (actors.length > 0) reply.actors = actors;
    if (shared) reply.shared = shared;
    return reply;
  }

  /**
   * A held value as it leaves for a requester: by path for one on this host,
   * as bytes for one that cannot map. Undefined when it is not held, or its
   * segment turned out to be gone (the value is then reported lost).
   */
  #outgoing(key: Key, sameHost: boolean): { payload: Payload; shared?: SharedParts } | undefined {
    const p = this.#store.get(key);
    if (!p) return undefined;
    try {
      // A requester on this host maps the segments itself: they must still be there.
      if (!sameHost) return { payload: mappedPayload(p) };
      if (segmentsPresent(p.parts)) return splitShared(p);
    } catch (err) {
      if (!isGone(err)) throw err;
    }
    this.#lost(key);
    return undefined;
  }

  #putData(msg: PutData): null {
    this.#because("put-data");
    const nbytes: Record<Key, number> = {};
    const woken: WorkerInstruction[] = [];
    for (const [key, payload] of Object.entries(msg.data)) {
      this.#store.set(key, payload);
      this.#state.record(key, "new", "memory");
      nbytes[key] = payload.byteLength;
      woken.push(...this.#state.stored(key));
    }
    if (msg.report) this.#toScheduler({ op: "add-keys", keys: Object.keys(msg.data), nbytes });
    this.#apply(woken);
    return null;
  }

  async #runFunction(msg: RunFunction): Promise<RunFunctionReply> {
    const thread = this.#tasks.threads.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    return replyOf(await thread.post({ t: "runfn", fn: msg.fn, args: compactParts(msg.args.parts) }));
  }

  // ------------------------------------------------------------ info & shutdown

  /** Names the stimulus being handled, for the transitions it causes (stories). */
  #because(kind: string): void {
    if (this.#state) this.#state.cause = `${kind}#${++this.#stimuli}`;
  }

  #metricsText(): string {
    return this.#metrics.text({
      memoryBytes: this.#memory?.used() ?? process.memoryUsage.rss(),
      memoryLimit: this.memoryLimit,
      spilledBytes: this.#store.spilledBytes,
      storedKeys: this.#store.count,
      paused: this.#memory?.paused ?? false,
      tasksReady: this.#state.readyCount,
      tasksKnown: this.#state.taskCount,
      actors: this.#actors.size,
      nthreads: this.nthreads,
    });
  }

  /** Where this worker serves its Prometheus metrics. */
  get metricsUrl(): string {
    return `${this.#httpUrl}metrics`;
  }

  /**
   * Leave gracefully (R-OPS-2; SIGTERM): the scheduler sends no new work,
   * copies the data only this worker holds to others, re-creates its actors
   * with restarts left elsewhere and waits for the others to be released,
   * for up to `retireTimeout`; then it says `retired` and this worker closes.
   * Without a scheduler to ask, it closes at once. Resolves once closed.
   */
  retire(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#retiring ??= (async () => {
      const timeoutMs = this.#opts.retireTimeout;
      if (!this.#scheduler?.isOpen) return this.close();
      log.info("retiring: handing data and actors over to other workers", { timeoutMs });
      this.#toScheduler({ op: "retire-worker", timeoutMs });
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs + RETIRE_MARGIN_MS)));
      await Promise.race([this.closed, late]);
      clearTimeout(timer);
      if (!this.#closing) log.warn("the scheduler did not retire this worker in time; leaving anyway", { timeoutMs });
      return this.close();
    })();
    return this.#retiring;
  }

  /** Shut down; `fault` says why when nobody asked for it (the first call's reason stands, see `fault`). */
  close(fault?: string): Promise<void> {
    if (!this.#closing && fault !== undefined) this.#fault = fault;
    this.#closing ??= (async () => {
      clearInterval(this.#heartbeat);
      clearInterval(this.#unstickTimer);
      this.#transfers.clear();
      this.#memory?.stop();
      this.#scheduler?.close("worker closing");
      await Promise.all([this.#listener?.close(), this.#http?.close()]);
      await this.#peers.close();
      await Promise.all([this.#tasks.close(), ...this.#actorThreadPool.map((t) => t.close())]);
      this.#store.clear();
      this.#closedResolve(this.#fault === undefined ? {} : { fault: this.#fault });
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The scheduler refused a rejoin: it removed this worker. */
class WorkerRemoved extends Error {}

function actorRefPayload(meta: Omit<ActorMeta, "incarnation">): Payload {
  const ref = { [TO_REF]: () => ({ type: "actor" as const, meta: { ...meta, incarnation: 0 } }) };
  return serialize(ref).payload;
}

/** A thread's successful answer as a payload held here (segments the thread made become this thread's, unmapped). */
function resultOf(done: Extract<ThreadDone, { ok: true }>): Payload<Part> {
  return new Payload(partsFromThread(done.value));
}

/** A thread's answer, as the reply to the request that caused it. */
function replyOf(done: ThreadDone): RunFunctionReply {
  return done.ok ? { ok: true, value: mappedPayload(resultOf(done)) } : { ok: false, error: done.error };
}

function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.round(n / 2 ** 20)} MiB`;
}
