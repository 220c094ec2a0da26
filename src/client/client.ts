// The user's entry point: submits work, tracks the keys it holds, gathers
// results straight from the workers holding them, and calls actors directly.

import { inspect } from "node:util";
import { promised, type Connection, type ReplyHandler } from "../comm/index.js";
import { WorkerPool } from "../comm/pool.js";
import { holdWhile } from "../comm/keep-alive.js";
import { Payload } from "../protocol/payload.js";
import { CommError, ConfigError, TimeoutError } from "../errors.js";
import { DEFAULT_RETIRE_TIMEOUT_MS, OBJECT_NAME } from "../options.js";
import type { LocalCluster } from "../cluster/local-cluster.js";
import type { ActorMeta, Address, CoordinationRequest, CoordValue, Key, KillActor, Message, ReplyTo, RunOnWorkers, SchedulerInfo, StoryEntry } from "../protocol/messages.js";
import { codeRefOf, decodeWithClasses, deserialize, infoToError, parkIfEntry, serialize, type Resolver, type SerializeOptions } from "../serialize/index.js";
import { ActorCaller, type LocalActorDispatcher } from "./actor-caller.js";
import { actorInfo, createActorHandle, isActorHandle, type Actor } from "./actor-handle.js";
import { collectGraph, Delayed } from "./delayed.js";
import { Future } from "./future.js";
import { flatKey, randomKey } from "./keygen.js";
import { KeyTable } from "./keys.js";
import { rebuild, walkFutures, type Args, type Gathered } from "./shapes.js";
import { accepting } from "../protocol/schemas.js";
import { HeldKeys } from "./held-keys.js";
import { Outbox } from "./outbox.js";
import { Results } from "./results.js";
import { SchedulerLink } from "./scheduler-link.js";
import { pureKey, serializeSettled, taskBaseOf, type Cls, type Fn, type TaskBase } from "./task-specs.js";
import { getClient, onWorkerThread, waitingForResults } from "./thread-context.js";
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

