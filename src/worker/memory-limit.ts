// A worker's memory limit (R-FAIL-7): how it is written (bytes, or "4GiB"),
// its default, and the thresholds measured against it, as Dask sets them.

import { totalmem } from "node:os";
import { ConfigError } from "../errors.js";

/** Above this fraction of the limit, the largest values held spill to disk. */
export const SPILL_FRACTION = 0.6;
/** Above this fraction, the worker takes no new tasks until it is below again. */
export const PAUSE_FRACTION = 0.8;
/** Above this fraction, the worker's supervisor restarts it. */
export const RESTART_FRACTION = 0.95;
/** The V8 heap of one task or actor thread may take this fraction of the limit. */
export const THREAD_HEAP_FRACTION = 0.5;

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  k: 2 ** 10,
  kib: 2 ** 10,
  m: 2 ** 20,
  mib: 2 ** 20,
  g: 2 ** 30,
  gib: 2 ** 30,
  t: 2 ** 40,
  tib: 2 ** 40,
};

/**
 * Bytes from a number of bytes or a string such as "4GiB", "512 MB", "2e9".
 * `what` names the option in the error.
 */
export function parseBytes(value: number | string, what = "memoryLimit"): number {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "string") {
    const m = /^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*$/i.exec(value);
    const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      throw new ConfigError(`${what} must be a number of bytes or a size such as "4GiB" or "512MB", got ${JSON.stringify(value)}`);
    }
    n = Number(m[1]) * unit;
  } else {
    throw new ConfigError(`${what} must be a number of bytes or a size such as "4GiB", got ${typeof value}`);
  }
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${what} must be a positive size, got ${JSON.stringify(value)}`);
  return Math.floor(n);
}

/** The default limit of each of `workersOnHost` workers: the machine's memory shared evenly. */
export function defaultMemoryLimit(workersOnHost = 1): number {
  return Math.floor(totalmem() / Math.max(1, workersOnHost));
}

/** The heap bound of one user-code thread under a worker limit, in MiB (as worker_threads' resourceLimits takes it). */
export function threadHeapMb(limitBytes: number): number {
  return Math.max(32, Math.floor((limitBytes * THREAD_HEAP_FRACTION) / 2 ** 20));
}
