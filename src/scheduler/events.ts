// What the scheduler's state machine consumes (events) and produces
// (instructions). The server turns socket traffic into events and carries
// instructions out; the state machine itself does no I/O.

import type {
  RegisterWorker,
  ActorMeta,
  ActorStats,
  Address,
  ErrorInfo,
  Key,
  SchedulerToClient,
  SchedulerToWorker,
  TaskSpec,
} from "../protocol/messages.js";

export type ClientId = string;

export type SchedulerEvent =
  | { type: "client-added"; client: ClientId }
  /** A client of a scheduler that went away: what it holds and the tasks it still wants (recovery.ts). */
  | { type: "client-rejoined"; client: ClientId; tasks: TaskSpec[]; wanted: Key[]; actors: Record<Key, number> }
  /** Drops every want the client held. */
  | { type: "client-removed"; client: ClientId }
  | { type: "update-graph"; client: ClientId; tasks: TaskSpec[]; wanted: Key[] }
  /** The client no longer wants these keys (a want is a set membership, not a count). */
  | { type: "release-keys"; client: ClientId; keys: Key[] }
  | { type: "want-keys"; client: ClientId; keys: Key[] }
  | { type: "cancel-keys"; client: ClientId; keys: Key[] }
  /** The scheduler holds these keys until they are done, whoever else lets go (fireAndForget). */
  | { type: "fire-and-forget"; keys: Key[] }
  /** killActor: the actor is deleted now, whoever holds it; its holders see it lost. */
  | { type: "kill-actor"; key: Key }
  /** client.restart(): every task is cancelled, every worker forgotten (each comes back as a new one, or not at all). */
  | { type: "restart" }
  /** Scattered data: the client put it on these workers, and wants it. */
  | { type: "update-data"; client: ClientId; who: Record<Key, Address[]>; nbytes: Record<Key, number> }
  | ({ type: "worker-added" } & Omit<RegisterWorker, "op">)
  | { type: "worker-removed"; address: Address; reason: string }
  | {
      type: "task-finished";
      worker: Address;
      key: Key;
      nbytes: number;
      actor?: ActorMeta;
      startMs: number;
      stopMs: number;
    }
  /** Plain tasks finished; the arrays run in parallel. */
  | { type: "tasks-finished"; worker: Address; keys: Key[]; nbytes: number[]; durationMs: number[] }
  | { type: "task-erred"; worker: Address; key: Key; error: ErrorInfo }
  /** `worker` could not get `key` from `holder`. */
  | { type: "missing-data"; worker: Address; key: Key; holder: Address }
  | { type: "add-keys"; worker: Address; keys: Key[]; nbytes: Record<Key, number> }
  | { type: "heartbeat"; worker: Address; memoryBytes: number; actors: Record<Key, ActorStats>; spilledBytes?: number; busyMs?: number }
  /** The worker paused (memory above its pause threshold), runs again, or is about to restart for memory. */
  | { type: "worker-status"; worker: Address; status: "running" | "paused" | "restarting"; reason?: string }
  /** The worker gave up these stolen tasks (they never run there) and kept the others. */
  | { type: "steal-response"; worker: Address; released: Key[]; kept: Key[] }
  /** Actors that lived on a thread of the worker that died. */
  | { type: "actors-lost"; worker: Address; keys: Key[]; error: ErrorInfo }
  /** Retire these workers (client.retireWorkers, or a worker's own request on SIGTERM): retire.ts. */
  | { type: "retire-workers"; workers: Address[]; timeoutMs: number }
  /** Periodic (the server sends one about every 500 ms). */
  | { type: "tick" };

export type Instruction =
  | { to: "worker"; address: Address; msg: SchedulerToWorker }
  | { to: "client"; client: ClientId; msg: SchedulerToClient }
  /** The worker missed its heartbeats: close its connection (a worker-removed event follows). */
  | { to: "close-worker"; address: Address; reason: string }
  /** Something a person watching the cluster wants to know (what happened at info, why at debug). */
  | { to: "log"; level: "debug" | "info" | "warn"; msg: string; fields: Record<string, unknown> }

  /** The worker's retirement is over and the scheduler has forgotten it: tell it so (it exits 0) and close its connection. */
  | { to: "retired"; address: Address; reason: string };