/** A client's options once its token is known. */
type ClientConfig = ResolvedClientOptions & { token: string };

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
  readonly #link: SchedulerLink;
  readonly #outbox: Outbox;
  readonly #results: Results;
  readonly #held: HeldKeys;
  #cluster?: LocalCluster;
  #closing?: Promise<void>;
  /** Clients on worker threads hold actors weakly (R-ACT-9). */
  #weakHandles = false;
  /** A worker thread's client, shared by its tasks: only the thread closes it. */
  #shared = false;
  readonly #encodeOpts: SerializeOptions;

  private constructor(address: string, opts: ClientConfig, local?: LocalActorDispatcher, connectLocal?: () => Connection) {
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
    this.#link = new SchedulerLink({
      address,
      token: opts.token,
      tls: opts.tls,
      timeoutMs: this.#timeoutMs,
      schedulerTimeout: opts.schedulerTimeout,
      connectLocal,
      onMessage: (msg) => this.#onMessage(msg),
      rejoinState: () => ({ tasks: this.#outbox.sentSpecs(), wanted: this.#keys.keys(), actors: this.#keys.actorIncarnations() }),
      rejoined: () => void this.#flush(), // what was submitted meanwhile
      gaveUp: (err) => this.#keys.failPending(err),
    });
    this.#outbox = new Outbox({ send: (msg) => this.#link.send(msg), encodeOpts: this.#encodeOpts, failLocally: (key, err) => this.#keys.failLocally(key, err) });
    this.#held = new HeldKeys({
      keys: this.#keys,
      outbox: this.#outbox,
      codeRoot: this.#codeRoot,
      request: (msg) => this.#request(msg),
      gather: (keys) => this.#gatherKeys(keys),
      callsSettled: (key) => this.#caller.release(key),
      checkOpen: () => this.#checkOpen(),
      done: () => this.#closing !== undefined || this.#link.broken !== undefined,
    });
    this.#results = new Results({
      keys: this.#keys,
      request: (msg) => this.#request(msg),
      workerRequest: (address, msg) => this.#workerRequest(address, msg),
      decode: (payload) => this.#decode(payload),
      errorOf: (key) => this.#held.errorOf(key),
      handleFor: (meta) => this.#handleFor(meta),
      broken: () => this.#link.broken,
    });
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
    const client = new Client(address, { ...opts, token }, undefined, cluster ? () => cluster._connectLocal() : undefined);
    try {
      await client.#link.open();
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
    await client.#link.open();
    return client;
  }

  /** Where the scheduler's dashboard is opened (the login link when it needs the token); undefined when it serves none. */
  get dashboardLink(): string | undefined {
    return this.#link.dashboardLink;
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
    return this.#submitOne(taskBaseOf(fn, opts, this.#codeRoot), fn, args, opts, opts.key, "submit(fn, args)");
  }

  #submitOne(base: TaskBase, fn: Fn | Cls, args: unknown, options: SubmitOptions, key: string | undefined, where: string): Future<unknown> {
    if (!Array.isArray(args)) throw new ConfigError(`${where}: args must be an array of the function's arguments, got ${typeof args}`);
    const encoded = serialize(args, this.#encodeOpts);
    key ??= options.pure && !options.actor ? pureKey(fn, encoded) : randomKey(fn.name);
    this.#outbox.enqueue(key, base, args, encoded);
    const future = this.#held.future(key, true);
    this.#held.keepDeadline(key, base.timeoutMs);
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
    const base = taskBaseOf(fn, each, this.#codeRoot);
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
      this.#outbox.enqueue(node.key, taskBaseOf(node.fn, { ...node.options, actor }, this.#codeRoot), node.args, serialize(node.args, this.#encodeOpts), false);
    }
    const futures = roots.map((n) => this.#held.future(n.key, false));
    for (const n of roots) this.#held.keepDeadline(n.key, n.options.timeout);
    return Array.isArray(nodes) ? futures : futures[0]!;
  }

  /** Like compute(): every node given stays in memory while its Future lives. */
  persist<T>(node: Delayed<T>): Future<T>;
  persist(nodes: Delayed[]): Future<unknown>[];
  persist(nodes: Delayed | Delayed[]): Future<unknown> | Future<unknown>[] {
    return this.compute(nodes as Delayed[]);
  }

  #flush(): Promise<void> {
    return this.#outbox.flush();
  }

  // ------------------------------------------------------------ results

  /** Values of keys, fetched with one request per worker, after what this client submitted so far. */
  async #gatherKeys(keys: Key[]): Promise<Map<Key, unknown>> {
    await this.#flush();
    return this.#results.gather(keys);
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
    const futures = keys.map((k) => this.#held.future(k, true));
    // Later flushes wait for this one, so graphs using the data come after it.
    this.#outbox.inOrder(async () => {
      try {
        await this.#results.place(keys, encoded, opts);
      } catch (err) {
        for (const key of keys) this.#keys.failLocally(key, err);
      }
    });
    return Array.isArray(data) ? futures : futures[0]!;
  }

  /** Cancel pending tasks; awaiting them then rejects with CancelledError (R-TASK-8). */
  async cancel(futures: Future | Future[]): Promise<void> {
    this.#checkOpen();
    await this.#held.cancel(keysOf(futures, "cancel()"));
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
      if (this.#keys.forget(key)) this.#held.released(key);
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
    const future = this.#held.future<Actor<T>>(reply.key, false);
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
    // Unfinished ActorFutures inside: the value is kept once they are values.
    const encoded = await serializeSettled(value, this.#encodeOpts);
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
    if (msg.status !== "pending" && !(msg.status === "finished" && msg.actor)) this.#outbox.settled(msg.key);
    if (!rec) return;
    if (msg.actor) this.#caller.update(msg.actor);
    if ((msg.status === "lost" || msg.status === "cancelled") && rec.actor) {
      void this.#held.errorOf(msg.key).then((err) => this.#caller.markLost(msg.key, err));
    }
  }

  /** A value; a promise of it when it holds instances of classes whose module must be loaded first. */
  #decode(payload: Payload): unknown {
    return decodeWithClasses(() => deserialize(payload, this.#resolver), this.#encodeOpts);
  }

  readonly #resolver: Resolver = {
    future: (key) => this.#held.future(key, false),
    actor: (meta) => this.#handleFor(meta),
  };

  /** A live handle; on a client it keeps the actor alive through a Future of its key. */
  #handleFor(meta: ActorMeta): Actor<unknown> {
    return createActorHandle(this.#caller, meta, this.#weakHandles ? undefined : this.#held.future(meta.key, false));
  }

  /** @internal A Future for a key that arrived inside a value. */
  _futureFor<T>(key: Key): Future<T> {
    return this.#held.future<T>(key, false);
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

  #request<M extends Message>(msg: M): Promise<ReplyTo<M>> {
    return this.#link.request(msg);
  }

  #checkOpen(): void {
    if (this.#closing) throw new CommError("the client is closed; connect a new one");
    if (this.#link.broken) throw this.#link.broken;
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
      await this.#link.close(() => this.#flush());
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
    const status = this.#closing ? "closed" : this.#link.broken ? "disconnected" : "open";
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

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  return (v.constructor?.name || "object").toLowerCase();
}
