// What a caller knows of one actor (ActorRecord): its calls waiting to be
// sent, those on their way (SentCall), and those sent and not yet answered
// (Inflight). ActorCaller (actor-caller.ts) does the sending.

import type { ReplyHandler } from "../comm/index.js";
import type { ActorMeta, Address, Message } from "../protocol/messages.js";
import type { Payload } from "../protocol/payload.js";
import { serialize } from "../serialize/index.js";
import type { ActorFuture } from "./actor-future.js";
import type { CallQueue } from "./call-queue.js";

export interface QueuedCall {
  future: ActorFuture<unknown>;
  kind: "call" | "get";
  name: string;
  args: unknown[];
}

/**
 * One per actor key per caller: every handle to that actor shares it, so a
 * relocation is seen by all. Listed in the caller's table while the owner
 * holds the actor or calls to it are outstanding; a handle that outlives
 * that lists it again on its next call.
 */
export interface ActorRecord {
  meta: ActorMeta;
  lost?: Error;
  /**
   * Calls not sent yet, in call order: behind an unfinished ActorFuture
   * argument, or past the bound. They hold their arguments as given and are
   * encoded only when sent, so that a waiting call's arguments are not held
   * twice (the same buffer passed to 200,000 calls stays one buffer).
   */
  queue: CallQueue<QueuedCall>;
  /** "running": the queue is being sent from further up the stack; "awaiting": its head waits for an argument. */
  drain: "idle" | "running" | "awaiting";
  /** The connection to the actor is full: the queue is sent again once it has room. */
  awaitingRoom: boolean;
  /** Calls sent and not settled (answered, or being relocated), and the bytes of their encoded arguments. */
  sentCalls: number;
  sentBytes: number;
  /** Calls sent and not answered. */
  inflight: Inflight;
  checking: boolean;
  /** Calls made in this turn, not yet handed to the connection: they leave as one group. */
  group: SentCall[];
  /** Payload parts of the calls in `group`: a group's parts travel in one batch, which has a limit. */
  groupParts: number;
  groupQueued: boolean;
  /** Calls made and not settled, wherever they are: queued, grouped, sent, or being relocated. */
  outstanding: number;
  /** Settles one outstanding call: made once per record, so that a call costs no closure. */
  settle: (future: ActorFuture<unknown>) => void;
  /** Woken once no call is outstanding: the owner's release of the actor waits for them. */
  idleWaiters: Array<() => void> | undefined;
  listed: boolean;
}

/** Calls without arguments (the common case) share one encoding. */
export const NO_ARGS = serialize([]).payload;

/** Where a call's outcome goes. */
export interface CallAnswers {
  /** The worker answered the call. */
  _answered(c: SentCall, raw: unknown): void;
  /** The call got no answer: its connection failed, or it was refused. */
  _unanswered(c: SentCall, err: Error): void;
}

/**
 * One call on its way: what it asks, and where its reply goes. Its encoded
 * arguments are dropped once the message holding them is handed to the
 * connection, which then holds the only copy until it is written: the calls
 * in flight cost their bytes once, not twice. A call sent again (its actor
 * moved) is encoded again from its arguments.
 */
export class SentCall implements ReplyHandler {
  // Its place in its actor's in-flight list (see Inflight).
  prev: SentCall | undefined = undefined;
  next: SentCall | undefined = undefined;
  listed = false;
  sentMs = 0;
  /** Its number where it was last sent (see ActorCancel), and where that was. */
  cid = 0;
  sentTo: Address | undefined = undefined;

  constructor(
    readonly caller: CallAnswers,
    readonly rec: ActorRecord,
    readonly future: ActorFuture<unknown>,
    readonly kind: "call" | "get",
    readonly name: string,
    readonly values: unknown[],
    public args: Payload | undefined,
    readonly firstTryMs: number,
  ) {}

  /** The call as a message of its own. */
  message(): Message {
    return { op: "actor-call", key: this.rec.meta.key, kind: this.kind, name: this.name, args: this.args!, cid: this.cid };
  }

  handedOver(): void {
    if (this.args !== NO_ARGS) this.args = undefined;
  }

  /** Encoded arguments for a send; false (the call failed) when they no longer encode. */
  encodeAgain(): boolean {
    if (this.args !== undefined) return true;
    try {
      this.args = serialize(this.values).payload;
      return true;
    } catch (err) {
      this.future._reject(err);
      return false;
    }
  }

  ok(value: unknown): void {
    this.caller._answered(this, value);
  }

  fail(err: Error): void {
    this.caller._unanswered(this, err);
  }
}

/**
 * The calls to one actor that are sent and not answered, oldest send first: a
 * list threaded through the calls themselves, so that the many calls a
 * pipelining caller has in flight cost no hash entry each.
 */
export class Inflight {
  #head: SentCall | undefined;
  #tail: SentCall | undefined;

  add(call: SentCall, nowMs: number): void {
    if (call.listed) this.remove(call);
    call.listed = true;
    call.sentMs = nowMs;
    call.prev = this.#tail;
    call.next = undefined;
    if (this.#tail) this.#tail.next = call;
    else this.#head = call;
    this.#tail = call;
  }

  remove(call: SentCall): void {
    if (!call.listed) return;
    call.listed = false;
    if (call.prev) call.prev.next = call.next;
    else this.#head = call.next;
    if (call.next) call.next.prev = call.prev;
    else this.#tail = call.prev;
    call.prev = call.next = undefined;
  }

  /** When the longest-waiting call was sent; undefined when none waits. */
  oldestSentMs(): number | undefined {
    return this.#head?.sentMs;
  }

  /** Empty the list; gives the calls it held. */
  clear(): SentCall[] {
    const calls: SentCall[] = [];
    for (let c = this.#head; c; c = c.next) calls.push(c);
    for (const c of calls) {
      c.listed = false;
      c.prev = c.next = undefined;
    }
    this.#head = this.#tail = undefined;
    return calls;
  }
}
