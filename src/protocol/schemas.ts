// The schema of every message and reply (R-SEC-6): where data from another
// process enters, it is checked field by field, with bounds, before anything
// acts on it; a message that fails closes its connection with the reason.
// Each schema is typed by its message's interface (messages.ts), so the two
// cannot drift apart. Which messages a side accepts is part of the schema:
// a worker does not take `update-graph`, a client does not take `compute-task`.

import {
  any,
  arrayOf,
  bool,
  both,
  bytes,
  int,
  literal,
  MAX_NAME,
  name,
  num,
  obj,
  oneOf,
  opt,
  payload,
  recordOf,
  sameLength,
  size,
  str,
  type Check,
} from "./check.js";
import type {
  AcquireReplicas,
  ActorCall,
  ActorCallFailure,
  ActorCallReply,
  ActorCalls,
  ActorCancel,
  ActorMeta,
  ActorStreamOpened,
  ActorStreamPull,
  ActorStreamReply,
  ActorsLost,
  ActorStats,
  AddKeys,
  AwaitStopped,
  CancelKeys,
  ChooseWorkers,
  ClientRejoin,
  CodeRef,
  ComputeTask,
  ComputeTaskById,
  ComputeTasks,
  ErrorInfo,
  FireAndForget,
  CoordGetReply,
  EventOp,
  GetActor,
  LeaseAcquire,
  LeaseCount,
  LeaseReply,
  LeaseRelease,
  QueueGet,
  QueuePut,
  QueueSize,
  VariableDelete,
  VariableGet,
  VariableSet,
  GetActorReply,
  KillActor,
  KillActorReply,
  FreeKeys,
  GetCheckpoint,
  GetData,
  GetDataReply,
  GetSchedulerInfo,
  Heartbeat,
  WorkerObservations,
  KeyState,
  Message,
  MissingData,
  Proxy,
  PutCheckpoint,
  PutData,
  RegisterClient,
  RegisterClientReply,
  RegisterWorker,
  RegisterWorkerReply,
  ReleaseKeys,
  Replies,
  RestartWorker,
  RestartWorkers,
  Retired,
  RetireWorker,
  RetireWorkers,
  RunFunction,
  RunFunctionReply,
  RunOnWorkers,
  SavedCheckpoint,
  SchedulerInfo,
  Story,
  StoryEntry,
  StealRequest,
  StealResponse,
  TaskErred,
  TaskFinished,
  TaskOptions,
  TasksFinished,
  TaskSpec,
  UpdateData,
  UpdateGraph,
  WaitForWorkers,
  WantKeys,
  WhereIsActor,
  WhereIsActorReply,
  WhoHas,
  WorkerInfo,
  WorkerRejoin,
  WorkerStatus,
} from "./messages.js";
import type { Payload } from "./payload.js";

/** What a message counts for when a connection decides to write mid-turn (comm's `weigh`): one per task or key it carries. */
export function messageWeight(msg: Message): number {
  switch (msg.op) {
    case "compute-tasks":
    case "tasks-finished":
    case "release-keys":
    case "want-keys":
      return msg.keys.length;
    case "update-graph":
      return msg.tasks.length + msg.wanted.length;
    default:
      return 1;
  }
}

/** Most requests one request group (actor calls) may stand for. */
export const MAX_GROUP = 1024;
/** Most items a stream's consumer may grant at once (its window). */
export const MAX_STREAM_CREDIT = 1 << 20;
/** Most workers one scatter may ask for, and most workers a client may wait for. */
export const MAX_WORKERS_ASKED = 1 << 20;
/** Most threads of one kind a worker may declare. */
export const MAX_THREADS = 4096;

const keys = arrayOf(name);
const addresses = arrayOf(name);
const quantities = recordOf(size);

const moduleRef = obj<CodeRef & { kind: "module" }>({
  kind: literal("module"),
  module: str(),
  url: str(),
  export: name,
  hash: name,
  name: name,
  entry: opt(bool),
});
const codeRef: Check<CodeRef> = oneOf(moduleRef, obj<CodeRef & { kind: "source" }>({ kind: literal("source"), source: str(), name: name, isClass: bool }));

