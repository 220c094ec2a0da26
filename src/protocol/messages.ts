// The catalogue of messages between client, scheduler and worker.
// Types only: read this file to know the system. A new op is added here first.
//
// Every message is a plain object with an `op`. Messages travel in batches
// (one batch per event-loop turn per connection). A message sent with
// `Connection.request()` gets a `reply` (see comm/) matched by `rid`.
//
// User data (task arguments, results, errors' extra fields) travels as a
// `Payload`: opaque bytes produced by serialize/. Only workers and clients
// ever decode a Payload; the scheduler passes task arguments through untouched.

import type { Payload } from "./payload.js";

export type Key = string;
/** "tcp://host:port" or "tls://host:port". */
export type Address = string;

// ---------------------------------------------------------------- code & errors

/** How a worker finds a function or class. */
export type CodeRef =
  | {
      kind: "module";
      /** Path relative to the code root (portable), or an absolute file URL when outside it. */
      module: string;
      /** Absolute file URL as seen by the sender; used when module is not under a code root. */
      url: string;
      /** Export name ("default" for default exports). */
      export: string;
      /** sha256 of the module file's bytes on the sender, hex; "" when unknown. */
      hash: string;
      /** The function or class name, for messages. */
      name: string;
      /**
       * Defined in the script the sender's process runs (or a client ran): a
       * worker imports it so that the script's own work stops at its connect.
       */
      entry?: boolean;
    }
  | { kind: "source"; source: string; name: string; isClass: boolean };

/** An error as it crosses the wire (R-TASK-7). */
export interface ErrorInfo {
  name: string;
  message: string;
  /** The remote stack, as printed by the remote V8. */
  stack: string;
  /** `code` property of the original, if any. */
  code?: string;
  /** Where the error's class is exported, when it is (for `instanceof` on the client). */
  classRef?: CodeRef & { kind: "module" };
  /** Own enumerable properties of the original, serialized (optional). */
  props?: Payload;
}

// ---------------------------------------------------------------- handshake

/** First message on every connection; nothing else is processed before it is accepted. */
export interface Hello {
  op: "hello";
  token: string;
  role: "client" | "worker" | "peer";
  /** Protocol version: mismatches are refused with a clear message. */
  version: number;
}
export interface Welcome {
  op: "welcome";
}
export interface Refused {
  op: "refused";
  reason: string;
}

// ---------------------------------------------------------------- tasks

export interface TaskOptions {
  workers?: Address[];
  allowOtherWorkers?: boolean;
  resources?: Record<string, number>;
  retries?: number;
  priority?: number;
  actor?: boolean;
  allowReconstruction?: boolean;
  restarts?: number;
}

/** One node of a graph as the client submits it. */
export interface TaskSpec {
  key: Key;
  /** The function or class (for actors: the class, instantiated with `new`). */
  fn: CodeRef;
  /** Arguments, serialized; Futures inside appear as references to `deps`. */
  args: Payload;
  /** Keys this task needs in memory before it runs (Futures, Delayed nodes, Actor handles in args). */
  deps: Key[];
  options: TaskOptions;
  /** A short group name for progress and the dashboard (the function name). */
  group: string;
}

// ---------------------------------------------------------------- client → scheduler

export interface RegisterClient {
  op: "register-client";
  clientId: string;
  /** A client of a scheduler that went away, joining the one started in its place (R-FAIL-9). */
  rejoin?: ClientRejoin;
}
/** What a client still holds and wants, for a scheduler rebuilding its state. */
export interface ClientRejoin {
  /** The scheduler it was connected to (a different one means that one restarted). */
  schedulerId: string;
  /** Tasks it submitted that had not finished, in submission order, and the specs of the actors it holds. */
  tasks: TaskSpec[];
  /** Every key it holds a reference to. */
  wanted: Key[];
  /** The incarnation of each actor it holds, as last told (a restart the scheduler decides after counts against the actor's restarts). */
  actors: Record<Key, number>;
}
/** The reply to RegisterClient. */
export interface RegisterClientReply {
  /** This scheduler process, for a later rejoin. */
  schedulerId: string;
  /** Where its dashboard is opened (with the login token when it needs one), when it serves one. */
  dashboardLink?: string;
}
/** Submit a graph. `wanted` are keys the client now holds references to. */
export interface UpdateGraph {
  op: "update-graph";
  tasks: TaskSpec[];
  wanted: Key[];
}
/** The client dropped its last reference to these keys. */
export interface ReleaseKeys {
  op: "release-keys";
  keys: Key[];
}
/** The client holds (one more) reference to keys it learned of elsewhere (e.g. a Future returned by a task). */
export interface WantKeys {
  op: "want-keys";
  keys: Key[];
}
export interface CancelKeys {
  op: "cancel-keys";
  keys: Key[];
}
/** Request → Record<Key, Address[]>. */
export interface WhoHas {
  op: "who-has";
  keys: Key[];
}
/** Request → SchedulerInfo. */
export interface GetSchedulerInfo {
  op: "scheduler-info";
}
/** Request → Address[]: workers to scatter data on. */
export interface ChooseWorkers {
  op: "choose-workers";
  count: number;
  workers?: Address[];
  broadcast?: boolean;
}
/** Data the client put on workers (scatter); the scheduler records it as in memory. */
export interface UpdateData {
  op: "update-data";
  who: Record<Key, Address[]>;
  nbytes: Record<Key, number>;
}
/** Request → Record<Address, unknown-as-Payload>: run a function on every worker. */
export interface RunOnWorkers {
  op: "run-on-workers";
  fn: CodeRef;
  args: Payload;
}
/** Request → the reply of `msg` sent to `to` (directToWorkers: false). */
export interface Proxy {
  op: "proxy";
  to: Address;
  msg: WorkerRequest;
}
/** Request → the actor's current location, or an error if it is lost. */
export interface WhereIsActor {
  op: "where-is-actor";
  key: Key;
}
/**
 * Run these keys to completion even once no client holds them
 * (fireAndForget): the scheduler holds them itself until they finish, fail
 * or are cancelled.
 */
