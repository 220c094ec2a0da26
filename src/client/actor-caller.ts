// Sends actor calls straight to the worker holding the actor (R-ACT-4) and
// turns replies into ActorFuture outcomes. Follows an actor that was
// re-created elsewhere (restarts) and reports one that is gone (R-ACT-11).

import { Payload } from "../comm/payload.js";
import { ActorLostError, CommError } from "../errors.js";
import type { ActorCallReply, ActorMeta, Address, ErrorInfo, Key, Message } from "../protocol/messages.js";
import { serialize } from "../serialize/index.js";
import { ActorFuture } from "./actor-future.js";

export type LocalActorDispatcher = (
  key: Key,
  kind: "call" | "get",
  name: string,
  args: unknown[],
) => Promise<unknown> | undefined;

export type ActorLocation = ActorMeta | { error: ErrorInfo } | { pending: true };

/** What the caller needs from its owner (a Client, or a worker thread's context). */
export interface ActorTransport {
  /** Send a request to a worker (directly, or through the scheduler's proxy). */
  request(address: Address, msg: Message): Promise<unknown>;
  /** Ask the scheduler where an actor lives now. */
  locate(key: Key): Promise<ActorLocation>;
  decode(payload: Payload): unknown;
  decodeError(info: ErrorInfo): Promise<Error>;
  connectTimeoutMs: number;
  /** Same-thread actors are called without the network. */
  local?: LocalActorDispatcher;
}

interface QueuedCall {
  future: ActorFuture<unknown>;
  kind: "call" | "get";
  name: string;
  args: unknown[];
}

/** One per actor key per caller: every handle to that actor shares it, so a relocation is seen by all. */
export interface ActorRecord {
  meta: ActorMeta;
  lost?: Error;
  /** Calls waiting behind an unfinished ActorFuture argument, in call order. */
  queue: QueuedCall[];
  draining: boolean;
}

const RELOCATE_POLL_MS = 100;

export class ActorCaller {
  readonly #records = new Map<Key, ActorRecord>();
  readonly #transport: ActorTransport;

  constructor(transport: ActorTransport) {
    this.#transport = transport;
  }

  record(meta: ActorMeta): ActorRecord {
    let rec = this.#records.get(meta.key);
    if (!rec) {
      rec = { meta, queue: [], draining: false };
      this.#records.set(meta.key, rec);
    } else if (meta.incarnation > rec.meta.incarnation) {
      rec.meta = meta;
      rec.lost = undefined;
    }
    return rec;
  }

  /** The scheduler told us the actor is gone: fail every later call at once. */
  markLost(key: Key, err: Error): void {
    const rec = this.#records.get(key);
    if (rec) rec.lost = err;
  }

  call<T>(rec: ActorRecord, kind: "call" | "get", name: string, args: unknown[]): ActorFuture<T> {
    const future = new ActorFuture<T>(`${rec.meta.className}.${name}`);
    const queued: QueuedCall = { future: future as ActorFuture<unknown>, kind, name, args };
    if (rec.queue.length > 0) {
      rec.queue.push(queued);
    } else if (!this.#dispatch(rec, queued)) {
      rec.queue.push(queued);
      void this.#drain(rec);
    }
    return future;
  }

  /** Send now if possible; false when an argument is still pending. */
  #dispatch(rec: ActorRecord, q: QueuedCall): boolean {
    if (rec.lost) {
      q.future._reject(rec.lost);
      return true;
    }
    const local = this.#transport.local?.(rec.meta.key, q.kind, q.name, q.args);
    if (local) {
      local.then(q.future._resolve, q.future._reject);
      return true;
    }
    let encoded;
    try {
      encoded = serialize(q.args);
    } catch (err) {
      q.future._reject(err);
      return true;
    }
    if (encoded.pending.length > 0) return false;
    this.#send(rec, q.future, { op: "actor-call", key: rec.meta.key, kind: q.kind, name: q.name, args: encoded.payload }, Date.now());
    return true;
  }

  async #drain(rec: ActorRecord): Promise<void> {
    if (rec.draining) return;
    rec.draining = true;
    try {
      while (rec.queue.length > 0) {
        const head = rec.queue[0]!;
        if (!this.#dispatch(rec, head)) {
          const { pending } = serialize(head.args);
          try {
            await Promise.all(pending);
          } catch (err) {
            head.future._reject(err);
            rec.queue.shift();
          }
          continue;
        }
        rec.queue.shift();
      }
    } finally {
      rec.draining = false;
    }
  }

  #send(rec: ActorRecord, future: ActorFuture<unknown>, msg: Message, firstTryMs: number): void {
    const address = rec.meta.workerAddress;
    this.#transport.request(address, msg).then(
      (raw) => {
        const reply = raw as ActorCallReply;
        if (reply.ok) {
          try {
            future._resolve(this.#transport.decode(reply.value));
          } catch (err) {
            future._reject(err);
          }
        } else if (reply.missing) {
          void this.#relocate(rec, future, msg, firstTryMs, undefined);
        } else {
          this.#transport.decodeError(reply.error).then(future._reject, future._reject);
        }
      },
      (err) => void this.#relocate(rec, future, msg, firstTryMs, err),
    );
  }

  /**
   * The actor's worker did not answer or no longer has it. Ask the scheduler:
   * lost → ActorLostError; moved (restarted) → resend there; same place →
   * retry until the connect timeout, then CommError.
   */
  async #relocate(rec: ActorRecord, future: ActorFuture<unknown>, msg: Message, firstTryMs: number, cause: unknown): Promise<void> {
    const address = rec.meta.workerAddress;
    for (;;) {
      if (rec.lost) return future._reject(rec.lost);
      if (rec.meta.workerAddress !== address) return this.#send(rec, future, msg, firstTryMs);
      let where: ActorLocation | undefined;
      try {
        where = await this.#transport.locate(rec.meta.key);
      } catch {
        where = undefined; // the scheduler is unreachable too; keep trying the worker until the timeout
      }
      if (where && "error" in where) {
        const err = await this.#transport.decodeError(where.error);
        rec.lost = err instanceof ActorLostError ? err : new ActorLostError("Worker holding Actor was lost", { cause: err });
        return future._reject(rec.lost);
      }
      if (where && !("pending" in where) && (where.incarnation > rec.meta.incarnation || where.workerAddress !== address)) {
        rec.meta = where;
        return this.#send(rec, future, msg, firstTryMs);
      }
      if (Date.now() - firstTryMs > this.#transport.connectTimeoutMs) {
        return future._reject(
          new CommError(`Unable to contact Actor's worker at ${address} for ${rec.meta.className} (${rec.meta.key}) within ${this.#transport.connectTimeoutMs} ms`, { cause }),
        );
      }
      await new Promise((r) => setTimeout(r, RELOCATE_POLL_MS));
      if (where && !("pending" in where) && !("error" in where)) {
        // Still recorded at the same place: try the worker again.
        return this.#send(rec, future, msg, firstTryMs);
      }
    }
  }
}
