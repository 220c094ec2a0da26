// Options of the client API (R-CONN-3, R-TASK-2).

import type { TlsOptions } from "../comm/index.js";
import { ConfigError } from "../errors.js";

export interface SubmitOptions {
  key?: string;
  pure?: boolean;
  workers?: string | string[];
  allowOtherWorkers?: boolean;
  resources?: Record<string, number>;
  retries?: number;
  priority?: number;
  actor?: boolean;
  allowReconstruction?: boolean;
  restarts?: number;
}

export interface MapOptions extends Omit<SubmitOptions, "actor" | "key"> {
  actors?: boolean;
  /** Prefix of the keys (each gets "-<index>"). */
  key?: string;
}

export interface ClientOptions {
  token?: string;
  /** Talk to workers directly (default); false proxies every worker interaction through the scheduler. */
  directToWorkers?: boolean;
  /** Connect timeout, ms (default 10000). */
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

const SUBMIT_KEYS = new Set(["key", "pure", "workers", "allowOtherWorkers", "resources", "retries", "priority", "actor", "allowReconstruction", "restarts", "actors"]);

/** Reject misspelt or mistyped options early, with the name of the culprit. */
export function checkSubmitOptions(opts: object, where: string): void {
  for (const [name, value] of Object.entries(opts)) {
    if (!SUBMIT_KEYS.has(name)) throw new TypeError(`${where}: unknown option "${name}"`);
    if (value === undefined) continue;
    const bad = (what: string) => new TypeError(`${where}: option ${name} must be ${what}, got ${JSON.stringify(value)}`);
    switch (name) {
      case "key":
        if (typeof value !== "string" || value === "") throw bad("a non-empty string");
        break;
      case "retries":
      case "restarts":
        if (!Number.isInteger(value) || (value as number) < 0) throw bad("a non-negative integer");
        break;
      case "priority":
        if (typeof value !== "number" || !Number.isFinite(value)) throw bad("a finite number");
        break;
      case "workers":
        if (!(typeof value === "string" || (Array.isArray(value) && value.every((w) => typeof w === "string")))) throw bad("an address or an array of addresses");
        break;
      case "resources":
        if (typeof value !== "object" || value === null || !Object.values(value).every((q) => typeof q === "number" && q >= 0)) throw bad("a record of non-negative numbers");
        break;
      default:
        if (typeof value !== "boolean") throw bad("a boolean");
    }
  }
}
