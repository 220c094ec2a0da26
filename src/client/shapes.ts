// The shapes values travel in: arguments that may hold futures, and
// gathered structures whose futures are replaced by their values.

import { ActorFuture } from "./actor-future.js";
import { Future } from "./future.js";

/** Any argument may also be given as a Future or ActorFuture of its value (R-TASK-4). */
export type Args<A extends unknown[]> = { [K in keyof A]: Arg<A[K]> };
type Arg<X> =
  | X
  | Future<X>
  | ActorFuture<X>
  | (X extends readonly (infer E)[] ? Arg<E>[] : never)
  | (X extends Map<infer K, infer V> ? Map<K, Arg<V>> : never)
  | (X extends Set<infer E> ? Set<Arg<E>> : never)
  | (X extends Record<string, unknown> ? { [P in keyof X]: Arg<X[P]> } : never);

/** Gathered values keep the shape of what was given, with Futures replaced by values. */
export type Gathered<T> = T extends Future<infer V> ? V : T extends ActorFuture<infer V> ? V : T extends readonly unknown[] ? { [K in keyof T]: Gathered<T[K]> } : T extends object ? { [K in keyof T]: Gathered<T[K]> } : T;

function isFutureLike(x: unknown): x is Future | ActorFuture<unknown> {
  return x instanceof Future || x instanceof ActorFuture;
}

export function walkFutures(x: unknown, visit: (f: Future | ActorFuture<unknown>) => void): void {
  if (isFutureLike(x)) return visit(x);
  if (Array.isArray(x)) for (const v of x) walkFutures(v, visit);
  else if (x instanceof Map) for (const v of x.values()) walkFutures(v, visit);
  else if (isPlainObject(x)) for (const v of Object.values(x)) walkFutures(v, visit);
}

export function rebuild(x: unknown, value: (f: Future | ActorFuture<unknown>) => unknown): unknown {
  if (isFutureLike(x)) return value(x);
  if (Array.isArray(x)) return x.map((v) => rebuild(v, value));
  if (x instanceof Map) return new Map([...x].map(([k, v]) => [k, rebuild(v, value)]));
  if (isPlainObject(x)) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, rebuild(v, value)]));
  return x;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== "object" || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}
