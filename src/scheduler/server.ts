// The scheduler process's I/O: accepts clients and workers, turns their
// messages into events for the state machine, and carries its instructions
// out. All decisions live in state.ts.

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { listen, localConnection, type Connection, type Listener } from "../comm/index.js";
import { prometheusText } from "../dashboard/metrics.js";
import { dashboardLink } from "../dashboard/auth.js";
import { LiveData } from "../dashboard/live.js";
import { startDashboard, type Dashboard } from "../dashboard/server.js";
import { watchEventLoop } from "../metrics/process.js";
import { CommError, ConfigError, ProtocolError } from "../errors.js";
import { createLogger } from "../log.js";
import { errorInfoOf } from "../serialize/errors.js";
import type { Address, ClientToScheduler, GetActorReply, KillActorReply, Key, RegisterClientReply, RegisterWorkerReply, RunFunction, RunFunctionReply, SchedulerInfo, SchedulerToWorker, StoryEntry, TaskSpec, UpdateGraph, WhereIsActorReply } from "../protocol/messages.js";
import type { Instruction, SchedulerEvent } from "./events.js";
import { resolveSchedulerOptions, type ResolvedSchedulerOptions, type SchedulerOptions } from "./options.js";
import { accepting, messageWeight } from "../protocol/schemas.js";
import { Coordination } from "./coordination/index.js";
import { COORDINATION, SchedulerState } from "./state.js";
import { mergeStories, storyNow } from "../story.js";
import { WorkerSender } from "./to-worker.js";
import { shareCode } from "./shared-code.js";
import { ThrottledLog } from "../log-throttle.js";

const log = createLogger("scheduler");

/** A worker told to restart, or that it is retired, closes its connection itself; one that has not after this long is closed. */
const RESTART_CLOSE_AFTER_MS = 5000;

/** A client waiting for enough workers to connect. */
interface WorkerWaiter {
  client: string;
  count: number;
  done: () => void;
}

/** The exit status of a scheduler process whose state machine failed. */
export const EXIT_STATE_FAILED = 70;

/** An event for the log: bytes as their size, the whole bounded. */
function summarize(event: SchedulerEvent): string {
  return JSON.stringify(event, (_k, v: unknown) => (ArrayBuffer.isView(v) ? `<${v.byteLength} bytes>` : v)).slice(0, 4000);
}

