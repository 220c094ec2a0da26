// A connection between two ends in one process (a LocalCluster's scheduler and
// its own client): the same batching and request/reply semantics as a socket,
// but messages pass by reference, with no encoding and no system calls.
// Senders must not change a message after sending it (nobody does).

import { CommError, TimeoutError } from "../errors.js";
import { createLogger } from "../log.js";
import type { Message, ReplyTo } from "../protocol/messages.js";
import { answerGroup, whenSettled, type CloseKind, type Connection, type ReplyHandler, type Role } from "./connection.js";
import { PendingReplies } from "./pending.js";

const log = createLogger("comm");

type Entry =
  | { kind: "msg"; msg: Message }
  | { kind: "req"; rid: number; msg: Message }
  | { kind: "group"; first: number; n: number; msg: Message }
  | { kind: "reply"; rid: number; ok: true; value: unknown }
  | { kind: "reply"; rid: number; ok: false; error: unknown };

class LocalConnection implements Connection {
  readonly peer = "in-process";
  onMessage: (msg: Message) => void = (msg) => log.warn("Dropped a message: no handler", { op: msg.op, peer: this.peer });
  onRequest: (msg: Message) => unknown = (msg) => {
    throw new CommError(`nobody serves "${msg.op}" requests here`);
  };
  onClose?: (reason: string) => void;
  other!: LocalConnection;
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;
  #open = true;
  #queue: Entry[] = [];
  #scheduled = false;
  #nextRid = 1;
  readonly #pending = new PendingReplies();

  constructor(readonly role: Role) {
    this.closed = new Promise((r) => (this.#resolveClosed = r));
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** Messages pass as objects, never decoded: only this side or its peer closes it. */
  closeKind: CloseKind | null = null;
  closeReason = "";

  // Messages pass by reference: nothing is buffered on their way, so nothing to wait for.
  readonly bufferedBytes = 0;
  readonly needsDrain = false;

  drained(): Promise<void> {
    return Promise.resolve();
  }

  send(msg: Message): void {
    if (this.#open) this.#enqueue({ kind: "msg", msg });
  }

  request<M extends Message>(msg: M, opts?: { timeoutMs?: number }): Promise<ReplyTo<M>> {
    if (!this.#open) return Promise.reject(this.#closedError(msg));
    return new Promise<ReplyTo<M>>((resolve, reject) => {
      const rid = this.#sendRequest(msg, { ok: resolve as (v: unknown) => void, fail: reject });
      if (opts?.timeoutMs !== undefined) {
        this.#pending.expire(rid, opts.timeoutMs, () => reject(new TimeoutError(`No reply to "${msg.op}" within ${opts.timeoutMs} ms`)));
      }
    });
  }

  call(msg: Message, handler: ReplyHandler): void {
    if (!this.#open) {
      const err = this.#closedError(msg);
      queueMicrotask(() => handler.fail(err));
      return;
    }
    this.#sendRequest(msg, handler);
  }

  callGroup(msg: Message, handlers: ReplyHandler[]): void {
    if (handlers.length === 0) return;
    if (!this.#open) {
      const err = this.#closedError(msg);
      queueMicrotask(() => handlers.forEach((h) => h.fail(err)));
      return;
    }
    const first = this.#nextRid;
    this.#nextRid += handlers.length;
    this.#pending.addGroup(first, msg.op, handlers);
    this.#enqueue({ kind: "group", first, n: handlers.length, msg });
  }

  #closedError(msg: Message): CommError {
    return new CommError(`Cannot send "${msg.op}": the connection is closed; reconnect first`);
  }

  #sendRequest(msg: Message, handler: ReplyHandler): number {
    const rid = this.#nextRid++;
    this.#pending.add(rid, msg.op, handler);
    this.#enqueue({ kind: "req", rid, msg });
    return rid;
  }

  close(reason = "closed by the owner"): void {
    if (!this.#open) return;
    this.flush(); // what was sent before closing still arrives
    this.closeKind = "local";
    this.other.closeKind = "remote";
    this.#finish(`closed locally: ${reason}`);
    this.other.#finish("the peer closed the connection");
  }

  #enqueue(e: Entry): void {
    this.#queue.push(e);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    this.other.#receive(batch);
  }

  #receive(batch: Entry[]): void {
    for (const e of batch) {
      if (!this.#open) return;
      if (e.kind === "msg") this.#safely(() => this.onMessage(e.msg));
      else if (e.kind === "req") this.#serve(e.rid, e.msg);
      else if (e.kind === "group") this.#serveGroup(e.first, e.n, e.msg);
      else {
        const handler = this.#pending.take(e.rid);
        if (handler === undefined) continue;
        if (e.ok) handler.ok(e.value);
        else handler.fail(e.error as Error);
      }
    }
  }

  #serve(rid: number, msg: Message): void {
    const ok = (value: unknown) => this.#open && this.#enqueue({ kind: "reply", rid, ok: true, value });
    const fail = (error: unknown) => this.#open && this.#enqueue({ kind: "reply", rid, ok: false, error });
    let out: unknown;
    try {
      out = this.onRequest(msg);
    } catch (err) {
      fail(err);
      return;
    }
    whenSettled(out, ok, fail);
  }

  #serveGroup(first: number, n: number, msg: Message): void {
    answerGroup(
      () => this.onRequest(msg),
      n,
      msg.op,
      (i, value) => this.#open && this.#enqueue({ kind: "reply", rid: first + i, ok: true, value }),
      (i, error) => this.#open && this.#enqueue({ kind: "reply", rid: first + i, ok: false, error }),
    );
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      log.error("a message handler threw", { error: String((err as Error)?.stack ?? err) });
    }
  }

  #finish(reason: string): void {
    if (!this.#open) return;
    this.#open = false;
    this.closeReason = reason;
    this.#queue = [];
    this.#pending.failAll((op) => new CommError(`The connection closed before the reply to "${op}" arrived (${reason})`));
    this.onClose?.(reason);
    this.#resolveClosed();
  }
}

/**
 * Two ends of an in-process connection. The first is the connecting side
 * (it sees the other as `peerRole`), the second the accepting side (it sees
 * `role`, as a listener would from the hello).
 */
export function localConnection(role: Role, peerRole: Role = "scheduler"): [Connection, Connection] {
  const a = new LocalConnection(peerRole);
  const b = new LocalConnection(role);
  a.other = b;
  b.other = a;
  return [a, b];
}
