// How a worker process is configured (CLI flags, LocalCluster, tests).

import type { TlsOptions } from "../comm/index.js";

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
  port?: number;
  /** Host name or IP that others use to reach this worker, when `host` is a wildcard. */
  contactHost?: string;
  /** Task threads (default 1). */
  nthreads?: number;
  /** Actor threads (default 1). */
  actorThreads?: number;
  resources?: Record<string, number>;
  name?: string;
  /** Directory that module paths shipped by clients are resolved against (default: cwd). */
  codeRoot?: string;
  tls?: TlsOptions;
  heartbeatIntervalMs?: number;
  connectTimeoutMs?: number;
  /** Allow listening on a non-loopback address without a token. */
  insecure?: boolean;
  /**
   * Bytes (or a size such as "4GiB") this worker may use (R-FAIL-7); default:
   * the machine's memory divided by the workers on it.
   */
  memoryLimit?: number | string;
  /** How long a cancelled or released task may run on after its signal aborted, before its thread is stopped (default 1000). */
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
}
