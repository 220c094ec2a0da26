// Messages between a worker and the scheduler: registration and heartbeats,
// tasks sent and their results, work stealing, retirement. Part of the
// catalogue in messages.ts, which re-exports them.

import type { Payload } from "./payload.js";
import type { ActorMeta, Address, CodeRef, ErrorInfo, Key, Story } from "./messages.js";

// ---------------------------------------------------------------- worker → scheduler

export interface RegisterWorker {
  op: "register-worker";
  address: Address;
  name: string;
  nthreads: number;
  actorThreads: number;
  resources: Record<string, number>;
  /** Random id of this process incarnation (a restart at the same address is a new worker). */
  incarnation: string;
  /** Bytes the worker may use (R-FAIL-7). */
  memoryLimit?: number;
  /** How many times the worker's supervisor restarted it before this start. */
  restarts?: number;
  /** A worker of a scheduler that went away, joining the one started in its place (R-FAIL-9). */
  rejoin?: WorkerRejoin;
  /** Where the worker serves its Prometheus metrics. */
  metricsUrl?: string;
}
/** What a worker still holds, for a scheduler rebuilding its state. */
export interface WorkerRejoin {
  /** The scheduler it was connected to. */
  schedulerId: string;
  /** Keys it holds, with their sizes. */
  held: Record<Key, number>;
  /** The actors it hosts, alive with their state. */
  actors: ActorMeta[];
  /** Tasks still running on its threads, actors being created among them: their results will follow. */
  running: Key[];
}
/** The reply to RegisterWorker. */
export interface RegisterWorkerReply {
  /** A worker silent this long is removed: a worker's tasks start only while it surely is not (its lease). */
  heartbeatTimeoutMs: number;
  /** This scheduler process, for a later rejoin. */
  schedulerId: string;
  /**
   * A rejoin refused: this very scheduler removed the worker (it stopped
   * answering), and gave its work to others. It must start afresh, as a new worker.
   */
  removed?: true;
}
/** Request → null: the reply renews the worker's lease (see RegisterWorkerReply). */
export interface Heartbeat {
  op: "heartbeat";
  memoryBytes: number;
  actors: Record<Key, ActorStats>;
  /** Bytes of values spilled to disk. */
  spilledBytes?: number;
  /** How long its least busy task thread has been running its current task, ms (0: one is free). */
  busyMs?: number;
  /** What the dashboard shows of it since the last heartbeat. */
  observed?: WorkerObservations;
}
/** What a worker saw since its last heartbeat, for the dashboard (bounded). Times are the worker's Date.now(). */
export interface WorkerObservations {
  /** The worker's clock as it sent this: the scheduler shifts the times below to its own. */
  now: number;
  /** CPU time the process used since the last heartbeat, in cores (1: one core busy). */
  cpu: number;
  /** Bytes its connections sent and received since it started. */
  netSent: number;
  netReceived: number;
  /** Tasks that ended on its task threads, oldest first (parallel arrays; erred: 1 when it failed). */
  tasks: { keys: Key[]; thread: number[]; startMs: number[]; stopMs: number[]; erred: number[] };
  /** Task ends left out because more ended than a heartbeat carries. */
  dropped: number;
  /** The task each busy task thread runs now, and since when. */
  running: Array<{ thread: number; key: Key; sinceMs: number }>;
  /** Lines its process wrote to stdout and stderr. */
  logs: string[];
}
/**
 * How the worker takes work: "paused" above its memory's pause threshold (no
 * new tasks go to it), "running" again below it, "restarting" just before it
 * exits to be restarted by its supervisor (its memory went past the limit).
 */
export interface WorkerStatus {
  op: "worker-status";
  status: "running" | "paused" | "restarting";
  reason?: string;
}
/** Actors that lived on a thread of this worker that died: gone, with their state. */
export interface ActorsLost {
  op: "actors-lost";
  keys: Key[];
  error: ErrorInfo;
}
export interface ActorStats {
  calls: number;
  inFlight: number;
  /** Mean wall time of finished calls, milliseconds. */
  meanCallMs: number;
  /** Finished calls per duration bucket (metrics/histogram.ts), for the call-time histograms. */
  buckets?: number[];
  /** Wall time of finished calls in all, milliseconds. */
  totalMs?: number;
  /** Median and 99th percentile wall time of its recent calls, milliseconds. */
  p50Ms?: number;
  p99Ms?: number;
}
export interface TaskFinished {
  op: "task-finished";
  key: Key;
  nbytes: number;
  /** For actors: the created actor (its incarnation is the one this worker was asked to create). */
  actor?: ActorMeta;
  startMs: number;
  stopMs: number;
}
/**
 * Plain tasks that finished, reported together (an actor's creation goes as
 * task-finished, with its shape). The arrays run in parallel.
 */
