// How a LocalCluster and the workers it adds are configured: the options,
// their defaults, and the validators behind LocalCluster.start and addWorker.
//
// Names follow the public contract: `threadsPerWorker` here is a worker's
// `nthreads` (as `troupe worker --nthreads` and getWorker() call it), and
// `startTimeout` is the supervisor's `startTimeoutMs`.

import { checkLogEnv } from "../log.js";
import { randomBytes } from "node:crypto";
import { cpus } from "node:os";
import { ConfigError } from "../errors.js";
import { BOOLEAN, checkOptions, DEFAULT_RETIRE_TIMEOUT_MS, NON_EMPTY_STRING, NON_NEGATIVE_INT, NON_NEGATIVE_MS, PORT, POSITIVE_INT, POSITIVE_MS, RESOURCES, SIZE, STRING, type Rules } from "../options.js";
import { defaultMemoryLimit, parseBytes } from "../worker/memory-limit.js";
import { DEFAULT_ACTOR_THREADS, DEFAULT_CANCEL_GRACE_MS, DEFAULT_NTHREADS } from "../worker/options.js";

export interface LocalClusterOptions {
  /** Worker processes to start (default: min(4, cores)). */
  workers?: number;
  /** Task threads of each worker (default 1). */
  threadsPerWorker?: number;
  /** Actor threads of each worker (default 1). */
  actorThreads?: number;
  resources?: Record<string, number>;
  /** The cluster's token (default: a random one, in `cluster.token`). */
  token?: string;
  /** Directory workers resolve shipped module paths against (default: cwd). */
  codeRoot?: string;
  /** How long a worker may take to start, ms (default 30000). */
  startTimeout?: number;
  /**
   * Memory each worker may use: bytes, or a size such as "4GiB" (default: the
   * machine's memory divided by `workers`). Above 95 % of it the worker is restarted.
   */
  memoryLimit?: number | string;
  /** How long a cancelled task may run on after its signal aborted before its thread is stopped, ms (default 1000). */
  cancelGraceMs?: number;
  /**
   * Serve the dashboard (default true): on port 8787, or a free port when that
   * one is taken. Its link is printed once per process and kept in `dashboardLink`.
   */
  dashboard?: boolean;
}

export interface AddWorkerOptions {
  /** Task threads (default: the cluster's `threadsPerWorker`). */
  nthreads?: number;
  /** Actor threads (default: the cluster's `actorThreads`). */
  actorThreads?: number;
  /** Default: the cluster's `resources`. */
  resources?: Record<string, number>;
  /** Default: "worker-<n>". */
  name?: string;
  /** Port to listen on (default: any free one); a crashed worker can come back at its old address. */
  port?: number;
  /** Bytes, or a size such as "4GiB" (default: the cluster's `memoryLimit`). */
  memoryLimit?: number | string;
}

/** How long one start of a worker process may take before it is killed. */
export const DEFAULT_START_TIMEOUT_MS = 30_000;

/** Workers of a LocalCluster when not given: one per core, at most 4. */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(4, cpus().length));
}

/** Every option with its value: given, or the default. */
export interface ResolvedLocalClusterOptions {
  workers: number;
  threadsPerWorker: number;
  actorThreads: number;
  resources: Record<string, number> | undefined;
  token: string;
  codeRoot: string;
  startTimeout: number;
  /** Bytes, for each worker. */
  memoryLimit: number;
  cancelGraceMs: number;
  dashboard: boolean;
}

const CLUSTER_RULES: Rules<LocalClusterOptions> = {
  workers: NON_NEGATIVE_INT,
  threadsPerWorker: POSITIVE_INT,
  actorThreads: POSITIVE_INT,
  resources: RESOURCES,
  token: STRING,
  codeRoot: NON_EMPTY_STRING,
  startTimeout: POSITIVE_MS,
  memoryLimit: SIZE,
  cancelGraceMs: NON_NEGATIVE_MS,
  dashboard: BOOLEAN,
};

const ADD_WORKER_RULES: Rules<AddWorkerOptions> = {
  nthreads: POSITIVE_INT,
  actorThreads: POSITIVE_INT,
  resources: RESOURCES,
  name: NON_EMPTY_STRING,
  port: PORT,
  memoryLimit: SIZE,
};

