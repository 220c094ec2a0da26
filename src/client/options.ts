// Options of the client API (R-CONN-3, R-TASK-2): the options, their
// defaults, and their validators.

import { checkLogEnv } from "../log.js";
import { DEFAULT_CONNECT_TIMEOUT_MS, type TlsOptions } from "../comm/index.js";
import type { Delayed } from "./delayed.js";
import { ADDRESSES, BOOLEAN, checkOptions, FINITE, NON_EMPTY_STRING, NON_NEGATIVE_INT, NON_NEGATIVE_MS, OBJECT_NAME, POSITIVE_INT, POSITIVE_MS, RESOURCES, STRING, TLS, type Rules } from "../options.js";
import { ConfigError } from "../errors.js";
import { MAX_STREAM_CREDIT } from "../protocol/schemas.js";

export interface SubmitOptions {
  key?: string;
  /** Same function and arguments, same key: the task runs once (default false). */
  pure?: boolean;
  workers?: string | string[];
  allowOtherWorkers?: boolean;
  resources?: Record<string, number>;
  retries?: number;
  priority?: number;
  actor?: boolean;
  allowReconstruction?: boolean;
  restarts?: number;
  /** Actors: a name unique among live actors, by which any client, task or actor finds it (`client.getActor(name)`). */
  name?: string;
  /** Actors: "detached" keeps the actor alive after its creating client closes, until `client.killActor()` (default: it lives while held). */
  lifetime?: "detached";
  /**
   * Actors only: most calls of the actor's async methods that interleave at
   * once (default: no bound). Calls past it wait, in arrival order, for a
   * running one to end.
   */
  maxConcurrency?: number;
  /**
   * Actors whose class defines `[checkpoint]()` and a static `[restore](value)`:
   * a checkpoint is taken after every this many calls that return (default 1,
   * every one), and a restarted actor is rebuilt from the latest.
   */
  checkpointEvery?: number;
  /**
   * Tasks only, ms from submission: a task not finished by then is cancelled
   * (its `currentSignal()` aborts, and it is stopped by force `cancelGraceMs`
   * later) and its Future rejects with TimeoutError. A `result(timeout)`
   * deadline then cancels it too. (Actor calls take it per call:
   * `handle.method.options({ timeout })`.)
   */
  timeout?: number;
}

export interface MapOptions extends Omit<SubmitOptions, "actor" | "key" | "name"> {
  actors?: boolean;
  /** Prefix of the keys (each gets "-<index>"). */
  key?: string;
}

export interface ScatterOptions {
  workers?: string | string[];
  /** Put every value on every worker chosen. */
  broadcast?: boolean;
}

/** Options of one actor call: `handle.method.options({ timeout })(...args)`. */
export interface CallOptions {
  /**
   * ms from the call: if it has not finished by then, it is cancelled (its
   * `currentSignal()` aborts; one not started never runs) and rejects with
   * TimeoutError. A `result(timeout)` deadline then cancels it too.
   */
  timeout?: number;
  /**
   * For a method that is an async generator: how many of its items the
   * caller may hold unconsumed (default 16); the generator is paused while
   * it does.
   */
  streamWindow?: number;
}

/** Options of waits that take only a bound: restart(), waitForWorkers(). */
export interface TimeoutOptions {
  /** ms. */
  timeout?: number;
}

export interface ComputeOptions {
  /** Nodes to run as actors, or true for every node given. */
  actors?: Delayed | Delayed[] | true;
}

export interface ClientOptions {
  /** Default: a LocalCluster's own token, else TROUPE_TOKEN. */
  token?: string;
  /** Talk to workers directly (default); false proxies every worker interaction through the scheduler. */
  directToWorkers?: boolean;
  /**
   * Connect timeout, ms (default 10000): for the scheduler, workers, and
   * reaching an actor's worker. A worker's own option is `connectTimeoutMs`.
   */
  timeout?: number;
  tls?: TlsOptions;
  /** Directory module paths are expressed relative to (default: cwd). */
  codeRoot?: string;
  /**
   * Most actor calls from this client in flight to one actor: a count, or
   * `{ calls, bytes }` to bound the bytes of their encoded arguments too
   * (default 10,000 calls or 64 MiB, whichever comes first; `Infinity` for no
   * bound). A call past it is still returned at once, and is sent, in call
   * order, as earlier calls finish.
   */
  maxPendingCalls?: number | { calls?: number; bytes?: number };
  /**
   * How long, ms, to try to reach the scheduler again after losing it, before
   * failing pending Futures with CommError (default 60000). A scheduler started
   * again at its address meanwhile rebuilds its state from what this client
   * holds and still wants (R-FAIL-9).
   */
  schedulerTimeout?: number;
  /** The embedded cluster started with no address serves the dashboard (default true; see LocalClusterOptions). */
  dashboard?: boolean;
}

/** How long a client tries to reach its scheduler again after losing it. */
export const DEFAULT_SCHEDULER_TIMEOUT_MS = 60_000;

/** A caller's bound on calls in flight to one actor (R-FLOW-2). */
export interface PendingCallLimits {
  calls: number;
  bytes: number;
}

export const DEFAULT_PENDING_CALL_LIMITS: Readonly<PendingCallLimits> = { calls: 10_000, bytes: 64 * 1024 * 1024 };

