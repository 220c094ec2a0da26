// Checks of data that arrived from another process: small validators that
// compose into one schema per message (schemas.ts). A check returns
// undefined when the value fits, or what is wrong with it. Each is typed by
// the TypeScript type it admits, so a schema that disagrees with its message's
// interface does not compile.

import { Payload } from "./payload.js";

/** Checks that a value is a T. (The phantom member makes the type invariant: a check for `string` is not one for `string | undefined`.) */
export type Check<T> = ((v: unknown) => string | undefined) & { readonly __type?: (t: T) => T };

function check<T>(fn: (v: unknown) => string | undefined): Check<T> {
  return fn as Check<T>;
}

/** Longest string anywhere unless a field says less: a message, a stack, a module path. */
export const MAX_STRING = 1 << 20;
/** Longest key, name or address. */
export const MAX_NAME = 4096;
/** Most elements of an array, or entries of a record, unless a field says less (a message header is at most 64 MiB anyway). */
export const MAX_ITEMS = 1 << 22;

const describe = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "an array" : v instanceof Uint8Array ? "bytes" : typeof v);

export function str(maxLength = MAX_STRING): Check<string> {
  return check((v) => (typeof v !== "string" ? `expected a string, got ${describe(v)}` : v.length > maxLength ? `a string longer than ${maxLength}` : undefined));
}

/** A key, a name, an address: a string of at most MAX_NAME characters. */
export const name = str(MAX_NAME);

/** A finite number. */
export const num = check<number>((v) => (typeof v === "number" && Number.isFinite(v) ? undefined : `expected a finite number, got ${describe(v)}`));

/** An integer in [min, max]. */
export function int(min = 0, max = Number.MAX_SAFE_INTEGER): Check<number> {
  return check((v) => (Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max ? undefined : `expected an integer from ${min} to ${max}, got ${describe(v) === "number" ? String(v) : describe(v)}`));
}

/** A finite number of at least 0 (a size, a duration). */
export const size = check<number>((v) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? undefined : `expected a number ≥ 0, got ${describe(v)}`));

export const bool = check<boolean>((v) => (typeof v === "boolean" ? undefined : `expected a boolean, got ${describe(v)}`));

/** One of the given values. */
export function literal<const V extends readonly (string | number | boolean | null)[]>(...values: V): Check<V[number]> {
  const set = new Set<unknown>(values);
  return check((v) => (set.has(v) ? undefined : `expected ${values.map((x) => JSON.stringify(x)).join(" or ")}`));
}

/** Anything at all (user data is checked where it is decoded, in serialize/). */
export const any = check<unknown>(() => undefined);

export const payload = check<Payload>((v) => (v instanceof Payload ? undefined : `expected a Payload, got ${describe(v)}`));

export const bytes = check<Uint8Array>((v) => (v instanceof Uint8Array ? undefined : `expected bytes, got ${describe(v)}`));

export function opt<T>(c: Check<T>): Check<T | undefined> {
  return check((v) => (v === undefined ? undefined : c(v)));
}

export function nullable<T>(c: Check<T>): Check<T | null> {
  return check((v) => (v === null ? undefined : c(v)));
}

export function arrayOf<T>(c: Check<T>, maxLength = MAX_ITEMS): Check<T[]> {
  return check((v) => {
    if (!Array.isArray(v)) return `expected an array, got ${describe(v)}`;
    if (v.length > maxLength) return `an array of more than ${maxLength} elements`;
    for (let i = 0; i < v.length; i++) {
      const bad = c(v[i]);
      if (bad !== undefined) return `[${i}]: ${bad}`;
    }
    return undefined;
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Payload);
}

/** A plain object whose values all fit `c` (keys are names). */
export function recordOf<T>(c: Check<T>, maxEntries = MAX_ITEMS): Check<Record<string, T>> {
  return check((v) => {
    if (!isRecord(v)) return `expected an object, got ${describe(v)}`;
    let n = 0;
    for (const k in v) {
      if (++n > maxEntries) return `an object of more than ${maxEntries} entries`;
      if (k.length > MAX_NAME) return `a key longer than ${MAX_NAME}`;
      const bad = c(v[k]);
      if (bad !== undefined) return `.${k}: ${bad}`;
    }
    return undefined;
  });
}

/** An object with these fields (others are allowed and ignored: a newer peer may send more). */
export function obj<T>(fields: { [K in keyof T]-?: Check<T[K]> }): Check<T> {
  const entries = Object.entries(fields) as Array<[string, (v: unknown) => string | undefined]>;
  return check((v) => {
    if (!isRecord(v)) return `expected an object, got ${describe(v)}`;
    for (const [k, c] of entries) {
      const bad = c(v[k]);
      if (bad !== undefined) return `.${k}: ${bad}`;
    }
    return undefined;
  });
}

/** The first of `checks` that fits (each a different shape); the error of the last otherwise. */
export function oneOf<A, B>(a: Check<A>, b: Check<B>): Check<A | B>;
export function oneOf<A, B, C>(a: Check<A>, b: Check<B>, c: Check<C>): Check<A | B | C>;
export function oneOf(...checks: Array<(v: unknown) => string | undefined>): Check<unknown> {
  return check((v) => {
    let bad: string | undefined;
    for (const c of checks) {
      bad = c(v);
      if (bad === undefined) return undefined;
    }
    return bad;
  });
}

/**
 * Parallel arrays of one length (a message carrying many tasks): each array
 * fits its check element by element, and they are as long as each other.
 */
export function sameLength(...fields: string[]): Check<unknown> {
  return check((v) => {
    const o = v as Record<string, unknown[]>;
    const n = o[fields[0]!]!.length;
    for (const f of fields) if (o[f]!.length !== n) return `"${f}" has ${o[f]!.length} entries, "${fields[0]}" ${n}`;
    return undefined;
  });
}

/** Both checks, in order (a shape, then a rule across its fields). */
export function both<T>(a: Check<T>, b: Check<unknown>): Check<T> {
  return check((v) => a(v) ?? b(v));
}
