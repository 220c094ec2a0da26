// Messages between a worker's main thread and its task and actor threads.
// Payload parts cross as Uint8Arrays (large ones transferred, not copied).
// Runs of plain tasks and of their small results cross as parallel arrays
// over one buffer: structured clone then copies one object and one buffer
// per batch, not one of each per task (~10 → ~3 µs per task, both threads).

import type { ActorCall, ActorStats, CodeRef, ErrorInfo, Key } from "../protocol/messages.js";
import { copyBytes } from "../protocol/payload.js";
import { bytesOf, own, release, sharedPathOf, type Part } from "../shm/index.js";
import type { ResolvedWorkerOptions } from "./options.js";

/** A payload part between threads: bytes, or a shared segment the reading side maps. */
export type ThreadPart = Part;

/** What a thread needs to know about the process it lives in. */
export interface ThreadConfig {
  kind: "task" | "actor";
  index: number;
  scheduler: string;
  token: string;
  tls?: { cert: string; key: string; ca: string };
  codeRoot: string;
  connectTimeoutMs: number;
  /** Actor threads listen for direct calls on this interface, and are reached at contactHost. */
  listenHost: string;
  contactHost: string;
  insecure?: boolean;
  worker: { address: string; name: string; nthreads: number; resources: Record<string, number> };
  /**
   * One Float64 the thread sets to Date.now() when it starts a task and to 0
   * when it has none: the main thread sees a long task as it runs, however
   * busy the main thread itself has been.
   */
  taskSince?: SharedArrayBuffer;
  /** Task claims (see CLAIM_SLOTS): who runs a posted task, this thread or nobody. */
  claims?: SharedArrayBuffer;
  /**
   * One Float64 shared by every thread of the worker: until when (Date.now())
   * the scheduler surely still counts the worker as a member. A thread starts
   * no queued task past it (0: no lease, tasks always start).
   */
  lease?: SharedArrayBuffer;
}

/** The config of each of a worker's threads, but for their kind and index. */
export function threadConfigOf(opts: ResolvedWorkerOptions, contactHost: string, worker: ThreadConfig["worker"], lease: SharedArrayBuffer): (kind: ThreadConfig["kind"], index: number) => ThreadConfig {
  return (kind, index) => ({
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
    worker,
    lease,
  });
}

/**
 * Slots of a thread's claims array. Posting a task stores its id in slot
 * `id % CLAIM_SLOTS`; the thread swaps it for -id when it starts the task,
 * and the main thread swaps it for 0 to take the task back. Both swaps are
 * compare-and-swaps, so exactly one side wins: a task taken back never runs,
 * even from a thread that is stuck in a long task and reads its messages
 * late. Ids never repeat within a slot while a task is in flight (the main
 * thread keeps fewer than CLAIM_SLOTS claimed tasks posted), so a stale
 * message never matches a later task's claim.
 */
export const CLAIM_SLOTS = 1 << 16;

export function claimSlot(id: number): number {
  return id & (CLAIM_SLOTS - 1);
}

export interface RunTask {
  t: "run";
  id: number;
  key: Key;
  fn: CodeRef;
  args: Uint8Array[];
  deps: Record<Key, ThreadPart[]>;
  actor: boolean;
  /** Deps this thread computed just before (the chain): it takes them from its chain results. */
  chained?: Key[];
  /** For an actor: most calls of its async methods running at once. */
  maxConcurrency?: number;
  /** For an actor: a checkpoint after every this many calls that return (its class permitting). */
  checkpointEvery?: number;
  /** For an actor re-created after its worker died (> 0): rebuilt from its latest checkpoint if its class takes them. */
  incarnation?: number;
}

/** Plain tasks of one function with one small argument part each: task i's is bytes[ends[i-1] .. ends[i]). */
export interface RunTasks {
  t: "runs";
  ids: number[];
  keys: Key[];
  fn: CodeRef;
  bytes: Uint8Array;
  ends: Uint32Array;
}

