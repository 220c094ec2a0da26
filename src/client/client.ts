// The user's entry point: submits work, tracks the keys it holds, gathers
// results straight from the workers holding them, and calls actors directly.

import { createHash } from "node:crypto";
import { inspect } from "node:util";
import { connect, promised, type Connection, type ReplyHandler } from "../comm/index.js";
import { WorkerPool } from "../comm/pool.js";
import { getDataRequest, receiveData } from "../transfer/get-data.js";
import { holdWhile } from "../comm/keep-alive.js";
import { Payload } from "../protocol/payload.js";
import { CommError, ConfigError, LostError, ProtocolError, TimeoutError } from "../errors.js";
import { DEFAULT_RETIRE_TIMEOUT_MS, OBJECT_NAME } from "../options.js";
import type { LocalCluster } from "../cluster/local-cluster.js";
import type {
  ActorMeta,
  Address,
  CodeRef,
  CoordinationRequest,
  CoordValue,
  GetDataReply,
  Key,
  KillActor,
  Message,
  ReplyTo,
  RunOnWorkers,
  SchedulerInfo,
  StoryEntry,
  TaskOptions,
  TaskSpec,
} from "../protocol/messages.js";
import { codeRefOf, codeVersionOf, decodeWithClasses, deserialize, infoToError, parkIfEntry, serialize, type Encoded, type Resolver, type SerializeOptions } from "../serialize/index.js";
import { ActorCaller, type LocalActorDispatcher } from "./actor-caller.js";
import { actorInfo, createActorHandle, isActorHandle, type Actor } from "./actor-handle.js";
import { collectGraph, Delayed } from "./delayed.js";
import { Future, type FutureOwner } from "./future.js";
import { flatKey, randomHex, randomKey } from "./keygen.js";
import { accepting, messageWeight } from "../protocol/schemas.js";
import { KeyTable } from "./keys.js";
import { rebuild, walkFutures, type Args, type Gathered } from "./shapes.js";
import { getClient, onWorkerThread, waitingForResults } from "./thread-context.js";
import { graphParts } from "./graph-parts.js";
import { dropDefaultClient, setDefaultClient } from "./default-client.js";
import {
  checkActorOnlyOptions,
  checkComputeOptions,
  checkMapOptions,
  checkScatterOptions,
  checkSubmitOptions,
  checkTimeoutOptions,
  resolveClientOptions,
  type ClientOptions,
  type ComputeOptions,
  type MapOptions,
  type ResolvedClientOptions,
  type ScatterOptions,
  type SubmitOptions,
  type TimeoutOptions,
} from "./options.js";

type Fn = (...args: any[]) => unknown;
type Cls = new (...args: any[]) => unknown;
interface TaskBase {
  options: TaskOptions;
  group: string;
  fn: Promise<CodeRef>;
  /** The submit option `timeout` (kept here: the deadline is the client's to keep). */
  timeoutMs?: number;
}

/** A client's options once its token is known. */
type ClientConfig = ResolvedClientOptions & { token: string };

interface PendingTask {
  spec: Omit<TaskSpec, "fn" | "args" | "deps">;
  fn: Promise<CodeRef>;
  args: unknown[];
  encoded: Encoded;
}

const GET_DATA_ATTEMPTS = 3;
/** How long client.restart() waits for the workers to come back, by default. */
const DEFAULT_RESTART_TIMEOUT_MS = 60_000;

export class Client {
  readonly #address: string;
  readonly #opts: ClientConfig;
  readonly #codeRoot: string;
  /** Connect timeout, ms: for the scheduler, workers, and reaching an actor's worker. */
  readonly #timeoutMs: number;
  readonly #keys = new KeyTable();
  readonly #pool: WorkerPool;
  readonly #caller: ActorCaller;
  #conn!: Connection;
  #cluster?: LocalCluster;
  #broken?: Error;
  /** This client, to the scheduler: the same across reconnections. */
  readonly #id = randomHex();
  /** The scheduler process this client registered with (a rejoin tells it whether it restarted). */
  #schedulerId: string | undefined;
  #dashboardLink: string | undefined;
  /** Set while reconnecting to the scheduler after losing it. */
  #rejoining: Promise<void> | undefined;
  /** Specs sent and not finished (and of actors while held): what a restarted scheduler is told again. */
  readonly #sent = new Map<Key, TaskSpec>();
  #closing?: Promise<void>;
  /** Clients on worker threads hold actors weakly (R-ACT-9). */
  #weakHandles = false;
  /** A worker thread's client, shared by its tasks: only the thread closes it. */
  #shared = false;
  readonly #encodeOpts: SerializeOptions;
  /** Set when the scheduler lives in this process: connect without a socket. */
  #connectLocal?: () => Connection;
  // Outbox: everything submitted in one event-loop turn goes as one graph (in parts when large: graph-parts.ts).
  #tasks: PendingTask[] = [];
  #wanted: Key[] = [];
  #released: Key[] = [];
  #fired: Key[] = [];
  #flushScheduled = false;
  #flushing: Promise<void> = Promise.resolve();

  private constructor(address: string, opts: ClientConfig, local?: LocalActorDispatcher) {
    this.#address = address;
    this.#opts = opts;
    this.#codeRoot = opts.codeRoot;
    this.#encodeOpts = { codeRoot: this.#codeRoot };
    this.#timeoutMs = opts.timeout;
    this.#pool = new WorkerPool({ token: opts.token, connectTimeoutMs: this.#timeoutMs, tls: opts.tls, role: "client", schema: accepting("caller") });
    this.#caller = new ActorCaller({
      call: (address, msg, handler) => this.#workerCall(address, msg, handler),
      callGroup: (address, msg, handlers) => this.#pool.callGroup(address, msg, handlers),
      locate: (key) => this.#request({ op: "where-is-actor", key }),
      decode: (payload) => this.#decode(payload),
      decodeError: (info) => infoToError(info, { codeRoot: this.#codeRoot }),
      connectTimeoutMs: this.#timeoutMs,
      local,
      forget: (address) => this.#pool.forget(address),
      direct: opts.directToWorkers,
      holds: (key) => this.#keys.get(key) !== undefined,
      congested: (address) => this.#pool.congested(address),
    }, opts.maxPendingCalls);
  }

