// What every options validator shares: rules for the kinds of value options
// take, and one check that applies them. A validator lists a rule for each
// option of its type (the compiler holds it to that), so a misspelt option or
// a value of the wrong kind is refused where it is given, with a ConfigError
// naming the option, instead of being ignored or failing far away.

import { ConfigError } from "./errors.js";

/** Where a scheduler or worker listens when not told: loopback, reachable from this machine only. */
export const DEFAULT_HOST = "127.0.0.1";

/**
 * How long a retiring worker (client.retireWorkers, SIGTERM) may take to hand
 * its data and actors over before it leaves anyway, ms (R-OPS-2): within
 * Kubernetes' default grace period of 30 s.
 */
export const DEFAULT_RETIRE_TIMEOUT_MS = 20_000;

export interface Rule {
  /** What the value must be, as the message says it: "a positive integer". */
  what: string;
  ok: (value: unknown) => boolean;
}

/** A rule for each option of T, optional ones included. */
export type Rules<T> = { readonly [K in keyof Required<T>]: Rule };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isInteger(v);

export const STRING: Rule = { what: "a string", ok: (v) => typeof v === "string" };
export const NON_EMPTY_STRING: Rule = { what: "a non-empty string", ok: (v) => typeof v === "string" && v !== "" };
/** Longest name of an actor or a coordination primitive: it travels in every message about it. */
export const MAX_OBJECT_NAME = 1000;
export const OBJECT_NAME: Rule = {
  what: `a non-empty string of at most ${MAX_OBJECT_NAME} characters`,
  ok: (v) => typeof v === "string" && v !== "" && v.length <= MAX_OBJECT_NAME,
};
export const BOOLEAN: Rule = { what: "a boolean", ok: (v) => typeof v === "boolean" };
export const FINITE: Rule = { what: "a finite number", ok: (v) => typeof v === "number" && Number.isFinite(v) };
export const POSITIVE_INT: Rule = { what: "a positive integer", ok: (v) => isInt(v) && v >= 1 };
export const NON_NEGATIVE_INT: Rule = { what: "a non-negative integer", ok: (v) => isInt(v) && v >= 0 };
export const PORT: Rule = { what: "an integer from 0 to 65535 (0 picks a free port)", ok: (v) => isInt(v) && v >= 0 && v <= 65535 };
export const POSITIVE_MS: Rule = { what: "a positive number of milliseconds", ok: (v) => typeof v === "number" && v > 0 && v < Infinity };
export const NON_NEGATIVE_MS: Rule = { what: "a non-negative number of milliseconds", ok: (v) => typeof v === "number" && v >= 0 && v < Infinity };
/** Checked in full by parseBytes, whose message tells the accepted forms. */
export const SIZE: Rule = { what: 'a number of bytes or a size such as "4GiB"', ok: (v) => typeof v === "number" || typeof v === "string" };
export const RESOURCES: Rule = {
  what: "a record of non-negative quantities, e.g. { GPU: 1 }",
  ok: (v) => isObject(v) && Object.values(v).every((q) => typeof q === "number" && q >= 0),
};
export const ADDRESSES: Rule = {
  what: "an address or an array of addresses",
  ok: (v) => typeof v === "string" || (Array.isArray(v) && v.every((w) => typeof w === "string")),
};
export const TLS: Rule = {
  what: "TLS options { cert, key, ca } (PEM strings or Buffers)",
  ok: (v) => isObject(v) && v.cert !== undefined && v.key !== undefined && v.ca !== undefined,
};

/**
 * Checks options given to `where` against their rules and returns them (an
 * empty object for none). An option set to undefined counts as not given.
 */
export function checkOptions<T extends object>(options: T | undefined, rules: Rules<T>, where: string): T {
  if (options === undefined) return {} as T;
  if (!isObject(options)) throw new ConfigError(`${where}: options must be an object, got ${describe(options)}`);
  for (const name of Object.keys(options)) {
    const value = options[name as keyof T];
    const rule = Object.hasOwn(rules, name) ? (rules as Record<string, Rule>)[name] : undefined;
    if (rule === undefined) throw new ConfigError(`${where}: unknown option "${name}"${suggestion(name, Object.keys(rules))}`);
    if (value !== undefined && !rule.ok(value)) throw new ConfigError(`${where}: option ${name} must be ${rule.what}, got ${describe(value)}`);
  }
  return options;
}

/** A value as a message shows it: its text when short and plain, else its kind. */
function describe(value: unknown): string {
  if (value === null || typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string") return value.length <= 80 ? JSON.stringify(value) : "a long string";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    try {
      const text = JSON.stringify(value);
      if (text.length <= 80) return text;
    } catch {
      // a cycle, or a BigInt inside: its kind will do
    }
    return "an object";
  }
  return `a ${typeof value}`;
}

/** ", did you mean "x"?" for a near miss (case, or a letter or two), else "". */
function suggestion(name: string, known: string[]): string {
  const lower = name.toLowerCase();
  const near = known.find((k) => k.toLowerCase() === lower) ?? known.find((k) => distance(k.toLowerCase(), lower) <= 2);
  return near === undefined ? "" : `; did you mean "${near}"?`;
}

/** Levenshtein distance, for names of a few letters. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