export type ToThread =
  | RunTask
  | RunTasks
  | { t: "call"; id: number; key: Key; kind: ActorCall["kind"]; name: string; args: Uint8Array[] }
  | { t: "runfn"; id: number; fn: CodeRef; args: Uint8Array[] }
  | { t: "free"; keys: Key[] }
  /** Abort the signals of these works (cancelled or released while running). */
  | { t: "abort"; ids: number[]; reason: string }
  | { t: "close" };

/** The shape of an actor, reported when it is created. */
export interface ActorShape {
  className: string;
  methods: string[];
  attributes: string[];
  /** The actor thread's endpoint for direct calls. */
  callAddress?: string;
  /** Methods that are async generators (absent: none). */
  streams?: string[];
}

/** Successful results of one small part each: result i is bytes[ends[i-1] .. ends[i]), its task ran ms[i]. */
export interface TasksDone {
  t: "dones";
  ids: number[];
  bytes: Uint8Array;
  ends: Uint32Array;
  ms: Float64Array;
}

export type FromThread =
  /** `ms`: how long a task ran (not for actor calls). */
  | { t: "done"; id: number; ok: true; value: ThreadPart[]; actor?: ActorShape; ms?: number }
  | TasksDone
  /** `notRun`: the task did not start and waits again; `gone`: because these deps' segments were removed from outside. */
  | {
      t: "done";
      id: number;
      ok: false;
      error: ErrorInfo;
      missing?: boolean;
      notRun?: boolean;
      gone?: Key[];
      /** Set by the main thread when the thread running the work ended without answering it. */
      died?: "memory" | "stopped" | "broken" | "exited";
    }
  | { t: "stats"; actors: Record<Key, ActorStats> }
  /** The task waits for other tasks' results: its slot is free for other tasks meanwhile (it still answers later). */
  | { t: "seceded"; id: number }
  /** User code broke this thread (a fault in a task that was still running): terminate and replace it. */
  | { t: "broken"; reason: string }
  | { t: "closed" };

/**
 * Parts ready to post to another thread. Structured clone copies a view's
 * whole underlying buffer, and decoded parts are views into much larger
 * socket or pool buffers: copy each view out first so only its own bytes travel.
 */
export function compactParts(parts: Uint8Array[]): Uint8Array[] {
  return parts.map(compactPart);
}

/** A thread's answer to one piece of work. */
export type ThreadDone = Extract<FromThread, { t: "done" }>;

/** Parts for a thread: shared segments by path (the thread maps them), the rest compacted. */
export function partsToThread(parts: Part[]): ThreadPart[] {
  return parts.map((p) => {
    if (!(p instanceof Uint8Array)) return p;
    const shm = sharedPathOf(p);
    return shm === undefined ? compactPart(p) : { shm, byteLength: p.byteLength };
  });
}

/** Parts a thread made, as the main thread holds them: the segments it created now belong to the main thread, unmapped. */
export function partsFromThread(parts: ThreadPart[]): Part[] {
  for (const p of parts) if (!(p instanceof Uint8Array)) own(p.shm);
  return parts;
}

/** Parts to read here, shared ones mapped. */
export function partsToRead(parts: ThreadPart[]): Uint8Array[] {
  return parts.map(bytesOf);
}

/** Removes the segments a thread created for parts nobody will keep. */
export function discardParts(parts: ThreadPart[]): void {
  for (const p of parts) {
    if (p instanceof Uint8Array) continue;
    own(p.shm);
    release(p.shm);
  }
}

/** A part holding only its own bytes (see compactParts). */
export function compactPart(p: Uint8Array): Uint8Array {
  return p.byteOffset === 0 && p.byteLength === p.buffer.byteLength ? p : copyBytes(p);
}

// ---------------------------------------------------------------- columns

/** Largest argument or result part that travels inside a columns message rather than as a buffer of its own. */
const COLUMN_PART_MAX = 4096;
/** The deps of a task that has none: shared, so a thread recognises it without looking inside. */
export const NO_DEPS: Record<Key, ThreadPart[]> = Object.freeze({}) as Record<Key, ThreadPart[]>;

function smallPart(parts: ThreadPart[]): parts is [Uint8Array] {
  return parts.length === 1 && parts[0] instanceof Uint8Array && parts[0].byteLength <= COLUMN_PART_MAX;
}

