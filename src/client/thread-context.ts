// What user code running on a worker thread can reach: getClient() and
// getWorker() (R-TASK-9), and live Actor handles arriving in its arguments.

import { AsyncLocalStorage } from "node:async_hooks";
import { ConfigError } from "../errors.js";
import type { ActorMeta, Key } from "../protocol/messages.js";
import { ClassesPending, loadClasses, type Resolver } from "../serialize/index.js";
import type { LocalActorDispatcher } from "./actor-caller.js";
import type { Client } from "./client.js";

export interface WorkerInfo {
  address: string;
  name: string;
  nthreads: number;
  resources: Record<string, number>;
}

interface ThreadContext {
  scheduler: string;
  token: string;
  tls?: { cert: string; key: string; ca: string };
  codeRoot: string;
  connectTimeoutMs: number;
  worker: WorkerInfo;
  local?: LocalActorDispatcher;
  client?: Client;
  connecting?: Promise<Client>;
  /** The connection attempt failed: values that need the client cannot be decoded here. */
  failed?: boolean;
}

// One context per thread, reachable from any copy of this module the user's
// code may have loaded (dist and source builds alike).
const SLOT = Symbol.for("troupe.threadContext");
const slot = globalThis as unknown as Record<symbol, ThreadContext | undefined>;

/** @internal Called once by the worker thread's entry. */
export function initThreadContext(ctx: Omit<ThreadContext, "client" | "connecting" | "local" | "failed">): void {
  slot[SLOT] = { ...ctx };
}

/** @internal Same-thread actors are called without the network. */
export function setLocalActorDispatcher(local: LocalActorDispatcher): void {
  const ctx = slot[SLOT];
  if (ctx) ctx.local = local;
}

/** Whether this code runs on a troupe worker's task or actor thread. */
export function onWorkerThread(): boolean {
  return slot[SLOT] !== undefined;
}

function context(what: string): ThreadContext {
  const ctx = slot[SLOT];
  if (!ctx) throw new ConfigError(`${what} works only inside a task or an actor method running on a troupe worker`);
  return ctx;
}

/**
 * The piece of work (a task, an actor call) that code on a worker thread runs
 * for. It follows the work's own asynchronous continuations, so a fault in
 * them (an unhandled rejection, a throw in a timer) is charged to the work
 * that caused it, and `currentSignal()` finds its signal.
 */
export interface WorkContext {
  /** "task f-1a2b", "Counter.add on actor Counter-3c4d": for messages. */
  readonly what: string;
  readonly controller: AbortController;
  /**
   * A task gives its thread slot to other tasks while it waits for results
   * of other tasks or actor calls (Dask's secede, done for the user): tasks
   * that wait on tasks never deadlock the cluster. Absent for actor calls.
   */
  secede?(): void;
}

const STORAGE = Symbol.for("troupe.workStorage");
const storageSlot = globalThis as unknown as Record<symbol, AsyncLocalStorage<WorkContext> | undefined>;

/** @internal The storage every copy of this module on a thread shares. */
export function workStorage(): AsyncLocalStorage<WorkContext> {
  return (storageSlot[STORAGE] ??= new AsyncLocalStorage<WorkContext>());
}

/**
 * The AbortSignal of the task or actor call running this code: it aborts
 * when the work is cancelled, released, or its `timeout` passes. Code that
 * loops or waits for long should watch it; a task still running a while
 * after its signal aborted is stopped by force.
 */
export function currentSignal(): AbortSignal {
  const work = storageSlot[STORAGE]?.getStore();
  if (!work) throw new ConfigError("currentSignal() works only inside a task or an actor method running on a troupe worker");
  return work.controller.signal;
}

/**
 * Called where client code starts waiting for a remote result: on a worker
 * thread, the task running this code gives its slot to other tasks.
 */
export function waitingForResults(): void {
  storageSlot[STORAGE]?.getStore()?.secede?.();
}

/** The worker running the current task or actor method. */
export function getWorker(): WorkerInfo {
  return { ...context("getWorker()").worker };
}

/** A client connected to the same scheduler as the worker running this code. */
export function getClient(): Promise<Client> {
  const ctx = context("getClient()");
  if (ctx.client) return Promise.resolve(ctx.client);
  ctx.connecting ??= import("./client.js").then(async ({ Client }) => {
    const client = await Client._forThread(
      ctx.scheduler,
      { token: ctx.token, tls: ctx.tls, codeRoot: ctx.codeRoot, timeout: ctx.connectTimeoutMs },
      (key, kind, name, args) => ctx.local?.(key, kind, name, args),
    );
    ctx.client = client;
    return client;
  });
  ctx.connecting.catch(() => {
    ctx.failed = true;
  });
  return ctx.connecting;
}

/**
 * @internal How values arriving on this thread are decoded: Actor handles
 * become live, weak handles; Futures become Futures of this thread's client.
 * The client connects on first need: decoding such a value before the
 * connection is up throws ClientNotReady (see `withThreadClient`).
 */
export function resolverForThread(): Resolver {
  return {
    actor: (meta: ActorMeta) => connected("an Actor handle")._weakHandle(meta),
    future: (key: Key) => connected("a Future")._futureFor(key),
  };
}

/** Thrown while decoding a handle or Future before the thread's client is connected. */
class ClientNotReady extends Error {}

function connected(what: string): Client {
  const ctx = context(what);
  if (ctx.client) return ctx.client;
  if (!ctx.failed) throw new ClientNotReady(`${what} needs this thread's client, not connected yet`);
  throw new ConfigError(`${what} reached a worker thread that could not connect to the scheduler`);
}

/**
 * @internal Runs a decode; if it met a value that needs this thread's client
 * before it was connected, or instances of classes whose module is not
 * loaded here yet, waits for them and decodes again (decoding has no side
 * effects, so running it twice is safe). Synchronous when no wait was needed.
 */
export function withThreadClient<T>(decode: () => T): T | Promise<T> {
  try {
    return decode();
  } catch (err) {
    if (err instanceof ClassesPending) {
      return loadClasses(err.refs, { codeRoot: context("decoding").codeRoot }).then(() => withThreadClient(decode));
    }
    if (!(err instanceof ClientNotReady)) throw err;
    return getClient()
      .catch(() => undefined)
      .then(() => decode());
  }
}

/** @internal Closes this thread's client (the thread is stopping). */
export async function closeThreadContext(): Promise<void> {
  const ctx = slot[SLOT];
  const client = ctx?.client ?? (await ctx?.connecting?.catch(() => undefined));
  await client?._closeNow();
}
