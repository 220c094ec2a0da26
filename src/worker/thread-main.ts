// Entry of a task thread or an actor thread. User code only ever runs here,
// never on the thread that serves the worker's connections.

import { parentPort, workerData } from "node:worker_threads";
import { copyBytes, Payload } from "../comm/payload.js";
import { closeThreadContext, getClient, initThreadContext, resolverForThread, setLocalActorDispatcher, withThreadClient } from "../client/thread-context.js";
import { createLogger } from "../log.js";
import { formatAddress, isThenable, listen, parseAddress, type Listener } from "../comm/index.js";
import type { ActorCallFailure, ActorCallReply, ActorCalls, ActorStats, CodeRef, ErrorInfo, Key } from "../protocol/messages.js";
import { ClassesPending, deserialize, errorInfoOf, errorToInfoAsync, explainSourceError, loadClasses, loadCode, serialize } from "../serialize/index.js";
import { CallTurns } from "./call-turns.js";
import { ActorTable, MissingActorError } from "./actor-table.js";
import { isGone, SHARE_MIN_BYTES, share } from "../shm/index.js";
import { compactPart, NO_DEPS, packDones, partsToRead, unpackRuns, type FromThread, type RunTask, type ThreadConfig, type ThreadPart, type ToThread } from "./thread-protocol.js";

const config = workerData as ThreadConfig;
const port = parentPort!;
const log = createLogger(`${config.kind}-thread`);
const actors = new ActorTable();
const codeOpts = { codeRoot: config.codeRoot };

initThreadContext(config);
setLocalActorDispatcher((key, kind, name, args) => {
  if (!actors.has(key)) return undefined;
  // Same thread: no network, and queued behind the running method, never inside it.
  return Promise.resolve().then(() => actors.invoke(key, kind, name, args));
});

const OWN_BUFFER_MIN = 64 * 1024;
const REPLY_BATCH_MAX = 64;

// Replies leave in batches; large parts are moved, not copied. Actor calls
// flush at the end of the current batch of messages (latency); tasks at the
// end of the turn, so a run of quick tasks answers in one message.
let replies: FromThread[] = [];
let moved: ArrayBuffer[] = [];
let soon = false;
let later = false;

function flush(): void {
  if (replies.length === 0) return;
  const batch = packDones(replies);
  const transfer = moved;
  replies = [];
  moved = [];
  port.postMessage(batch, transfer);
}

/**
 * A result part as it will travel, taken now: a task may return a view of a
 * buffer it reuses, and the batch leaves only after the tasks behind it ran.
 * Later parts are binary the task returned (user memory): large ones are
 * copied, then moved. The first part is the encoder's own bytes.
 */
function ownPart(p: ThreadPart, index: number): ThreadPart {
  if (!(p instanceof Uint8Array)) return p;
  const own = index === 0 || p.byteLength < OWN_BUFFER_MIN ? compactPart(p) : copyBytes(p);
  if (own.byteLength >= OWN_BUFFER_MIN && own.buffer instanceof ArrayBuffer) moved.push(own.buffer);
  return own;
}

function reply(msg: FromThread, urgent = true): void {
  if (msg.t === "done" && msg.ok) msg.value = msg.value.map((p, i) => ownPart(p, i));
  replies.push(msg);
  // A long run of queued tasks never yields to the event loop: answer every so often anyway.
  if (replies.length >= REPLY_BATCH_MAX) urgent = true;
  if (urgent && !soon) {
    soon = true;
    queueMicrotask(() => {
      soon = false;
      flush();
    });
  } else if (!urgent && !later) {
    later = true;
    setImmediate(() => {
      later = false;
      flush();
    });
  }
}

/** A value's parts: at once, unless it holds ActorFutures still running (then once they are values). */
function encodeResult(value: unknown): Uint8Array[] | Promise<Uint8Array[]> {
  const encoded = serialize(value, codeOpts);
  return encoded.pending.length === 0 ? encoded.payload.parts : encodeWhenSettled(value, encoded.pending);
}

