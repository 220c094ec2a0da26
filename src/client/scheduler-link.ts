// A client's connection to its scheduler, kept across a scheduler restart:
// requests cut off while it rejoins are sent again once it has (R-FAIL-9).

import { connect, type Connection, type TlsOptions } from "../comm/index.js";
import { holdWhile } from "../comm/keep-alive.js";
import { CommError, ProtocolError } from "../errors.js";
import type { ClientRejoin, Message, ReplyTo } from "../protocol/messages.js";
import { accepting, messageWeight } from "../protocol/schemas.js";
import { randomHex } from "./keygen.js";

export interface SchedulerLinkOptions {
  address: string;
  token: string;
  tls: TlsOptions | undefined;
  /** Connect timeout, ms. */
  timeoutMs: number;
  /** How long to try to reach a scheduler at the same address again after losing it, ms. */
  schedulerTimeout: number;
  /** Set when the scheduler lives in this process: connect without a socket. */
  connectLocal?: () => Connection;
  onMessage(msg: Message): void;
  /** What a restarted scheduler is told: asked at each rejoin. */
  rejoinState(): Omit<ClientRejoin, "schedulerId">;
  /** Reconnected: what was submitted meanwhile can go. */
  rejoined(): void;
  /** The scheduler is gone for good: every pending result fails with this. */
  gaveUp(err: CommError): void;
}

export class SchedulerLink {
  readonly #o: SchedulerLinkOptions;
  #conn!: Connection;
  /** This client, to the scheduler: the same across reconnections. */
  readonly #id = randomHex();
  /** The scheduler process this client registered with (a rejoin tells it whether it restarted). */
  #schedulerId: string | undefined;
  #dashboardLink: string | undefined;
  /** Set while reconnecting to the scheduler after losing it. */
  #rejoining: Promise<void> | undefined;
  #broken?: CommError;
  #closing = false;

  constructor(options: SchedulerLinkOptions) {
    this.#o = options;
  }

  /** Why the link is gone for good, once it is. */
  get broken(): CommError | undefined {
    return this.#broken;
  }

  get isOpen(): boolean {
    return this.#conn?.isOpen === true;
  }

  get dashboardLink(): string | undefined {
    return this.#dashboardLink;
  }

  async open(): Promise<void> {
    const o = this.#o;
    const conn = o.connectLocal
      ? o.connectLocal()
      : await connect(o.address, {
          token: o.token,
          role: "client",
          timeoutMs: o.timeoutMs,
          tls: o.tls,
          // Told where the scheduler is: if nothing listens there, say so at once.
          awaitListener: false,
        });
    conn.schema = accepting("client");
    // A large graph's parts leave as they are queued, each its own batch, rather than as one batch too large to encode.
    conn.weigh = messageWeight;
    conn.onMessage = (msg) => o.onMessage(msg);
    conn.onRequest = (msg) => {
      throw new ProtocolError(`a client does not serve "${msg.op}" requests`);
    };
    void conn.closed.then(() => this.#lost(conn));
    const rejoin = this.#schedulerId === undefined ? undefined : { schedulerId: this.#schedulerId, ...o.rejoinState() };
    const reply = await conn.request({ op: "register-client", clientId: this.#id, ...(rejoin ? { rejoin } : {}) });
    this.#conn = conn;
    this.#schedulerId = reply.schedulerId;
    this.#dashboardLink = reply.dashboardLink;
  }

  /** Sent now if connected; otherwise dropped (a rejoin tells the scheduler everything it must know). */
  send(msg: Message): boolean {
    if (!this.#conn.isOpen) return false;
    this.#conn.send(msg);
    return true;
  }

  /** A request to the scheduler; one made or cut off while the client rejoins it is sent again once it has. */
  async request<M extends Message>(msg: M): Promise<ReplyTo<M>> {
    for (;;) {
      if (this.#rejoining) await this.#rejoining;
      if (this.#broken) throw this.#broken;
      const conn = this.#conn;
      if (!conn?.isOpen && this.#closing) throw new CommError("the client is closed; connect a new one");
      try {
        return await conn.request(msg);
      } catch (err) {
        // Cut off by the connection closing: sent again on the next one, if there is one.
        if (conn.isOpen || this.#closing || this.#broken || !(err instanceof CommError)) throw err;
        await holdWhile(new Promise((r) => setImmediate(r)));
        if (!this.#rejoining) throw err;
      }
    }
  }

  /** Closes for good (no rejoin from now on), once `last` has sent what it may. */
  async close(last: () => Promise<void>): Promise<void> {
    this.#closing = true;
    try {
      if (this.#conn?.isOpen) await last();
    } catch {
      // closing anyway
    }
    this.#conn?.close("client closing");
    await this.#conn?.closed;
  }

  /**
   * The scheduler connection closed without this client closing it: the
   * scheduler went away, or the link broke. Futures stay pending while the
   * client tries, for `schedulerTimeout`, to reach a scheduler at the same
   * address again; one started there rebuilds its state from what this client
   * holds and still wants (R-FAIL-9). Actor calls go on meanwhile: they never
   * pass through the scheduler.
   */
  #lost(conn: Connection): void {
    if (this.#closing || conn !== this.#conn || this.#rejoining) return;
    // An embedded scheduler closes only with its cluster: nothing to come back to.
    if (this.#o.connectLocal) return this.#giveUp(new CommError(`lost the connection to the scheduler at ${this.#o.address}; results not yet received are unavailable, connect again`));
    this.#rejoining = this.#rejoin().finally(() => (this.#rejoining = undefined));
  }

  async #rejoin(): Promise<void> {
    const timeoutMs = this.#o.schedulerTimeout;
    const deadline = Date.now() + timeoutMs;
    for (let delayMs = 100; !this.#closing; delayMs = Math.min(2 * delayMs, 1000)) {
      try {
        await this.open();
        this.#o.rejoined();
        return;
      } catch (err) {
        if (Date.now() + delayMs >= deadline) {
          return this.#giveUp(new CommError(`lost the connection to the scheduler at ${this.#o.address} and could not reach it again within ${timeoutMs} ms; results not yet received are unavailable, connect again`, { cause: err }));
        }
      }
      await new Promise((r) => setTimeout(r, delayMs).unref());
    }
  }

  #giveUp(err: CommError): void {
    this.#broken = err;
    this.#o.gaveUp(err);
  }
}
