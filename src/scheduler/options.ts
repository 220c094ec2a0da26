// How a scheduler is configured (`troupe scheduler`, LocalCluster, tests):
// the options, their defaults, and the one validator behind Scheduler.start.

import { checkLogEnv } from "../log.js";
import type { TlsOptions } from "../comm/index.js";
import { BOOLEAN, checkOptions, DEFAULT_HOST, NON_EMPTY_STRING, PORT, POSITIVE_MS, STRING, TLS, type Rules } from "../options.js";

export interface SchedulerOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port to listen on (default 0: any free one; `troupe scheduler` uses 8786). */
  port?: number;
  token?: string;
  tls?: TlsOptions;
  /** Allow listening on a non-loopback address without a token. */
  insecure?: boolean;
  /** A worker silent for this long is removed, ms (default 3000). */
  heartbeatTimeoutMs?: number;
  /** How often the scheduler checks for silent workers and idle threads, ms (default 500). */
  tickMs?: number;
  /** Serve the dashboard on this port (0: any free one). Absent: no dashboard. */
  dashboardPort?: number;
  /** When the dashboard's port is taken, serve it on a free port instead of failing (default false). */
  dashboardFallback?: boolean;
  /** Whether its listeners keep the process alive (default true; false when embedded in a script, R-PKG-6). */
  holdProcess?: boolean;
}

/** The port `troupe scheduler` listens on when not told. */
export const DEFAULT_SCHEDULER_PORT = 8786;
/** The port `troupe scheduler` and embedded clusters serve their dashboard on when not told (a free one when it is taken). */
export const DEFAULT_DASHBOARD_PORT = 8787;
/**
 * A worker silent for this long is removed: three missed heartbeats (they
 * come every second), so a dead worker is noticed within 5 s (R-FAIL-1).
 */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 3000;
export const DEFAULT_TICK_MS = 500;

/** Every option with its value: given, or the default. */
export interface ResolvedSchedulerOptions {
  host: string;
  port: number;
  token: string;
  tls: TlsOptions | undefined;
  insecure: boolean;
  heartbeatTimeoutMs: number;
  tickMs: number;
  dashboardPort: number | undefined;
  dashboardFallback: boolean;
  holdProcess: boolean;
}

const RULES: Rules<SchedulerOptions> = {
  host: NON_EMPTY_STRING,
  port: PORT,
  token: STRING,
  tls: TLS,
  insecure: BOOLEAN,
  heartbeatTimeoutMs: POSITIVE_MS,
  tickMs: POSITIVE_MS,
  dashboardPort: PORT,
  dashboardFallback: BOOLEAN,
  holdProcess: BOOLEAN,
};

/** Checks a scheduler's options (ConfigError naming the option) and fills in the defaults. */
export function resolveSchedulerOptions(options?: SchedulerOptions): ResolvedSchedulerOptions {
  checkLogEnv(); // a bad TROUPE_LOG is this call's error, not silence
  const o = checkOptions(options, RULES, "Scheduler.start");
  return {
    host: o.host ?? DEFAULT_HOST,
    port: o.port ?? 0,
    token: o.token ?? "",
    tls: o.tls,
    insecure: o.insecure ?? false,
    heartbeatTimeoutMs: o.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS,
    tickMs: o.tickMs ?? DEFAULT_TICK_MS,
    dashboardPort: o.dashboardPort,
    dashboardFallback: o.dashboardFallback ?? false,
    holdProcess: o.holdProcess ?? true,
  };
}
