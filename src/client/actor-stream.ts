// What a call of an actor's async generator method returns (R-ACT-18): an
// AsyncIterable of the items it yields, in order. The items are pulled from
// the actor's thread with credit: the generator runs only while the consumer
// holds fewer than `streamWindow` items unconsumed (produced, in flight or
// buffered here), so a slow consumer keeps it paused. Leaving the loop early
// (break, return, a throw) closes the stream: the generator's `finally` runs
// on the actor's thread before the loop exits.

import { inspect } from "node:util";
import { ConfigError, ProtocolError } from "../errors.js";
import type { ActorStreamPull, ActorStreamReply, Address, ErrorInfo } from "../protocol/messages.js";
import { Payload } from "../protocol/payload.js";
import type { ActorFuture } from "./actor-future.js";

/** Items a consumer holds unconsumed at most, by default. */
export const DEFAULT_STREAM_WINDOW = 16;

/** The stream a call opened: its number on the actor thread's endpoint at `address`. */
export class OpenedStream {
  constructor(
    readonly id: number,
    readonly address: Address,
  ) {}
}

/** How a stream reaches its actor: the caller's transport. */
export interface StreamSource {
  pull(address: Address, msg: ActorStreamPull): Promise<ActorStreamReply>;
  /** A value, or a promise of it when classes must be loaded to decode it. */
  decode(payload: Payload): unknown;
  decodeError(info: ErrorInfo): Promise<Error>;
}

export class ActorStream<T> implements AsyncIterable<T> {
  #reader: StreamReader<T> | undefined;

  /** @internal Made by actor handles. `call` settles once the stream is open. */
  constructor(
    readonly call: ActorFuture<unknown>,
    private readonly source: StreamSource,
    private readonly window: number,
    private readonly what: string,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.#reader) throw new ConfigError(`${this.what} is a stream and can be iterated once; call the method again for a new one`);
    return (this.#reader = new StreamReader<T>(this.call, this.source, this.window));
  }

  toString(): string {
    return `<ActorStream: call=${this.what}>`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

class StreamReader<T> implements AsyncIterator<T> {
  #opened: OpenedStream | undefined;
  /** An actor on this very thread answers with its generator itself. */
  #local: AsyncIterator<T> | undefined;
  #buffer: unknown[] = [];
  #head = 0;
  /** Credit sent, items received and items handed to the consumer: granted − consumed never exceeds the window. */
  #granted = 0;
  #received = 0;
  #consumed = 0;
  #ended = false;
  #error: Error | undefined;
  #pulling: Promise<void> | undefined;
  #closed = false;

  constructor(
    private readonly call: ActorFuture<unknown>,
    private readonly source: StreamSource,
    private readonly window: number,
  ) {}

  async #open(): Promise<void> {
    if (this.#opened || this.#local) return;
    const v = await this.call;
    if (v instanceof OpenedStream) this.#opened = v;
    else if (typeof (v as AsyncIterable<T>)?.[Symbol.asyncIterator] === "function") this.#local = (v as AsyncIterable<T>)[Symbol.asyncIterator]();
    else throw new ProtocolError("a streaming call was answered with a value instead of a stream");
  }

  async next(): Promise<IteratorResult<T>> {
    await this.#open();
    if (this.#local) return this.#local.next();
    for (;;) {
      if (this.#head < this.#buffer.length) {
        const value = this.#buffer[this.#head] as T;
        this.#buffer[this.#head++] = undefined;
        if (this.#head === this.#buffer.length) {
          this.#buffer = [];
          this.#head = 0;
        }
        this.#consumed++;
        this.#pullMaybe();
        return { value, done: false };
      }
      if (this.#error !== undefined) {
        const err = this.#error;
        this.#error = undefined;
        throw err;
      }
      if (this.#ended || this.#closed) return { value: undefined, done: true };
      this.#pullMaybe();
      await this.#pulling;
    }
  }

  /**
   * Ask for items when it is worth a round trip: the generator owes items
   * and none are asked for, or half the window is free to grant (so items
   * come in batches), or the consumer has nothing left to read.
   */
  #pullMaybe(): void {
    if (this.#pulling || this.#ended || this.#closed) return;
    const owed = this.#granted - this.#received;
    const room = this.#consumed + this.window - this.#granted;
    const buffered = this.#buffer.length - this.#head;
    const worthGranting = room >= Math.ceil(this.window / 2) || (buffered === 0 && room > 0);
    if (owed === 0 && !worthGranting) return;
    const credit = worthGranting ? room : 0;
    this.#granted += credit;
    const opened = this.#opened!;
    this.#pulling = this.source
      .pull(opened.address, { op: "actor-stream", stream: opened.id, credit })
      .then((reply) => this.#take(reply))
      .catch((err: unknown) => {
        this.#error = err instanceof Error ? err : new ProtocolError(String(err));
        this.#ended = true;
      })
      .finally(() => {
        this.#pulling = undefined;
        this.#pullMaybe();
      });
  }

  async #take(reply: ActorStreamReply): Promise<void> {
    if (!("items" in reply)) {
      this.#ended = true;
      this.#error = await this.source.decodeError(reply.error);
      return;
    }
    let items = this.source.decode(reply.items);
    if (items instanceof Promise) items = await items;
    if (!Array.isArray(items)) throw new ProtocolError("a stream's items arrived as something other than an array");
    this.#received += items.length;
    for (const item of items) this.#buffer.push(item);
    if (reply.done) this.#ended = true;
  }

  /** The consumer left the loop: stop the generator, and wait for its `finally` to have run. */
  async return(): Promise<IteratorResult<T>> {
    if (this.#closed) return { value: undefined, done: true };
    this.#closed = true;
    this.#buffer = [];
    try {
      await this.#open();
    } catch {
      return { value: undefined, done: true }; // the call failed: nothing runs
    }
    if (this.#local) {
      await this.#local.return?.();
    } else if (!this.#ended) {
      // Sent at once: a pull still waiting is answered by the close.
      const opened = this.#opened!;
      this.#ended = true;
      await this.source.pull(opened.address, { op: "actor-stream", stream: opened.id, credit: 0, close: true }).catch(() => undefined);
    }
    return { value: undefined, done: true };
  }

  throw(err?: unknown): Promise<IteratorResult<T>> {
    return this.return().then(() => Promise.reject(err));
  }
}
