// A worker process's main thread: serves connections (scheduler, peers,
// clients), keeps the object store, fetches dependencies from peers, and
// hands user code to task threads and actor threads. It never runs user code
// itself, so heartbeats and transfers go on while tasks and actors compute.

import { hostname } from "node:os";
import { formatAddress, isWildcardHost, listen, parseAddress, type Connection, type Listener } from "../comm/index.js";
import type { Payload } from "../protocol/payload.js";
import { ProtocolError } from "../errors.js";
import { createLogger } from "../log.js";
import { segmentsPresent, sweepStale, type Part } from "../shm/index.js";
import type {
  RunFunctionReply,
  Address,
  ComputeTask,
  Heartbeat,
  Key,
  AwaitStopped,
  CheckpointRequest,
  SchedulerToWorker,
  Story,
  WorkerRejoin,
  WorkerRequest,
  PutData,
  RunFunction,
} from "../protocol/messages.js";
import { errorInfoOf } from "../serialize/index.js";
import { accepting } from "../protocol/schemas.js";
import { watchEventLoop } from "../metrics/process.js";
import { CheckpointStore } from "./checkpoint-store.js";
import { getDataReply, type HeldValues } from "./data-serving.js";
import { actorRefPayload, HostedActors } from "./hosted-actors.js";
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from "./options.js";
import { SchedulerLink } from "./scheduler-link.js";
import { WorkerState, type WorkerInstruction } from "./state.js";
import { SentCode } from "./sent-code.js";
import { Store } from "./store.js";
import { RunnerThread, type ThreadDeath } from "./threads.js";
import { TaskThreads } from "./task-threads.js";
import { IncomingTransfers } from "./transfers.js";
import { MemoryMonitor } from "./memory.js";
import { PeerFetch } from "./peer-fetch.js";
import { startWorkerHttp, type WorkerHttp } from "./http.js";
import { threadHeapMb } from "./memory-limit.js";
import { WorkerMetrics } from "./metrics.js";
import { WorkerObserver } from "./observer.js";
import { deathError, formatBytes, replyOf, resultOf } from "./thread-answers.js";
import { compactParts, discardParts, NO_DEPS, partsToThread, threadConfigOf, type ThreadDone } from "./thread-protocol.js";

const log = createLogger("worker");

/** How often tasks queued on a thread behind a long task are taken back for others. */
const UNSTICK_EVERY_MS = 100;

