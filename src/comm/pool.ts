// Connections from one client (or one worker thread) to workers, opened on
// first use and reused. Requests to one address leave in the order they were
// made, even while the connection is still being opened: actor calls from one
// caller must start in call order (R-ACT-5).

import { connect, promised, type Connection, type ReplyHandler, type TlsOptions, type WireSchema } from "./index.js";
import { CommError } from "../errors.js";
import type { Address, Message, ReplyTo } from "../protocol/messages.js";

/** A request made while connecting: one handler, or one per request of a group. */
interface Queued {
  msg: Message;
  handler: ReplyHandler | ReplyHandler[];
}

interface Entry {
  conn?: Connection;
  connecting?: Promise<Connection>;
  /** Requests made while connecting, sent in order once connected. */
  queue: Queued[];
}

function sendOn(conn: Connection, q: Queued): void {
  if (Array.isArray(q.handler)) conn.callGroup(q.msg, q.handler);
  else conn.call(q.msg, q.handler);
}

export interface PoolOptions {
  token: string;
  connectTimeoutMs: number;
  tls?: TlsOptions;
  role: "client" | "peer";
  /** Checks the replies (and refuses any message) from the workers. */
  schema?: WireSchema;
}

export class WorkerPool {
  readonly #entries = new Map<Address, Entry>();
  readonly #options: PoolOptions;
  #closed = false;

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  request<M extends Message>(address: Address, msg: M): Promise<ReplyTo<M>> {
    return promised<ReplyTo<M>>((handler) => this.call(address, msg, handler));
  }

  /** A request whose outcome goes to `handler` (see Connection.call). */
  call(address: Address, msg: Message, handler: ReplyHandler): void {
    this.#send(address, { msg, handler });
  }

  /** A request group: one message standing for one request per handler (see Connection.callGroup; the array is kept). */
  callGroup(address: Address, msg: Message, handlers: ReplyHandler[]): void {
    if (handlers.length > 0) this.#send(address, { msg, handler: handlers });
  }

  /**
   * While the connection to `address` holds more than its socket takes (the
   * worker reads more slowly than it is sent to), a promise of the moment it
   * has room again; undefined when requests may go now. A caller with a
   * stream of requests waits for it, so that a slow worker costs it a
   * bounded number of bytes (R-FLOW-1).
   */
  congested(address: Address): Promise<void> | undefined {
    const conn = this.#entries.get(address)?.conn;
    return conn?.needsDrain ? conn.drained() : undefined;
  }

  #send(address: Address, q: Queued): void {
    if (this.#closed) {
      const err = new CommError("the client is closed; connect a new one");
      queueMicrotask(() => failQueued(q, err));
      return;
    }
    let entry = this.#entries.get(address);
    if (entry?.conn && !entry.conn.isOpen) {
      this.#entries.delete(address);
      entry = undefined;
    }
    if (entry?.conn && entry.queue.length === 0) return sendOn(entry.conn, q);
    if (!entry) entry = this.#open(address);
    entry.queue.push(q);
  }

  #open(address: Address): Entry {
    const entry: Entry = { queue: [] };
    this.#entries.set(address, entry);
    entry.connecting = connect(address, {
      token: this.#options.token,
      role: this.#options.role,
      timeoutMs: this.#options.connectTimeoutMs,
      tls: this.#options.tls,
      // Workers are up before anyone learns their address: refused means gone.
      retry: false,
    });
    entry.connecting.then(
      (conn) => {
        if (this.#closed) {
          conn.close();
          this.#fail(entry, new CommError("the client is closed; connect a new one"));
          return;
        }
        entry.conn = conn;
        entry.connecting = undefined;
        conn.schema = this.#options.schema;
        const queued = entry.queue;
        entry.queue = [];
        for (const q of queued) sendOn(conn, q);
        void conn.closed.then(() => {
          if (this.#entries.get(address) === entry) this.#entries.delete(address);
        });
      },
      (err) => {
        if (this.#entries.get(address) === entry) this.#entries.delete(address);
        this.#fail(entry, err);
      },
    );
    return entry;
  }

  #fail(entry: Entry, err: unknown): void {
    const queued = entry.queue;
    entry.queue = [];
    for (const q of queued) failQueued(q, err as Error);
  }

  /** Drop the connection to one address (e.g. after its worker was declared dead). */
  forget(address: Address): void {
    const entry = this.#entries.get(address);
    this.#entries.delete(address);
    entry?.conn?.close();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const closing: Promise<unknown>[] = [];
    for (const entry of this.#entries.values()) {
      this.#fail(entry, new CommError("the client is closed; connect a new one"));
      if (entry.conn) {
        entry.conn.close();
        closing.push(entry.conn.closed);
      } else if (entry.connecting) {
        closing.push(entry.connecting.then((c) => { c.close(); return c.closed; }, () => undefined));
      }
    }
    this.#entries.clear();
    await Promise.all(closing);
  }
}

function failQueued(q: Queued, err: Error): void {
  if (Array.isArray(q.handler)) for (const h of q.handler) h.fail(err);
  else q.handler.fail(err);
}