function columnable(m: ToThread): m is RunTask {
  return m.t === "run" && !m.actor && m.chained === undefined && m.deps === NO_DEPS && smallPart(m.args);
}

/** One buffer holding every part, and where each ends. */
function join(parts: Uint8Array[]): { bytes: Uint8Array; ends: Uint32Array } {
  const ends = new Uint32Array(parts.length);
  let n = 0;
  for (let i = 0; i < parts.length; i++) ends[i] = n += parts[i]!.byteLength;
  const bytes = new Uint8Array(n);
  for (let i = 0; i < parts.length; i++) bytes.set(parts[i]!, i === 0 ? 0 : ends[i - 1]!);
  return { bytes, ends };
}

/** Part i of a columns message: a view of its buffer. */
function partAt(bytes: Uint8Array, ends: Uint32Array, i: number): Uint8Array {
  return bytes.subarray(i === 0 ? 0 : ends[i - 1]!, ends[i]!);
}

/**
 * `batch` with each run of two or more consecutive items that `fits` takes
 * (each with the one before, by `joins`) replaced by `pack(run)`, and each
 * other item by `single(item)`.
 */
function packConsecutive<T, R extends T>(
  batch: T[],
  fits: (m: T) => m is R,
  joins: (prev: R, next: R) => boolean,
  pack: (run: R[]) => T,
  single: (m: T) => T,
): T[] {
  const out: T[] = [];
  for (let i = 0; i < batch.length; ) {
    let j = i;
    while (j < batch.length && fits(batch[j]!) && (j === i || joins(batch[j - 1] as R, batch[j] as R))) j++;
    if (j - i < 2) {
      out.push(single(batch[i]!));
      i++;
    } else {
      out.push(pack(batch.slice(i, j) as R[]));
      i = j;
    }
  }
  return out;
}

/**
 * A batch ready to post to a thread: consecutive plain tasks of one function
 * become one `runs` message; everything else goes as it is, its parts compacted.
 */
export function packRuns(batch: ToThread[]): ToThread[] {
  return packConsecutive(
    batch,
    columnable,
    (prev, next) => prev.fn === next.fn,
    (run) => ({ t: "runs", ids: run.map((r) => r.id), keys: run.map((r) => r.key), fn: run[0]!.fn, ...join(run.map((r) => r.args[0]!)) }),
    // Tasks come with their parts as received and are compacted here; other work comes compacted.
    (m) => {
      if (m.t === "run") m.args = compactParts(m.args);
      return m;
    },
  );
}

/** The tasks of a `runs` message, one `run` each; their argument bytes are views of the message's buffer. */
export function unpackRuns(m: RunTasks): RunTask[] {
  return m.ids.map((id, i) => ({ t: "run", id, key: m.keys[i]!, fn: m.fn, args: [partAt(m.bytes, m.ends, i)], deps: NO_DEPS, actor: false }));
}

type Success = Extract<FromThread, { t: "done"; ok: true }>;

function smallSuccess(m: FromThread): m is Success {
  return m.t === "done" && m.ok && m.actor === undefined && smallPart(m.value);
}

/** Replies ready to post: consecutive successes of one small part become one `dones` message. */
export function packDones(batch: FromThread[]): FromThread[] {
  return packConsecutive(
    batch,
    smallSuccess,
    () => true,
    (run) => ({ t: "dones", ids: run.map((r) => r.id), ...join(run.map((r) => r.value[0] as Uint8Array)), ms: Float64Array.from(run, (r) => r.ms ?? NaN) }),
    (m) => m,
  );
}

/** The answers in a `dones` message, each result copied into bytes of its own (it may be kept long). */
export function unpackDones(m: TasksDone): ThreadDone[] {
  // NaN: an answer without a time (not a task's).
  return m.ids.map((id, i) => ({ t: "done", id, ok: true, value: [copyBytes(partAt(m.bytes, m.ends, i))], ms: Number.isNaN(m.ms[i]) ? undefined : m.ms[i] }));
}