const errorInfo = obj<ErrorInfo>({
  name: name,
  message: str(),
  stack: str(),
  code: opt(name),
  classRef: opt(moduleRef),
  props: opt(payload),
});

/** What both forms of compute-task carry besides the function. */
const taskToRun = {
  key: name,
  args: payload,
  whoHas: recordOf(addresses),
  nbytes: opt(quantities),
  actor: bool,
  priority: num,
  resources: opt(quantities),
  incarnation: opt(int(0)),
  name: opt(name),
  lifetime: opt(literal("detached")),
  maxConcurrency: opt(int(1)),
  checkpointEvery: opt(int(1)),
};

const taskOptions = obj<TaskOptions>({
  workers: opt(addresses),
  allowOtherWorkers: opt(bool),
  resources: opt(quantities),
  retries: opt(int(0)),
  priority: opt(num),
  actor: opt(bool),
  allowReconstruction: opt(bool),
  restarts: opt(int(0)),
  name: opt(name),
  lifetime: opt(literal("detached")),
  maxConcurrency: opt(int(1)),
  checkpointEvery: opt(int(1)),
});

const taskSpec = obj<TaskSpec>({ key: name, fn: codeRef, args: payload, deps: keys, options: taskOptions, group: name });

const actorMeta = obj<ActorMeta>({
  key: name,
  className: name,
  workerAddress: name,
  methods: arrayOf(name),
  attributes: arrayOf(name),
  incarnation: int(0),
  callAddress: opt(name),
  name: opt(name),
  lifetime: opt(literal("detached")),
  streams: opt(arrayOf(name)),
});
/** More duration buckets than troupe has: room for a few more in later versions. */
const MAX_BUCKETS = 64;
const actorStats = obj<ActorStats>({ calls: size, inFlight: size, meanCallMs: size, buckets: opt(arrayOf(size, MAX_BUCKETS)), totalMs: opt(size), p50Ms: opt(size), p99Ms: opt(size) });
/** A heartbeat's dashboard data: bounded by the worker's ring and output tail. */
const observations = obj<WorkerObservations>({
  now: size,
  cpu: size,
  netSent: size,
  netReceived: size,
  tasks: both(
    obj<WorkerObservations["tasks"]>({ keys: arrayOf(name, 4096), thread: arrayOf(int(0), 4096), startMs: arrayOf(size, 4096), stopMs: arrayOf(size, 4096), erred: arrayOf(int(0, 1), 4096) }),
    sameLength("keys", "thread", "startMs", "stopMs", "erred"),
  ),
  dropped: size,
  running: arrayOf(obj<WorkerObservations["running"][number]>({ thread: int(0), key: name, sinceMs: size }), 4096),
  logs: arrayOf(str(MAX_NAME), 1000),
});

const actorCallFailure = obj<ActorCallFailure>({ ok: literal(false), error: errorInfo, missing: opt(bool) });
const actorCallReply: Check<ActorCallReply> = oneOf(payload, actorCallFailure, obj<ActorStreamOpened>({ stream: int(0) }));
const actorStreamReply: Check<ActorStreamReply> = oneOf(obj<{ items: typeof payload extends Check<infer P> ? P : never; done: boolean }>({ items: payload, done: bool }), actorCallFailure);
const runFunctionReply: Check<RunFunctionReply> = oneOf(
  obj<{ ok: true; value: typeof payload extends Check<infer P> ? P : never }>({ ok: literal(true), value: payload }),
  obj<{ ok: false; error: ErrorInfo }>({ ok: literal(false), error: errorInfo }),
);

// ---------------------------------------------------------------- messages

const getData = obj<GetData>({ op: literal("get-data"), keys, shm: opt(name) });
const putData = obj<PutData>({ op: literal("put-data"), data: recordOf(payload), report: bool });
const actorCall = obj<ActorCall>({ op: literal("actor-call"), key: name, kind: literal("call", "get"), name: name, args: payload, cid: opt(int(0)) });
const runFunction = obj<RunFunction>({ op: literal("run-function"), fn: codeRef, args: payload });