export interface FireAndForget {
  op: "fire-and-forget";
  keys: Key[];
}
/**
 * Request → number: restart every worker (client.restart()). Every task is
 * cancelled and every worker told to restart and forgotten at once; the reply
 * is how many workers there were. Workers with a supervisor come back as new
 * workers; the others leave.
 */
export interface RestartWorkers {
  op: "restart-workers";
}
/** Request → number of workers connected, once there are at least `count`, or once `timeoutMs` has passed. */
export interface WaitForWorkers {
  op: "wait-for-workers";
  count: number;
  /** Absent: no bound. */
  timeoutMs?: number;
}

export type ClientToScheduler =
  | RegisterClient
  | UpdateGraph
  | ReleaseKeys
  | WantKeys
  | CancelKeys
  | WhoHas
  | GetSchedulerInfo
  | ChooseWorkers
  | UpdateData
  | RunOnWorkers
  | Proxy
  | WhereIsActor
  | FireAndForget
  | RestartWorkers
  | WaitForWorkers;

// ---------------------------------------------------------------- scheduler → client

export type KeyStatus = "pending" | "finished" | "error" | "cancelled" | "lost";

/** A key the client wants reached a final state (or went back to pending). */
export interface KeyState {
  op: "key-state";
  key: Key;
  status: KeyStatus;
  /** Workers holding it, when finished. */
  workers?: Address[];
  /** Set when status is "error", "lost" or "cancelled". */
  error?: ErrorInfo;
  /** For actors: where the actor lives and what it looks like. */
  actor?: ActorMeta;
}

export interface ActorMeta {
  key: Key;
  className: string;
  workerAddress: Address;
  methods: string[];
  attributes: string[];
  /** Incremented each time the actor is re-created after its worker died. */
  incarnation: number;
  /**
   * Where calls go directly: the actor thread's own endpoint, so a call never
   * waits on the worker's main thread. Absent: call `workerAddress`.
   */
  callAddress?: Address;
}

export type SchedulerToClient = KeyState;

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
  | StealResponse;

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
  actor: boolean;
  priority: number;
  resources?: Record<string, number>;
  /** For an actor re-created after its worker died: how many times it has been (see ActorMeta). */
  incarnation?: number;
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
export type SchedulerToWorker = ComputeTask | ComputeTaskById | ComputeTasks | FreeKeys | RunFunction | AwaitStopped | StealRequest | RestartWorker;

// ---------------------------------------------------------------- anyone → worker (direct)

/** Request → GetDataReply. */
export interface GetData {
  op: "get-data";
  keys: Key[];
  /** The requester's shared-memory domain: on the same host, large parts come as shared segments. */
  shm?: string;
}
/** The values of the requested keys, by position in the request: no key travels back. */
export interface GetDataReply {
  /**
   * One per requested key; null for a key this worker does not hold. A value
   * of one part travels as that part's bytes alone (most values are small):
   * no Payload wrapper to encode and decode per value.
   */
  values: Array<Payload | Uint8Array | null>;
  /** Positions of values that are actors living here: their value is a handle, never a copy to keep. */
  actors?: number[];
  /** Parts sent as shared segments, by position (part index → path); the value has empty placeholders there. */
  shared?: Record<number, Record<number, string>>;
}
/** Request → ok: store data on this worker (scatter). */
export interface PutData {
  op: "put-data";
  data: Record<Key, Payload>;
  /** Report the new keys to the scheduler (false when the client reports them itself). */
  report: boolean;
}
/**
 * Request → Payload (the method's result or the attribute's value). Calls on
 * one connection to one actor start in the order they were sent.
 */
