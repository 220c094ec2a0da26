// A Connection carries messages both ways over a Transport: it batches what is
// sent in one event-loop turn into one write, matches replies to requests,
// and closes itself (never throws) when the peer sends bad bytes.

import { CommError, ProtocolError, RemoteError, TimeoutError, TROUPE_ERRORS, type TroupeError } from "../errors.js";
import { createLogger } from "../log.js";
import type { ErrorInfo, Message, ReplyTo } from "../protocol/messages.js";
import { BatchDecoder, encodeBatch, type ErrorReply, unitEnd, type WireEntry } from "./frames.js";
import { MAX_UNAUTHENTICATED_BYTES } from "./handshake.js";
import { hold, release } from "./keep-alive.js";
import { LogThrottle } from "./log-throttle.js";
import { PendingReplies } from "./pending.js";
import type { Transport } from "./transport.js";

const log = createLogger("comm");

export type Role = "client" | "worker" | "peer" | "scheduler";

/**
 * What the connection's owner accepts from the peer (protocol/schemas.ts
 * provides one per side). Checked before any handler sees a message: one that
 * fails closes the connection, with the reason in the log.
 */
export interface WireSchema {
  /** Why `msg` (a message, a request, or a request group's message when `group`) is not acceptable; undefined when it is. */
  message(msg: { op: string }, group: boolean): string | undefined;
  /** Why `value` is not a valid reply to a request of `op`; undefined when it is. */
  reply(op: string, value: unknown): string | undefined;
}

export interface Connection {
  /** Remote "host:port", for logs. */
  readonly peer: string;
  /** The role the other side declared in its hello ("peer" on the connecting side). */
  readonly role: Role;
  /** Every message that is neither a request nor a reply, in arrival order. */
  onMessage: (msg: Message) => void;
  /**
   * Called synchronously, in arrival order, for each request. The return value
   * (or what a returned Promise resolves to) is sent back as the reply; a throw
   * or rejection sends an error reply.
   */
  onRequest: (msg: Message) => unknown;
  onClose?: (reason: string) => void;
  /** Checks what arrives, once set (with the handlers); nothing is checked without one. */
  schema?: WireSchema;
  /** What a message counts for when deciding to write mid-turn (see FLUSH_ENTRIES); 1 when unset. */
  weigh?: (msg: Message) => number;
  /** Queue a message; what is queued in one event-loop turn goes out as one batch (several when it is long). */
  send(msg: Message): void;
  /** Send a request; resolves to its reply (typed by its op), rejects CommError if the connection closes first, TimeoutError after timeoutMs. */
  request<M extends Message>(msg: M, opts?: { timeoutMs?: number }): Promise<ReplyTo<M>>;
  /** Send a request whose outcome goes to `handler` (no promise: for hot paths such as actor calls). */
  call(msg: Message, handler: ReplyHandler): void;
  /**
   * Send one message that stands for `handlers.length` requests (a request
   * group). The peer's onRequest answers it with an array of as many
   * outcomes (values or promises); each goes to its handler on its own. The
   * connection keeps `handlers` and clears each slot as its reply arrives:
   * the caller must not change or reuse the array.
   */
  callGroup(msg: Message, handlers: ReplyHandler[]): void;
  /**
   * Write what is queued now rather than at the end of the turn: for a sender
   * that queues its last messages of a turn from inside a setImmediate, whose
   * end-of-turn write would otherwise wait a whole loop iteration.
   */
  flush(): void;
  /**
   * Bytes sent and not yet taken by the system: batches this connection
   * holds back while its socket is full, and the socket's own buffer.
   */
  readonly bufferedBytes: number;
  /**
   * True while the peer takes bytes more slowly than they are sent: batches
   * then wait in the connection, and a sender that can wait (one with a
   * stream of calls or data) should hold the rest until drained().
   */
  readonly needsDrain: boolean;
  /** Resolves once needsDrain is false (at once if it is) or the connection is closed. */
  drained(): Promise<void>;
  /** Idempotent. Queued messages are still written; pending requests reject with CommError. */
  close(reason?: string): void;
  /** Resolves (never rejects) once closed for any reason. */
  readonly closed: Promise<void>;
  readonly isOpen: boolean;
  /** Once closed: by this side, by the peer (or the link), or because the peer sent what is not valid troupe. */
  readonly closeKind: CloseKind | null;
  /** Why it closed ("" while open). */
  readonly closeReason: string;
}