async function encodeWhenSettled(value: unknown, pending: Promise<unknown>[]): Promise<Uint8Array[]> {
  for (;;) {
    await Promise.all(pending);
    const encoded = serialize(value, codeOpts);
    if (encoded.pending.length === 0) return encoded.payload.parts;
    pending = encoded.pending;
  }
}

/** A task or function failed: answer with the error as it crosses the wire. */
async function fail(id: number, err: unknown): Promise<void> {
  const r = await errorReply(err);
  if (!r.ok) reply({ t: "done", id, ok: false, error: r.error });
}

// How values arriving here decode (it reaches the thread's client only when used).
const threadResolver = resolverForThread();

const NO_ARGS: unknown[] = [];
const NO_ARGS_BYTES = serialize([]).payload.parts[0]!;

function isNoArgs(head: Uint8Array): boolean {
  if (head.byteLength !== NO_ARGS_BYTES.byteLength) return false;
  for (let i = 0; i < head.byteLength; i++) if (head[i] !== NO_ARGS_BYTES[i]) return false;
  return true;
}

/** A dep's shared segment was removed from outside: the task does not run, the worker reports the dep lost. */
class DepGone extends Error {
  constructor(readonly key: Key) {
    super(`the shared segment of ${key} was removed`);
  }
}

function decodeArgs(parts: Uint8Array[], deps: Record<Key, ThreadPart[]>): unknown[] {
  let resolve = threadResolver;
  if (deps !== NO_DEPS) {
    // Futures among the arguments become the values of the task's dependencies.
    const values = new Map<Key, unknown>();
    for (const key of Object.keys(deps)) {
      let parts: Uint8Array[];
      try {
        parts = partsToRead(deps[key]!);
      } catch (err) {
        throw isGone(err) ? new DepGone(key) : err;
      }
      values.set(key, deserialize(new Payload(parts), threadResolver));
    }
    // A literal, not a spread of threadResolver: spread copies made by optimized code each get a map of their own.
    if (values.size > 0) resolve = { actor: threadResolver.actor, future: (key) => (values.has(key) ? values.get(key) : threadResolver.future!(key)) };
  }
  const args = deserialize(new Payload(parts), resolve);
  if (!Array.isArray(args)) throw new TypeError("task arguments must be an array");
  return args;
}

// Tasks run one at a time per thread (a thread is one unit of `nthreads`);
// the main thread may post a few ahead so the thread never waits for it.
const taskQueue: RunTask[] = [];
let taskRunning = false;

/** When the running task started, for the main thread to see (ThreadConfig.taskSince). */
const taskSince = config.taskSince ? new Float64Array(config.taskSince) : new Float64Array(1);

async function runQueued(): Promise<void> {
  if (taskRunning) return;
  taskRunning = true;
  try {
    for (let msg = taskQueue.shift(); msg; msg = taskQueue.shift()) {
      taskSince[0] = Date.now();
      await run(msg);
    }
  } finally {
    taskSince[0] = 0;
    taskRunning = false;
  }
}

// Small results of the last tasks run here, encoded: a task posted right
// behind the one it depends on (a chain) takes its input from here rather
// than waiting for the main thread to store it and post it back.
const RECENT_MAX = 32;
const RECENT_MAX_BYTES = 16 * 1024;
const recent = new Map<Key, Uint8Array[]>();

function remember(key: Key, parts: Uint8Array[]): void {
  // Only results encoded whole into bytes of their own: out-of-band parts are views of user buffers.
  if (parts.length !== 1 || parts[0]!.byteLength > RECENT_MAX_BYTES) return;
  recent.set(key, parts);
  if (recent.size > RECENT_MAX) recent.delete(recent.keys().next().value!);
}

/** The task's deps, with those computed here just before taken from recent results; undefined if one is not there. */
function withLocalDeps(msg: RunTask): Record<Key, ThreadPart[]> | undefined {
  if (!msg.local) return msg.deps;
  const deps = { ...msg.deps };
  for (const key of msg.local) {
    const parts = recent.get(key);
    if (!parts) return undefined;
    deps[key] = parts;
  }
  return deps;
}

