// Entry of a task thread or an actor thread. User code only ever runs here,
// never on the thread that serves the worker's connections.

import { parentPort, workerData } from "node:worker_threads";
import { Payload } from "../comm/payload.js";
import { closeThreadContext, getClient, initThreadContext, resolverForThread, setLocalActorDispatcher } from "../client/thread-context.js";
import { createLogger } from "../log.js";
import type { CodeRef, ErrorInfo, Key } from "../protocol/messages.js";
import { deserialize, errorToInfoAsync, explainSourceError, loadCode, serialize } from "../serialize/index.js";
import { ActorTable, MissingActorError } from "./actor-table.js";
import { compactParts, type FromThread, type ThreadConfig, type ToThread } from "./thread-protocol.js";

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

// Replies leave in batches; large parts are moved, not copied. Actor calls
// flush at the end of the current batch of messages (latency); tasks at the
// end of the turn, so a run of quick tasks answers in one message.
let replies: FromThread[] = [];
let transfer: ArrayBuffer[] = [];
let soon = false;
let later = false;

function flush(): void {
  if (replies.length === 0) return;
  const batch = replies;
  const moved = transfer;
  replies = [];
  transfer = [];
  port.postMessage(batch, moved);
}

function reply(msg: FromThread, urgent = true): void {
  if (msg.t === "done" && msg.ok) {
    msg.value = compactParts(msg.value);
    for (const p of msg.value) {
      if (p.byteLength >= OWN_BUFFER_MIN && p.buffer instanceof ArrayBuffer && p.buffer.byteLength === p.byteLength) transfer.push(p.buffer);
    }
  }
  replies.push(msg);
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

async function encodeResult(value: unknown): Promise<Uint8Array[]> {
  let encoded = serialize(value);
  while (encoded.pending.length > 0) {
    await Promise.all(encoded.pending);
    encoded = serialize(value);
  }
  return encoded.payload.parts;
}

async function fail(id: number, err: unknown, extra?: { missing?: boolean }): Promise<void> {
  let error: ErrorInfo;
  try {
    error = await errorToInfoAsync(err, codeOpts);
  } catch (e) {
    error = { name: "Error", message: String(err), stack: String((e as Error)?.stack ?? "") };
  }
  reply({ t: "done", id, ok: false, error, ...extra });
}

function decodeArgs(parts: Uint8Array[], deps: Record<Key, Uint8Array[]>): unknown[] {
  const resolve = resolverForThread();
  const values = new Map<Key, unknown>();
  for (const [key, dep] of Object.entries(deps)) values.set(key, deserialize(new Payload(dep), resolve));
  const args = deserialize(new Payload(parts), {
    ...resolve,
    future: (key) => (values.has(key) ? values.get(key) : resolve.future!(key)),
  });
  if (!Array.isArray(args)) throw new TypeError("task arguments must be an array");
  return args;
}

// Loaded code by reference, read synchronously on the hot path.
const loaded = new Map<string, Function>();

async function load(ref: CodeRef): Promise<Function> {
  const id = ref.kind === "module" ? `m\0${ref.url}\0${ref.export}\0${ref.hash}` : `s\0${ref.source}`;
  let fn = loaded.get(id);
  if (!fn) {
    fn = await loadCode(ref, codeOpts);
    loaded.set(id, fn);
  }
  return fn;
}

// Tasks run one at a time per thread (a thread is one unit of `nthreads`);
// the main thread may post a few ahead so the thread never waits for it.
const taskQueue: Array<Extract<ToThread, { t: "run" }>> = [];
let taskRunning = false;

async function runQueued(): Promise<void> {
  if (taskRunning) return;
  taskRunning = true;
  try {
    for (let msg = taskQueue.shift(); msg; msg = taskQueue.shift()) await run(msg);
  } finally {
    taskRunning = false;
  }
}

async function run(msg: Extract<ToThread, { t: "run" }>): Promise<void> {
  try {
    const fn = await load(msg.fn);
    const args = decodeArgs(msg.args, msg.deps);
    if (msg.actor) {
      const shape = await actors.create(msg.key, fn, args);
      reply({ t: "done", id: msg.id, ok: true, value: [], actor: shape });
      return;
    }
    let result: unknown;
    try {
      // Classes run as constructors (delayed(Class)() outside actors).
      result = isClass(fn) ? Reflect.construct(fn, args) : await (fn as (...a: unknown[]) => unknown)(...args);
    } catch (err) {
      throw explainSourceError(err, msg.fn);
    }
    reply({ t: "done", id: msg.id, ok: true, value: await encodeResult(result) }, false);
  } catch (err) {
    await fail(msg.id, err);
  }
}

function isClass(fn: Function): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(fn));
}

function call(msg: Extract<ToThread, { t: "call" }>): void {
  let out: unknown;
  try {
    out = actors.invoke(msg.key, msg.kind, msg.name, decodeArgs(msg.args, {}));
  } catch (err) {
    void fail(msg.id, err, err instanceof MissingActorError ? { missing: true } : undefined);
    return;
  }
  if (out instanceof Promise || (typeof out === "object" && out !== null && typeof (out as PromiseLike<unknown>).then === "function")) {
    Promise.resolve(out).then(
      async (v) => reply({ t: "done", id: msg.id, ok: true, value: await encodeResult(v) }),
      (err) => fail(msg.id, err),
    ).catch((err) => fail(msg.id, err));
    return;
  }
  // Fast path: a sync method's result is encoded and sent right away.
  try {
    const encoded = serialize(out);
    if (encoded.pending.length === 0) {
      reply({ t: "done", id: msg.id, ok: true, value: encoded.payload.parts });
      return;
    }
  } catch (err) {
    void fail(msg.id, err);
    return;
  }
  encodeResult(out).then((value) => reply({ t: "done", id: msg.id, ok: true, value }), (err) => fail(msg.id, err));
}

async function runFunction(msg: Extract<ToThread, { t: "runfn" }>): Promise<void> {
  try {
    const fn = await load(msg.fn);
    const args = decodeArgs(msg.args, {});
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
    case "runfn":
      return void runFunction(msg);
    case "free":
      return void actors.free(msg.keys, (err, key) => log.warn("actor dispose hook failed", { key, error: String(err) }));
    case "close":
      return void actors
        .free(actors.keys(), (err, key) => log.warn("actor dispose hook failed", { key, error: String(err) }))
        .then(() => closeThreadContext())
        .finally(() => {
          port.postMessage([{ t: "closed" }] satisfies FromThread[]);
          port.close();
        });
  }
}

// Values decoded here may hold Actor handles and Futures, which need this
// thread's client: connect it before taking work, keeping arrival order.
let backlog: ToThread[] | undefined = [];
port.on("message", (batch: ToThread[]) => {
  for (const msg of batch) backlog ? backlog.push(msg) : handle(msg);
});
getClient()
  .catch((err) => log.error("a worker thread could not connect to the scheduler", { error: String(err) }))
  .finally(() => {
    const queued = backlog!;
    backlog = undefined;
    for (const msg of queued) handle(msg);
  });
