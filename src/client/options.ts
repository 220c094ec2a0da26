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
}

const SUBMIT_KEYS = new Set(["key", "pure", "workers", "allowOtherWorkers", "resources", "retries", "priority", "actor", "allowReconstruction", "restarts", "actors"]);

/** Reject misspelt or mistyped options early, with the name of the culprit. */
export function checkSubmitOptions(opts: object, where: string): void {
  for (const [name, value] of Object.entries(opts)) {
    if (!SUBMIT_KEYS.has(name)) throw new ConfigError(`${where}: unknown option "${name}"`);
    if (value === undefined) continue;
    const bad = (what: string) => new ConfigError(`${where}: option ${name} must be ${what}, got ${JSON.stringify(value)}`);
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
