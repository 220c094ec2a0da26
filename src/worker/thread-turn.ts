// The end of a task or actor thread's turn: where its answers leave. Answers
// wait there, not in a microtask, because Node reports the promise
// rejections a turn left unhandled only once its microtasks have run: a work
// whose code left one (a missing `await`) must still be able to fail
// (thread-faults.ts) before its answer has gone.

import type { MessagePort } from "node:worker_threads";
import { copyBytes } from "../protocol/payload.js";
import { compactPart, packDones, type FromThread, type ThreadPart } from "./thread-protocol.js";

const OWN_BUFFER_MIN = 64 * 1024;

/** Runs callbacks once this turn's microtasks and rejection reports are done (one setImmediate per turn). */
export class EndOfTurn {
  #jobs: Array<() => void> = [];
  #scheduled = false;
  readonly #run = () => {
    this.#scheduled = false;
    const jobs = this.#jobs;
    this.#jobs = [];
    for (const job of jobs) job();
  };

  /** `job` runs at the end of this turn, after jobs queued before it. */
  queue(job: () => void): void {
    this.#jobs.push(job);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#run);
  }
}

/** Answers to the worker's main thread: batched per turn; large parts are moved, not copied. */
export class Replies {
  #batch: FromThread[] = [];
  #moved: ArrayBuffer[] = [];
  #queued = false;
  readonly #flush = () => {
    this.#queued = false;
    this.flush();
  };

  constructor(
    private readonly port: MessagePort,
    private readonly turn: EndOfTurn,
  ) {}

  /** Queue an answer; it leaves at the end of the turn. */
  add(msg: FromThread): void {
    if (msg.t === "done" && msg.ok) msg.value = msg.value.map((p, i) => this.#ownPart(p, i));
    this.#batch.push(msg);
    if (!this.#queued) {
      this.#queued = true;
      this.turn.queue(this.#flush);
    }
  }

  /** Replace the answer to work `id` that has not left yet; false if it has. */
  replace(id: number, msg: FromThread): boolean {
    const i = this.#batch.findIndex((m) => m.t === "done" && m.id === id);
    if (i < 0) return false;
    this.#batch[i] = msg;
    return true;
  }

  /** Send what is queued now. */
  flush(): void {
    if (this.#batch.length === 0) return;
    const batch = packDones(this.#batch);
    const transfer = this.#moved;
    this.#batch = [];
    this.#moved = [];
    this.port.postMessage(batch, transfer);
  }

  /** Send a message at once, after what is queued (it must not wait for the turn: a thread about to stop). */
  now(msg: FromThread): void {
    this.flush();
    this.port.postMessage([msg]);
  }

  /**
   * A result part as it will travel, taken now: a task may return a view of a
   * buffer it reuses, and the batch leaves only after the tasks behind it ran.
   * Later parts are binary the task returned (user memory): large ones are
   * copied, then moved. The first part is the encoder's own bytes.
   */
  #ownPart(p: ThreadPart, index: number): ThreadPart {
    if (!(p instanceof Uint8Array)) return p;
    const own = index === 0 || p.byteLength < OWN_BUFFER_MIN ? compactPart(p) : copyBytes(p);
    if (own.byteLength >= OWN_BUFFER_MIN && own.buffer instanceof ArrayBuffer) this.#moved.push(own.buffer);
    return own;
  }
}