/** Every message, by op. */
const MESSAGES: { [Op in Message["op"]]?: Check<Extract<Message, { op: Op }>> } = {
  // client → scheduler
  "register-client": obj<RegisterClient>({
    op: literal("register-client"),
    clientId: name,
    rejoin: opt(obj<ClientRejoin>({ schedulerId: name, tasks: arrayOf(taskSpec), wanted: keys, actors: recordOf(int(0)) })),
  }),
  "update-graph": obj<UpdateGraph>({ op: literal("update-graph"), tasks: arrayOf(taskSpec), wanted: keys, more: opt(literal(true)) }),
  "release-keys": obj<ReleaseKeys>({ op: literal("release-keys"), keys }),
  "want-keys": obj<WantKeys>({ op: literal("want-keys"), keys }),
  "cancel-keys": obj<CancelKeys>({ op: literal("cancel-keys"), keys }),
  "who-has": obj<WhoHas>({ op: literal("who-has"), keys }),
  "scheduler-info": obj<GetSchedulerInfo>({ op: literal("scheduler-info") }),
  "choose-workers": obj<ChooseWorkers>({ op: literal("choose-workers"), count: int(0, MAX_WORKERS_ASKED), workers: opt(addresses), broadcast: opt(bool) }),
  "update-data": obj<UpdateData>({ op: literal("update-data"), who: recordOf(addresses), nbytes: quantities }),
  "run-on-workers": obj<RunOnWorkers>({ op: literal("run-on-workers"), fn: codeRef, args: payload }),
  proxy: obj<Proxy>({ op: literal("proxy"), to: name, msg: oneOf(getData, putData, oneOf(actorCall, runFunction)) }),
  "where-is-actor": obj<WhereIsActor>({ op: literal("where-is-actor"), key: name }),
  "fire-and-forget": obj<FireAndForget>({ op: literal("fire-and-forget"), keys }),
  "restart-workers": obj<RestartWorkers>({ op: literal("restart-workers") }),
  "wait-for-workers": obj<WaitForWorkers>({ op: literal("wait-for-workers"), count: int(0, MAX_WORKERS_ASKED), timeoutMs: opt(size) }),
  "get-actor": obj<GetActor>({ op: literal("get-actor"), name: name }),
  "kill-actor": obj<KillActor>({ op: literal("kill-actor"), key: opt(name), name: opt(name) }),
  "queue-put": obj<QueuePut>({ op: literal("queue-put"), name: name, value: payload, keys }),
  "queue-get": obj<QueueGet>({ op: literal("queue-get"), name: name, timeoutMs: opt(size) }),
  "queue-size": obj<QueueSize>({ op: literal("queue-size"), name: name }),
  "lease-acquire": obj<LeaseAcquire>({
    op: literal("lease-acquire"),
    kind: literal("lock", "semaphore"),
    name: name,
    holder: name,
    maxLeases: int(1),
    timeoutMs: opt(size),
  }),
  "lease-release": obj<LeaseRelease>({ op: literal("lease-release"), kind: literal("lock", "semaphore"), name: name, holder: name }),
  "lease-count": obj<LeaseCount>({ op: literal("lease-count"), kind: literal("lock", "semaphore"), name: name }),
  event: obj<EventOp>({ op: literal("event"), name: name, action: literal("set", "clear", "wait", "is-set"), timeoutMs: opt(size) }),
  "variable-set": obj<VariableSet>({ op: literal("variable-set"), name: name, value: payload, keys }),
  "variable-get": obj<VariableGet>({ op: literal("variable-get"), name: name, timeoutMs: opt(size) }),
  "variable-delete": obj<VariableDelete>({ op: literal("variable-delete"), name: name }),
  story: obj<Story>({ op: literal("story"), key: name }),
  "retire-workers": obj<RetireWorkers>({ op: literal("retire-workers"), workers: addresses, timeoutMs: size }),
  // scheduler → client
  "key-state": obj<KeyState>({
    op: literal("key-state"),
    key: name,
    status: literal("pending", "finished", "error", "cancelled", "lost"),
    workers: opt(addresses),
    error: opt(errorInfo),
    actor: opt(actorMeta),
  }),
  // worker → scheduler
  "register-worker": obj<RegisterWorker>({
    op: literal("register-worker"),
    address: name,
    name: name,
    nthreads: int(1, MAX_THREADS),
    actorThreads: int(0, MAX_THREADS),
    resources: quantities,
    incarnation: name,
    memoryLimit: opt(size),
    restarts: opt(int(0)),
    rejoin: opt(obj<WorkerRejoin>({ schedulerId: name, held: quantities, actors: arrayOf(actorMeta), running: keys })),
    metricsUrl: opt(name),
  }),
  heartbeat: obj<Heartbeat>({ op: literal("heartbeat"), memoryBytes: size, actors: recordOf(actorStats), spilledBytes: opt(size), busyMs: opt(size), observed: opt(observations) }),
  "worker-status": obj<WorkerStatus>({ op: literal("worker-status"), status: literal("running", "paused", "restarting"), reason: opt(str()) }),
  "actors-lost": obj<ActorsLost>({ op: literal("actors-lost"), keys, error: errorInfo }),
  "task-finished": obj<TaskFinished>({ op: literal("task-finished"), key: name, nbytes: size, actor: opt(actorMeta), startMs: num, stopMs: num }),
  "tasks-finished": both(
    obj<TasksFinished>({ op: literal("tasks-finished"), keys, nbytes: arrayOf(size), durationMs: arrayOf(num) }),
    sameLength("keys", "nbytes", "durationMs"),
  ),
  "task-erred": obj<TaskErred>({ op: literal("task-erred"), key: name, error: errorInfo }),
  "missing-data": obj<MissingData>({ op: literal("missing-data"), key: name, worker: name }),
  "add-keys": obj<AddKeys>({ op: literal("add-keys"), keys, nbytes: quantities }),
  "steal-response": obj<StealResponse>({ op: literal("steal-response"), released: keys, kept: keys }),
  "retire-worker": obj<RetireWorker>({ op: literal("retire-worker"), timeoutMs: size }),
  // scheduler → worker
  "compute-task": obj<ComputeTask>({ op: literal("compute-task"), fn: codeRef, fnId: opt(int(0)), ...taskToRun }),
  "compute-task-by-id": obj<ComputeTaskById>({ op: literal("compute-task-by-id"), fnId: int(0), ...taskToRun }),
  "compute-tasks": both(
    obj<ComputeTasks>({ op: literal("compute-tasks"), fn: int(0), keys, args: arrayOf(payload), priority: arrayOf(num) }),
    sameLength("keys", "args", "priority"),
  ),
  "free-keys": obj<FreeKeys>({ op: literal("free-keys"), keys }),
  "steal-request": obj<StealRequest>({ op: literal("steal-request"), keys }),
  "await-stopped": obj<AwaitStopped>({ op: literal("await-stopped"), keys }),
  restart: obj<RestartWorker>({ op: literal("restart") }),
  "acquire-replicas": obj<AcquireReplicas>({ op: literal("acquire-replicas"), holder: name, keys }),
  retired: obj<Retired>({ op: literal("retired") }),
  "run-function": runFunction,
  // anyone → worker
  "get-data": getData,
  "put-data": putData,
  "actor-call": actorCall,
  "actor-calls": both(
    obj<ActorCalls>({
      op: literal("actor-calls"),
      key: name,
      names: arrayOf(name, MAX_GROUP),
      gets: arrayOf(int(0, MAX_GROUP)),
      args: arrayOf(oneOf(payload, literal(0)), MAX_GROUP),
      cid: opt(int(0)),
    }),
    sameLength("names", "args"),
  ),
  "actor-cancel": obj<ActorCancel>({ op: literal("actor-cancel"), cid: int(0), why: literal("cancelled", "timeout") }),
  "put-checkpoint": obj<PutCheckpoint>({ op: literal("put-checkpoint"), key: name, incarnation: int(0), seq: int(0), value: payload }),
  "get-checkpoint": obj<GetCheckpoint>({ op: literal("get-checkpoint"), key: name }),
  "actor-stream": obj<ActorStreamPull>({ op: literal("actor-stream"), stream: int(0), credit: int(0, MAX_STREAM_CREDIT), close: opt(literal(true)) }),
};