  /**
   * Connect to a scheduler: with no target, to TROUPE_SCHEDULER when set, else
   * to a new LocalCluster owned by this client (closed with it). On a worker,
   * with no target, the worker's own client (as getClient()); and while a
   * worker imports the script a client runs, never: that script's work runs
   * only where it was started (R-CODE-6).
   */
  static async connect(target?: string | LocalCluster, options?: ClientOptions): Promise<Client> {
    const parked = parkIfEntry<Client>();
    if (parked !== undefined) return parked;
    const opts = resolveClientOptions(options);
    if (target !== undefined && typeof target !== "string" && !isCluster(target)) {
      throw new ConfigError(`Client.connect() takes a scheduler address ("tcp://host:port"), a LocalCluster, or nothing; got ${typeof target}`);
    }
    if (target === undefined && onWorkerThread()) return getClient();
    let cluster: LocalCluster | undefined;
    let owned = false;
    if (target === undefined && process.env.TROUPE_SCHEDULER) target = process.env.TROUPE_SCHEDULER;
    if (target === undefined) {
      const { LocalCluster } = await import("../cluster/local-cluster.js");
      cluster = await LocalCluster.start({ token: opts.token, dashboard: opts.dashboard });
      owned = true;
    } else if (typeof target !== "string") {
      cluster = target;
    }
    const address = cluster ? cluster.schedulerAddress : (target as string);
    const token = opts.token ?? cluster?.token ?? process.env.TROUPE_TOKEN ?? "";
    const client = new Client(address, { ...opts, token });
    if (cluster) client.#connectLocal = () => cluster._connectLocal();
    try {
      await client.#open();
    } catch (err) {
      if (owned) await cluster!.close();
      throw err;
    }
    if (owned) client.#cluster = cluster;
    setDefaultClient(client);
    return client;
  }

  /** @internal A client for code running on a worker thread (getClient()). */
  static async _forThread(address: string, options: ClientOptions, local: LocalActorDispatcher): Promise<Client> {
    const opts = resolveClientOptions(options);
    const client = new Client(address, { ...opts, token: opts.token ?? "" }, local);
    client.#weakHandles = true;
    client.#shared = true;
    await client.#open();
    return client;
  }

