// Requests sent and not yet answered, by request id, for both kinds of
// connection. A request group keeps its caller's array of handlers: the
// thousands of calls a pipelining caller has in flight cost no object or
// hash entry each, only a slot in an array that already exists. While any
// request waits for its reply, the process stays alive (keep-alive.ts).

import { createLogger } from "../log.js";
import type { ReplyHandler } from "./connection.js";
import { hold, release } from "./keep-alive.js";

const log = createLogger("comm");

interface Single {
  handler: ReplyHandler;
  op: string;
  timer: NodeJS.Timeout | undefined;
}

interface Group {
  first: number;
  handlers: Array<ReplyHandler | undefined>;
  op: string;
  /** Handlers not yet taken. */
  left: number;
}

export class PendingReplies {
  readonly #single = new Map<number, Single>();
  /** In the order of their first id (ids only grow). */
  #groups: Group[] = [];
  /** The op of the request `take` last returned a handler for (for messages about it). */
  lastOp = "";
  /** Requests waiting, groups counted by their requests: one keep-alive hold while above zero. */
  #waiting = 0;

  add(rid: number, op: string, handler: ReplyHandler): void {
    if (this.#waiting++ === 0) hold();
    this.#single.set(rid, { handler, op, timer: undefined });
  }

  /** Ids first … first + handlers.length − 1. The array is kept (and emptied as replies arrive). */
  addGroup(first: number, op: string, handlers: ReplyHandler[]): void {
    if (handlers.length === 0) return;
    if (this.#waiting === 0) hold();
    this.#waiting += handlers.length;
    this.#groups.push({ first, handlers, op, left: handlers.length });
  }

  /** A handler leaves the table. */
  #answered(): void {
    if (--this.#waiting === 0) release();
  }

  /** Fail a single request after `ms` unless it is answered first. */
  expire(rid: number, ms: number, onExpired: () => void): void {
    const s = this.#single.get(rid);
    if (s) s.timer = setTimeout(() => this.take(rid) && onExpired(), ms);
  }

  /** The handler waiting for `rid`, no longer waiting; undefined if none (answered, timed out, unknown). */
  take(rid: number): ReplyHandler | undefined {
    const s = this.#single.get(rid);
    if (s !== undefined) {
      this.#single.delete(rid);
      if (s.timer) clearTimeout(s.timer);
      this.lastOp = s.op;
      this.#answered();
      return s.handler;
    }
    const gi = this.#groupOf(rid);
    if (gi < 0) return undefined;
    const g = this.#groups[gi]!;
    const handler = g.handlers[rid - g.first];
    if (handler === undefined) return undefined;
    g.handlers[rid - g.first] = undefined;
    if (--g.left === 0) {
      if (gi === 0) this.#groups.shift();
      else this.#groups.splice(gi, 1);
    }
    this.lastOp = g.op;
    this.#answered();
    return handler;
  }

  /** Index of the group holding `rid`, or −1. Replies mostly come in order: the first group is tried first. */
  #groupOf(rid: number): number {
    const gs = this.#groups;
    if (gs.length === 0) return -1;
    const g0 = gs[0]!;
    if (rid >= g0.first && rid < g0.first + g0.handlers.length) return 0;
    let lo = 1;
    let hi = gs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const g = gs[mid]!;
      if (rid < g.first) hi = mid - 1;
      else if (rid >= g.first + g.handlers.length) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** Every waiting handler fails, in the order the requests were sent (the connection closed); the table is left empty. */
  failAll(error: (op: string) => Error): void {
    const singles = [...this.#single.entries()];
    const groups = this.#groups;
    this.#single.clear();
    this.#groups = [];
    if (this.#waiting > 0) {
      this.#waiting = 0;
      release();
    }
    let si = 0;
    for (const g of groups) {
      for (; si < singles.length && singles[si]![0] < g.first; si++) failSingle(singles[si]![1], error);
      for (const h of g.handlers) if (h) failOne(h, g.op, error);
    }
    for (; si < singles.length; si++) failSingle(singles[si]![1], error);
  }
}

function failSingle(s: Single, error: (op: string) => Error): void {
  if (s.timer) clearTimeout(s.timer);
  failOne(s.handler, s.op, error);
}

/** One handler that throws must not keep the others from learning of the close. */
function failOne(handler: ReplyHandler, op: string, error: (op: string) => Error): void {
  try {
    handler.fail(error(op));
  } catch (err) {
    log.error(`The reply handler of a "${op}" request threw: ${err instanceof Error ? err.stack : String(err)}`);
  }
}