const enum State {
  Handshake,
  Open,
  Closed,
}

/** Receives the outcome of one request: exactly one of its methods is called, once. */
export interface ReplyHandler {
  ok(value: unknown): void;
  fail(err: Error): void;
}

/** A promise, or anything else with a then(). */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === "object" && typeof (v as PromiseLike<unknown>).then === "function";
}

/** Passes `value` to `ok` now, or once it settles if it is a promise (a rejection goes to `fail`). */
export function whenSettled(value: unknown, ok: (v: unknown) => void, fail: (err: unknown) => void): void {
  if (isThenable(value)) value.then(ok, fail);
  else ok(value);
}

/** A handler-based request as a promise: `send` passes the handler on. */
export function promised<T>(send: (handler: ReplyHandler) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => send({ ok: resolve as (v: unknown) => void, fail: reject }));
}

/**
 * A turn that queues this many messages, requests and replies (a request
 * group counts as the requests it stands for, a message carrying many tasks
 * as its tasks) writes them at once rather than
 * at its end: the peer starts on the first ones while later ones are still
 * being made (a caller issuing thousands of actor calls in one loop), and no
 * batch grows huge.
 */
const FLUSH_ENTRIES = 1024;

/** Why a connection ended: decides whether a connect attempt is worth retrying. */
export type CloseKind = "local" | "remote" | "protocol";

const strangersFailed = new LogThrottle((n, last) =>
  log.warn(`Closed ${n} connection${n === 1 ? "" : "s"} that broke the protocol before the handshake (the latest, ${last})`),
);

export class WireConnection implements Connection {
  role: Role = "peer";
  onMessage: (msg: Message) => void = (msg) => {
    log.warn("Dropped a message: no onMessage handler is set on this connection", { peer: this.peer, op: msg.op });
  };
  onRequest: (msg: Message) => unknown = (msg) => {
    throw new ProtocolError(`This side does not answer "${msg.op}" requests (no request handler is set)`);
  };
  onClose?: (reason: string) => void;
  schema?: WireSchema;
  weigh?: (msg: Message) => number;
  readonly closed: Promise<void>;
  /** Header frames written and received: one per batch. */
  batchesSent = 0;
  batchesReceived = 0;
  closeReason = "";
  closeKind: CloseKind | null = null;
  /** During the handshake, every message goes here instead of to the owner. */
  handshakeHandler: (msg: Message) => void = () => {};

  private state = State.Handshake;
  private queue: WireEntry[] = [];
  /** Requests and messages queued: a group counts as many as it stands for. */
  private queuedWeight = 0;
  private flushScheduled = false;
  private readonly pending = new PendingReplies();
  private nextRid = 1;
  private readonly decoder = new BatchDecoder();
  // Batches that arrive between the handshake and the owner installing its
  // handlers (which it does after `await connect()` or inside onConnection).
  private held: WireEntry[][] | null = null;
  private heldClose: string | null = null;
  private resolveClosed!: () => void;
  private readonly flushBound = () => this.flush();
  /** Batches encoded while the transport was full, in order; written as it drains. */
  #backlog: Uint8Array[][] = [];
  #backlogBytes = 0;
  /** The transport is above its high-water mark: it takes nothing more until it drains. */
  #blocked = false;
  #drainWaiters: Array<() => void> = [];