  async #open(): Promise<void> {
    const conn = this.#connectLocal
      ? this.#connectLocal()
      : await connect(this.#address, {
          token: this.#opts.token,
          role: "client",
          timeoutMs: this.#timeoutMs,
          tls: this.#opts.tls,
          // Told where the scheduler is: if nothing listens there, say so at once.
          awaitListener: false,
        });
    conn.schema = accepting("client");
    // A large graph's parts leave as they are queued, each its own batch, rather than as one batch too large to encode.
    conn.weigh = messageWeight;
    conn.onMessage = (msg) => this.#onMessage(msg);
    conn.onRequest = (msg) => {
      throw new ProtocolError(`a client does not serve "${msg.op}" requests`);
    };
    void conn.closed.then(() => this.#schedulerLost(conn));
    const rejoin =
      this.#schedulerId === undefined
        ? undefined
        : { schedulerId: this.#schedulerId, tasks: [...this.#sent.values()], wanted: this.#keys.keys(), actors: this.#keys.actorIncarnations() };
    const reply = await conn.request({ op: "register-client", clientId: this.#id, ...(rejoin ? { rejoin } : {}) });
    this.#conn = conn;
    this.#schedulerId = reply.schedulerId;
    this.#dashboardLink = reply.dashboardLink;
  }

  /** Where the scheduler's dashboard is opened (the login link when it needs the token); undefined when it serves none. */
  get dashboardLink(): string | undefined {
    return this.#dashboardLink;
  }

  /**
   * The scheduler connection closed without this client closing it: the
   * scheduler went away, or the link broke. Futures stay pending while the
   * client tries, for `schedulerTimeout`, to reach a scheduler at the same
   * address again; one started there rebuilds its state from what this client
   * holds and still wants (R-FAIL-9). Actor calls go on meanwhile: they never
   * pass through the scheduler.
   */
  #schedulerLost(conn: Connection): void {
    if (this.#closing || conn !== this.#conn || this.#rejoining) return;
    // An embedded scheduler closes only with its cluster: nothing to come back to.
    if (this.#connectLocal) return this.#giveUp(new CommError(`lost the connection to the scheduler at ${this.#address}; results not yet received are unavailable, connect again`));
    this.#rejoining = this.#rejoin().finally(() => (this.#rejoining = undefined));
  }

  async #rejoin(): Promise<void> {
    const timeoutMs = this.#opts.schedulerTimeout;
    const deadline = Date.now() + timeoutMs;
    for (let delayMs = 100; !this.#closing; delayMs = Math.min(2 * delayMs, 1000)) {
      try {
        await this.#open();
        void this.#flush(); // what was submitted meanwhile
        return;
      } catch (err) {
        if (Date.now() + delayMs >= deadline) {
          return this.#giveUp(new CommError(`lost the connection to the scheduler at ${this.#address} and could not reach it again within ${timeoutMs} ms; results not yet received are unavailable, connect again`, { cause: err }));
        }
      }
      await new Promise((r) => setTimeout(r, delayMs).unref());
    }
  }

  #giveUp(err: CommError): void {
    this.#broken = err;
    this.#keys.failPending(err);
  }

  get schedulerAddress(): string {
    return this.#address;
  }

  // ------------------------------------------------------------ submitting

  submit<C extends Cls>(cls: C, args: Args<ConstructorParameters<C>>, options: SubmitOptions & { actor: true }): Future<Actor<InstanceType<C>>>;
  submit<F extends Fn>(fn: F, args?: Args<Parameters<F>>, options?: SubmitOptions): Future<Awaited<ReturnType<F>>>;
  submit(fn: Fn | Cls, args: unknown[] = [], options?: SubmitOptions): Future<unknown> {
    this.#checkOpen();
    if (typeof fn !== "function") throw new ConfigError(`submit() takes a function or a class, got ${typeof fn}`);
    const opts = checkSubmitOptions(options, "submit");
    checkActorOnlyOptions(opts, opts.actor, "submit");
    return this.#submitOne(this.#taskBase(fn, opts), fn, args, opts, opts.key, "submit(fn, args)");
  }

  /** What every task of one submit or map shares: its options, code and group, made once. */
  #taskBase(fn: Fn | Cls, options: SubmitOptions): TaskBase {
    // Only the options given: every field costs encoding time, 20,000 times over in a map.
    const taskOptions: TaskOptions = {};
    if (options.workers !== undefined) taskOptions.workers = [options.workers].flat();
    if (options.allowOtherWorkers !== undefined) taskOptions.allowOtherWorkers = options.allowOtherWorkers;
    if (options.resources !== undefined) taskOptions.resources = options.resources;
    if (options.retries !== undefined) taskOptions.retries = options.retries;
    if (options.priority !== undefined) taskOptions.priority = options.priority;
    if (options.actor) {
      taskOptions.actor = true;
      taskOptions.allowReconstruction = false;
    } else if (options.allowReconstruction !== undefined) taskOptions.allowReconstruction = options.allowReconstruction;
    if (options.restarts !== undefined) taskOptions.restarts = options.restarts;
    if (options.actor && options.name !== undefined) taskOptions.name = options.name;
    if (options.actor && options.lifetime !== undefined) taskOptions.lifetime = options.lifetime;
    if (options.maxConcurrency !== undefined) {
      if (!options.actor) throw new ConfigError("maxConcurrency bounds the calls of an actor: pass it with { actor: true } (map: { actors: true })");
      taskOptions.maxConcurrency = options.maxConcurrency;
    }
    if (options.checkpointEvery !== undefined) {
      if (!options.actor) throw new ConfigError("checkpointEvery is for actors: pass it with { actor: true } (map: { actors: true })");
      taskOptions.checkpointEvery = options.checkpointEvery;
    }
    if (options.timeout !== undefined && options.actor) {
      throw new ConfigError("timeout bounds a task: an actor takes it per call, with handle.method.options({ timeout })(...args)");
    }
    return { options: taskOptions, group: fn.name || "lambda", fn: codeRefOf(fn, { codeRoot: this.#codeRoot }), timeoutMs: options.timeout };
  }

  #submitOne(base: TaskBase, fn: Fn | Cls, args: unknown, options: SubmitOptions, key: string | undefined, where: string): Future<unknown> {
    if (!Array.isArray(args)) throw new ConfigError(`${where}: args must be an array of the function's arguments, got ${typeof args}`);
    const encoded = serialize(args, this.#encodeOpts);
    key ??= options.pure && !options.actor ? pureKey(fn, encoded) : randomKey(fn.name);
    this.#enqueue(key, base, args, encoded);
    const future = this.#newFuture(key, true);
    this.#keepDeadline(key, base.timeoutMs);
    return future;
  }

  map<C extends Cls>(cls: C, argsList: Args<ConstructorParameters<C>>[], options: MapOptions & { actors: true }): Future<Actor<InstanceType<C>>>[];
  map<F extends Fn>(fn: F, argsList: Iterable<Args<Parameters<F>>>, options?: MapOptions): Future<Awaited<ReturnType<F>>>[];
  map(fn: Fn | Cls, argsList: Iterable<unknown[]>, options?: MapOptions): Future<unknown>[] {
    if (argsList === null || typeof (argsList as Iterable<unknown>)?.[Symbol.iterator] !== "function") {
      throw new ConfigError("map(fn, argsList): argsList must be an array of argument arrays");
    }
    this.#checkOpen();
    if (typeof fn !== "function") throw new ConfigError(`map() takes a function or a class, got ${typeof fn}`);
    const { actors, key, ...rest } = checkMapOptions(options);
    checkActorOnlyOptions(rest, actors, "map");
    const each: SubmitOptions = { ...rest, actor: actors };
    // Options, code and group are shared by every element: checked and made once.
    const base = this.#taskBase(fn, each);
    return [...argsList].map((args, i) => this.#submitOne(base, fn, args, each, key === undefined ? undefined : flatKey(`${key}-${i}`), "map(fn, argsList)"));
  }

  /** Run a graph of Delayed nodes; resolves to a Future per node given (R-GRAPH-1). */
  compute<T>(node: Delayed<T>, options?: ComputeOptions): Future<T>;
  compute(nodes: Delayed[], options?: ComputeOptions): Future<unknown>[];
  compute(nodes: Delayed | Delayed[], options?: ComputeOptions): Future<unknown> | Future<unknown>[] {
    this.#checkOpen();
    const { actors } = checkComputeOptions(options);
    const roots = Array.isArray(nodes) ? nodes : [nodes];
    for (const n of roots) if (!(n instanceof Delayed)) throw new ConfigError("compute() takes Delayed nodes built with delayed(fn)(...args)");
    const actorSet = new Set<Delayed>(actors === true ? roots : actors ? [actors].flat() : []);
    const graph = collectGraph(roots);
    for (const node of graph) {
      if (this.#keys.get(node.key)) continue; // already submitted by this client
      const actor = actorSet.has(node) || node.options.actor === true;
      checkActorOnlyOptions(node.options, actor, "compute");
      this.#enqueue(node.key, this.#taskBase(node.fn, { ...node.options, actor }), node.args, serialize(node.args, this.#encodeOpts), false);
    }
    const futures = roots.map((n) => this.#newFuture(n.key, false));
    for (const n of roots) this.#keepDeadline(n.key, n.options.timeout);
    return Array.isArray(nodes) ? futures : futures[0]!;
  }

  /** Like compute(): every node given stays in memory while its Future lives. */
  persist<T>(node: Delayed<T>): Future<T>;
  persist(nodes: Delayed[]): Future<unknown>[];
  persist(nodes: Delayed | Delayed[]): Future<unknown> | Future<unknown>[] {
    return this.compute(nodes as Delayed[]);
  }

  #enqueue(key: Key, base: TaskBase, args: unknown[], encoded: Encoded, wanted = true): void {
    this.#tasks.push({ spec: { key, options: base.options, group: base.group }, fn: base.fn, args, encoded });
    if (wanted) this.#wanted.push(key);
    this.#scheduleFlush();
  }

  /** The submit option `timeout` of a key this client holds: cancelled if not finished by then, failing with TimeoutError. */
  #keepDeadline(key: Key, timeoutMs: number | undefined): void {
    const rec = this.#keys.get(key);
    if (timeoutMs === undefined || !rec) return;
    rec.timeoutMs = timeoutMs;
    setTimeout(() => void this.#timedOut(key, `its timeout of ${timeoutMs} ms`), timeoutMs).unref();
  }

  /** A deadline of a task submitted with `timeout` passed: it is cancelled, and its error is a TimeoutError. */
  #timedOut(key: Key, deadline: string): Error | undefined {
    const rec = this.#keys.get(key);
    if (!rec || rec.isSettled || rec.timeoutMs === undefined || this.#closing || this.#broken) return undefined;
    const err = new TimeoutError(`${key} did not finish within ${deadline} and was cancelled`);
    rec.localError ??= err;
    this.#cancelKeys([key]).catch(() => undefined);
    return err;
  }

  #newFuture<T>(key: Key, wantedInOutbox: boolean): Future<T> {
    const isNew = this.#keys.ref(key);
    if (isNew && !wantedInOutbox) {
      this.#wanted.push(key);
      this.#scheduleFlush();
    }
    return new Future<T>(this.#owner, key);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      void this.#flush();
    });
  }

  /** Send the outbox, in order after any earlier flush still resolving code. */
  #flush(): Promise<void> {
    const tasks = this.#tasks;
    const wanted = this.#wanted;
    const released = this.#released;
    const fired = this.#fired;
    this.#tasks = [];
    this.#wanted = [];
    this.#released = [];
    this.#fired = [];
    const previous = this.#flushing;
    // Until it is sent, what was submitted keeps the process alive (R-PKG-6): a fireAndForget task must reach the scheduler.
    this.#flushing = holdWhile((async () => {
      // The tasks of a map share one code lookup: wait for each distinct one once, then build
      // the specs of tasks whose arguments are ready without a promise each.
      const fns = new Map<Promise<CodeRef>, CodeRef | undefined>();
      for (const t of tasks) fns.set(t.fn, undefined);
      await Promise.all([...fns.keys()].map((p) => p.then((ref) => void fns.set(p, ref), () => undefined)));
      let waits = false;
      const built = tasks.map((t) => {
        const fn = fns.get(t.fn);
        if (fn !== undefined && t.encoded.pending.length === 0) return this.#specOf(t, fn, t.encoded);
        waits = true; // arguments still pending, or the code lookup failed (the task fails locally)
        return this.#buildSpec(t);
      });
      const specs = waits ? await Promise.all(built) : (built as Array<TaskSpec | undefined>);
      await previous;
      const ok = specs.filter((s): s is TaskSpec => s !== undefined);
      // Kept until they finish: a scheduler started after this one went away hears them again.
      for (const s of ok) this.#sent.set(s.key, s);
      if (!this.#conn.isOpen) return;
      if (ok.length > 0 || wanted.length > 0) for (const part of graphParts(ok, wanted)) this.#conn.send(part);
      if (fired.length > 0) this.#conn.send({ op: "fire-and-forget", keys: fired });
      if (released.length > 0) this.#conn.send({ op: "release-keys", keys: released });
    })());
    return this.#flushing;
  }

  async #buildSpec(t: PendingTask): Promise<TaskSpec | undefined> {
    try {
      let encoded = t.encoded;
      // Unfinished ActorFutures in the arguments: the task is sent once they are values.
      while (encoded.pending.length > 0) {
        await Promise.all(encoded.pending);
        encoded = serialize(t.args, this.#encodeOpts);
      }
      return this.#specOf(t, await t.fn, encoded);
    } catch (err) {
      this.#failLocally(t.spec.key, err);
      return undefined;
    }
  }

  /**
   * The task as the scheduler takes it. A pending task holds its deps there
   * itself: a dep this client does not hold (another client's Future, a weak
   * handle on a worker thread, a key it released) is not wanted for it, or it
   * would outlive the release of everyone who held it.
   */
  #specOf(t: PendingTask, fn: CodeRef, encoded: Encoded): TaskSpec {
    const deps =
      encoded.actorKeys.length === 0 ? encoded.futureKeys : [...new Set([...encoded.futureKeys, ...encoded.actorKeys])];
    const { key, options, group } = t.spec;
    return { key, fn, args: encoded.payload, deps, options, group };
  }

  // ------------------------------------------------------------ what Futures ask of their client

  // Whatever a Future's user awaits keeps the process alive until it settles (R-PKG-6).
  readonly #owner: FutureOwner = {
    status: (key) => this.#keys.get(key)?.status ?? "lost",
    settled: (key) => {
      const rec = this.#keys.get(key);
      return !rec || rec.isSettled ? Promise.resolve() : holdWhile(rec.settled);
    },
    value: async (key) => (await this.#gatherKeys([key])).get(key),
    error: async (key) => {
      const rec = this.#keys.get(key);
      if (!rec) return new LostError(`${key} was released by this client`);
      if (!rec.isSettled) await holdWhile(rec.settled);
      return rec.status === "finished" ? undefined : this.#errorOf(key);
    },
    cancel: (keys) => this.#cancelKeys(keys),
    deadlinePassed: (key, timeoutMs) => (this.#keys.get(key)?.timeoutMs === undefined ? undefined : this.#timedOut(key, `result(${timeoutMs})'s deadline`)),
    unref: (key) => {
      if (this.#keys.unref(key)) this.#tellReleased(key);
    },
    fireAndForget: (keys) => {
      this.#checkOpen();
      // After the graph that defines them: both leave with the next flush, in that order.
      this.#fired.push(...keys);
      this.#scheduleFlush();
    },
  };

  /**
   * This client no longer holds key: tell the scheduler with the next flush,
   * and for an actor, once our calls to it have settled (R-ACT-9b). The
   * release goes to the scheduler while calls go to the worker: sent at once,
   * it could overtake them.
   */
  #tellReleased(key: Key): void {
    if (this.#closing || this.#broken) return;
    const calls = this.#caller.release(key);
    if (!calls) return this.#sendRelease(key);
    void calls.then(() => {
      // Held again meanwhile (a handle to it arrived anew): that hold's own release tells.
      if (this.#keys.get(key) === undefined) this.#sendRelease(key);
    });
  }

  #sendRelease(key: Key): void {
    this.#sent.delete(key);
    if (this.#closing || this.#broken) return;
    this.#released.push(key);
    this.#scheduleFlush();
  }

  /** The key failed here, before the scheduler could report on it. */
  #failLocally(key: Key, err: unknown): void {
    const rec = this.#keys.get(key);
    if (!rec) return;
    rec.localError = err as Error;
    this.#keys.update(key, "error", {});
  }

  async #cancelKeys(keys: Key[]): Promise<void> {
    await this.#flush();
    await this.#request({ op: "cancel-keys", keys });
    await holdWhile(this.#keys.allSettled(keys));
  }

  #errorOf(key: Key): Promise<Error> {
    const rec = this.#keys.get(key);
    if (!rec) return Promise.resolve(new LostError(`${key} was released by this client`));
    if (rec.localError) return Promise.resolve(rec.localError);
    if (!rec.decodedError) {
      const info = rec.error ?? {
        name: rec.status === "cancelled" ? "CancelledError" : "LostError",
        message: rec.status === "cancelled" ? `${key} was cancelled` : `${key} was lost`,
        stack: "",
      };
      rec.decodedError = infoToError(info, { codeRoot: this.#codeRoot });
    }
    return rec.decodedError;
  }

  // ------------------------------------------------------------ results

  /** Values of keys, fetched with one request per worker. Rejects with the first failure. */
  async #gatherKeys(keys: Key[]): Promise<Map<Key, unknown>> {
    await this.#flush();
    const out = new Map<Key, unknown>();
    await holdWhile(this.#keys.allSettled(keys));
    const byWorker = new Map<Address, Key[]>();
    for (const key of keys) {
      const rec = this.#keys.get(key);
      if (!rec) throw new LostError(`${key} was released by this client; keep its Future to read its value`);
      if (rec.status !== "finished") throw await this.#errorOf(key);
      if (rec.actor) {
        out.set(key, this.#handleFor(rec.actor));
        continue;
      }
      const w = rec.workers[Math.floor(Math.random() * rec.workers.length)]!;
      const list = byWorker.get(w) ?? [];
      list.push(key);
      byWorker.set(w, list);
    }
    await Promise.all([...byWorker].map(([w, ks]) => this.#fetchFrom(w, ks, out, GET_DATA_ATTEMPTS)));
    return out;
  }

  async #fetchFrom(worker: Address | undefined, keys: Key[], out: Map<Key, unknown>, attempts: number): Promise<void> {
    let reply: GetDataReply | undefined;
    try {
      if (worker === undefined) throw new LostError("no worker holds it");
      reply = await this.#workerRequest(worker, getDataRequest(keys));
    } catch (err) {
      if (this.#broken) throw this.#broken;
      if (attempts <= 1) throw new CommError(`could not fetch ${keys[0]} from ${worker}: ${(err as Error).message}`, { cause: err });
    }
    // A reply that does not answer the request is a bug to report (ProtocolError), not data to look for elsewhere.
    const { values, missing, again } = reply ? receiveData(keys, reply, false) : { values: [], missing: keys, again: [] };
    for (const [key, payload] of values) {
      const value = this.#decode(payload);
      out.set(key, value instanceof Promise ? await value : value);
    }
    if (again.length > 0) await this.#fetchFrom(worker, again, out, attempts);
    if (missing.length === 0) return;
    if (attempts <= 1) throw new LostError(`${missing[0]} is no longer held by any worker`);
    // The data moved or is being recomputed: ask the scheduler, then wait for it.
    await new Promise((r) => setTimeout(r, 50));
    const who = await this.#request({ op: "who-has", keys: missing });
    await holdWhile(this.#keys.allSettled(missing));
    const retry = new Map<Address | undefined, Key[]>();
    for (const key of missing) {
      const rec = this.#keys.get(key);
      if (rec && rec.status !== "finished") throw await this.#errorOf(key);
      const holders = who[key]?.length ? who[key]! : (rec?.workers ?? []);
      const w = holders[0];
      retry.set(w, [...(retry.get(w) ?? []), key]);
    }
    await Promise.all([...retry].map(([w, ks]) => this.#fetchFrom(w, ks, out, attempts - 1)));
  }

  /** Values for a Future, or an array/object (nested) of Futures and ActorFutures, in the same shape. */
  async gather<T>(x: T): Promise<Gathered<T>> {
    this.#checkOpen();
    waitingForResults();
    const keys = new Set<Key>();
    const others: PromiseLike<unknown>[] = [];
    walkFutures(x, (f) => (f instanceof Future ? keys.add(f.key) : others.push(f)));
    const values = await this.#gatherKeys([...keys]);
    const actorValues = new Map<unknown, unknown>();
    await Promise.all(
      others.map(async (f) => {
        actorValues.set(f, await f);
      }),
    );
    return rebuild(x, (f) => (f instanceof Future ? values.get(f.key) : actorValues.get(f))) as Gathered<T>;
  }

  /**
   * Put data on workers; returns a Future per value (one Future for a single
   * value) at once, finished once the data is in place. Work submitted after
   * scatter() reaches the scheduler after the data does.
   */
  scatter<T>(data: T[], options?: ScatterOptions): Future<T>[];
  scatter<T>(data: T, options?: ScatterOptions): Future<T>;
  scatter(data: unknown, options?: ScatterOptions): Future<unknown> | Future<unknown>[] {
    this.#checkOpen();
    const opts = checkScatterOptions(options);
    const values = Array.isArray(data) ? data : [data];
    const encoded = values.map((v, i) => {
      const enc = serialize(v, this.#encodeOpts);
      if (enc.pending.length > 0 || enc.futureKeys.length > 0 || enc.actorKeys.length > 0) {
        throw new ConfigError(`scatter() takes plain data; value ${i} holds Futures or Actor handles (pass those to submit instead)`);
      }
      return enc.payload;
    });
    const keys = values.map((v) => randomKey(typeName(v)));
    for (const key of keys) this.#keys.ref(key);
    const futures = keys.map((k) => new Future(this.#owner, k));
    // Later flushes wait for this one, so graphs using the data come after it.
    const previous = this.#flushing;
    this.#flushing = holdWhile((async () => {
      try {
        await this.#place(keys, encoded, opts);
      } catch (err) {
        for (const key of keys) this.#failLocally(key, err);
      }
      await previous;
    })());
    return Array.isArray(data) ? futures : futures[0]!;
  }

  async #place(keys: Key[], payloads: Payload[], options: ScatterOptions): Promise<void> {
    const workers = options.workers === undefined ? undefined : [options.workers].flat();
    const targets = await this.#request({ op: "choose-workers", count: keys.length, workers, broadcast: options.broadcast });
    if (targets.length === 0) throw new CommError("no workers are connected to the scheduler to scatter data to; add workers and scatter again");
    const perWorker = new Map<Address, Record<Key, Payload>>();
    const who: Record<Key, Address[]> = {};
    const nbytes: Record<Key, number> = {};
    keys.forEach((key, i) => {
      const dest = options.broadcast ? targets : [targets[i % targets.length]!];
      who[key] = dest;
      nbytes[key] = payloads[i]!.byteLength;
      for (const w of dest) perWorker.set(w, { ...(perWorker.get(w) ?? {}), [key]: payloads[i]! });
    });
    await Promise.all([...perWorker].map(([w, d]) => this.#workerRequest(w, { op: "put-data", data: d, report: false })));
    await this.#request({ op: "update-data", who, nbytes });
    for (const key of keys) this.#keys.update(key, "finished", { workers: who[key] });
  }

  /** Cancel pending tasks; awaiting them then rejects with CancelledError (R-TASK-8). */
  async cancel(futures: Future | Future[]): Promise<void> {
    this.#checkOpen();
    await this.#cancelKeys(keysOf(futures, "cancel()"));
  }

  /**
   * Give up this client's hold on keys now, whatever other Futures or handles
   * of it remain: results and actors no client holds are freed. (A single
   * Future's `release()` drops only that reference.)
   */
  release(x: Future | Future[] | Actor<unknown> | object): void {
    for (const item of [x].flat()) {
      let key: Key;
      if (item instanceof Future) key = item.key;
      else if (isActorHandle(item)) key = actorInfo(item).key;
      else throw new ConfigError("release() takes Futures or Actor handles");
      if (this.#keys.forget(key)) this.#tellReleased(key);
    }
  }

  // ------------------------------------------------------------ cluster-wide

  /** Run fn once on every worker, outside the task graph (R-TASK-10). */
  async run<F extends Fn>(fn: F, args: Args<Parameters<F>> | unknown[] = []): Promise<Record<Address, Awaited<ReturnType<F>>>> {
    this.#checkOpen();
    const encoded = serialize(args, this.#encodeOpts);
    const msg: RunOnWorkers = { op: "run-on-workers", fn: await codeRefOf(fn, { codeRoot: this.#codeRoot }), args: encoded.payload };
    const replies = await this.#request(msg);
    const out: Record<Address, unknown> = {};
    for (const [address, reply] of Object.entries(replies)) {
      if (!reply.ok) throw await infoToError(reply.error, { codeRoot: this.#codeRoot });
      out[address] = await this.#decode(reply.value);
    }
    return out as Record<Address, Awaited<ReturnType<F>>>;
  }

  schedulerInfo(): Promise<SchedulerInfo> {
    return this.#request({ op: "scheduler-info" });
  }

  /**
   * Restart every worker (R-TASK-12): every result and actor is dropped and
   * every Future of the cluster becomes cancelled; resolves once as many
   * workers as before are back (TimeoutError after `timeout`, default 60 s).
   * Workers without a supervisor (`troupe worker --no-nanny`) leave instead,
   * to be started again by whatever runs them.
   */
  async restart(options?: TimeoutOptions): Promise<void> {
    this.#checkOpen();
    const timeoutMs = checkTimeoutOptions(options, "restart").timeout ?? DEFAULT_RESTART_TIMEOUT_MS;
    await this.#flush();
    const count = await this.#request({ op: "restart-workers" });
    const back = await this.#request({ op: "wait-for-workers", count, timeoutMs });
    if (back < count) {
      throw new TimeoutError(
        `only ${back} of the ${count} workers came back within ${timeoutMs} ms of the restart; workers without a supervisor (--no-nanny) are not restarted by troupe: start them again, or pass a longer timeout`,
      );
    }
  }

  /**
   * Retire workers gracefully (R-OPS-2), as Dask's retire_workers: they take
   * no new work, the data only they hold is copied to other workers, their
   * actors with `restarts` left are re-created elsewhere (each uses one
   * restart) and the others are waited for until released, for up to
   * `timeout` ms (default 20000); then each worker exits 0 and its
   * supervisor does not start it again. Resolves to the addresses retired.
   */
  async retireWorkers(addresses: string | string[], options?: TimeoutOptions): Promise<string[]> {
    this.#checkOpen();
    const workers = typeof addresses === "string" ? [addresses] : addresses;
    if (!Array.isArray(workers) || !workers.every((a) => typeof a === "string")) {
      throw new ConfigError("retireWorkers(addresses): addresses must be a worker's address or an array of them, as schedulerInfo().workers lists them");
    }
    const timeoutMs = checkTimeoutOptions(options, "retireWorkers").timeout ?? DEFAULT_RETIRE_TIMEOUT_MS;
    if (workers.length === 0) return [];
    await this.#flush();
    return this.#request({ op: "retire-workers", workers: [...new Set(workers)], timeoutMs });
  }

  /** Resolves once at least `n` workers are connected to the scheduler; TimeoutError after `timeout` ms, if given. */
  async waitForWorkers(n: number, options?: TimeoutOptions): Promise<void> {
    this.#checkOpen();
    if (!Number.isInteger(n) || n < 0) throw new ConfigError(`waitForWorkers(n): n must be a non-negative integer, got ${String(n)}`);
    const timeoutMs = checkTimeoutOptions(options, "waitForWorkers").timeout;
    const have = await this.#request({ op: "wait-for-workers", count: n, timeoutMs });
    if (have < n) throw new TimeoutError(`only ${have} of ${n} workers were connected after ${timeoutMs} ms; start more workers or wait longer`);
  }

  async whoHas(futures?: Future | Future[]): Promise<Record<Key, Address[]>> {
    const keys = futures === undefined ? this.#keys.keys() : keysOf(futures, "whoHas()");
    await this.#flush();
    return this.#request({ op: "who-has", keys });
  }

  // ------------------------------------------------------------ named actors (R-ACT-14)

  /**
   * A live handle to the actor created with this name (`submit(Cls, args,
   * { actor: true, name })`) by any client, task or actor; waits while it is
   * being created. On a client the handle holds the actor like any handle; on
   * a worker it is weak (R-ACT-9).
   */
  async getActor<T = unknown>(name: string): Promise<Actor<T>> {
    this.#checkOpen();
    if (!OBJECT_NAME.ok(name)) throw new ConfigError(`getActor(name): name must be ${OBJECT_NAME.what}, got ${typeof name === "string" ? JSON.stringify(name.slice(0, 80)) : typeof name}`);
    waitingForResults();
    await this.#flush(); // an actor this client just submitted under that name is known first
    const reply = await this.#request({ op: "get-actor", name });
    if ("error" in reply) throw await infoToError(reply.error, { codeRoot: this.#codeRoot });
    const future = this.#newFuture<Actor<T>>(reply.key, false);
    try {
      return await future;
    } finally {
      // The handle holds the actor itself (or, on a worker, weakly): this lookup does not.
      future.release();
    }
  }

  /**
   * Deletes an actor now, whoever holds it (Ray's `kill`): a detached actor's
   * only end. Its holders see it lost: their calls reject with ActorLostError.
   * Takes its handle, its Future, or its name.
   */
  async killActor(actor: Actor<unknown> | Future<Actor<unknown>> | string): Promise<void> {
    this.#checkOpen();
    let msg: KillActor;
    if (typeof actor === "string") {
      if (!OBJECT_NAME.ok(actor)) throw new ConfigError(`killActor(name): name must be ${OBJECT_NAME.what}`);
      msg = { op: "kill-actor", name: actor };
    } else if (actor instanceof Future) msg = { op: "kill-actor", key: actor.key };
    else if (isActorHandle(actor)) msg = { op: "kill-actor", key: actorInfo(actor).key };
    else throw new ConfigError("killActor() takes an Actor handle, its Future, or an actor's name");
    await this.#flush();
    const reply = await this.#request(msg);
    if ("error" in reply) throw await infoToError(reply.error, { codeRoot: this.#codeRoot });
  }

  // ------------------------------------------------------------ coordination primitives (R-TASK-14)

  /** @internal A request to a queue, lock, semaphore, event or variable, sent after what this client submitted so far. */
  async _coordinate<M extends CoordinationRequest>(msg: M): Promise<ReplyTo<M>> {
    this.#checkOpen();
    // A Future put in a queue or variable reaches the scheduler before the value that holds it.
    await this.#flush();
    // A wait keeps the process alive (R-PKG-6): the scheduler's timer for it may live elsewhere.
    return holdWhile(this.#request(msg));
  }

  /** @internal A value for a queue or variable: serialized, with the keys of the Futures and actors in it. */
  async _encodeValue(value: unknown): Promise<CoordValue> {
    let encoded = serialize(value, this.#encodeOpts);
    // Unfinished ActorFutures inside: the value is kept once they are values.
    while (encoded.pending.length > 0) {
      await Promise.all(encoded.pending);
      encoded = serialize(value, this.#encodeOpts);
    }
    return { value: encoded.payload, keys: [...new Set([...encoded.futureKeys, ...encoded.actorKeys])] };
  }

  /** @internal A value a queue or variable kept, decoded here (its Futures and handles held by this client). */
  async _decodeValue(payload: Payload): Promise<unknown> {
    return await this.#decode(payload);
  }

  /**
   * What happened to one key (R-OBS-7, Dask's `story`): its transitions on
   * the scheduler and on the workers connected now, oldest first, each with
   * the event that caused it. Each process keeps its last 100,000 transitions.
   */
  async story(keyOrFuture: Key | Future): Promise<StoryEntry[]> {
    this.#checkOpen();
    const key = keyOrFuture instanceof Future ? keyOrFuture.key : keyOrFuture;
    if (typeof key !== "string" || key === "") throw new ConfigError(`story() takes a key (a non-empty string) or a Future, got ${typeof keyOrFuture}`);
    await this.#flush();
    return this.#request({ op: "story", key });
  }

  // ------------------------------------------------------------ plumbing

  #onMessage(msg: Message): void {
    if (msg.op !== "key-state") return;
    const rec = this.#keys.update(msg.key, msg.status, msg);
    // An actor's spec is kept while it lives (a restarted scheduler needs it to restart the actor).
    if (msg.status !== "pending" && !(msg.status === "finished" && msg.actor)) this.#sent.delete(msg.key);
    if (!rec) return;
    if (msg.actor) this.#caller.update(msg.actor);
    if ((msg.status === "lost" || msg.status === "cancelled") && rec.actor) {
      void this.#errorOf(msg.key).then((err) => this.#caller.markLost(msg.key, err));
    }
  }

  /** A value; a promise of it when it holds instances of classes whose module must be loaded first. */
  #decode(payload: Payload): unknown {
    return decodeWithClasses(() => deserialize(payload, this.#resolver), this.#encodeOpts);
  }

  readonly #resolver: Resolver = {
    future: (key) => this.#newFuture(key, false),
    actor: (meta) => this.#handleFor(meta),
  };

  /** A live handle; on a client it keeps the actor alive through a Future of its key. */
  #handleFor(meta: ActorMeta): Actor<unknown> {
    return createActorHandle(this.#caller, meta, this.#weakHandles ? undefined : this.#newFuture(meta.key, false));
  }

  /** @internal A Future for a key that arrived inside a value. */
  _futureFor<T>(key: Key): Future<T> {
    return this.#newFuture<T>(key, false);
  }

  /** @internal How many actors this client keeps call records for: none once released and their calls settled. */
  get _actorRecordCount(): number {
    return this.#caller.size;
  }

  /** @internal A request to a worker (an actor thread keeping its checkpoints elsewhere). */
  _workerRequest<M extends Message>(address: Address, msg: M): Promise<ReplyTo<M>> {
    return this.#workerRequest(address, msg);
  }

  /** @internal A handle held on a worker thread: weak, never keeps the actor alive. */
  _weakHandle(meta: ActorMeta): Actor<unknown> {
    return createActorHandle(this.#caller, meta);
  }

  #workerRequest<M extends Message>(address: Address, msg: M): Promise<ReplyTo<M>> {
    return promised<ReplyTo<M>>((handler) => this.#workerCall(address, msg, handler));
  }

  #workerCall(address: Address, msg: Message, handler: ReplyHandler): void {
    if (!this.#opts.directToWorkers) {
      this.#request({ op: "proxy", to: address, msg: msg as never }).then(
        (v) => handler.ok(v),
        (e) => handler.fail(e),
      );
    } else this.#pool.call(address, msg, handler);
  }

  /** A request to the scheduler; one made or cut off while the client rejoins it is sent again once it has. */
  async #request<M extends Message>(msg: M): Promise<ReplyTo<M>> {
    for (;;) {
      if (this.#rejoining) await this.#rejoining;
      if (this.#broken) throw this.#broken;
      const conn = this.#conn;
      if (!conn?.isOpen && this.#closing) throw new CommError("the client is closed; connect a new one");
      try {
        return await conn.request(msg);
      } catch (err) {
        // Cut off by the connection closing: sent again on the next one, if there is one.
        if (conn.isOpen || this.#closing || this.#broken || !(err instanceof CommError)) throw err;
        await holdWhile(new Promise((r) => setImmediate(r)));
        if (!this.#rejoining) throw err;
      }
    }
  }

  #checkOpen(): void {
    if (this.#closing) throw new CommError("the client is closed; connect a new one");
    if (this.#broken) throw this.#broken;
  }

  /** Closes the client (on a worker, the shared client of its thread stays open: the worker closes it). */
  close(): Promise<void> {
    if (this.#shared) return Promise.resolve();
    return this._closeNow();
  }

  /** @internal Closes even a worker thread's shared client. */
  _closeNow(): Promise<void> {
    // A connection closing holds nothing by itself: the caller waits for this, so the process stays up until it is done.
    this.#closing ??= holdWhile((async () => {
      try {
        if (this.#conn?.isOpen) await this.#flush();
      } catch {
        // closing anyway
      }
      this.#conn?.close("client closing");
      await this.#conn?.closed;
      await this.#pool.close();
      dropDefaultClient(this);
      this.#keys.failPending(new CommError("the client was closed before this result arrived"));
      await this.#cluster?.close();
    })());
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  toString(): string {
    const status = this.#closing ? "closed" : this.#broken ? "disconnected" : "open";
    return `<Client: scheduler=${this.#address}, status=${status}>`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

function keysOf(futures: Future | Future[], where: string): Key[] {
  return [futures].flat().map((f: unknown) => {
    if (!(f instanceof Future)) throw new ConfigError(`${where} takes a Future or an array of Futures`);
    return f.key;
  });
}

function isCluster(x: unknown): x is LocalCluster {
  return typeof x === "object" && x !== null && typeof (x as LocalCluster).schedulerAddress === "string";
}

/** Same function (same version of its module) and same arguments, same key: the task runs once. */
function pureKey(fn: Function, encoded: Encoded): Key {
  const h = createHash("sha1").update(Function.prototype.toString.call(fn)).update(codeVersionOf(fn));
  for (const p of encoded.payload.parts) h.update(p);
  return flatKey(`${fn.name || "lambda"}-${h.digest("hex").slice(0, 16)}`);
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  return (v.constructor?.name || "object").toLowerCase();
}
