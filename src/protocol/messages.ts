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
import type { CoordGetReply, CoordinationRequest, LeaseReply } from "./coordination-messages.js";
import type { ActorStats, RegisterWorkerReply, RetireWorkers, SchedulerToWorker, WorkerToScheduler } from "./worker-messages.js";
import type { ActorCallReply, ActorCalls, ActorCancel, ActorStreamPull, ActorStreamReply, CheckpointRequest, GetDataReply, RunFunctionReply, SavedCheckpoint, WhereIsActorReply, WorkerRequest } from "./direct-messages.js";

export type * from "./coordination-messages.js";
export type * from "./direct-messages.js";
export type * from "./worker-messages.js";
export { NO_HOLDERS } from "./worker-messages.js";

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
  /** Actors: a name unique among live actors, by which any client, task or actor finds it (getActor). */
  name?: string;
  /** Actors: "detached" keeps it alive with no client holding it, until killActor. */
  lifetime?: "detached";
  /** Actors: most calls of async methods running at once (absent: no bound). */
  maxConcurrency?: number;
  /** Actors whose class checkpoints: a checkpoint after every this many calls that return (absent: every one). */
  checkpointEvery?: number;
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
/**
 * Submit a graph. `wanted` are keys the client now holds references to. A
 * graph too large for one message travels in parts: each but the last says
 * `more`, and the scheduler takes them all as one graph with the last.
 */
export interface UpdateGraph {
  op: "update-graph";
  tasks: TaskSpec[];
  wanted: Key[];
  more?: true;
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
/** Request → GetActorReply: the live actor of this name. */
export interface GetActor {
  op: "get-actor";
  name: string;
}
export type GetActorReply = { key: Key } | { error: ErrorInfo };
/** Request → KillActorReply: delete this actor now, whoever holds it (killActor). */
export interface KillActor {
  op: "kill-actor";
  /** The actor's key, or its name: one of the two. */
  key?: Key;
  name?: string;
}
export type KillActorReply = { killed: Key } | { error: ErrorInfo };
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

/**
 * Request → StoryEntry[]: one key's transitions, as the scheduler and the
 * workers recorded them, in order. Sent by a client to the scheduler, which
 * asks its workers for theirs.
 */
export interface Story {
  op: "story";
  key: Key;
}
/** One recorded transition of a key. */
export interface StoryEntry {
  key: Key;
  /** When, ms since the Unix epoch (fractional). */
  at: number;
  /** "scheduler", or the address of the worker that recorded it. */
  where: string;
  from: string;
  to: string;
  /** The event that caused it: its kind and a number unique in the recording process, e.g. "task-erred#42". */
  cause: string;
  /** The worker concerned (running it, reporting it, or lost), when there is one. */
  worker?: Address;
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
  | WaitForWorkers
  | GetActor
  | KillActor
  | CoordinationRequest
  | Story
  | RetireWorkers;

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
  /** Its name, when created with one (TaskOptions.name): a restarted scheduler learns names from here. */
  name?: string;
  /** "detached" when created so: a restarted scheduler keeps it with no client holding it. */
  lifetime?: "detached";
  /** Its methods that are async generators: a call returns a stream of what they yield (R-ACT-18). */
  streams?: string[];
}

export type SchedulerToClient = KeyState;


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
  /** "paused": above its memory's pause threshold, it takes no new tasks; "retiring": it is leaving (R-OPS-2). */
  status: "running" | "paused" | "retiring";
  /** How many times it paused for memory. */
  pauses: number;
  /** How many times its supervisor restarted it (a restarted worker is a new worker with this count). */
  restarts: number;
  /** Where the worker serves its Prometheus metrics. */
  metricsUrl?: string;
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
  story: StoryEntry[];
  "choose-workers": Address[];
  "where-is-actor": WhereIsActorReply;
  /** Whatever the worker answered to the proxied request. */
  proxy: unknown;
  "run-on-workers": Record<Address, RunFunctionReply>;
  "restart-workers": number;
  "wait-for-workers": number;
  "get-actor": GetActorReply;
  "kill-actor": KillActorReply;
  "queue-put": null;
  "queue-get": CoordGetReply;
  "queue-size": number;
  "lease-acquire": LeaseReply;
  "lease-release": LeaseReply;
  "lease-count": number;
  event: boolean;
  "variable-set": null;
  "variable-get": CoordGetReply;
  "variable-delete": null;
  "register-worker": RegisterWorkerReply;
  heartbeat: null;
  "await-stopped": null;
  "get-data": GetDataReply;
  "put-data": null;
  "actor-call": ActorCallReply;
  /** Each call of the group is answered on its own. */
  "actor-calls": ActorCallReply;
  "actor-cancel": null;
  "actor-stream": ActorStreamReply;
  "put-checkpoint": null;
  "get-checkpoint": SavedCheckpoint | null;
  "run-function": RunFunctionReply;
  "retire-workers": Address[];
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
  | ActorCalls
  | ActorCancel
  | ActorStreamPull
  | CheckpointRequest;

export const PROTOCOL_VERSION = 4;