// ---------------------------------------------------------------- replies

const workerInfo = obj<WorkerInfo>({
  name: name,
  nthreads: int(0),
  actorThreads: int(0),
  resources: quantities,
  tasksProcessing: int(0),
  storedKeys: int(0),
  actors: recordOf(obj<ActorStats & { className: string }>({ calls: size, inFlight: size, meanCallMs: size, buckets: opt(arrayOf(size, MAX_BUCKETS)), totalMs: opt(size), p50Ms: opt(size), p99Ms: opt(size), className: name })),
  memoryBytes: size,
  memoryLimit: size,
  spilledBytes: size,
  status: literal("running", "paused", "retiring"),
  pauses: int(0),
  restarts: int(0),
  metricsUrl: opt(name),
});

const coordGetReply = oneOf(obj<{ value: Payload }>({ value: payload }), obj<{ timeout: true }>({ timeout: literal(true) })) as Check<CoordGetReply>;
const leaseReply = oneOf(obj<{ ok: boolean }>({ ok: bool }), obj<{ error: ErrorInfo }>({ error: errorInfo })) as Check<LeaseReply>;
const storyEntry = obj<StoryEntry>({ key: name, at: num, where: name, from: name, to: name, cause: name, worker: opt(name) });

const REPLIES: { [Op in keyof Replies]: Check<Replies[Op]> } = {
  "register-client": obj<RegisterClientReply>({ schedulerId: name, dashboardLink: opt(name) }),
  "update-graph": literal(null),
  "release-keys": literal(null),
  "want-keys": literal(null),
  "update-data": literal(null),
  "fire-and-forget": literal(null),
  "cancel-keys": literal(null),
  "who-has": recordOf(addresses),
  "scheduler-info": obj<SchedulerInfo>({
    address: name,
    workers: recordOf(workerInfo),
    unrunnable: keys,
    groups: recordOf(recordOf(int(0))) as Check<SchedulerInfo["groups"]>,
    tasks: recordOf(int(0)) as Check<SchedulerInfo["tasks"]>,
  }),
  story: arrayOf(storyEntry),
  "choose-workers": addresses,
  "where-is-actor": oneOf(
    actorMeta,
    obj<{ error: ErrorInfo; released?: true }>({ error: errorInfo, released: opt(literal(true)) }),
    obj<{ pending: true }>({ pending: literal(true) }),
  ) as Check<WhereIsActorReply>,
  proxy: any,
  "run-on-workers": recordOf(runFunctionReply),
  "restart-workers": int(0),
  "wait-for-workers": int(0),
  "get-actor": oneOf(obj<{ key: string }>({ key: name }), obj<{ error: ErrorInfo }>({ error: errorInfo })) as Check<GetActorReply>,
  "kill-actor": oneOf(obj<{ killed: string }>({ killed: name }), obj<{ error: ErrorInfo }>({ error: errorInfo })) as Check<KillActorReply>,
  "queue-put": literal(null),
  "queue-get": coordGetReply,
  "queue-size": int(0),
  "lease-acquire": leaseReply,
  "lease-release": leaseReply,
  "lease-count": int(0),
  event: bool,
  "variable-set": literal(null),
  "variable-get": coordGetReply,
  "variable-delete": literal(null),
  "register-worker": obj<RegisterWorkerReply>({ heartbeatTimeoutMs: size, schedulerId: name, removed: opt(literal(true)) }),
  heartbeat: literal(null),
  "await-stopped": literal(null),
  "get-data": obj<GetDataReply>({
    values: arrayOf(oneOf(payload, bytes, literal(null))),
    actors: opt(arrayOf(int(0))),
    shared: opt(recordOf(recordOf(str(MAX_NAME)))) as Check<GetDataReply["shared"]>,
  }),
  "put-data": literal(null),
  "actor-call": actorCallReply,
  "actor-calls": actorCallReply,
  "actor-cancel": literal(null),
  "actor-stream": actorStreamReply,
  "put-checkpoint": literal(null),
  "get-checkpoint": oneOf(literal(null), obj<SavedCheckpoint>({ incarnation: int(0), seq: int(0), value: payload })),
  "run-function": runFunctionReply,
  "retire-workers": addresses,
};