/** Checks a LocalCluster's options (ConfigError naming the option) and fills in the defaults. */
export function resolveLocalClusterOptions(options?: LocalClusterOptions): ResolvedLocalClusterOptions {
  checkLogEnv(); // a bad TROUPE_LOG is this call's error, not silence
  const o = checkOptions(options, CLUSTER_RULES, "LocalCluster.start");
  const workers = o.workers ?? defaultWorkerCount();
  return {
    workers,
    threadsPerWorker: o.threadsPerWorker ?? DEFAULT_NTHREADS,
    actorThreads: o.actorThreads ?? DEFAULT_ACTOR_THREADS,
    resources: o.resources,
    token: o.token ?? randomBytes(24).toString("hex"),
    codeRoot: o.codeRoot ?? process.cwd(),
    startTimeout: o.startTimeout ?? DEFAULT_START_TIMEOUT_MS,
    memoryLimit: o.memoryLimit === undefined ? defaultMemoryLimit(workers) : parseBytes(o.memoryLimit),
    cancelGraceMs: o.cancelGraceMs ?? DEFAULT_CANCEL_GRACE_MS,
    dashboard: o.dashboard ?? true,
  };
}

/** What one added worker runs with: its own options, else the cluster's. */
export interface ResolvedAddWorkerOptions {
  nthreads: number;
  actorThreads: number;
  resources: Record<string, number> | undefined;
  name: string | undefined;
  port: number | undefined;
  memoryLimit: number;
}

/** Checks addWorker()'s options (ConfigError naming the option); what is not given comes from the cluster. */
export function resolveAddWorkerOptions(options: AddWorkerOptions | undefined, cluster: ResolvedLocalClusterOptions): ResolvedAddWorkerOptions {
  const o = checkOptions(options, ADD_WORKER_RULES, "addWorker");
  return {
    nthreads: o.nthreads ?? cluster.threadsPerWorker,
    actorThreads: o.actorThreads ?? cluster.actorThreads,
    resources: o.resources ?? cluster.resources,
    name: o.name,
    port: o.port,
    memoryLimit: o.memoryLimit === undefined ? cluster.memoryLimit : parseBytes(o.memoryLimit),
  };
}

/** LocalCluster.adapt(): how many workers to keep, and how eagerly to change that (as Dask's adapt()). */
export interface AdaptOptions {
  /** Fewest workers (default 0). */
  minimum?: number;
  /** Most workers (default: no bound). */
  maximum?: number;
  /** How often the queue is looked at, ms (default 1000). */
  interval?: number;
  /** Workers are retired only after this many looks in a row found too many (default 3), so a short lull does not shrink the cluster. */
  waitCount?: number;
  /** How long each retirement may take to move a worker's data and actors, ms (default 20000). */
  retireTimeout?: number;
}

export const DEFAULT_ADAPT_INTERVAL_MS = 1000;
export const DEFAULT_ADAPT_WAIT_COUNT = 3;

export interface ResolvedAdaptOptions {
  minimum: number;
  maximum: number;
  interval: number;
  waitCount: number;
  retireTimeout: number;
}

const ADAPT_RULES: Rules<AdaptOptions> = {
  minimum: NON_NEGATIVE_INT,
  maximum: { what: "a positive integer, or Infinity", ok: (v) => v === Infinity || (Number.isInteger(v) && (v as number) >= 1) },
  interval: POSITIVE_MS,
  waitCount: POSITIVE_INT,
  retireTimeout: POSITIVE_MS,
};

/** Checks adapt()'s options (ConfigError naming the option) and fills in the defaults. */
export function resolveAdaptOptions(options?: AdaptOptions): ResolvedAdaptOptions {
  const o = checkOptions(options, ADAPT_RULES, "adapt");
  const minimum = o.minimum ?? 0;
  const maximum = o.maximum ?? Infinity;
  if (maximum < minimum) throw new ConfigError(`adapt: option maximum (${maximum}) must be at least minimum (${minimum})`);
  return {
    minimum,
    maximum,
    interval: o.interval ?? DEFAULT_ADAPT_INTERVAL_MS,
    waitCount: o.waitCount ?? DEFAULT_ADAPT_WAIT_COUNT,
    retireTimeout: o.retireTimeout ?? DEFAULT_RETIRE_TIMEOUT_MS,
  };
}
