// From what a user submits to the task specs the scheduler takes: options
// translated once per submit or map, keys of pure tasks, deps of each task.

import { createHash } from "node:crypto";
import { ConfigError } from "../errors.js";
import type { CodeRef, Key, TaskOptions, TaskSpec } from "../protocol/messages.js";
import { codeRefOf, codeVersionOf, serialize, type Encoded, type SerializeOptions } from "../serialize/index.js";
import { flatKey } from "./keygen.js";
import type { SubmitOptions } from "./options.js";

export type Fn = (...args: any[]) => unknown;
export type Cls = new (...args: any[]) => unknown;

/** What every task of one submit or map shares: its options, code and group, made once. */
export interface TaskBase {
  options: TaskOptions;
  group: string;
  fn: Promise<CodeRef>;
  /** The submit option `timeout` (kept here: the deadline is the client's to keep). */
  timeoutMs?: number;
}

/** A task submitted and not yet sent: its code and arguments may still be resolving. */
export interface PendingTask {
  spec: Omit<TaskSpec, "fn" | "args" | "deps">;
  fn: Promise<CodeRef>;
  args: unknown[];
  encoded: Encoded;
}

export function taskBaseOf(fn: Fn | Cls, options: SubmitOptions, codeRoot: string): TaskBase {
  // Only the options given: every field costs encoding time, 20,000 times over in a map.
  const taskOptions: TaskOptions = {};
  if (options.workers !== undefined) taskOptions.workers = [options.workers].flat();
  if (options.allowOtherWorkers !== undefined) taskOptions.allowOtherWorkers = options.allowOtherWorkers;
  if (options.resources !== undefined) taskOptions.resources = options.resources;
  if (options.retries !== undefined) taskOptions.retries = options.retries;
  if (options.priority !== undefined) taskOptions.priority = options.priority;
  if (options.actor) {
    taskOptions.actor = true;
    taskOptions.allowReconstruction = false;
  } else if (options.allowReconstruction !== undefined) taskOptions.allowReconstruction = options.allowReconstruction;
  if (options.restarts !== undefined) taskOptions.restarts = options.restarts;
  if (options.actor && options.name !== undefined) taskOptions.name = options.name;
  if (options.actor && options.lifetime !== undefined) taskOptions.lifetime = options.lifetime;
  if (options.maxConcurrency !== undefined) {
    if (!options.actor) throw new ConfigError("maxConcurrency bounds the calls of an actor: pass it with { actor: true } (map: { actors: true })");
    taskOptions.maxConcurrency = options.maxConcurrency;
  }
  if (options.checkpointEvery !== undefined) {
    if (!options.actor) throw new ConfigError("checkpointEvery is for actors: pass it with { actor: true } (map: { actors: true })");
    taskOptions.checkpointEvery = options.checkpointEvery;
  }
  if (options.timeout !== undefined && options.actor) {
    throw new ConfigError("timeout bounds a task: an actor takes it per call, with handle.method.options({ timeout })(...args)");
  }
  return { options: taskOptions, group: fn.name || "lambda", fn: codeRefOf(fn, { codeRoot }), timeoutMs: options.timeout };
}

/**
 * The task as the scheduler takes it. A pending task holds its deps there
 * itself: a dep this client does not hold (another client's Future, a weak
 * handle on a worker thread, a key it released) is not wanted for it, or it
 * would outlive the release of everyone who held it.
 */
export function specOf(t: PendingTask, fn: CodeRef, encoded: Encoded): TaskSpec {
  const deps = encoded.actorKeys.length === 0 ? encoded.futureKeys : [...new Set([...encoded.futureKeys, ...encoded.actorKeys])];
  const { key, options, group } = t.spec;
  return { key, fn, args: encoded.payload, deps, options, group };
}

/** Same function (same version of its module) and same arguments, same key: the task runs once. */
export function pureKey(fn: Function, encoded: Encoded): Key {
  const h = createHash("sha1").update(Function.prototype.toString.call(fn)).update(codeVersionOf(fn));
  for (const p of encoded.payload.parts) h.update(p);
  return flatKey(`${fn.name || "lambda"}-${h.digest("hex").slice(0, 16)}`);
}

/** Serialized once the unfinished ActorFutures in it are values (a task or kept value waits for them). */
export async function serializeSettled(value: unknown, options: SerializeOptions, encoded = serialize(value, options)): Promise<Encoded> {
  while (encoded.pending.length > 0) {
    await Promise.all(encoded.pending);
    encoded = serialize(value, options);
  }
  return encoded;
}