// ---------------------------------------------------------------- who accepts what

/** The ends of troupe's connections, each accepting its own set of messages. */
export type Side =
  /** The scheduler, from a client. */
  | "scheduler-from-client"
  /** The scheduler, from a worker. */
  | "scheduler-from-worker"
  /** A worker, from its scheduler. */
  | "worker-from-scheduler"
  /** A worker's listener: peers, clients, the scheduler's proxy. */
  | "worker"
  /** An actor thread's own endpoint: direct calls. */
  | "actor-endpoint"
  /** A client, from its scheduler. */
  | "client"
  /** A connection that only makes requests (to a worker, to an actor endpoint): it takes replies, no messages. */
  | "caller";

const ACCEPTS: Record<Side, ReadonlyArray<Message["op"]>> = {
  "scheduler-from-client": [
    "register-client",
    "update-graph",
    "release-keys",
    "want-keys",
    "cancel-keys",
    "who-has",
    "scheduler-info",
    "choose-workers",
    "update-data",
    "run-on-workers",
    "proxy",
    "where-is-actor",
    "fire-and-forget",
    "restart-workers",
    "wait-for-workers",
    "get-actor",
    "kill-actor",
    "queue-put",
    "queue-get",
    "queue-size",
    "lease-acquire",
    "lease-release",
    "lease-count",
    "event",
    "variable-set",
    "variable-get",
    "variable-delete",
    "story",
    "retire-workers",
  ],
  "scheduler-from-worker": [
    "register-worker",
    "heartbeat",
    "worker-status",
    "actors-lost",
    "task-finished",
    "tasks-finished",
    "task-erred",
    "missing-data",
    "add-keys",
    "steal-response",
    "retire-worker",
  ],
  "worker-from-scheduler": ["compute-task", "compute-task-by-id", "compute-tasks", "free-keys", "steal-request", "await-stopped", "restart", "run-function", "get-data", "put-data", "actor-call", "story", "acquire-replicas", "retired"],
  worker: ["get-data", "put-data", "actor-call", "run-function", "put-checkpoint", "get-checkpoint"],
  "actor-endpoint": ["actor-call", "actor-calls", "actor-cancel", "actor-stream"],
  client: ["key-state"],
  caller: [],
};

