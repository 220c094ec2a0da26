// How a worker process is configured (CLI flags, LocalCluster, tests): the
// options, their defaults, and the one validator every way of starting a
// worker goes through.

import { checkLogEnv } from "../log.js";
import { hostname } from "node:os";
import { DEFAULT_CONNECT_TIMEOUT_MS, parseAddress, type TlsOptions } from "../comm/index.js";
import { ConfigError } from "../errors.js";
import {
  BOOLEAN,
  checkOptions,
  DEFAULT_HOST,
  DEFAULT_RETIRE_TIMEOUT_MS,
  NON_EMPTY_STRING,
  NON_NEGATIVE_INT,
  NON_NEGATIVE_MS,
  PORT,
  POSITIVE_INT,
  POSITIVE_MS,
  RESOURCES,
  SIZE,
  STRING,
  TLS,
  type Rules,
} from "../options.js";
import { defaultMemoryLimit, parseBytes } from "./memory-limit.js";

/**
 * The exit status of a worker process that gave up on its scheduler (it could
 * not reach one for `schedulerTimeout`): its supervisor stops too, rather than
 * start workers with nobody to serve.
 */
export const EXIT_SCHEDULER_GONE = 3;

export interface WorkerOptions {
  /** The scheduler's address, "tcp://host:port" or "tls://host:port". */
  scheduler: string;
  token?: string;
  /** Interface to listen on for peers and clients (default 127.0.0.1). */
  host?: string;
  /** Port to listen on (default 0: any free one). */
  port?: number;
  /** Host name or IP that others use to reach this worker, when `host` is a wildcard. */
  contactHost?: string;
  /** Task threads (default 1). */
  nthreads?: number;
  /** Actor threads (default 1). */
  actorThreads?: number;
  resources?: Record<string, number>;
  /** Default: "<hostname>-<pid>". */
  name?: string;
  /** Directory that module paths shipped by clients are resolved against (default: cwd). */
  codeRoot?: string;
  tls?: TlsOptions;
  /** How often the worker tells the scheduler it is alive, ms (default 1000). */
  heartbeatIntervalMs?: number;
  /** Time allowed to connect to the scheduler and to peers, ms (default 10000): what a client calls `timeout`. */
  connectTimeoutMs?: number;
  /** Allow listening on a non-loopback address without a token. */
  insecure?: boolean;
  /**
   * Bytes (or a size such as "4GiB") this worker may use (R-FAIL-7); default:
   * the machine's memory divided by the workers on it.
   */
  memoryLimit?: number | string;
  /** How long a cancelled or released task may run on after its signal aborted, before its thread is stopped, ms (default 1000). */
  cancelGraceMs?: number;
  /**
   * How long, ms, to try to reach the scheduler again after losing it before
   * giving up (default 60000): a scheduler started again at its address
   * rebuilds its state from this worker's report (R-FAIL-9).
   */
  schedulerTimeout?: number;
  /** Where values spilled to disk go (a directory of its own is made inside; default: the system's temporary directory). */
  localDirectory?: string;
  /** How many times this worker's supervisor restarted it before (reported to the scheduler). */
  restarts?: number;
  /** Get-data requests to peers in flight at once, for this worker's tasks' dependencies (default 4; R-FLOW-3). */
  transferIncomingCountLimit?: number;
  /**
   * Bytes (or a size such as "256MiB") of dependencies being fetched from
   * peers at once (default: a tenth of memoryLimit); a single larger value
   * still comes, alone.
   */
  transferIncomingBytesLimit?: number | string;
  /** Port of the worker's HTTP listener, on `host`: /health for probes, /metrics for Prometheus (default 0: any free one). */
  httpPort?: number;
  /**
   * How long a retiring worker (SIGTERM, or client.retireWorkers) waits, ms,
   * for its data to move and its actors to be released or re-created
   * elsewhere before it leaves anyway (default 20000).
   */
  retireTimeout?: number;
}

/** Task threads of a worker, when not given. */
export const DEFAULT_NTHREADS = 1;
/** Actor threads of a worker, when not given. */
export const DEFAULT_ACTOR_THREADS = 1;
/** Heartbeats come this often; the scheduler's heartbeat timeout is a few of them. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1000;
/** How long a cancelled or released task may run on after its signal aborted, before its thread is stopped (R-TASK-13). */
export const DEFAULT_CANCEL_GRACE_MS = 1000;
/** How long a worker tries to reach its scheduler again before giving up (R-FAIL-9). */
export const DEFAULT_SCHEDULER_TIMEOUT_MS = 60_000;
/** Get-data requests a worker has in flight at once (as Dask's transfer_incoming_count_limit). */
export const DEFAULT_TRANSFER_INCOMING_COUNT_LIMIT = 4;
/** The share of its memory limit a worker may have in flight from peers (as Dask's memory.transfer). */
export const DEFAULT_TRANSFER_INCOMING_FRACTION = 0.1;