/** The bound `maxPendingCalls` asks for, checked. */
export function pendingCallLimits(option: ClientOptions["maxPendingCalls"]): PendingCallLimits {
  const given = typeof option === "number" ? { calls: option } : option;
  if (given === undefined) return { ...DEFAULT_PENDING_CALL_LIMITS };
  if (typeof given !== "object" || given === null) {
    throw new ConfigError(`maxPendingCalls must be a number of calls or { calls, bytes }, got ${JSON.stringify(option)}`);
  }
  const limits = { ...DEFAULT_PENDING_CALL_LIMITS };
  for (const [name, value] of Object.entries(given)) {
    if (name !== "calls" && name !== "bytes") throw new ConfigError(`maxPendingCalls: unknown field "${name}" (it takes calls and bytes)`);
    if (value === undefined) continue;
    if (!(value === Infinity || (Number.isInteger(value) && value >= 1))) {
      throw new ConfigError(`maxPendingCalls.${name} must be an integer ≥ 1 (or Infinity for no bound), got ${String(value)}`);
    }
    limits[name] = value as number;
  }
  return limits;
}

/**
 * Every option with its value: given, or the default. The token is left to
 * Client.connect: its default depends on what the client connects to.
 */
export interface ResolvedClientOptions {
  token: string | undefined;
  directToWorkers: boolean;
  timeout: number;
  tls: TlsOptions | undefined;
  codeRoot: string;
  maxPendingCalls: PendingCallLimits;
  schedulerTimeout: number;
  dashboard: boolean;
}

const CLIENT_RULES: Rules<ClientOptions> = {
  token: STRING,
  directToWorkers: BOOLEAN,
  timeout: POSITIVE_MS,
  tls: TLS,
  codeRoot: NON_EMPTY_STRING,
  // pendingCallLimits checks the count and each field.
  maxPendingCalls: { what: "a number of calls or { calls, bytes }", ok: (v) => typeof v === "number" || (typeof v === "object" && v !== null) },
  schedulerTimeout: POSITIVE_MS,
  dashboard: BOOLEAN,
};

/** Checks a client's options (ConfigError naming the option) and fills in the defaults. */
export function resolveClientOptions(options?: ClientOptions): ResolvedClientOptions {
  checkLogEnv(); // a bad TROUPE_LOG is this call's error, not silence
  const o = checkOptions(options, CLIENT_RULES, "Client.connect");
  return {
    token: o.token,
    directToWorkers: o.directToWorkers ?? true,
    timeout: o.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
    tls: o.tls,
    codeRoot: o.codeRoot ?? process.cwd(),
    maxPendingCalls: pendingCallLimits(o.maxPendingCalls),
    schedulerTimeout: o.schedulerTimeout ?? DEFAULT_SCHEDULER_TIMEOUT_MS,
    dashboard: o.dashboard ?? true,
  };
}

const SUBMIT_RULES: Rules<SubmitOptions> = {
  key: NON_EMPTY_STRING,
  pure: BOOLEAN,
  workers: ADDRESSES,
  allowOtherWorkers: BOOLEAN,
  resources: RESOURCES,
  retries: NON_NEGATIVE_INT,
  priority: FINITE,
  actor: BOOLEAN,
  allowReconstruction: BOOLEAN,
  restarts: NON_NEGATIVE_INT,
  name: OBJECT_NAME,
  lifetime: { what: '"detached"', ok: (v) => v === "detached" },
  maxConcurrency: POSITIVE_INT,
  checkpointEvery: POSITIVE_INT,
  timeout: POSITIVE_MS,
};

// map() makes actors with `actors`: `actor` there is a slip, refused with the right name; one name cannot go to many actors.
const { actor: _actor, name: _name, ...SHARED_RULES } = SUBMIT_RULES;
const MAP_RULES: Rules<MapOptions> = { ...SHARED_RULES, actors: BOOLEAN };

const SCATTER_RULES: Rules<ScatterOptions> = { workers: ADDRESSES, broadcast: BOOLEAN };

const TIMEOUT_RULES: Rules<TimeoutOptions> = { timeout: NON_NEGATIVE_MS };

const CALL_RULES: Rules<CallOptions> = { timeout: POSITIVE_MS, streamWindow: { what: "a positive integer of at most 1048576", ok: (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_STREAM_CREDIT } };

const COMPUTE_RULES: Rules<ComputeOptions> = {
  actors: { what: "a Delayed node, an array of them, or true", ok: (v) => v === true || (typeof v === "object" && v !== null) },
};

/** Checks the options of submit() (and delayed()), naming a misspelt or mistyped one. */
export function checkSubmitOptions(options: SubmitOptions | undefined, where: string): SubmitOptions {
  return checkOptions(options, SUBMIT_RULES, where);
}

/** `name` and `lifetime` belong to actors: refused on a plain task rather than ignored. */
export function checkActorOnlyOptions(options: { name?: string; lifetime?: string }, actor: boolean | undefined, where: string): void {
  if (actor) return;
  for (const option of ["name", "lifetime"] as const) {
    if (options[option] !== undefined) throw new ConfigError(`${where}: option ${option} applies to actors only; pass actor: true (actors: true for map) to create an actor`);
  }
}

export function checkMapOptions(options: MapOptions | undefined): MapOptions {
  return checkOptions(options, MAP_RULES, "map");
}

export function checkScatterOptions(options: ScatterOptions | undefined): ScatterOptions {
  return checkOptions(options, SCATTER_RULES, "scatter");
}

export function checkTimeoutOptions(options: TimeoutOptions | undefined, where: string): TimeoutOptions {
  return checkOptions(options, TIMEOUT_RULES, where);
}

export function checkCallOptions(options: CallOptions | undefined): CallOptions {
  return checkOptions(options, CALL_RULES, "options() of an actor method");
}

export function checkComputeOptions(options: ComputeOptions | undefined): ComputeOptions {
  return checkOptions(options, COMPUTE_RULES, "compute");
}