/** Ops that may stand for a request group. */
const GROUPS: ReadonlySet<string> = new Set(["actor-calls"]);

/** What a connection's owner hands the connection to check what arrives (comm's WireSchema). */
export interface Acceptor {
  /** Why `msg` (a message, a request, or a request group's message when `group`) is not acceptable here; undefined when it is. */
  message(msg: { op: string }, group: boolean): string | undefined;
  /** Why `value` is not a valid reply to a request of `op`; undefined when it is. */
  reply(op: string, value: unknown): string | undefined;
}

const acceptors = new Map<Side, Acceptor>();

/** The checks of one side of a connection. */
export function accepting(side: Side): Acceptor {
  let a = acceptors.get(side);
  if (a) return a;
  const ops = new Set<string>(ACCEPTS[side]);
  a = {
    message(msg, group) {
      if (!ops.has(msg.op)) return `"${msg.op}" is not a message this side takes`;
      if (group && !GROUPS.has(msg.op)) return `"${msg.op}" cannot stand for a request group`;
      const check = MESSAGES[msg.op as Message["op"]] as Check<unknown> | undefined;
      const bad = check?.(msg);
      return bad === undefined ? undefined : `a malformed "${msg.op}": ${bad}`;
    },
    reply(op, value) {
      const check = REPLIES[op as keyof Replies] as Check<unknown> | undefined;
      if (!check) return undefined;
      const bad = check(value);
      return bad === undefined ? undefined : `a malformed reply to "${op}": ${bad}`;
    },
  };
  acceptors.set(side, a);
  return a;
}

/** Whether any side takes messages of this op (for decoders that reject unknown ops early). */
export function isKnownOp(op: unknown): boolean {
  return typeof op === "string" && (op === "hello" || op === "welcome" || op === "refused" || op in MESSAGES);
}

/** The schema of one message op, for tests. */
export function messageSchema(op: Message["op"]): Check<unknown> | undefined {
  return MESSAGES[op] as Check<unknown> | undefined;
}