/** Every option with its value: given, or the default. */
export interface ResolvedWorkerOptions {
  scheduler: string;
  token: string;
  host: string;
  port: number;
  contactHost: string | undefined;
  nthreads: number;
  actorThreads: number;
  resources: Record<string, number>;
  name: string;
  codeRoot: string;
  tls: TlsOptions | undefined;
  heartbeatIntervalMs: number;
  connectTimeoutMs: number;
  insecure: boolean;
  /** Bytes. */
  memoryLimit: number;
  cancelGraceMs: number;
  schedulerTimeout: number;
  localDirectory: string | undefined;
  restarts: number;
  transferIncomingCountLimit: number;
  /** Bytes. */
  transferIncomingBytesLimit: number;
  httpPort: number;
  retireTimeout: number;
}

const RULES: Rules<WorkerOptions> = {
  scheduler: { what: 'the scheduler\'s address, e.g. "tcp://10.0.0.5:8786"', ok: (v) => typeof v === "string" },
  token: STRING,
  host: NON_EMPTY_STRING,
  port: PORT,
  contactHost: NON_EMPTY_STRING,
  nthreads: POSITIVE_INT,
  actorThreads: POSITIVE_INT,
  resources: RESOURCES,
  name: NON_EMPTY_STRING,
  codeRoot: NON_EMPTY_STRING,
  tls: TLS,
  heartbeatIntervalMs: POSITIVE_MS,
  connectTimeoutMs: POSITIVE_MS,
  insecure: BOOLEAN,
  memoryLimit: SIZE,
  cancelGraceMs: NON_NEGATIVE_MS,
  schedulerTimeout: POSITIVE_MS,
  localDirectory: NON_EMPTY_STRING,
  restarts: NON_NEGATIVE_INT,
  transferIncomingCountLimit: POSITIVE_INT,
  transferIncomingBytesLimit: SIZE,
  httpPort: PORT,
  retireTimeout: POSITIVE_MS,
};

/** Checks a worker's options (ConfigError naming the option) and fills in the defaults. */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  checkLogEnv(); // a bad TROUPE_LOG is this call's error, not silence
  const o = checkOptions(options, RULES, "Worker.start");
  if (o.scheduler === undefined) throw new ConfigError('Worker.start: option scheduler is required: the scheduler\'s address, e.g. "tcp://10.0.0.5:8786"');
  parseAddress(o.scheduler); // says what is wrong with it
  const memoryLimit = o.memoryLimit === undefined ? defaultMemoryLimit() : parseBytes(o.memoryLimit);
  return {
    scheduler: o.scheduler,
    token: o.token ?? "",
    host: o.host ?? DEFAULT_HOST,
    port: o.port ?? 0,
    contactHost: o.contactHost,
    nthreads: o.nthreads ?? DEFAULT_NTHREADS,
    actorThreads: o.actorThreads ?? DEFAULT_ACTOR_THREADS,
    resources: { ...o.resources },
    name: o.name ?? `${hostname()}-${process.pid}`,
    codeRoot: o.codeRoot ?? process.cwd(),
    tls: o.tls,
    heartbeatIntervalMs: o.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
    connectTimeoutMs: o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    insecure: o.insecure ?? false,
    memoryLimit,
    cancelGraceMs: o.cancelGraceMs ?? DEFAULT_CANCEL_GRACE_MS,
    schedulerTimeout: o.schedulerTimeout ?? DEFAULT_SCHEDULER_TIMEOUT_MS,
    localDirectory: o.localDirectory,
    restarts: o.restarts ?? 0,
    transferIncomingCountLimit: o.transferIncomingCountLimit ?? DEFAULT_TRANSFER_INCOMING_COUNT_LIMIT,
    transferIncomingBytesLimit:
      o.transferIncomingBytesLimit === undefined
        ? Math.max(1, Math.floor(memoryLimit * DEFAULT_TRANSFER_INCOMING_FRACTION))
        : parseBytes(o.transferIncomingBytesLimit, "transferIncomingBytesLimit"),
    httpPort: o.httpPort ?? 0,
    retireTimeout: o.retireTimeout ?? DEFAULT_RETIRE_TIMEOUT_MS,
  };
}