export class Scheduler {
  readonly #state: SchedulerState;
  readonly #clients = new Map<string, Connection>();
  /** Parts of a graph a client is still sending (UpdateGraph.more), by client: handled as one graph with the last. */
  readonly #graphParts = new Map<string, { tasks: TaskSpec[]; wanted: Key[] }>();
  readonly #workers = new Map<Address, Connection>();
  readonly #toWorkers = new WorkerSender();
  readonly #workerWaiters = new Set<WorkerWaiter>();
  /** Queues, locks, semaphores, events and variables (R-TASK-14). */
  readonly #coordination = new Coordination({
    want: (keys) => this.#handle({ type: "want-keys", client: COORDINATION, keys }),
    release: (keys) => this.#handle({ type: "release-keys", client: COORDINATION, keys }),
    handTo: (client, keys) => this.#handle({ type: "want-keys", client, keys }),
  });
  readonly #logs = new ThrottledLog(log);
  /** Callers waiting for workers to finish retiring (or to leave otherwise), by address. */
  readonly #goneWaiters = new Map<Address, Array<() => void>>();
  #listener!: Listener;
  #dashboard?: Dashboard;
  /** What the live dashboard shows; fed only when a dashboard is served. */
  #live?: LiveData;
  /** Where the dashboard listens and the token it may ask for: what its login link is made of. */
  readonly #host: string;
  readonly #token: string;
  #tick?: NodeJS.Timeout;
  #closing?: Promise<void>;

  readonly #heartbeatTimeoutMs: number;
  /** A scheduler process (not one embedded in a script): it exits when its state fails. */
  readonly #holdProcess: boolean;
  /** This process: workers and clients rejoining a scheduler tell a restarted one from the one they knew. */
  readonly #id = randomBytes(8).toString("hex");

  private constructor(opts: ResolvedSchedulerOptions) {
    this.#heartbeatTimeoutMs = opts.heartbeatTimeoutMs;
    this.#holdProcess = opts.holdProcess;
    this.#host = opts.host;
    this.#token = opts.token;
    this.#state = new SchedulerState({ heartbeatTimeoutMs: this.#heartbeatTimeoutMs });
  }

  static async start(options?: SchedulerOptions): Promise<Scheduler> {
    const opts = resolveSchedulerOptions(options);
    const s = new Scheduler(opts);
    watchEventLoop();
    s.#listener = await listen({
      host: opts.host,
      port: opts.port,
      token: opts.token,
      tls: opts.tls,
      insecure: opts.insecure,
      holdProcess: opts.holdProcess,
      onConnection: (conn) => s.#accept(conn),
    });
    // The check runs after the poll phase: if this process was busy for a
    // while, messages already waiting in sockets (heartbeats) count first.
    if (opts.dashboardPort !== undefined) {
      const live = (s.#live = new LiveData({ info: () => s.info(), actorStates: (keys) => s.#state.actorStates(keys), groupOf: (key) => s.#state.groupOf(key) }));
      const serve = (port: number) =>
        startDashboard(() => s.info(), {
          host: opts.host,
          port,
          token: opts.token,
          holdProcess: opts.holdProcess,
          live,
          metrics: () => prometheusText({ info: s.info(), ...s.#state.metrics() }),
        });
      try {
        s.#dashboard = await serve(opts.dashboardPort);
      } catch (err) {
        if (!opts.dashboardFallback || opts.dashboardPort === 0) {
          await s.#listener.close();
          throw new CommError(`Could not serve the dashboard on port ${opts.dashboardPort}: ${(err as Error).message}; pick another with --dashboard-port (0 for any free port)`, { cause: err });
        }
        log.info("the dashboard's port is taken: serving it on a free one", { port: opts.dashboardPort, error: String(err) });
        s.#dashboard = await serve(0);
      }
    }
    s.#tick = setInterval(() => setImmediate(() => s.#handle({ type: "tick" })), opts.tickMs);
    s.#tick.unref();
    return s;
  }

  get address(): Address {
    return this.#listener.address;
  }

  /** A client connection from this same process: no socket, no encoding (a LocalCluster's own client). */
  connectLocal(): Connection {
    if (this.#closing) throw new CommError("the scheduler is closed");
    const [client, server] = localConnection("client");
    this.#accept(server);
    return client;
  }

  /** The dashboard's URL, when one is served. */
  get dashboardUrl(): string | undefined {
    return this.#dashboard?.url;
  }

  /** The dashboard's address as a person opens it: this host's name for a wildcard bind, the login link when it needs the token. */
  get dashboardLink(): string | undefined {
    const url = this.#dashboard?.url;
    return url === undefined ? undefined : dashboardLink(url, this.#host, this.#token, hostname());
  }

  info(): SchedulerInfo {
    return { address: this.address, ...this.#state.info() };
  }

  /** @internal Sees every event before the state machine does (tests check what reaches it; a throw here counts as the state machine's). */
  _onEvent?: (event: SchedulerEvent) => void;

  /**
   * Every message was checked against its schema before it became an event:
   * a throw is a bug, and the state can no longer be trusted. A scheduler
   * process exits non-zero (its supervisor starts it again, and workers and
   * clients rebuild its state); one embedded in a script closes, and its
   * clients fail with what happened.
   */
  #stateFailed(event: SchedulerEvent, err: unknown): void {
    log.error("the scheduler failed to handle an event; stopping", { event: summarize(event), error: String((err as Error)?.stack ?? err) });
    if (this.#holdProcess) process.exit(EXIT_STATE_FAILED);
    void this.close();
  }

  #handle(event: SchedulerEvent): void {
    let out: Instruction[];
    // Before the state machine forgets it: the dashboard keeps a row for a worker that left.
    if (event.type === "worker-removed") this.#live?.workerLeft(event.address, event.reason, Date.now());
    try {
      this._onEvent?.(event);
      out = this.#state.handle(event, Date.now(), storyNow());
    } catch (err) {
      return this.#stateFailed(event, err);
    }
    if (event.type === "worker-removed") this.#live?.afterWorkerLeft(Date.now());
    for (const ins of out) {
      if (ins.to === "worker") this.#toWorker(ins.address, ins.msg);
      else if (ins.to === "client") this.#clients.get(ins.client)?.send(ins.msg);
      else if (ins.to === "log") this.#logs.write(ins.level, ins.msg, ins.fields);
      else if (ins.to === "retired") this.#retired(ins.address, ins.reason);
      else {
        // Declared dead now, not when its socket finally closes: a silent
        // link may take long to report anything.
        log.warn("removing an unresponsive worker", { address: ins.address, reason: ins.reason });
        const conn = this.#workers.get(ins.address);
        this.#workers.delete(ins.address);
        conn?.close(ins.reason);
        this.#handle({ type: "worker-removed", address: ins.address, reason: ins.reason });
        this.#workerGone(ins.address);
      }
    }
    this.#toWorkers.flush();
  }

  /**
   * Retire workers (R-OPS-2, retire.ts): resolves to the addresses retired
   * once each has been told so, or has left otherwise. An address no worker
   * of this scheduler has is refused.
   */
  retireWorkers(addresses: Address[], timeoutMs: number): Promise<Address[]> {
    const unknown = addresses.filter((a) => !this.#workers.has(a));
    if (unknown.length > 0) {
      return Promise.reject(new ConfigError(`retireWorkers: no worker at ${unknown.join(", ")} is connected to this scheduler; schedulerInfo().workers lists those that are`));
    }
    const done = Promise.all(addresses.map((a) => this.untilWorkerGone(a)));
    log.info("retiring workers", { workers: addresses, timeoutMs });
    this.#handle({ type: "retire-workers", workers: addresses, timeoutMs });
    return done.then(() => addresses);
  }

  /** Resolves once this scheduler no longer counts the worker at `address` (at once if it does not). */
  untilWorkerGone(address: Address): Promise<void> {
    if (!this.#workers.has(address)) return Promise.resolve();
    return new Promise((resolve) => this.#goneWaiters.set(address, [...(this.#goneWaiters.get(address) ?? []), resolve]));
  }

  /** The state machine has forgotten a retired worker: it hears so (and exits 0), and its connection no longer speaks for a member. */
  #retired(address: Address, reason: string): void {
    const conn = this.#workers.get(address);
    this.#workers.delete(address);
    log.info("worker retired", { address, reason });
    if (conn) {
      this.#toWorkers.send(conn, { op: "retired" });
      setTimeout(() => conn.close("retired"), RESTART_CLOSE_AFTER_MS).unref();
    }
    this.#workerGone(address);
  }

  /** Whoever waited for this worker to retire, or to leave, hears that it is gone. */
  #workerGone(address: Address): void {
    const waiters = this.#goneWaiters.get(address);
    this.#goneWaiters.delete(address);
    for (const done of waiters ?? []) done();
  }

  #toWorker(address: Address, msg: SchedulerToWorker): void {
    const conn = this.#workers.get(address);
    if (conn) this.#toWorkers.send(conn, msg);
  }

  #accept(conn: Connection): void {
    if (conn.role === "worker") return this.#acceptWorker(conn);
    conn.schema = accepting("scheduler-from-client");
    const client = randomBytes(8).toString("hex");
    this.#clients.set(client, conn);
    this.#handle({ type: "client-added", client });
    // The schema let through only what a client sends.
    conn.onMessage = (msg) => this.#fromClient(client, msg as ClientToScheduler);
    conn.onRequest = (msg) => this.#clientRequest(client, msg as ClientToScheduler);
    void conn.closed.then(() => {
      this.#clients.delete(client);
      this.#graphParts.delete(client);
      for (const w of this.#workerWaiters) if (w.client === client) w.done();
      this.#coordination.clientGone(client);
      this.#handle({ type: "client-removed", client });
    });
  }

  #fromClient(client: string, msg: ClientToScheduler): void {
    switch (msg.op) {
      case "update-graph":
        return this.#graphPart(client, msg);
      case "release-keys":
        return this.#handle({ type: "release-keys", client, keys: msg.keys });
      case "want-keys":
        return this.#handle({ type: "want-keys", client, keys: msg.keys });
      case "update-data":
        return this.#handle({ type: "update-data", client, who: msg.who, nbytes: msg.nbytes });
      case "cancel-keys":
        return this.#handle({ type: "cancel-keys", client, keys: msg.keys });
      case "fire-and-forget":
        return this.#handle({ type: "fire-and-forget", keys: msg.keys });
      default:
        log.warn("unexpected message from a client", { op: msg.op });
    }
  }

  #graphPart(client: string, msg: UpdateGraph): void {
    shareCode(msg.tasks);
    let graph = this.#graphParts.get(client);
    if (!graph && !msg.more) return this.#handle({ type: "update-graph", client, tasks: msg.tasks, wanted: msg.wanted });
    if (!graph) this.#graphParts.set(client, (graph = { tasks: [], wanted: [] }));
    // One at a time: a spread of 10,000 arguments per part would risk the call stack.
    for (const t of msg.tasks) graph.tasks.push(t);
    for (const k of msg.wanted) graph.wanted.push(k);
    if (msg.more) return;
    this.#graphParts.delete(client);
    this.#handle({ type: "update-graph", client, tasks: graph.tasks, wanted: graph.wanted });
  }

  #clientRequest(client: string, msg: ClientToScheduler): unknown {
    switch (msg.op) {
      case "register-client":
        if (msg.rejoin) {
          const { schedulerId, tasks, wanted, actors } = msg.rejoin;
          shareCode(tasks);
          // After a restart this scheduler rebuilds from the client's report; the same one only takes its graph again.
          if (schedulerId !== this.#id) this.#handle({ type: "client-rejoined", client, tasks, wanted, actors });
          else this.#handle({ type: "update-graph", client, tasks, wanted });
        }
        return { schedulerId: this.#id, dashboardLink: this.dashboardLink } satisfies RegisterClientReply;
      case "update-graph":
      case "release-keys":
      case "want-keys":
      case "update-data":
      case "fire-and-forget":
        // Sent as requests when the client needs to know they were applied.
        this.#fromClient(client, msg);
        return null;
      case "cancel-keys":
        return this.#cancel(client, msg.keys);
      case "who-has":
        return this.#state.whoHas(msg.keys);
      case "scheduler-info":
        return this.info();
      case "choose-workers":
        return this.#state.chooseWorkers(msg.count, { workers: msg.workers, broadcast: msg.broadcast });
      case "where-is-actor":
        return this.#state.actorLocation(msg.key) satisfies WhereIsActorReply;
      case "proxy": {
        const worker = this.#workers.get(msg.to);
        if (!worker) throw new CommError(`no worker at ${msg.to} is connected to the scheduler`);
        return worker.request(msg.msg);
      }
      case "run-on-workers":
        return this.#runOnWorkers(msg.fn, msg.args);
      case "restart-workers":
        return this.#restartWorkers();
      case "wait-for-workers":
        return this.#waitForWorkers(client, msg.count, msg.timeoutMs);
      case "get-actor": {
        const key = this.#state.namedActor(msg.name);
        if (key !== undefined) return { key } satisfies GetActorReply;
        return { error: errorInfoOf("ConfigError", `no live actor is named ${JSON.stringify(msg.name)}: create one with submit(Cls, args, { actor: true, name }) first`) } satisfies GetActorReply;
      }
      case "kill-actor": {
        const key = msg.key ?? (msg.name === undefined ? undefined : this.#state.namedActor(msg.name));
        if (key === undefined || !this.#state.isLiveActor(key)) {
          const what = msg.key ?? (msg.name === undefined ? "" : `named ${JSON.stringify(msg.name)}`);
          return { error: errorInfoOf("ActorLostError", `no live actor ${what} to kill: it was already released, killed or lost`) } satisfies KillActorReply;
        }
        this.#handle({ type: "kill-actor", key });
        return { killed: key } satisfies KillActorReply;
      }
      case "queue-put":
      case "queue-get":
      case "queue-size":
      case "lease-acquire":
      case "lease-release":
      case "lease-count":
      case "event":
      case "variable-set":
      case "variable-get":
      case "variable-delete":
        return this.#coordination.serve(client, msg);
      case "story":
        return this.#story(msg.key);
      case "retire-workers":
        return this.retireWorkers(msg.workers, msg.timeoutMs);
      default:
        // Past the schema only if the schema and this switch disagree: a bug.
        throw new ProtocolError(`the scheduler does not serve "${(msg as { op: string }).op}" requests`);
    }
  }

  /**
   * Cancels keys, and answers once the tasks among them that were running
   * are no longer running anywhere (a task that ignores its abort is stopped
   * by force after its worker's grace period, R-TASK-13).
   */
  async #cancel(client: string, keys: Key[]): Promise<null> {
    const running = new Map<Address, Key[]>();
    for (const key of keys) {
      const on = this.#state.taskState(key) === "processing" ? this.#state.processingOn(key) : undefined;
      if (on !== undefined) running.set(on, [...(running.get(on) ?? []), key]);
    }
    this.#fromClient(client, { op: "cancel-keys", keys });
    await Promise.all(
      [...running].map(([address, ks]) => {
        const conn = this.#workers.get(address);
        // Sent after the free-keys that stops them; a worker that goes away stops them too.
        return conn?.request({ op: "await-stopped", keys: ks }).catch(() => undefined);
      }),
    );
    return null;
  }

  /**
   * client.restart(): every task is cancelled, and every worker told to
   * restart and forgotten at once, so that any worker joining from now on is
   * a new one. Returns how many workers there were.
   */
  #restartWorkers(): number {
    const workers = [...this.#workers.values()];
    this.#workers.clear();
    log.info("restarting every worker at a client's request", { workers: workers.length });
    this.#handle({ type: "restart" });
    for (const address of [...this.#goneWaiters.keys()]) this.#workerGone(address);
    for (const conn of workers) {
      conn.send({ op: "restart" });
      setTimeout(() => conn.close("the cluster restarted"), RESTART_CLOSE_AFTER_MS).unref();
    }
    return workers.length;
  }

  /** Resolves to the number of workers connected once there are `count`, or when `timeoutMs` has passed. */
  #waitForWorkers(client: string, count: number, timeoutMs: number | undefined): number | Promise<number> {
    if (!Number.isInteger(count) || count < 0) throw new ProtocolError(`wait-for-workers needs a count of workers, got ${String(count)}`);
    if (this.#workers.size >= count) return this.#workers.size;
    return new Promise<number>((resolve) => {
      const waiter: WorkerWaiter = {
        client,
        count,
        done: () => {
          clearTimeout(timer);
          this.#workerWaiters.delete(waiter);
          resolve(this.#workers.size);
        },
      };
      // Beyond what a timer can count, as good as no bound.
      const timer = typeof timeoutMs === "number" && timeoutMs < 2 ** 31 ? setTimeout(waiter.done, Math.max(0, timeoutMs)) : undefined;
      timer?.unref();
      this.#workerWaiters.add(waiter);
    });
  }

  /** One key's story: the scheduler's part and each connected worker's, merged in time order. */
  async #story(key: Key): Promise<StoryEntry[]> {
    const own = this.#state.story(key);
    const theirs = await Promise.all(
      [...this.#workers].map(([address, conn]) =>
        conn.request({ op: "story", key }).catch((err: unknown) => {
          // A worker that cannot answer leaves a gap, not a failed story.
          log.debug("a worker did not answer for a story", { worker: address, key, error: String(err) });
          return [] as StoryEntry[];
        }),
      ),
    );
    return mergeStories([own, ...theirs]);
  }

  async #runOnWorkers(fn: unknown, args: unknown): Promise<Record<Address, RunFunctionReply>> {
    const out: Record<Address, RunFunctionReply> = {};
    await Promise.all(
      [...this.#workers].map(async ([address, conn]) => {
        try {
          out[address] = await conn.request({ op: "run-function", fn, args } as RunFunction);
        } catch (err) {
          // A worker whose connection closed meanwhile left the cluster: it is not one to run on.
          if (!conn.isOpen) {
            await conn.closed; // by then the worker is removed, unless a new one took its place
            if (this.#workers.get(address) !== conn) return;
          }
          const e = err as Error;
          out[address] = { ok: false, error: { name: e.name, message: e.message, stack: e.stack ?? "" } };
        }
      }),
    );
    return out;
  }

  /** Requests a registered worker sends: heartbeats, whose replies renew its lease. */
  #serveWorker(conn: Connection, address: Address, name: string): void {
    conn.onRequest = (req) => {
      if (req.op !== "heartbeat") throw new ProtocolError(`a worker does not send "${req.op}" requests to the scheduler`);
      if (this.#workers.get(address) === conn) {
        this.#handle({ type: "heartbeat", worker: address, memoryBytes: req.memoryBytes, actors: req.actors, spilledBytes: req.spilledBytes, busyMs: req.busyMs });
        if (req.observed) this.#live?.observe(address, name, req.observed, Date.now());
      }
      // The reply renews the worker's lease: it starts tasks only while the scheduler surely counts it in.
      return null;
    };
  }

  #acceptWorker(conn: Connection): void {
    conn.schema = accepting("scheduler-from-worker");
    conn.weigh = messageWeight;
    let address: Address | undefined;
    conn.onRequest = (msg) => {
      if (msg.op !== "register-worker") throw new ProtocolError(`a worker must register first, got "${msg.op}"`);
      address = msg.address;
      const old = this.#workers.get(address);
      if (msg.rejoin?.schedulerId === this.#id) {
        // This very scheduler: a worker it still counts in lost its connection (a network blip) and
        // carries on over the new one; one it removed gave its work to others and must start afresh.
        if (!this.#state.knowsWorker(address, msg.incarnation)) {
          log.info("a removed worker asked to rejoin: it must start afresh", { address });
          setImmediate(() => conn.close("removed: rejoin as a new worker"));
          return { heartbeatTimeoutMs: this.#heartbeatTimeoutMs, schedulerId: this.#id, removed: true } satisfies RegisterWorkerReply;
        }
        this.#workers.set(address, conn);
        old?.close("replaced by the same worker's new connection");
        log.info("worker reconnected", { address, name: msg.name });
        this.#serveWorker(conn, address, msg.name);
        return { heartbeatTimeoutMs: this.#heartbeatTimeoutMs, schedulerId: this.#id } satisfies RegisterWorkerReply;
      }
      if (old) {
        // Same address, new process: the old one is gone (R-FAIL-3).
        this.#workers.delete(address);
        old.close("replaced by a new worker at the same address");
        this.#handle({ type: "worker-removed", address, reason: "replaced by a new worker at the same address" });
        this.#workerGone(address);
      }
      this.#workers.set(address, conn);
      const { name, nthreads, actorThreads, resources, incarnation, memoryLimit, restarts, rejoin, metricsUrl } = msg;
      // A worker of a scheduler that went away brings what it holds: this one rebuilds from it (R-FAIL-9).
      this.#handle({ type: "worker-added", address, name, nthreads, actorThreads, resources, incarnation, memoryLimit, restarts, rejoin, metricsUrl });
      log.info(rejoin ? "worker rejoined after a scheduler restart" : "worker joined", { address, name });
      for (const w of this.#workerWaiters) if (this.#workers.size >= w.count) w.done();
      this.#serveWorker(conn, address, msg.name);
      return { heartbeatTimeoutMs: this.#heartbeatTimeoutMs, schedulerId: this.#id } satisfies RegisterWorkerReply;
    };
    conn.onMessage = (msg) => {
      if (!address) return log.warn("message from an unregistered worker", { op: msg.op });
      // A connection replaced by a new worker at the same address speaks for nobody.
      if (this.#workers.get(address) !== conn) return;
      const worker = address;
      switch (msg.op) {
        case "worker-status":
          if (msg.status !== "running") log.info(msg.status === "paused" ? "worker paused: its memory is above the pause threshold" : "worker restarting: its memory passed the limit", { worker, reason: msg.reason });
          if (msg.status === "restarting") this.#live?.restarting(worker);
          return this.#handle({ type: "worker-status", worker, status: msg.status, reason: msg.reason });
        case "actors-lost":
          for (const key of msg.keys) this.#live?.failed(worker, key, msg.error, Date.now(), "actor");
          return this.#handle({ type: "actors-lost", worker, keys: msg.keys, error: msg.error });
        case "steal-response":
          return this.#handle({ type: "steal-response", worker, released: msg.released, kept: msg.kept });
        case "task-finished":
          return this.#handle({ type: "task-finished", worker, key: msg.key, nbytes: msg.nbytes, actor: msg.actor, startMs: msg.startMs, stopMs: msg.stopMs });
        case "tasks-finished":
          return this.#handle({ type: "tasks-finished", worker, keys: msg.keys, nbytes: msg.nbytes, durationMs: msg.durationMs });
        case "task-erred":
          this.#live?.failed(worker, msg.key, msg.error, Date.now());
          return this.#handle({ type: "task-erred", worker, key: msg.key, error: msg.error });
        case "missing-data":
          return this.#handle({ type: "missing-data", worker, key: msg.key, holder: msg.worker });
        case "add-keys":
          return this.#handle({ type: "add-keys", worker, keys: msg.keys, nbytes: msg.nbytes });
        case "retire-worker":
          log.info("a worker asked to retire", { worker, timeoutMs: msg.timeoutMs });
          return this.#handle({ type: "retire-workers", workers: [worker], timeoutMs: msg.timeoutMs });
        default:
          log.warn("unexpected message from a worker", { op: msg.op, worker });
      }
    };
    void conn.closed.then(() => {
      if (address && this.#workers.get(address) === conn) {
        this.#workers.delete(address);
        log.info("worker left", { address });
        this.#handle({ type: "worker-removed", address, reason: "connection closed" });
        this.#workerGone(address);
      }
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#tick);
      for (const w of this.#workerWaiters) w.done();
      for (const address of [...this.#goneWaiters.keys()]) this.#workerGone(address);
      for (const conn of [...this.#clients.values(), ...this.#workers.values()]) conn.close("scheduler closing");
      await Promise.all([this.#listener?.close(), this.#dashboard?.close()]);
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