async function run(msg: RunTask): Promise<void> {
  // A result of an earlier run of this key must not stand in for this run's.
  recent.delete(msg.key);
  try {
    const deps = withLocalDeps(msg);
    if (!deps) {
      // The dep failed here, or is no longer among the recent results: the main thread runs it the usual way.
      reply({ t: "done", id: msg.id, ok: false, notRun: true, error: errorInfoOf("Error", `a dependency of ${msg.key} was not computed on this thread`) });
      return;
    }
    // Each await costs a turn of the microtask queue: a quick task waits only where something is pending.
    const code = codeFor(msg.fn);
    const fn = code instanceof Promise ? await code : code;
    const decoded = withThreadClient(() => decodeArgs(msg.args, deps));
    const args = decoded instanceof Promise ? await decoded : decoded;
    if (msg.actor) {
      const shape = await actors.create(msg.key, fn, args);
      reply({ t: "done", id: msg.id, ok: true, value: [], actor: { ...shape, callAddress } });
      return;
    }
    let result: unknown;
    // The function's own run time, as Dask measures a task's: not its wait in the queue, nor decoding
    // and encoding (where one busy moment of the machine would count for a quick task). The
    // scheduler places work by it, the worker posts ahead by it.
    const started = performance.now();
    try {
      // Classes run as constructors (delayed(Class)() outside actors).
      if (isClass(fn)) result = Reflect.construct(fn, args);
      else {
        result = (fn as (...a: unknown[]) => unknown)(...args);
        if (isThenable(result)) result = await result;
      }
    } catch (err) {
      throw explainSourceError(err, msg.fn);
    }
    const ms = performance.now() - started;
    const encoded = encodeResult(result);
    const parts = encoded instanceof Promise ? await encoded : encoded;
    remember(msg.key, parts);
    // Batch replies while more tasks are queued behind this one; answer at once when it was the last.
    reply({ t: "done", id: msg.id, ok: true, value: shareLarge(parts), ms }, taskQueue.length === 0);
  } catch (err) {
    if (err instanceof DepGone) reply({ t: "done", id: msg.id, ok: false, notRun: true, gone: [err.key], error: errorInfoOf("Error", err.message) });
    else await fail(msg.id, err);
  }
}

/** Large parts of a task's result go into shared segments: peers and clients on this host map them instead of copying. */
function shareLarge(parts: Uint8Array[]): ThreadPart[] {
  return parts.map((p) => {
    const shm = p.byteLength >= SHARE_MIN_BYTES ? share(p) : undefined;
    return shm === undefined ? p : { shm, byteLength: p.byteLength };
  });
}

const classes = new WeakMap<Function, boolean>();

