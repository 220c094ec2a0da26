// Streams of an actor thread (R-ACT-18): a method that returns an async
// generator answers its call with a stream number, and the caller pulls the
// items. The generator runs only while its caller has granted credit, so it
// stays paused while the caller holds its window of items unconsumed; a
// close stops it, and its `finally` runs here.

import { Payload } from "../protocol/payload.js";
import { CancelledError } from "../errors.js";
import type { ActorStreamOpened, ActorStreamPull, ActorStreamReply } from "../protocol/messages.js";
import { errorToInfo, type CodeOptions } from "../serialize/index.js";
import { within, Work } from "./thread-faults.js";
import type { EndOfTurn } from "./thread-turn.js";
import { encodeResult, errorReply } from "./thread-values.js";

const NO_ITEMS = encodeResult([], {}) as Uint8Array[];

/** Whether a method's return value is a stream (an async generator, or any async iterator with return()). */
export function isAsyncGenerator(x: unknown): x is AsyncGenerator<unknown, unknown, unknown> {
  return (
    typeof x === "object" &&
    x !== null &&
    typeof (x as AsyncGenerator)[Symbol.asyncIterator] === "function" &&
    typeof (x as AsyncGenerator).next === "function" &&
    typeof (x as AsyncGenerator).return === "function"
  );
}

/** The generator's code runs as this Work: its faults fail the stream, and its signal aborts when the stream closes. */
class StreamWork extends Work {
  constructor(
    readonly what: string,
    private readonly stream: Stream,
  ) {
    super();
  }

  fault(err: Error): boolean {
    return this.stream.fail(err);
  }
}

class Stream {
  readonly work: StreamWork;
  /** Its caller's connection is watched: a caller gone closes it. */
  watched = false;
  /** Items the generator may still produce. */
  #credit = 0;
  /** Produced and not yet sent. */
  #buffer: unknown[] = [];
  #ended = false;
  #error: unknown;
  #producing = false;
  #closing: Promise<void> | undefined;
  /** The caller's pull waiting for items. */
  #pull: ((reply: ActorStreamReply | Promise<ActorStreamReply>) => void) | undefined;
  #answerQueued = false;

  constructor(
    readonly id: number,
    readonly key: string,
    what: string,
    private readonly gen: AsyncGenerator<unknown, unknown, unknown>,
    private readonly table: StreamTable,
  ) {
    this.work = new StreamWork(what, this);
  }

