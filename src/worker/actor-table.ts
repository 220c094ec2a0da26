// The actors living on one actor thread: created with `new`, called by name,
// disposed when released (R-ACT-5, R-ACT-6, R-ACT-9).

import type { Key } from "../protocol/messages.js";
import type { ActorShape } from "./thread-protocol.js";

/** Raised when a call names an actor this thread does not hold (released, or never here). */
export class MissingActorError extends Error {}

interface Entry {
  instance: Record<string, unknown>;
  className: string;
}

/** Methods, accessors and own fields at construction time: what `name in handle` reflects. */
export function shapeOf(instance: object, className: string): ActorShape {
  const methods = new Set<string>();
  const attributes = new Set<string>();
  for (let proto = Object.getPrototypeOf(instance); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === "constructor" || methods.has(name) || attributes.has(name)) continue;
      const d = Object.getOwnPropertyDescriptor(proto, name)!;
      if (d.get || d.set) attributes.add(name);
      else if (typeof d.value === "function") methods.add(name);
      else attributes.add(name);
    }
  }
  for (const name of Object.keys(instance)) {
    if (methods.has(name) || attributes.has(name)) continue;
    if (typeof (instance as Record<string, unknown>)[name] === "function") methods.add(name);
    else attributes.add(name);
  }
  return { className, methods: [...methods], attributes: [...attributes] };
}

export class ActorTable {
  readonly #actors = new Map<Key, Entry>();

  has(key: Key): boolean {
    return this.#actors.has(key);
  }

  async create(key: Key, cls: Function, args: unknown[]): Promise<ActorShape> {
    if (typeof cls !== "function") throw new TypeError(`an actor must be created from a class, got ${typeof cls}`);
    const instance = Reflect.construct(cls, args) as Record<string, unknown>;
    const className = cls.name || "Actor";
    this.#actors.set(key, { instance, className });
    return shapeOf(instance, className);
  }

  /**
   * Run a method or read an attribute. A sync method runs to completion
   * before this returns; an async one interleaves with others at its awaits.
   */
  invoke(key: Key, kind: "call" | "get", name: string, args: unknown[]): unknown {
    const entry = this.#actors.get(key);
    if (!entry) throw new MissingActorError(`this worker holds no actor ${key}`);
    if (kind === "get") return entry.instance[name];
    const method = entry.instance[name];
    if (typeof method !== "function") {
      throw new TypeError(`${entry.className}.${name} is not a method (it is ${typeof method})`);
    }
    return (method as (...a: unknown[]) => unknown).apply(entry.instance, args);
  }

  /** Forget actors and run their dispose hooks; errors in hooks are reported, not thrown. */
  async free(keys: Key[], report: (err: unknown, key: Key) => void): Promise<void> {
    for (const key of keys) {
      const entry = this.#actors.get(key);
      if (!entry) continue;
      this.#actors.delete(key);
      const inst = entry.instance as Record<symbol, unknown>;
      try {
        const asyncDispose = (Symbol as { asyncDispose?: symbol }).asyncDispose;
        const dispose = (Symbol as { dispose?: symbol }).dispose;
        if (asyncDispose && typeof inst[asyncDispose] === "function") await (inst[asyncDispose] as () => unknown).call(inst);
        else if (dispose && typeof inst[dispose] === "function") (inst[dispose] as () => unknown).call(inst);
      } catch (err) {
        report(err, key);
      }
    }
  }

  keys(): Key[] {
    return [...this.#actors.keys()];
  }
}