function isClass(fn: Function): boolean {
  let c = classes.get(fn);
  if (c === undefined) classes.set(fn, (c = /^class[\s{]/.test(Function.prototype.toString.call(fn))));
  return c;
}

// Code loaded here, by the reference it arrived in: the tasks of one batch
// share one reference (see unpackRuns), so all but the first skip building
// the cache key and looking it up.
const loaded = new WeakMap<CodeRef, Function>();

function codeFor(ref: CodeRef): Function | Promise<Function> {
  const fn = loaded.get(ref);
  if (fn) return fn;
  return loadCode(ref, codeOpts).then((f) => {
    loaded.set(ref, f);
    return f;
  });
}

// ------------------------------------------------------------ actor calls

interface CallStats {
  calls: number;
  inFlight: number;
  totalMs: number;
  finished: number;
}
const stats = new Map<Key, CallStats>();
let statsChanged = false;

async function errorReply(err: unknown, missing = false): Promise<ActorCallFailure> {
  let error: ErrorInfo;
  try {
    error = await errorToInfoAsync(err, codeOpts);
  } catch (e) {
    error = { name: "Error", message: String(err), stack: String((e as Error)?.stack ?? "") };
  }
  return missing ? { ok: false, error, missing } : { ok: false, error };
}

const turns = new CallTurns();

/**
 * Run one call on its actor. Both ways in end here: calls forwarded by the
 * worker's main thread, and calls arriving on this thread's own endpoint.
 */
function invokeCall(key: Key, kind: "call" | "get", name: string, args: Uint8Array[] | null, inTurn = false): ActorCallReply | Promise<ActorCallReply> {
  if (turns.held && !inTurn) return turns.later(() => invokeCall(key, kind, name, args, true));
  let st = stats.get(key);
  if (!st) stats.set(key, (st = { calls: 0, inFlight: 0, totalMs: 0, finished: 0 }));
  st.calls++;
  st.inFlight++;
  statsChanged = true;
  const t0 = performance.now();
  let out: unknown;
  try {
    out = actors.invoke(key, kind, name, decodeCallArgs(args));
  } catch (err) {
    if (err instanceof ClassesPending) {
      // Counted when it runs, once its classes are loaded.
      st.calls--;
      st.inFlight--;
      return turns.later(() => invokeCall(key, kind, name, args, true), loadClasses(err.refs, codeOpts));
    }
    if (err instanceof MissingActorError) stats.delete(key);
    return errorReply(err, err instanceof MissingActorError).then((r) => called(st, t0, r));
  }
  // Fast path: a sync method's result is encoded and answered right away.
  let parts: Uint8Array[] | Promise<Uint8Array[]>;
  try {
    parts = isThenable(out) ? Promise.resolve(out).then(encodeResult) : encodeResult(out);
  } catch (err) {
    return errorReply(err).then((r) => called(st, t0, r));
  }
  if (!(parts instanceof Promise)) return called(st, t0, new Payload(parts));
  return parts
    .then((p): ActorCallReply => new Payload(p))
    .catch((err) => errorReply(err))
    .then((r) => called(st, t0, r));
}

/** A call's reply is ready: count it in its actor's statistics. */
function called(st: CallStats, t0: number, r: ActorCallReply): ActorCallReply {
  st.inFlight--;
  st.finished++;
  st.totalMs += performance.now() - t0;
  return r;
}

/** A call's arguments (null: none). The shared encoding of none (the common case) decodes to nothing at all. */
function decodeCallArgs(parts: Uint8Array[] | null): unknown[] {
  if (parts === null) return NO_ARGS;
  const head = parts[0];
  if (parts.length === 1 && head !== undefined && isNoArgs(head)) return NO_ARGS;
  return decodeArgs(parts, NO_DEPS);
}

/** Calls sent as one request group: one outcome per call, in call order (each starts before the next). */
function invokeCalls(msg: ActorCalls): Array<ActorCallReply | Promise<ActorCallReply>> {
  const { key, names, gets, args } = msg;
  if (!Array.isArray(names) || !Array.isArray(gets) || !Array.isArray(args) || args.length !== names.length) {
    throw new TypeError("a malformed actor-calls message: names, gets and args must be arrays, args as long as names");
  }
  const out: Array<ActorCallReply | Promise<ActorCallReply>> = new Array(names.length);
  let g = 0;
  for (let i = 0; i < names.length; i++) {
    const get = gets[g] === i;
    if (get) g++;
    const name = names[i];
    const a = args[i];
    out[i] =
      typeof name === "string" && (a === 0 || a instanceof Payload)
        ? invokeCall(key, get ? "get" : "call", name, a === 0 ? null : a.parts)
        : errorReply(new TypeError(`actor-calls entry ${i} is malformed (a name and a Payload or 0 were expected)`));
  }
  return out;
}

function call(msg: Extract<ToThread, { t: "call" }>): void {
  const send = (r: ActorCallReply) =>
    reply(r instanceof Payload ? { t: "done", id: msg.id, ok: true, value: r.parts } : { t: "done", id: msg.id, ok: false, error: r.error, missing: r.missing });
  const r = invokeCall(msg.key, msg.kind, msg.name, msg.args);
  if (r instanceof Promise) void r.then(send);
  else send(r);
}

// Call statistics go to the main thread, which reports them in heartbeats.
setInterval(() => {
  if (!statsChanged) return;
  statsChanged = false;
  const out: Record<Key, ActorStats> = {};
  for (const [key, st] of stats) {
    if (actors.has(key)) out[key] = { calls: st.calls, inFlight: st.inFlight, meanCallMs: st.finished ? st.totalMs / st.finished : 0 };
    else stats.delete(key);
  }
  port.postMessage([{ t: "stats", actors: out }] satisfies FromThread[]);
}, 1000).unref();

// An actor thread serves direct calls on its own endpoint: a call then never
// waits for the worker's main thread, and costs one hop less.
let endpoint: Listener | undefined;
let callAddress: string | undefined;

async function openEndpoint(): Promise<void> {
  if (config.kind !== "actor") return;
  endpoint = await listen({
    host: config.listenHost,
    port: 0,
    token: config.token,
    tls: config.tls,
    insecure: config.insecure,
    onConnection: (conn) => {
      conn.onRequest = (msg) => {
        if (msg.op === "actor-calls") return invokeCalls(msg);
        if (msg.op !== "actor-call") throw new TypeError(`an actor thread serves only actor calls, not "${msg.op}"`);
        return invokeCall(msg.key, msg.kind, msg.name, msg.args.parts);
      };
      conn.onMessage = (msg) => log.warn("unexpected message on an actor endpoint", { op: msg.op });
    },
  });
  const { scheme, port: listening } = parseAddress(endpoint.address);
  callAddress = formatAddress(scheme, config.contactHost, listening);
}

async function runFunction(msg: Extract<ToThread, { t: "runfn" }>): Promise<void> {
  try {
    const fn = await loadCode(msg.fn, codeOpts);
    const args = await withThreadClient(() => decodeArgs(msg.args, NO_DEPS));
    let result: unknown;
    try {
      result = await (fn as (...a: unknown[]) => unknown)(...args);
    } catch (err) {
      throw explainSourceError(err, msg.fn);
    }
    reply({ t: "done", id: msg.id, ok: true, value: await encodeResult(result) });
  } catch (err) {
    await fail(msg.id, err);
  }
}

function handle(msg: ToThread): void {
  switch (msg.t) {
    case "call":
      return call(msg);
    case "run":
      if (msg.actor) return void run(msg); // creating an actor never waits behind tasks
      taskQueue.push(msg);
      return void runQueued();
    case "runs":
      for (const task of unpackRuns(msg)) taskQueue.push(task);
      return void runQueued();
    case "runfn":
      return void runFunction(msg);
    case "free":
      for (const key of msg.keys) stats.delete(key);
      return void actors.free(msg.keys, (err, key) => log.warn("actor dispose hook failed", { key, error: String(err) }));
    case "close":
      return void actors
        .free(actors.keys(), (err, key) => log.warn("actor dispose hook failed", { key, error: String(err) }))
        .then(() => Promise.all([closeThreadContext(), endpoint?.close()]))
        .finally(() => {
          port.postMessage([{ t: "closed" }] satisfies FromThread[]);
          port.close();
        });
  }
}

// Values decoded here may hold Actor handles and Futures, which need this
// thread's client. A task thread takes work at once and connects on first
// need (a task whose arguments need the client waits for it); an actor
// thread first opens its endpoint and connects, so that calls keep their
// arrival order.
let backlog: ToThread[] | undefined = config.kind === "actor" ? [] : undefined;
port.on("message", (batch: ToThread[]) => {
  for (const msg of batch) {
    if (backlog) backlog.push(msg);
    else handle(msg);
  }
});
if (backlog) {
  Promise.all([
    getClient().catch((err) => log.error("a worker thread could not connect to the scheduler", { error: String(err) })),
    openEndpoint().catch((err) => log.error("an actor thread could not open its endpoint; calls go through the worker", { error: String(err) })),
  ]).finally(() => {
    const queued = backlog!;
    backlog = undefined;
    for (const msg of queued) handle(msg);
  });
}
