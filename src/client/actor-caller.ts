// Sends actor calls straight to the worker holding the actor (R-ACT-4) and
// turns replies into ActorFuture outcomes. Follows an actor that was
// re-created elsewhere (restarts) and reports one that is gone (R-ACT-11).
// Counts each actor's calls until they settle, so that its owner releases it
// only after them (R-ACT-9b) and forgets what it knew of it. Bounds the calls
// in flight to each actor (R-FLOW-2): past the bound, calls wait unencoded
// and leave in order as earlier ones settle. They wait the same way while the
// connection to the actor is full (R-FLOW-1), so a worker that stops reading
// costs a bounded number of bytes, not the bound of every actor it hosts.

import { checkFrameSize, promised, type ReplyHandler } from "../comm/index.js";
import { Payload } from "../protocol/payload.js";
import { ActorLostError, CommError, ProtocolError } from "../errors.js";
import type { ActorCallFailure, ActorCallReply, ActorMeta, ActorStreamOpened, Address, ErrorInfo, Key, Message, WhereIsActorReply } from "../protocol/messages.js";
import { serialize } from "../serialize/index.js";
import { ActorFuture, type CallCanceller } from "./actor-future.js";
import { ActorStream, DEFAULT_STREAM_WINDOW, OpenedStream, type StreamSource } from "./actor-stream.js";
import { NO_ARGS, Inflight, SentCall, type ActorRecord, type CallAnswers, type QueuedCall } from "./actor-record.js";
import { CallQueue } from "./call-queue.js";
import { DEFAULT_PENDING_CALL_LIMITS, type CallOptions, type PendingCallLimits } from "./options.js";

export type LocalActorDispatcher = (
  key: Key,
  kind: "call" | "get",
  name: string,
  args: unknown[],
) => Promise<unknown> | undefined;

export type ActorLocation = WhereIsActorReply;

/** What the caller needs from its owner (a Client, or a worker thread's context). */
export interface ActorTransport {
  /** Send a request to a worker (directly, or through the scheduler's proxy); the outcome goes to `handler`. */
  call(address: Address, msg: Message, handler: ReplyHandler): void;
  /** Send a request group straight to an actor thread's endpoint (absent: calls go one by one). Keeps `handlers`. */
  callGroup?(address: Address, msg: Message, handlers: ReplyHandler[]): void;
  /** Ask the scheduler where an actor lives now. */
  locate(key: Key): Promise<ActorLocation>;
  /** A value, or a promise of it when classes must be loaded to decode it. */
  decode(payload: Payload): unknown;
  decodeError(info: ErrorInfo): Promise<Error>;
  connectTimeoutMs: number;
  /** Same-thread actors are called without the network. */
  local?: LocalActorDispatcher;
  /** Drop the connection to a worker known to be gone: requests waiting on it fail at once. */
  forget?(address: Address): void;
  /** Calls may go to an actor thread's own endpoint (false: through the worker, e.g. via the scheduler's proxy). */
  direct: boolean;
  /** Whether the owner holds the actor (its Future, or a handle that keeps it alive): its record stays while it does. */
  holds(key: Key): boolean;
  /** While the connection to `address` is full (the worker reads more slowly than calls go), a promise of room; undefined when calls may go. */
  congested?(address: Address): Promise<void> | undefined;
}

const RELOCATE_POLL_MS = 100;
/**
 * Calls waiting at the bound leave once the calls in flight are down to this
 * share of it: sent a few at a time as replies trickle in, they would reach
 * the actor in small batches, each answered in a small batch, and stay small.
 */
const RESUME_AT = 0.75;
/** Most calls in one group: a long loop of calls still reaches the actor in pieces it can start on. */
const GROUP_MAX = 256;
/** Most payload parts in one group, far below the most out-of-band frames one batch may carry. */
const GROUP_MAX_PARTS = 4096;
/** How often, and after how long, unanswered calls make us ask the scheduler whether the actor still lives. */
const WATCH_EVERY_MS = 1000;
const WATCH_AFTER_MS = 1500;

export class ActorCaller implements CallCanceller, CallAnswers {
  readonly #records = new Map<Key, ActorRecord>();
  /** Numbers calls sent to actor endpoints, so that a cancellation can name one. */
  #nextCid = 0;
  readonly #transport: ActorTransport;
  readonly #maxCalls: number;
  readonly #maxBytes: number;
  readonly #resumeCalls: number;
  readonly #resumeBytes: number;
  #watch?: NodeJS.Timeout;