  constructor(private readonly transport: Transport) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    // Until the handshake completes, the peer is a stranger: it may make this side hold only a little.
    this.decoder.setLimit(MAX_UNAUTHENTICATED_BYTES, "before the handshake completed; a troupe peer sends only its hello (or the answer to it) first");
    transport.onData = (chunk) => this.receive(chunk);
    transport.readTarget = () => (this.state === State.Closed ? null : this.decoder.readTarget());
    transport.onDataInto = (n) => this.receive(n);
    transport.onDrain = () => this.#drain();
    transport.onClose = (reason) => this.transportClosed(reason);
  }

  get bufferedBytes(): number {
    return this.#backlogBytes + this.transport.bufferedBytes;
  }

  get needsDrain(): boolean {
    return this.#blocked;
  }

  drained(): Promise<void> {
    if (!this.#blocked || this.state === State.Closed) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  get peer(): string {
    return this.transport.peer;
  }

  get isOpen(): boolean {
    return this.state === State.Open;
  }

  /** End the handshake: from the next macrotask on, messages go to the owner's handlers. */
  open(role: Role): void {
    if (this.state !== State.Handshake) return;
    this.state = State.Open;
    this.role = role;
    this.decoder.setLimit(Infinity);
    this.held = [];
    setImmediate(() => this.release());
  }

  send(msg: Message): void {
    if (this.state === State.Closed) {
      log.debug("Dropped a message sent on a closed connection", { peer: this.peer, op: msg.op });
      return;
    }
    this.enqueue(msg, undefined, this.weigh?.(msg) ?? 1);
  }

  request<M extends Message>(msg: M, opts?: { timeoutMs?: number }): Promise<ReplyTo<M>> {
    if (this.state === State.Closed) return Promise.reject(this.closedError(msg));
    const timeoutMs = opts?.timeoutMs;
    return new Promise<ReplyTo<M>>((resolve, reject) => {
      const rid = this.sendRequest(msg, { ok: resolve as (v: unknown) => void, fail: reject });
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        this.pending.expire(rid, Math.max(0, timeoutMs), () =>
          reject(new TimeoutError(`No reply to "${msg.op}" from ${this.peer} within ${timeoutMs} ms; the peer may be overloaded or gone`)),
        );
      }
    });
  }

  call(msg: Message, handler: ReplyHandler): void {
    if (this.state === State.Closed) {
      const err = this.closedError(msg);
      queueMicrotask(() => handler.fail(err));
      return;
    }
    this.sendRequest(msg, handler);
  }

  callGroup(msg: Message, handlers: ReplyHandler[]): void {
    if (handlers.length === 0) return;
    if (this.state === State.Closed) {
      const err = this.closedError(msg);
      queueMicrotask(() => handlers.forEach((h) => h.fail(err)));
      return;
    }
    const first = this.nextRid;
    this.nextRid += handlers.length;
    this.pending.addGroup(first, msg.op, handlers);
    this.enqueue([first, handlers.length], msg, handlers.length);
  }

  private closedError(msg: Message): CommError {
    return new CommError(`Cannot send "${msg.op}" to ${this.peer}: the connection is closed (${this.closeReason}); reconnect first`);
  }

  private sendRequest(msg: Message, handler: ReplyHandler): number {
    const rid = this.nextRid++;
    this.pending.add(rid, msg.op, handler);
    this.enqueue(rid, msg);
    return rid;
  }

  close(reason = "closed by the owner"): void {
    if (this.state === State.Closed) return;
    if (this.flushScheduled) this.flush();
    // Whatever waited for room goes now: end() lets the socket finish writing it (within its grace).
    for (const chunks of this.#backlog) this.transport.write(chunks);
    this.#backlog = [];
    this.#backlogBytes = 0;
    // finish() first: the transport may report its own close synchronously.
    this.finish(`closed locally: ${reason}`, "local");
    this.#holdUntilClosed();
    this.transport.end();
  }

  /** Close because the peer broke the protocol: drop it now and say why in the log (unless the caller logs it its own way). */
  fail(why: string, logIt = true): void {
    if (this.state === State.Closed) return;
    // Before the handshake the peer may be anyone, thousands of times a second: a line per second, with a count.
    if (logIt && this.state === State.Handshake) strangersFailed.note(`${this.peer}: ${why}`);
    else if (logIt) log.warn(`Closing connection: ${why}`, { peer: this.peer });
    this.finish(`protocol error: ${why}`, "protocol");
    this.#holdUntilClosed();
    this.transport.destroy();
  }

  /** A close this side started is seen through (its last bytes written, `closed` resolved) before the process may exit. */
  #holdUntilClosed(): void {
    hold();
    void this.closed.then(release);
  }

  // ------------------------------------------------------------ sending

  /** Queue one message, or an id (or a group's ids) and what it tags: they never part. */
  private enqueue(e: WireEntry, tagged?: WireEntry, weight = 1): void {
    this.queue.push(e);
    if (typeof e === "number" || Array.isArray(e)) this.queue.push(tagged);
    this.queuedWeight += weight;
    if (this.queuedWeight >= FLUSH_ENTRIES) {
      const entries = this.queue;
      this.queue = [];
      this.queuedWeight = 0;
      this.writeEntries(entries);
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
  }

  flush(): void {
    this.flushScheduled = false;
    const entries = this.queue;
    if (entries.length === 0) return;
    this.queue = [];
    this.queuedWeight = 0;
    if (this.state === State.Closed && this.closeKind !== "local") return;
    this.writeEntries(entries);
  }

  private writeEntries(entries: WireEntry[]): void {
    let chunks: Uint8Array[];
    try {
      chunks = encodeBatch(entries);
    } catch (err) {
      if (unitEnd(entries, 0) < entries.length) {
        // Too large, or some entry cannot be encoded: halve at a unit boundary
        // (an id never parts from what it tags) until each culprit stands alone.
        let mid = unitEnd(entries, 0);
        while (mid < entries.length >> 1) mid = unitEnd(entries, mid);
        this.writeEntries(entries.slice(0, mid));
        this.writeEntries(entries.slice(mid));
      } else {
        this.unitFailed(entries, err);
      }
      return;
    }
    this.batchesSent++;
    if (this.#blocked) {
      this.#backlog.push(chunks);
      for (const c of chunks) this.#backlogBytes += c.byteLength;
    } else {
      this.#blocked = !this.transport.write(chunks);
    }
  }

  /** The transport took what it held: write held-back batches until it is full again, then wake who waits for room. */
  #drain(): void {
    this.#blocked = false;
    let i = 0;
    while (!this.#blocked && i < this.#backlog.length) {
      const chunks = this.#backlog[i++]!;
      for (const c of chunks) this.#backlogBytes -= c.byteLength;
      this.#blocked = !this.transport.write(chunks);
    }
    this.#backlog.splice(0, i);
    if (!this.#blocked) this.#wakeDrainWaiters();
  }

  #wakeDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    if (waiters.length === 0) return;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /** One unit (a message, a request or group, a reply) cannot be encoded: say so to whoever waits for it. */
  private unitFailed(unit: WireEntry[], err: unknown): void {
    const why = err instanceof Error ? err.message : String(err);
    const head = unit[0] as Message | ErrorReply | number | [number, number];
    if (Array.isArray(head)) {
      const [first, n] = head;
      for (let rid = first; rid < first + n; rid++) this.failPending(rid, why);
    } else if (typeof head === "number" && head > 0) {
      this.failPending(head, why);
    } else if (typeof head === "number" || head.op === "reply") {
      const rid = typeof head === "number" ? -head : head.rid;
      const error = errorInfo(new ProtocolError(`The reply could not be encoded: ${why}; return plain data or a Payload`));
      this.writeEntries([{ op: "reply", rid, ok: false, error } satisfies ErrorReply]);
    } else {
      log.error(`Dropped a "${head.op}" message that could not be encoded: ${why}`, { peer: this.peer });
    }
  }

  /** A request that could not be encoded fails on this side. */
  private failPending(rid: number, why: string): void {
    const handler = this.pending.take(rid);
    handler?.fail(new ProtocolError(`Could not encode the "${this.pending.lastOp}" request: ${why}`));
  }

  // ------------------------------------------------------------ receiving

  /** Bytes arrived: a chunk, or a count written into the decoder's read target. */
  private receive(chunk: Uint8Array | number): void {
    if (this.state === State.Closed) return;
    if (typeof chunk === "number") this.decoder.wrote(chunk);
    else this.decoder.push(chunk);
    for (;;) {
      let batch: WireEntry[] | null;
      try {
        batch = this.decoder.next();
      } catch (err) {
        this.fail(err instanceof Error ? err.message : String(err));
        return;
      }
      if (batch === null) return;
      this.batchesReceived++;
      if (this.held !== null) this.held.push(batch);
      else this.dispatch(batch, 0);
      if ((this.state as State) === State.Closed) return; // a handler may have closed it
    }
  }

  private release(): void {
    const held = this.held;
    this.held = null;
    if (held === null) return;
    for (const batch of held) {
      if (this.state === State.Closed) return;
      this.dispatch(batch, 0);
    }
    if (this.heldClose !== null) this.transportClosed(this.heldClose);
  }

  private dispatch(batch: WireEntry[], from: number): void {
    for (let i = from; i < batch.length; i++) {
      if (this.state === State.Closed) return;
      if (this.held !== null) {
        // The handshake just completed inside this batch.
        this.held.push(batch.slice(i));
        return;
      }
      const e = batch[i] as Message | ErrorReply | number | [number, number];
      if (Array.isArray(e)) {
        const msg = batch[++i] as Message;
        if (this.state === State.Handshake) return this.fail(`a "${msg.op}" request group arrived before the handshake completed`);
        const bad = this.schema?.message(msg, true);
        if (bad !== undefined) return this.fail(bad);
        this.handleGroup(e[0], e[1], msg);
      } else if (typeof e === "number") {
        const tagged = batch[++i];
        if (this.state === State.Handshake) return this.fail(e > 0 ? `a "${(tagged as Message).op}" request arrived before the handshake completed` : "a reply arrived before the handshake completed");
        if (e > 0) {
          const bad = this.schema?.message(tagged as Message, false);
          if (bad !== undefined) return this.fail(bad);
          this.handleRequest(e, tagged as Message);
        } else this.handleReply(-e, true, tagged);
      } else if (e.op === "reply") {
        if (this.state === State.Handshake) return this.fail("a reply arrived before the handshake completed");
        this.handleReply(e.rid, false, e.error);
      } else if (this.state === State.Handshake) {
        this.handshakeHandler(e);
      } else if (e.op === "hello" || e.op === "welcome" || e.op === "refused") {
        return this.fail(`a "${e.op}" message arrived after the handshake`);
      } else {
        const bad = this.schema?.message(e, false);
        if (bad !== undefined) return this.fail(bad);
        try {
          this.onMessage(e);
        } catch (err) {
          log.error(`The "${e.op}" message handler threw: ${err instanceof Error ? err.stack : String(err)}`, { peer: this.peer });
        }
      }
    }
  }

  private handleRequest(rid: number, msg: Message): void {
    let result: unknown;
    try {
      result = this.onRequest(msg);
    } catch (err) {
      this.replyError(rid, err);
      return;
    }
    whenSettled(
      result,
      (value) => this.replyOk(rid, value),
      (err) => this.replyError(rid, err),
    );
  }

  private handleGroup(first: number, n: number, msg: Message): void {
    answerGroup(
      () => this.onRequest(msg),
      n,
      msg.op,
      (i, value) => this.replyOk(first + i, value),
      (i, err) => this.replyError(first + i, err),
    );
  }

  private replyOk(rid: number, value: unknown): void {
    if (this.state !== State.Closed) this.enqueue(-rid, value);
  }

  private replyError(rid: number, err: unknown): void {
    if (this.state !== State.Closed) this.enqueue({ op: "reply", rid, ok: false, error: errorInfo(err) } satisfies ErrorReply);
  }

  private handleReply(rid: number, ok: boolean, outcome: unknown): void {
    const handler = this.pending.take(rid);
    if (handler === undefined) {
      log.debug("Ignored a reply to an unknown or timed-out request", { peer: this.peer, rid });
      return;
    }
    const op = this.pending.lastOp;
    const bad = ok ? this.schema?.reply(op, outcome) : undefined;
    if (bad !== undefined) {
      // A peer answering nonsense is closed; the request fails with what was wrong.
      handler.fail(new ProtocolError(`${this.peer} sent ${bad}`));
      this.fail(bad);
      return;
    }
    try {
      if (ok) handler.ok(outcome);
      else handler.fail(errorFromInfo(outcome as ErrorInfo));
    } catch (err) {
      // Whatever a peer answered, it must not take this process down.
      log.error(`The reply handler of a "${op}" request threw: ${err instanceof Error ? err.stack : String(err)}`, { peer: this.peer });
    }
  }

  // ------------------------------------------------------------ closing

  private transportClosed(reason: string): void {
    if (this.held !== null && this.state !== State.Closed) {
      // Deliver what arrived before the close first.
      this.heldClose = reason;
      return;
    }
    this.finish(reason, "remote");
    this.resolveClosed();
  }

  private finish(reason: string, kind: CloseKind): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.closeReason = reason;
    this.closeKind = kind;
    this.held = null;
    // What the peer sent and this side has not decoded, and what waited to be sent to it, go with it.
    this.decoder.discard();
    this.#backlog = [];
    this.#backlogBytes = 0;
    this.#blocked = false;
    this.#wakeDrainWaiters();
    this.pending.failAll((op) => new CommError(`Connection to ${this.peer} closed before the reply to "${op}" arrived (${reason})`));
    if (this.onClose) {
      try {
        this.onClose(reason);
      } catch (err) {
        log.error(`The connection's onClose handler threw: ${err instanceof Error ? err.stack : String(err)}`, { peer: this.peer });
      }
    }
  }
}