export interface TasksFinished {
  op: "tasks-finished";
  keys: Key[];
  nbytes: number[];
  durationMs: number[];
}
export interface TaskErred {
  op: "task-erred";
  key: Key;
  error: ErrorInfo;
}
/** A dependency could not be fetched from `worker`: the scheduler should fix its records. */
export interface MissingData {
  op: "missing-data";
  key: Key;
  worker: Address;
}
/** The worker now holds these keys (after put-data). */
export interface AddKeys {
  op: "add-keys";
  keys: Key[];
  nbytes: Record<Key, number>;
}

/** The answer to a StealRequest: tasks the worker gave up (they will never run there), and those it keeps (started, or unknown). */
export interface StealResponse {
  op: "steal-response";
  released: Key[];
  kept: Key[];
}

export type WorkerToScheduler =
  | RegisterWorker
  | Heartbeat
  | TaskFinished
  | TasksFinished
  | TaskErred
  | MissingData
  | AddKeys
  | WorkerStatus
  | ActorsLost
  | StealResponse
  | RetireWorker;

// ---------------------------------------------------------------- scheduler → worker

export interface ComputeTask {
  op: "compute-task";
  key: Key;
  fn: CodeRef;
  /** Set by the scheduler's server: later compute-tasks on this connection name the same code by this number. */
  fnId?: number;
  args: Payload;
  /** For each dependency, the workers that hold it. */
  whoHas: Record<Key, Address[]>;
  /** Sizes of the dependencies the scheduler knows, bytes: the worker bounds the bytes it fetches at once by them. */
  nbytes?: Record<Key, number>;
  actor: boolean;
  priority: number;
  resources?: Record<string, number>;
  /** For an actor re-created after its worker died: how many times it has been (see ActorMeta). */
  incarnation?: number;
  /** For an actor: its name and lifetime, kept in its ActorMeta (reported to a restarted scheduler). */
  name?: string;
  lifetime?: "detached";
  /** For an actor: most calls of its async methods running at once (see TaskOptions). */
  maxConcurrency?: number;
  /** For an actor: see TaskOptions. */
  checkpointEvery?: number;
}
/**
 * Plain tasks without dependencies or resources, all running code the worker
 * was sent earlier on this connection under the number `fn`: a map reaches a
 * worker as a few of these rather than one compute-task per element. The
 * arrays run in parallel.
 */
export interface ComputeTasks {
  op: "compute-tasks";
  fn: number;
  keys: Key[];
  args: Payload[];
  priority: number[];
}
/** Forget these keys: drop their data, delete actors (calling their dispose hooks), cancel queued work. */
export interface FreeKeys {
  op: "free-keys";
  keys: Key[];
}
/**
 * Give up these tasks if they have not started here: an idle worker takes
 * them (work stealing, R-FAIL-8). Answered with a StealResponse.
 */
export interface StealRequest {
  op: "steal-request";
  keys: Key[];
}
/** Request → null once none of these tasks runs here any more (a cancel waits for its tasks to stop). */
export interface AwaitStopped {
  op: "await-stopped";
  keys: Key[];
}
/**
 * Stop now and exit non-zero (client.restart()): the worker's supervisor
 * starts a fresh one, and a worker without one just leaves. The scheduler has
 * already forgotten this worker; it closes the connection itself.
 */
export interface RestartWorker {
  op: "restart";
}
/** Request → Payload: run a function once on this worker (client.run). */
export interface RunFunction {
  op: "run-function";
  fn: CodeRef;
  args: Payload;
}

/** A compute-task whose code went earlier on the same connection, named by the `fnId` that message gave it. */
export interface ComputeTaskById extends Omit<ComputeTask, "op" | "fn" | "fnId"> {
  op: "compute-task-by-id";
  fnId: number;
}
/** The whoHas of a task without dependencies: one shared, frozen record. */
export const NO_HOLDERS: Readonly<Record<Key, Address[]>> = Object.freeze({});
export type SchedulerToWorker = ComputeTask | ComputeTaskById | ComputeTasks | FreeKeys | RunFunction | AwaitStopped | StealRequest | RestartWorker | Story | AcquireReplicas | Retired;

// ---------------------------------------------------------------- retirement (R-OPS-2)

/**
 * Request → Address[]: retire these workers (client.retireWorkers): no new
 * work goes to them, their data moves to other workers, their actors with
 * restarts left are re-created elsewhere, and the others are waited for
 * until released, for up to `timeoutMs`; then each is told `retired` and
 * leaves. The reply lists the workers retired, once they are.
 */
export interface RetireWorkers {
  op: "retire-workers";
  workers: Address[];
  timeoutMs: number;
}
/** A worker asks to be retired (it received SIGTERM): as RetireWorkers for itself. */
export interface RetireWorker {
  op: "retire-worker";
  timeoutMs: number;
}
/** Fetch these keys from `holder` (a retiring worker) and keep them; report them with add-keys. */
export interface AcquireReplicas {
  op: "acquire-replicas";
  holder: Address;
  keys: Key[];
}
/** Retirement is complete: the scheduler has forgotten this worker, which now closes and exits 0. */
export interface Retired {
  op: "retired";
}