export interface ActorCall {
  op: "actor-call";
  key: Key;
  /** "call": invoke a method; "get": read an attribute (runs getters on the actor). */
  kind: "call" | "get";
  name: string;
  args: Payload;
}

/** Why an actor call has no value. `missing`: this worker does not hold the actor (it moved or was released). */
export interface ActorCallFailure {
  ok: false;
  error: ErrorInfo;
  missing?: boolean;
}

/**
 * Several calls to one actor from one caller, in call order: a request group
 * (one request per call, each answered on its own with an ActorCallReply as
 * soon as it finishes, so a call that waits holds up no other's answer).
 * Served by an actor thread's own endpoint.
 */
export interface ActorCalls {
  op: "actor-calls";
  key: Key;
  /** Each call's method (or attribute) name. */
  names: string[];
  /** Indexes of the calls that read an attribute, ascending; the others invoke methods. */
  gets: number[];
  /** Each call's arguments; 0 for none. */
  args: Array<Payload | 0>;
}

/** The reply to ActorCall: the value itself (no wrapper: calls are the hottest path), or why there is none. */
export type ActorCallReply = Payload | ActorCallFailure;

/** The reply to WhereIsActor. `released`: no client holds it any more (it is not lost: calls already running on it finish). */
export type WhereIsActorReply = ActorMeta | { error: ErrorInfo; released?: true } | { pending: true };

/** The reply to RunFunction. */
export type RunFunctionReply = { ok: true; value: Payload } | { ok: false; error: ErrorInfo };

export type WorkerRequest = GetData | PutData | ActorCall | RunFunction;

// ---------------------------------------------------------------- info

export interface WorkerInfo {
  name: string;
  nthreads: number;
  actorThreads: number;
  resources: Record<string, number>;
  tasksProcessing: number;
  storedKeys: number;
  actors: Record<Key, ActorStats & { className: string }>;
  memoryBytes: number;
  /** Bytes the worker may use; above 60 % of it values spill, above 80 % it pauses, above 95 % it is restarted. */
  memoryLimit: number;
  /** Bytes of values it holds spilled to disk. */
  spilledBytes: number;
  /** "paused": above its memory's pause threshold, it takes no new tasks. */
  status: "running" | "paused";
  /** How many times it paused for memory. */
  pauses: number;
  /** How many times its supervisor restarted it (a restarted worker is a new worker with this count). */
  restarts: number;
}
export interface SchedulerInfo {
  address: Address;
  workers: Record<Address, WorkerInfo>;
  /** Keys waiting for a worker able to run them (R-FAIL-2). */
  unrunnable: Key[];
  /** Tasks the scheduler knows, by group (the function's name; "data" for scattered data) and state. */
  groups: Record<string, Partial<Record<string, number>>>;
  tasks: Record<"waiting" | "processing" | "memory" | "erred" | "lost" | "no-worker" | "queued", number>;
}

// ---------------------------------------------------------------- requests and their replies

/** What each request is answered with: `request()` is typed by it, and replies are checked against it on arrival. */
export interface Replies {
  "register-client": RegisterClientReply;
  "update-graph": null;
  "release-keys": null;
  "want-keys": null;
  "update-data": null;
  "fire-and-forget": null;
  "cancel-keys": null;
  "who-has": Record<Key, Address[]>;
  "scheduler-info": SchedulerInfo;
  "choose-workers": Address[];
  "where-is-actor": WhereIsActorReply;
  /** Whatever the worker answered to the proxied request. */
  proxy: unknown;
  "run-on-workers": Record<Address, RunFunctionReply>;
  "restart-workers": number;
  "wait-for-workers": number;
  "register-worker": RegisterWorkerReply;
  heartbeat: null;
  "await-stopped": null;
  "get-data": GetDataReply;
  "put-data": null;
  "actor-call": ActorCallReply;
  /** Each call of the group is answered on its own. */
  "actor-calls": ActorCallReply;
  "run-function": RunFunctionReply;
}

export type RequestOp = keyof Replies;
/** What a request of this message's op is answered with. */
export type ReplyTo<M extends { op: string }> = M["op"] extends RequestOp ? Replies[M["op"]] : never;

export type Message =
  | Hello
  | Welcome
  | Refused
  | ClientToScheduler
  | SchedulerToClient
  | WorkerToScheduler
  | SchedulerToWorker
  | WorkerRequest
  | ActorCalls;

export const PROTOCOL_VERSION = 4;
