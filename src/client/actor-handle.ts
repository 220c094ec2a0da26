// The typed remote handle of an actor (R-ACT-2): a Proxy whose methods send
// calls and whose attributes read remotely, each returning an ActorFuture.

import { inspect } from "node:util";
import { ConfigError } from "../errors.js";
import type { ActorMeta } from "../protocol/messages.js";
import { TO_REF } from "../serialize/index.js";
import type { ActorFuture } from "./actor-future.js";
import type { ActorStream } from "./actor-stream.js";
import type { Future } from "./future.js";
import type { ActorCaller } from "./actor-caller.js";
import type { ActorRecord } from "./actor-record.js";
import { checkCallOptions, type CallOptions } from "./options.js";

/** Methods become calls returning ActorFutures; other members become ActorFutures of their value. */
export type Actor<T> = {
  readonly [K in keyof T]: T[K] extends (...args: infer A) => infer R ? RemoteMethod<A, R> : ActorFuture<T[K]>;
};

/** A method returning an async generator is a stream; any other (`any` and `never` included) gives ActorFutures. */
type RemoteMethod<A extends unknown[], R> = 0 extends 1 & R
  ? ActorMethod<A, R>
  : [R] extends [never]
    ? ActorMethod<A, R>
    : [R] extends [AsyncGenerator<infer Y, unknown, unknown>]
      ? ActorStreamMethod<A, Y>
      : ActorMethod<A, R>;

/** A method of an actor handle: calling it sends the call. */
export type ActorMethod<A extends unknown[], R> = ((...args: RemoteArgs<A>) => ActorFuture<Awaited<R>>) & {
  /** The method with options for its calls: `counter.add.options({ timeout: 1000 })(5)`. */
  options(options: CallOptions): (...args: RemoteArgs<A>) => ActorFuture<Awaited<R>>;
};

/** A method that is an async generator: calling it gives the stream of what it yields. */
export type ActorStreamMethod<A extends unknown[], Y> = ((...args: RemoteArgs<A>) => ActorStream<Y>) & {
  /** The method with options for its calls: `source.items.options({ streamWindow: 256 })()`. */
  options(options: CallOptions): (...args: RemoteArgs<A>) => ActorStream<Y>;
};

/** Arguments of a remote call may be given as futures of their values. */
type RemoteArgs<A extends unknown[]> = { [I in keyof A]: A[I] | ActorFuture<A[I]> | Future<A[I]> };

export interface ActorInfo {
  key: string;
  className: string;
  workerAddress: string;
  methods: string[];
  attributes: string[];
}

interface HandleState {
  caller: ActorCaller;
  record: ActorRecord;
  /** Keeps the actor alive while the handle lives (clients only; handles on workers are weak). */
  anchor: unknown;
}

const states = new WeakMap<object, HandleState>();

function describe(state: HandleState): string {
  return `<Actor: ${state.record.meta.className}, key=${state.record.meta.key}>`;
}

/** @internal Build a live handle. `anchor` is held strongly by the handle (e.g. the actor's Future). */
export function createActorHandle<T>(caller: ActorCaller, meta: ActorMeta, anchor?: unknown): Actor<T> {
  const record = caller.record(meta);
  const state: HandleState = { caller, record, anchor };
  const methods = new Set(meta.methods);
  const attributes = new Set(meta.attributes);
  const streams = new Set(meta.streams ?? []);
  const boundMethods = new Map<string, ActorMethod<unknown[], unknown> | ActorStreamMethod<unknown[], unknown>>();
  // util.inspect looks at the proxy's target without running traps, so the
  // target itself carries the custom inspector.
  const target = Object.create(null) as Record<PropertyKey, unknown>;
  Object.defineProperty(target, inspect.custom, { value: () => describe(state), configurable: true });

  const handle = new Proxy(target, {
    get(_t, name) {
      if (typeof name === "symbol") {
        if (name === Symbol.toPrimitive) return () => describe(state);
        if (name === inspect.custom) return () => describe(state);
        if (name === TO_REF) return () => ({ type: "actor" as const, meta: state.record.meta });
        return undefined;
      }
      if (methods.has(name)) {
        let fn = boundMethods.get(name);
        if (!fn) {
          const send = streams.has(name)
            ? (args: unknown[], options?: CallOptions) => caller.stream(record, name, args, options)
            : (args: unknown[], options?: CallOptions) => caller.call(record, "call", name, args, options);
          const method = (...args: unknown[]) => send(args);
          method.options = (options: CallOptions) => {
            const checked = checkCallOptions(options);
            return (...args: unknown[]) => send(args, checked);
          };
          fn = method as ActorMethod<unknown[], unknown>;
          boundMethods.set(name, fn);
        }
        return fn;
      }
      if (attributes.has(name)) return caller.call(record, "get", name, []);
      return undefined; // in particular "then": a handle is not thenable
    },
    has(_t, name) {
      return typeof name === "string" && (methods.has(name) || attributes.has(name));
    },
    set(_t, name) {
      throw new TypeError(
        `cannot assign to ${String(name)} on ${describe(state)}: actor state lives on its worker; call a method of the actor to change it`,
      );
    },
    defineProperty(_t, name) {
      throw new TypeError(`cannot define ${String(name)} on ${describe(state)}: actor handles are read-only`);
    },
    deleteProperty(_t, name) {
      throw new TypeError(`cannot delete ${String(name)} on ${describe(state)}: actor handles are read-only`);
    },
    ownKeys() {
      return [];
    },
    getOwnPropertyDescriptor() {
      return undefined;
    },
  });
  states.set(handle, state);
  return handle as unknown as Actor<T>;
}

export function isActorHandle(x: unknown): boolean {
  return typeof x === "object" && x !== null && states.has(x);
}

/** Where an actor lives and what it offers. */
export function actorInfo(handle: Actor<unknown> | object): ActorInfo {
  const state = states.get(handle as object);
  if (!state) throw new ConfigError("actorInfo() takes an Actor handle (the value of a Future created with { actor: true })");
  const m = state.record.meta;
  return { key: m.key, className: m.className, workerAddress: m.workerAddress, methods: [...m.methods], attributes: [...m.attributes] };
}
