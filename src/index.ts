// The public face of troupe: re-exports only.

export * from "./errors.js";
export { Client } from "./client/client.js";
export type { Args, Gathered } from "./client/shapes.js";
export type { ClientOptions, SubmitOptions, MapOptions, ScatterOptions, ComputeOptions, TimeoutOptions } from "./client/options.js";
export { Future } from "./client/future.js";
export { fireAndForget } from "./client/fire-and-forget.js";
export { ActorFuture } from "./client/actor-future.js";
export { actorInfo, type Actor, type ActorInfo } from "./client/actor-handle.js";
export type { ActorMethod, ActorStreamMethod } from "./client/actor-handle.js";
export { ActorStream } from "./client/actor-stream.js";
export { checkpoint, restore } from "./client/checkpoint-symbols.js";
export type { CallOptions } from "./client/options.js";
export { delayed, Delayed } from "./client/delayed.js";
export { wait, asCompleted, type WaitOptions } from "./client/wait.js";
export { progress, type ProgressOptions } from "./client/progress.js";
export { currentSignal, getClient, getWorker, type WorkerInfo } from "./client/thread-context.js";
export { LocalCluster, type WorkerRestarts } from "./cluster/local-cluster.js";
export type { LocalClusterOptions, AddWorkerOptions } from "./cluster/options.js";
export { Scheduler } from "./scheduler/server.js";
export type { SchedulerOptions } from "./scheduler/options.js";
export { Worker, type WorkerOptions, type WorkerExit } from "./worker/index.js";
export type { SchedulerInfo, WorkerInfo as WorkerStatus } from "./protocol/messages.js";
export { ActorPool, type PoolFn } from "./client/actor-pool.js";
export { Queue, Lock, Semaphore, Event, Variable, type PrimitiveOptions, type SemaphoreOptions } from "./client/coordination.js";
export type { StoryEntry } from "./protocol/messages.js";
export type { Adaptive } from "./cluster/adaptive.js";
export type { AdaptOptions } from "./cluster/options.js";
