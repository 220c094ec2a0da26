// Lazy task graphs (R-GRAPH-1): delayed(fn)(...args) builds a node; nothing
// runs until client.compute() or client.persist() sends the whole graph.

import { TO_REF } from "../serialize/index.js";
import { ConfigError } from "../errors.js";
import type { Actor } from "./actor-handle.js";
import { randomKey } from "./keygen.js";
import { checkSubmitOptions, type SubmitOptions } from "./options.js";

type Fn = (...args: any[]) => unknown;
type Cls = new (...args: any[]) => unknown;

/** A node of a lazy graph; its result has type T. */
export class Delayed<T = unknown> {
  declare readonly __result?: T;
  readonly key: string;
  /** @internal */ readonly fn: Fn | Cls;
  /** @internal */ readonly args: unknown[];
  /** @internal */ readonly options: SubmitOptions;

  /** @internal Built by delayed(). */
  constructor(fn: Fn | Cls, args: unknown[], options: SubmitOptions) {
    this.fn = fn;
    this.args = args;
    this.options = options;
    this.key = options.key ?? randomKey(fn.name || "delayed");
  }

  /** Inside a graph, a node travels as a reference to its key. */
  [TO_REF]() {
    return { type: "future" as const, key: this.key };
  }

  toString(): string {
    return `<Delayed: key=${this.key}>`;
  }
}

/** A node marked as an actor arrives as a handle, so Delayed<T> stands for Actor<T> too. */
type DelayedArg<X> =
  | X
  | Delayed<X>
  | PromiseLike<X>
  | (X extends Actor<infer T> ? Delayed<T> : never)
  | (X extends readonly (infer E)[] ? DelayedArg<E>[] : never);
type DelayedArgs<A extends unknown[]> = { [K in keyof A]: DelayedArg<A[K]> };

export function delayed<C extends Cls>(cls: C, options?: SubmitOptions): (...args: DelayedArgs<ConstructorParameters<C>>) => Delayed<InstanceType<C>>;
export function delayed<F extends Fn>(fn: F, options?: SubmitOptions): (...args: DelayedArgs<Parameters<F>>) => Delayed<Awaited<ReturnType<F>>>;
export function delayed(fn: Fn | Cls, options?: SubmitOptions): (...args: unknown[]) => Delayed {
  if (typeof fn !== "function") throw new ConfigError(`delayed() takes a function or a class, got ${typeof fn}`);
  const opts = checkSubmitOptions(options, "delayed");
  return (...args: unknown[]) => new Delayed(fn, args, opts);
}

/** The Delayed nodes directly inside a node's arguments. */
function children(node: Delayed): Delayed[] {
  const found: Delayed[] = [];
  const stack = new Set<unknown>();
  const visit = (v: unknown): void => {
    if (v instanceof Delayed) return void found.push(v);
    if (typeof v !== "object" || v === null || stack.has(v)) return;
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return;
    if (typeof (v as Record<symbol, unknown>)[TO_REF] === "function") return; // Futures, handles
    stack.add(v);
    if (Array.isArray(v)) for (const x of v) visit(x);
    else if (v instanceof Map) for (const [k, x] of v) { visit(k); visit(x); }
    else if (v instanceof Set) for (const x of v) visit(x);
    else for (const x of Object.values(v)) visit(x);
    stack.delete(v);
  };
  for (const a of node.args) visit(a);
  return found;
}

/** Every node reachable from `roots`, dependencies first. Iterative: chains may be thousands long. */
export function collectGraph(roots: Delayed[]): Delayed[] {
  const order: Delayed[] = [];
  const done = new Set<Delayed>();
  const stack: Array<{ node: Delayed; expanded: boolean }> = roots.map((node) => ({ node, expanded: false })).reverse();
  while (stack.length > 0) {
    const top = stack.pop()!;
    if (done.has(top.node)) continue;
    if (top.expanded) {
      done.add(top.node);
      order.push(top.node);
      continue;
    }
    stack.push({ node: top.node, expanded: true });
    for (const c of children(top.node)) if (!done.has(c)) stack.push({ node: c, expanded: false });
  }
  return order;
}