/** How a worker ended. */
export interface WorkerExit {
  /** Why it stopped when nobody asked it to (lost its scheduler, a thread crashed): its process exits non-zero. */
  fault?: string;
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
  readonly #metrics = new WorkerMetrics();
  readonly #actors = new HostedActors(this.#metrics.actorCalls);
  /** Checkpoints of actors living on other workers (R-ACT-19). */
  readonly #checkpoints = new CheckpointStore();
  #tasks = new TaskThreads([]);
  /** Code the scheduler sent, by the number later compute-tasks name it with. */
  readonly #code = new SentCode();
  /** Bytes this worker may use (R-FAIL-7). */
  readonly memoryLimit: number;
  readonly #cancelGraceMs: number;
  /** Why the worker stopped, when a fault stopped it (its process then exits non-zero). */
  #fault: string | undefined;
  #listener?: Listener;
  /** Stimuli handled: each one's number is part of its cause id. */
  #stimuli = 0;
  /** Serves /health and /metrics. */
  #http?: WorkerHttp;
  readonly #link: SchedulerLink;
  readonly #fetches: PeerFetch;
  /** What get-data hands out. */
  readonly #held: HeldValues;
  /** Dependencies being fetched from peers, and those waiting their turn (R-FLOW-3). */
  readonly #transfers: IncomingTransfers;
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
    this.#store = new Store(opts.localDirectory);
    this.#transfers = new IncomingTransfers({ count: opts.transferIncomingCountLimit, bytes: opts.transferIncomingBytesLimit });
    this.#fetches = new PeerFetch(opts, {
      store: this.#store,
      handles: this.#handles,
      because: (kind) => this.#because(kind),
      fetched: (holder, keys, got, reported, missing) => this.#apply(this.#state.fetched(holder, keys, got, reported, missing)),
      replicated: (nbytes) => {
        const keys = Object.keys(nbytes);
        const woken = keys.flatMap((key) => this.#state.stored(key));
        if (keys.length > 0) this.#link.send({ op: "add-keys", keys, nbytes });
        this.#apply(woken);
      },
    });
    this.#held = { store: this.#store, isActor: (key) => this.#actors.has(key), lost: (key) => this.#lost(key) };
    this.#link = new SchedulerLink(opts, {
      closing: () => this.#closing !== undefined,
      registration: () => ({ address: this.#address, name: this.name, nthreads: this.nthreads, actorThreads: this.actorThreads, resources: this.resources, memoryLimit: this.memoryLimit, metricsUrl: this.metricsUrl }),
      rejoinReport: (schedulerId) => this.#rejoinReport(schedulerId),
      heartbeat: (sentAt) => this.#heartbeatReport(sentAt),
      fromScheduler: (msg) => this.#fromScheduler(msg),
      request: (msg) => this.#request(msg),
      lost: (conn) => this.#schedulerLost(conn),
      rejoined: () => {
        if (this.#memory?.paused) this.#link.send({ op: "worker-status", status: "paused" });
        this.#dispatch();
      },
      dispatch: () => this.#dispatch(),
      close: (fault) => this.close(fault),
    });
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
    this.#http = await startWorkerHttp({
      host: opts.host,
      port: opts.httpPort,
      token: opts.token,
      contactHost,
      health: () => (this.#closing ? { ok: false, why: "closing" } : { ok: true }),
      metrics: () => this.#metricsText(),
    });
    log.debug("serving /health and /metrics", { url: this.#http.url });

    const worker = { address: this.#address, name: this.name, nthreads: this.nthreads, resources: this.resources };
    const threadConfig = threadConfigOf(opts, contactHost, worker, this.#link.leaseBuffer);
    const heapMb = threadHeapMb(this.memoryLimit);
    this.#tasks = new TaskThreads(Array.from({ length: this.nthreads }, (_, i) => new RunnerThread(threadConfig("task", i), {}, { heapMb })));
    const actorConfigs = Array.from({ length: this.actorThreads }, (_, i) => threadConfig("actor", i));
    this.#actors.startThreads(actorConfigs, heapMb, (keys, cause, detail) => this.#actorsLost(keys, cause, detail));

    await this.#link.join(false);
    this.#link.startHeartbeats();
    this.#unstickTimer = setInterval(() => this.#unstick(), UNSTICK_EVERY_MS);
    this.#unstickTimer.unref();
    this.#memory = new MemoryMonitor(this.memoryLimit, this.#store, {
      keep: (key) => this.#actors.has(key),
      onPause: (paused) => {
        this.#link.send({ op: "worker-status", status: paused ? "paused" : "running" });
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
    this.#link.send({ op: "worker-status", status: "restarting", reason });
    this.#link.flush();
    return this.close(reason);
  }

  /** What this worker holds, for a scheduler started in place of `schedulerId`. */
  #rejoinReport(schedulerId: string): WorkerRejoin {
    const held: Record<Key, number> = {};
    for (const [key, nbytes] of this.#store.sizes()) if (!this.#actors.has(key)) held[key] = nbytes;
    return { schedulerId, held, actors: this.#actors.metas(), running: this.#state.runningKeys() };
  }

  /** What a heartbeat sent at `sentAt` tells the scheduler. */
  #heartbeatReport(sentAt: number): Omit<Heartbeat, "op"> {
    const memoryBytes = this.#memory?.used() ?? process.memoryUsage.rss();
    const busyMs = this.#tasks.busyMs(sentAt);
    const observed = this.#observer.take(this.#tasks.runningNow(sentAt));
    return { memoryBytes, actors: this.#actors.stats(), spilledBytes: this.#store.spilledBytes, busyMs, observed };
  }

  /**
   * The scheduler is gone (restarted, or unreachable), or it removed this
   * worker. Tasks not started go back (the scheduler gave them, or will give
   * them, to others); running ones finish, and their results stay here with
   * everything else this worker holds while it tries to reach a scheduler
   * again, for `schedulerTimeout`.
   */
  #schedulerLost(conn: Connection): void {
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
    log.warn("lost the scheduler connection; trying to reach it again", { scheduler: this.#opts.scheduler, forMs: this.#opts.schedulerTimeout });
    void this.#link.rejoin();
  }

  /** The worker's HTTP listener (GET /health, /metrics), e.g. "http://127.0.0.1:40123/". */
  get httpUrl(): string {
    return this.#http?.url ?? "";
  }

  /** It stopped because it could not reach its scheduler again for `schedulerTimeout`. */
  get schedulerGone(): boolean {
    return this.#link.gone;
  }

  /** Why the worker stopped, if a fault stopped it; undefined after a requested stop. */
  get fault(): string | undefined {
    return this.#fault;
  }

  // ------------------------------------------------------------ scheduler

  #fromScheduler(msg: SchedulerToWorker): void {
    this.#because(msg.op);
    switch (msg.op) {
      case "compute-task":
      case "compute-task-by-id":
      case "compute-tasks":
        return this.#code.expand(msg, (task) => this.#compute(task), (erred) => this.#link.send(erred));
      case "free-keys":
        return this.#free(msg.keys);
      case "steal-request":
        return this.#giveUp(msg.keys);
      case "restart":
        // Exiting non-zero has the supervisor start a fresh worker; without one, the worker just leaves.
        log.info("restarting at a client's request");
        return void this.close("restart requested by a client");
      case "acquire-replicas":
        return this.#fetches.acquireReplicas(msg.holder, msg.keys);
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
    this.#link.send({ op: "steal-response", released, kept });
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

  // ------------------------------------------------------------ tasks

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
      if (ins.do === "send") this.#link.send(ins.msg);
      else if (ins.do === "fetch") this.#transfers.add(ins.keys, ins.sizes, (keys) => this.#fetches.fetch(ins.holder, keys));
      else this.#run(ins.msg, this.#actors.leastLoaded());
    }
    this.#dispatch();
  }

  /**
   * Keeps the task threads fed, one task at a time to the least loaded thread
   * with room: idle threads first, and nothing queued behind a long task while
   * another thread could take it.
   */
  #dispatch(): void {
    // Taken up again when the lease is renewed, or memory is below the pause threshold again.
    if (!this.#link.leaseHolds() || this.#memory?.paused) return;
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
        this.#link.send({ op: "task-erred", key: msg.key, error: done.died ? deathError(msg.key, done.died, done.error.message, this.memoryLimit) : done.error });
        return this.#dispatch();
      }
      if (msg.actor && done.actor) {
        const meta = this.#actors.created(thread, msg, done.actor, this.#address);
        // The value of an actor's key is its handle: peers fetching it get a live reference.
        this.#store.set(msg.key, actorRefPayload(meta));
        this.#metrics.finished(msg.fn.name, stopMs - startMs);
        this.#link.send({ op: "task-finished", key: msg.key, nbytes: 0, actor: meta, startMs, stopMs });
      } else {
        const payload = resultOf(done);
        this.#store.set(msg.key, payload);
        const ms = done.ms ?? stopMs - startMs;
        this.#metrics.finished(msg.fn.name, ms);
        this.#link.taskFinished(msg.key, payload.byteLength, ms);
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

  /** An actor thread died (out of memory, or a fault it could not contain): its actors are gone. */
  #actorsLost(keys: Key[], cause: ThreadDeath, detail: string): void {
    this.#because("actor-thread-ended");
    for (const key of keys) this.#store.delete(key);
    this.#state.free(keys);
    const why = cause === "memory" ? `ran out of memory: ${detail} (half of this worker's memory limit of ${formatBytes(this.memoryLimit)})` : `ended: ${detail}`;
    log.warn("an actor thread ended; its actors are lost", { actors: keys.length, cause, detail });
    this.#link.send({ op: "actors-lost", keys, error: errorInfoOf("ActorLostError", `The thread holding these actors on ${this.#address} ${why}`) });
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
    this.#link.send({ op: "missing-data", key, worker: this.address });
  }

  #free(keys: Key[]): void {
    this.#state.free(keys);
    for (const key of keys) {
      // Not started: it never runs. Running: its signal aborts; if it runs on, its thread is replaced.
      this.#tasks.stop(key, "it was cancelled or released", this.#cancelGraceMs);
      this.#store.delete(key);
      this.#handles.delete(key);
    }
    this.#actors.free(keys);
  }

  // ------------------------------------------------------------ direct requests


  #request(msg: WorkerRequest | AwaitStopped | CheckpointRequest | Story): unknown {
    switch (msg.op) {
      case "put-checkpoint":
        return this.#checkpoints.put(msg);
      case "get-checkpoint":
        return this.#checkpoints.get(msg.key);
      case "actor-call":
        return this.#actors.call(msg, this.#address);
      case "get-data":
        return getDataReply(msg.keys, msg.shm, this.#held);
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
    if (msg.report) this.#link.send({ op: "add-keys", keys: Object.keys(msg.data), nbytes });
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
    return `${this.httpUrl}metrics`;
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
      if (!this.#link.isOpen) return this.close();
      await this.#link.retire(this.closed);
      if (!this.#closing) log.warn("the scheduler did not retire this worker in time; leaving anyway", { timeoutMs: this.#opts.retireTimeout });
      return this.close();
    })();
    return this.#retiring;
  }

  /** Shut down; `fault` says why when nobody asked for it (the first call's reason stands, see `fault`). */
  close(fault?: string): Promise<void> {
    if (!this.#closing && fault !== undefined) this.#fault = fault;
    this.#closing ??= (async () => {
      clearInterval(this.#unstickTimer);
      this.#transfers.clear();
      this.#memory?.stop();
      this.#link.close();
      await Promise.all([this.#listener?.close(), this.#http?.close()]);
      await this.#fetches.close();
      await Promise.all([this.#tasks.close(), this.#actors.closeThreads()]);
      this.#store.clear();
      this.#closedResolve(this.#fault === undefined ? {} : { fault: this.#fault });
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