/**
 * Serve a request group: `serve` must answer with one outcome per request (a
 * value or a promise); each is reported on its own as soon as it is known. A
 * throw, or an answer of the wrong shape, fails every request of the group.
 */
export function answerGroup(
  serve: () => unknown,
  n: number,
  op: string,
  ok: (i: number, value: unknown) => void,
  fail: (i: number, err: unknown) => void,
): void {
  let out: unknown;
  try {
    out = serve();
    if (!Array.isArray(out) || out.length !== n) {
      throw new ProtocolError(`a "${op}" group of ${n} requests was answered with ${Array.isArray(out) ? `${out.length} outcomes` : typeof out}`);
    }
  } catch (err) {
    for (let i = 0; i < n; i++) fail(i, err);
    return;
  }
  for (let i = 0; i < n; i++) {
    whenSettled(
      out[i],
      (v) => ok(i, v),
      (e) => fail(i, e),
    );
  }
}

/** An error as it goes into an error reply. */
export function errorInfo(err: unknown): ErrorInfo {
  if (err instanceof Error) {
    const info: ErrorInfo = { name: err.name, message: err.message, stack: err.stack ?? "" };
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string") info.code = code;
    return info;
  }
  return { name: "Error", message: String(err), stack: "" };
}

/** The error an error reply stands for: a troupe error class when the name is one, else RemoteError. */
export function errorFromInfo(info: ErrorInfo): Error {
  const Cls = Object.prototype.hasOwnProperty.call(TROUPE_ERRORS, info.name) ? TROUPE_ERRORS[info.name] : undefined;
  const err: TroupeError = Cls ? new Cls(info.message) : new RemoteError(info.name, info.message);
  if (typeof info.stack === "string" && info.stack.length > 0) err.stack = info.stack;
  return err;
}