  pull(credit: number): Promise<ActorStreamReply> {
    if (this.#pull) return Promise.resolve(this.table.refusal("a stream takes one pull at a time; wait for the answer to the last one"));
    const reply = new Promise<ActorStreamReply>((resolve) => (this.#pull = resolve));
    this.#credit += credit;
    this.#produce();
    this.#answerSoon();
    return reply;
  }

  /** Runs the generator while it has credit, one item at a time. */
  #produce(): void {
    if (this.#producing || this.#ended || this.#closing || this.#credit <= 0) return;
    this.#producing = true;
    void (async () => {
      try {
        while (this.#credit > 0 && !this.#ended && !this.#closing) {
          this.#credit--;
          const step = await within(this.work, () => this.gen.next());
          if (step.done) this.#ended = true;
          else this.#buffer.push(step.value);
          this.#answerSoon();
        }
      } catch (err) {
        this.fail(err);
      } finally {
        this.#producing = false;
      }
    })();
  }

  /** A failure of the generator: it ends the stream; the caller sees it after the items produced before it. */
  fail(err: unknown): boolean {
    if (this.#ended || this.#closing) return false;
    this.#ended = true;
    this.#error = err;
    this.#answerSoon();
    return true;
  }

  /** Answers a waiting pull at the end of the turn, so that the items produced in one turn travel together. */
  #answerSoon(): void {
    if (this.#answerQueued || !this.#pull || (this.#buffer.length === 0 && !this.#ended)) return;
    this.#answerQueued = true;
    this.table.turn.queue(() => {
      this.#answerQueued = false;
      const answer = this.#pull;
      if (!answer || (this.#buffer.length === 0 && !this.#ended)) return;
      this.#pull = undefined;
      answer(this.#reply());
    });
  }

  #reply(): ActorStreamReply | Promise<ActorStreamReply> {
    if (this.#buffer.length === 0 && this.#error !== undefined) {
      this.table.forget(this);
      return errorReply(this.#error, this.table.codeOpts);
    }
    const items = this.#buffer;
    this.#buffer = [];
    // Items before an error go first; the error answers the next pull.
    const done = this.#ended && this.#error === undefined;
    if (done) this.table.forget(this);
    let parts: Uint8Array[] | Promise<Uint8Array[]>;
    try {
      parts = encodeResult(items, this.table.codeOpts);
    } catch (err) {
      return this.#failEncoding(err);
    }
    if (parts instanceof Promise) return parts.then((p) => ({ items: new Payload(p), done }), (err) => this.#failEncoding(err));
    return { items: new Payload(parts), done };
  }

  #failEncoding(err: unknown): ActorStreamReply {
    void this.close();
    return { ok: false, error: errorToInfo(err, this.table.codeOpts) };
  }

  /** Stop the generator: its signal aborts and its `finally` runs; resolves once it has. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.table.forget(this);
    const answer = this.#pull;
    this.#pull = undefined;
    this.work.controller.abort(new CancelledError(`${this.work.what} was closed by its consumer`));
    this.#closing = (async () => {
      try {
        if (!this.#ended) await within(this.work, () => this.gen.return(undefined));
      } catch {
        // A throw from its finally: the consumer has gone, nobody is left to see it.
      }
      this.#ended = true;
      this.#buffer = [];
    })();
    answer?.(this.table.ended());
    return this.#closing;
  }
}

export class StreamTable {
  readonly #streams = new Map<number, Stream>();
  #next = 1;

  constructor(
    readonly turn: EndOfTurn,
    readonly codeOpts: CodeOptions,
  ) {}

  /** A call returned a generator: it becomes a stream the caller pulls from. */
  open(gen: AsyncGenerator<unknown, unknown, unknown>, key: string, what: string): ActorStreamOpened {
    const id = this.#next++;
    this.#streams.set(id, new Stream(id, key, what, gen, this));
    return { stream: id };
  }

  /** A pull or a close; `owner` closes the stream if it goes away before the stream ends. */
  serve(msg: ActorStreamPull, owner?: { closed: Promise<unknown> }): ActorStreamReply | Promise<ActorStreamReply> {
    const stream = this.#streams.get(msg.stream);
    if (msg.close) return stream ? stream.close().then(() => this.ended()) : this.ended();
    if (!stream) return this.refusal(`stream ${msg.stream} is not open here (it ended, or its actor was released)`);
    if (owner && !stream.watched) {
      stream.watched = true;
      void owner.closed.then(() => stream.close());
    }
    return stream.pull(msg.credit);
  }

  /** The answer of a stream that has nothing more. */
  ended(): ActorStreamReply {
    return { items: new Payload(NO_ITEMS), done: true };
  }

  refusal(message: string): ActorStreamReply {
    return { ok: false, error: { name: "Error", message, stack: "" } };
  }

  forget(stream: Stream): void {
    if (this.#streams.get(stream.id) === stream) this.#streams.delete(stream.id);
  }

  /** Close a stream now (its caller cannot take it). */
  close(id: number): void {
    void this.#streams.get(id)?.close();
  }

  /** Close the streams of actors that are going away. */
  closeFor(keys: Iterable<string>): Promise<void> {
    const gone = new Set(keys);
    return Promise.all([...this.#streams.values()].filter((s) => gone.has(s.key)).map((s) => s.close())).then(() => undefined);
  }
}