  constructor(transport: ActorTransport, limits: PendingCallLimits = DEFAULT_PENDING_CALL_LIMITS) {
    this.#transport = transport;
    this.#maxCalls = limits.calls;
    this.#maxBytes = limits.bytes;
    this.#resumeCalls = Math.floor(limits.calls * RESUME_AT);
    this.#resumeBytes = Math.floor(limits.bytes * RESUME_AT);
  }

  /**
   * A call sent to a worker whose link went silent would wait forever: while
   * calls are unanswered, ask the scheduler now and then whether the actor
   * still lives where we think.
   */
  #watchInflight(): void {
    if (this.#watch) return;
    this.#watch = setInterval(() => {
      let any = false;
      const now = Date.now();
      for (const rec of this.#records.values()) {
        const oldest = rec.inflight.oldestSentMs();
        if (oldest === undefined) continue;
        any = true;
        if (now - oldest > WATCH_AFTER_MS && !rec.checking) void this.#check(rec);
      }
      if (!any) {
        clearInterval(this.#watch);
        this.#watch = undefined;
      }
    }, WATCH_EVERY_MS);
    this.#watch.unref();
  }

  async #check(rec: ActorRecord): Promise<void> {
    rec.checking = true;
    try {
      const where = await this.#transport.locate(rec.meta.key);
      if ("error" in where) {
        // A released actor is let go only after the calls already running on it: those still get answers.
        if (!where.released) this.markLost(rec.meta.key, await this.#lostError(where.error));
      } else if (!("pending" in where) && (where.incarnation > rec.meta.incarnation || where.workerAddress !== rec.meta.workerAddress)) {
        const old = rec.meta;
        rec.meta = where;
        this.#forget(old); // in-flight calls fail over to the new place
      }
    } catch {
      // The scheduler is unreachable: the owner fails everything on its own.
    } finally {
      rec.checking = false;
    }
  }

  async #lostError(info: ErrorInfo): Promise<Error> {
    const err = await this.#transport.decodeError(info);
    return err instanceof ActorLostError ? err : new ActorLostError("Worker holding Actor was lost", { cause: err });
  }

  /** The record for a new handle: the one in use, or a new one, listed on its first call. */
  record(meta: ActorMeta): ActorRecord {
    const rec = this.#records.get(meta.key);
    if (!rec) return this.#newRecord(meta);
    this.#merge(rec, meta);
    return rec;
  }

  /**
   * The scheduler reported where an actor the owner holds lives. Listed at
   * once, so that a loss reported later fails calls through handles made
   * after it at once too.
   */
  update(meta: ActorMeta): void {
    const rec = this.#records.get(meta.key);
    if (rec) this.#merge(rec, meta);
    else this.#list(this.#newRecord(meta));
  }

  #newRecord(meta: ActorMeta): ActorRecord {
    const rec: ActorRecord = {
      meta,
      queue: new CallQueue(),
      drain: "idle",
      awaitingRoom: false,
      sentCalls: 0,
      sentBytes: 0,
      inflight: new Inflight(),
      checking: false,
      group: [],
      groupParts: 0,
      groupQueued: false,
      outstanding: 0,
      settle: (future) => this.#settled(rec, future),
      idleWaiters: undefined,
      listed: false,
    };
    return rec;
  }

  /** A newer incarnation (the actor was re-created) replaces what we knew. */
  #merge(rec: ActorRecord, meta: ActorMeta): void {
    if (meta.incarnation > rec.meta.incarnation) {
      rec.meta = meta;
      rec.lost = undefined;
    }
  }

  /** The listed record a call through a handle holding `rec` goes to. */
  #live(rec: ActorRecord): ActorRecord {
    if (rec.listed) return rec;
    const current = this.#records.get(rec.meta.key);
    if (!current) return this.#list(rec);
    this.#merge(current, rec.meta);
    return current;
  }

  #list(rec: ActorRecord): ActorRecord {
    rec.listed = true;
    this.#records.set(rec.meta.key, rec);
    return rec;
  }

  #settled(rec: ActorRecord, future: ActorFuture<unknown>): void {
    if (future._sentBytes >= 0) {
      rec.sentCalls--;
      rec.sentBytes -= future._sentBytes;
      if (rec.queue.length > 0 && rec.sentCalls <= this.#resumeCalls && rec.sentBytes <= this.#resumeBytes) this.#pump(rec);
    }
    if (--rec.outstanding > 0) return;
    if (!this.#transport.holds(rec.meta.key)) this.#unlist(rec);
    const waiters = rec.idleWaiters;
    rec.idleWaiters = undefined;
    if (waiters) for (const wake of waiters) wake();
  }

  #unlist(rec: ActorRecord): void {
    if (!rec.listed) return;
    rec.listed = false;
    this.#records.delete(rec.meta.key);
  }

  /**
   * The owner let go of the actor: undefined when no call to it is
   * outstanding (its record is forgotten now), else a promise of the moment
   * the last one settles. The owner tells the scheduler only then, so that
   * every call already made finishes (R-ACT-9b).
   */
  release(key: Key): Promise<void> | undefined {
    const rec = this.#records.get(key);
    if (!rec) return undefined;
    if (rec.outstanding === 0) {
      this.#unlist(rec);
      return undefined;
    }
    return new Promise<void>((wake) => (rec.idleWaiters ??= []).push(wake));
  }

  /** @internal How many actors this caller keeps records for. */
  get size(): number {
    return this.#records.size;
  }

  /** The scheduler told us the actor is gone: fail calls in flight and every later call at once. */
  markLost(key: Key, err: Error): void {
    const rec = this.#records.get(key);
    if (!rec) return;
    rec.lost = err;
    for (const call of rec.inflight.clear()) call.future._reject(err);
    this.#pump(rec); // calls not sent yet fail now too
    this.#forget(rec.meta);
  }

  #forget(meta: ActorMeta): void {
    this.#transport.forget?.(meta.workerAddress);
    if (meta.callAddress) this.#transport.forget?.(meta.callAddress);
  }

  /** Where this caller sends calls for an actor. */
  #target(meta: ActorMeta): Address {
    return this.#transport.direct && meta.callAddress ? meta.callAddress : meta.workerAddress;
  }

  call<T>(handleRecord: ActorRecord, kind: "call" | "get", name: string, args: unknown[], options?: CallOptions): ActorFuture<T> {
    const rec = this.#live(handleRecord);
    rec.outstanding++;
    const future = new ActorFuture<T>(rec.meta.className, name, rec.settle);
    const f = future as ActorFuture<unknown>;
    f._canceller = this;
    if (options?.timeout !== undefined) {
      const ms = options.timeout;
      f._cancelOnTimeout = true;
      setTimeout(() => void f._cancel(f._timedOut(ms), "timeout"), ms).unref();
    }
    // A call waits behind calls already waiting, and while the calls in flight are at the bound.
    if (rec.queue.length > 0 || this.#full(rec) || !this.#dispatch(rec, f, kind, name, args)) {
      rec.queue.push({ future: f, kind, name, args });
      this.#pump(rec);
    }
    return future;
  }

  /** A call of a method that is an async generator: a stream of what it yields. */
  stream<T>(handleRecord: ActorRecord, name: string, args: unknown[], options?: CallOptions): ActorStream<T> {
    const call = this.call<unknown>(handleRecord, "call", name, args, options);
    return new ActorStream<T>(call, this.#streamSource, options?.streamWindow ?? DEFAULT_STREAM_WINDOW, `${handleRecord.meta.className}.${name}`);
  }

  readonly #streamSource: StreamSource = {
    pull: (address, msg) => promised((handler) => this.#transport.call(address, msg, handler)),
    decode: (payload) => this.#transport.decode(payload),
    decodeError: (info) => this.#transport.decodeError(info),
  };

  /** At the bound of calls in flight, or the connection to the actor is full: calls wait unencoded. */
  #full(rec: ActorRecord): boolean {
    if (rec.sentCalls >= this.#maxCalls || rec.sentBytes >= this.#maxBytes || rec.awaitingRoom) return true;
    const room = this.#transport.congested?.(this.#target(rec.meta));
    if (room === undefined) return false;
    rec.awaitingRoom = true;
    void room.then(() => {
      rec.awaitingRoom = false;
      this.#pump(rec);
    });
    return true;
  }

  /** Send now if possible; false when an argument is still pending. */
  #dispatch(rec: ActorRecord, future: ActorFuture<unknown>, kind: "call" | "get", name: string, args: unknown[]): boolean {
    if (rec.lost) {
      future._reject(rec.lost);
      return true;
    }
    const local = this.#transport.local?.(rec.meta.key, kind, name, args);
    if (local) {
      local.then((v) => future._resolve(v), (e) => future._reject(e));
      return true;
    }
    let encodedArgs = NO_ARGS;
    if (args.length > 0) {
      let encoded;
      try {
        encoded = serialize(args);
        // A part that cannot travel fails this call alone, here, rather than the group it would join.
        for (const part of encoded.payload.parts) checkFrameSize(part);
      } catch (err) {
        future._reject(err);
        return true;
      }
      if (encoded.pending.length > 0) return false;
      encodedArgs = encoded.payload;
    }
    // Counted from here until the call settles, wherever it then is (sent, grouped, relocating).
    const bytes = encodedArgs === NO_ARGS ? 0 : encodedArgs.byteLength;
    future._sentBytes = bytes;
    rec.sentCalls++;
    rec.sentBytes += bytes;
    const call = new SentCall(this, rec, future, kind, name, args, encodedArgs, Date.now());
    future._call = call;
    if (this.#grouped(rec.meta)) this.#addToGroup(rec, call);
    else {
      if (rec.group.length > 0) this.#sendGroup(rec); // calls made before still go first
      this.#send(call);
    }
    return true;
  }

  /** Calls to an actor thread's own endpoint leave in groups, one message per turn (or per GROUP_MAX calls). */
  #grouped(meta: ActorMeta): boolean {
    return this.#transport.callGroup !== undefined && this.#transport.direct && meta.callAddress !== undefined;
  }

  #addToGroup(rec: ActorRecord, call: SentCall): void {
    this.#track(call, call.firstTryMs);
    rec.group.push(call);
    rec.groupParts += call.args!.parts.length;
    if (rec.group.length >= GROUP_MAX || rec.groupParts >= GROUP_MAX_PARTS) this.#sendGroup(rec);
    else if (!rec.groupQueued) {
      rec.groupQueued = true;
      queueMicrotask(() => this.#sendGroup(rec));
    }
  }

  #sendGroup(rec: ActorRecord): void {
    rec.groupQueued = false;
    // Some may have settled meanwhile (cancelled, or the actor was lost): they are not sent.
    const calls = rec.group.filter((c) => !c.future.done() || (rec.inflight.remove(c), false));
    rec.group = [];
    rec.groupParts = 0;
    if (calls.length === 0) return;
    if (calls.length === 1 || !this.#grouped(rec.meta)) {
      for (const c of calls) this.#transmit(c); // tracked when added to the group
      return;
    }
    const target = this.#target(rec.meta);
    const cid = this.#nextCid;
    this.#nextCid += calls.length;
    const names: string[] = new Array(calls.length);
    const gets: number[] = [];
    const args: Array<Payload | 0> = new Array(calls.length);
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      names[i] = c.name;
      if (c.kind === "get") gets.push(i);
      args[i] = c.args === NO_ARGS ? 0 : c.args!;
      c.cid = cid + i;
      c.sentTo = target;
      c.handedOver(); // the message holds them now
    }
    this.#transport.callGroup!(target, { op: "actor-calls", key: rec.meta.key, names, gets, args, cid }, calls);
  }

  /**
   * Send waiting calls in order while the bound allows (all of them, failing,
   * once the actor is lost). Runs again whenever a sent call settles; a call
   * settling while it runs (a failed send) leaves the work to this loop.
   */
  #pump(rec: ActorRecord): void {
    if (rec.drain !== "idle") return;
    rec.drain = "running";
    try {
      for (let head = rec.queue.peek(); head !== undefined; head = rec.queue.peek()) {
        if (head.future.done()) {
          rec.queue.shift(); // cancelled before it was sent: it never will be
          continue;
        }
        if (!rec.lost && this.#full(rec)) return;
        if (!this.#dispatch(rec, head.future, head.kind, head.name, head.args)) {
          rec.drain = "awaiting";
          void this.#awaitArguments(rec, head);
          return;
        }
        rec.queue.shift();
      }
    } finally {
      if (rec.drain === "running") rec.drain = "idle";
    }
  }

  /** The queue's head has an unfinished ActorFuture argument: the calls behind it wait for it too, so that calls keep their order. */
  async #awaitArguments(rec: ActorRecord, head: QueuedCall): Promise<void> {
    try {
      await Promise.all(serialize(head.args).pending);
    } catch (err) {
      head.future._reject(err);
      rec.queue.shift();
    }
    rec.drain = "idle";
    this.#pump(rec);
  }

  /** The call is on its way: watched until answered, from this send on (a call sent again after its actor moved starts over). */
  #track(call: SentCall, nowMs = Date.now()): void {
    call.rec.inflight.add(call, nowMs);
    this.#watchInflight();
  }

  /** Send one call on its own (also a call sent again after its actor moved). */
  #send(call: SentCall): void {
    if (call.future.done()) return; // failed meanwhile (the actor was lost)
    if (!call.encodeAgain()) return;
    this.#track(call);
    this.#transmit(call);
  }

  #transmit(call: SentCall): void {
    call.cid = this.#nextCid++;
    call.sentTo = this.#target(call.rec.meta);
    this.#transport.call(call.sentTo, call.message(), call);
    call.handedOver();
  }

  /**
   * Cancel a call (ActorFuture.cancel, or its timeout): it settles with `err`
   * now. One not sent yet never is; one sent to an actor thread's endpoint is
   * cancelled there, and this resolves once it no longer runs. A call that
   * went through the worker or the scheduler's proxy, or to an actor on this
   * thread, can only be settled.
   */
  cancel(future: ActorFuture<unknown>, err: Error, why: "cancelled" | "timeout"): Promise<void> {
    const call = future._call as SentCall | undefined;
    future._reject(err);
    if (call?.sentTo === undefined || call.sentTo !== call.rec.meta.callAddress) return Promise.resolve();
    const address = call.sentTo;
    return promised<unknown>((handler) => this.#transport.call(address, { op: "actor-cancel", cid: call.cid, why }, handler)).then(
      () => undefined,
      () => undefined, // the connection is gone, and the call with it
    );
  }

  /** @internal The worker answered a call. */
  _answered(c: SentCall, raw: unknown): void {
    c.rec.inflight.remove(c);
    const reply = raw as ActorCallReply;
    if (reply instanceof Payload) {
      try {
        const value = this.#transport.decode(reply);
        // A promise when the value holds instances of classes whose module is loading.
        if (value instanceof Promise) value.then((v) => c.future._resolve(v), (err) => c.future._reject(err));
        else c.future._resolve(value);
      } catch (err) {
        c.future._reject(err);
      }
    } else if (isStreamOpened(reply)) {
      c.future._resolve(new OpenedStream(reply.stream, c.sentTo!));
    } else if (!isFailure(reply)) {
      c.future._reject(new ProtocolError(`the worker answered ${c.rec.meta.className}.${c.name} with neither a value nor an error`));
    } else if (reply.missing) {
      void this.#relocate(c, undefined);
    } else {
      const fail = (e: unknown) => c.future._reject(e);
      this.#transport.decodeError(reply.error).then(fail, fail);
    }
  }

  /** @internal The call got no answer: its connection failed (the actor may have moved), or it was refused. */
  _unanswered(c: SentCall, err: Error): void {
    c.rec.inflight.remove(c);
    if (err instanceof CommError) void this.#relocate(c, err);
    else c.future._reject(err); // e.g. the call could not be encoded, or the peer refused it: asking again would not help
  }

  /**
   * The actor's worker did not answer or no longer has it. Ask the scheduler:
   * lost → ActorLostError; moved (restarted) → resend there; same place →
   * retry until the connect timeout, then CommError.
   */
  async #relocate(call: SentCall, cause: unknown): Promise<void> {
    const { rec, future, firstTryMs } = call;
    const address = rec.meta.workerAddress;
    for (;;) {
      if (rec.lost) return future._reject(rec.lost);
      if (rec.meta.workerAddress !== address) return this.#send(call);
      let where: ActorLocation | undefined;
      try {
        where = await this.#transport.locate(rec.meta.key);
      } catch {
        where = undefined; // the scheduler is unreachable too; keep trying the worker until the timeout
      }
      if (where && "error" in where) {
        rec.lost = await this.#lostError(where.error);
        return future._reject(rec.lost);
      }
      if (where && !("pending" in where) && (where.incarnation > rec.meta.incarnation || where.workerAddress !== address)) {
        rec.meta = where;
        return this.#send(call);
      }
      if (Date.now() - firstTryMs > this.#transport.connectTimeoutMs) {
        return future._reject(
          new CommError(`Unable to contact Actor's worker at ${address} for ${rec.meta.className} (${rec.meta.key}) within ${this.#transport.connectTimeoutMs} ms`, { cause }),
        );
      }
      await new Promise((r) => setTimeout(r, RELOCATE_POLL_MS));
      if (where && !("pending" in where) && !("error" in where)) {
        // Still recorded at the same place: try the worker again.
        return this.#send(call);
      }
    }
  }
}

function isStreamOpened(x: unknown): x is ActorStreamOpened {
  return typeof x === "object" && x !== null && typeof (x as ActorStreamOpened).stream === "number";
}

function isFailure(x: unknown): x is ActorCallFailure {
  return typeof x === "object" && x !== null && (x as ActorCallFailure).ok === false && typeof (x as ActorCallFailure).error === "object" && (x as ActorCallFailure).error !== null;
}
