// Open a connection: TCP or TLS, then the handshake. Failures that may pass
// are retried with backoff until the deadline. Whether "nothing listens there"
// is one of them depends on the caller: a worker may start before its
// scheduler, while a client told where its scheduler is should learn at once
// that nothing is there.
//
// Time this process spends unable to run its event loop (user code busy on
// the caller's thread) is not the peer's fault: it does not count against the
// timeout, and a listener that gave up waiting for our hello meanwhile is
// asked again.

import * as net from "node:net";
import * as tls from "node:tls";
import { AuthError, CommError, ConfigError, ProtocolError } from "../errors.js";
import type { Message } from "../protocol/messages.js";
import { parseAddress } from "./address.js";
import { WireConnection, type Connection } from "./connection.js";
import { makeHello, type HelloRole } from "./handshake.js";
import { tlsClientOptions, type TlsOptions } from "./tls.js";
import { directReads, socketTransport } from "./transport.js";

export interface ConnectOptions {
  token: string;
  role: HelloRole;
  /** Time allowed for connecting and the handshake, retries included. Default 10000. */
  timeoutMs?: number;
  /** Required for tls:// addresses. */
  tls?: TlsOptions;
  /**
   * Retry failures that may pass until the timeout (default true). False for
   * peers that should already be up, so that a dead one is reported at once;
   * a peer that accepted the connection and closed it during the handshake
   * (it may have waited for a hello this process was too busy to send) is
   * still tried again until the timeout.
   */
  retry?: boolean;
  /**
   * Count "nothing listens there" (refused; host or network unreachable)
   * among the failures that may pass, as the listener may still be starting.
   * Default true; false reports it at once while still retrying resets and
   * DNS hiccups.
   */
  awaitListener?: boolean;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const FIRST_RETRY_DELAY_MS = 20;
const MAX_RETRY_DELAY_MS = 500;
/** While connecting, how often the event loop is checked for stalls. */
const TICK_MS = 100;
/** A tick this much later than due means this process, not the peer, was slow. */
const STALL_MS = 500;

/** Socket errors that may go away if we try again: the peer was busy, or the network hiccuped. */
const TRANSIENT_CODES = new Set(["ECONNRESET", "ETIMEDOUT", "EPIPE", "EAI_AGAIN"]);
/** Socket errors meaning nothing listens there (yet): worth waiting for only while the listener may be starting. */
const NO_LISTENER_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH"]);

class AttemptFailed extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** The peer accepted the connection, then closed it before the handshake completed. */
    readonly closedByPeer = false,
  ) {
    super(message);
  }
}

/**
 * The deadline of one connect(), moved on by the time this process could not
 * run its event loop: the time user code held the thread is not the peer's.
 */
class Deadline {
  at: number;
  #last = Date.now();
  readonly #tick: NodeJS.Timeout;

  constructor(timeoutMs: number) {
    this.at = this.#last + timeoutMs;
    // Due before any wait of the attempt, so it runs first after a stall and moves the deadline in time.
    this.#tick = setInterval(() => {
      const now = Date.now();
      const stalled = now - this.#last - TICK_MS;
      if (stalled > STALL_MS) this.at += stalled;
      this.#last = now;
    }, TICK_MS);
    this.#tick.unref();
  }

  get left(): number {
    return this.at - Date.now();
  }

  stop(): void {
    clearInterval(this.#tick);
  }
}

export async function connect(address: string, opts: ConnectOptions): Promise<Connection> {
  const { scheme, host, port } = parseAddress(address);
  if (typeof opts?.token !== "string") throw new ConfigError("connect: token must be a string (use \"\" only for insecure local clusters)");
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!(typeof timeoutMs === "number" && timeoutMs > 0)) throw new ConfigError(`connect: timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  if (scheme === "tls" && !opts.tls) {
    throw new ConfigError(`Cannot connect to ${address}: a tls:// address needs TLS options (cert, key and ca; --tls-cert/--tls-key/--tls-ca)`);
  }
  const deadline = new Deadline(timeoutMs);
  try {
    let delay = FIRST_RETRY_DELAY_MS;
    for (;;) {
      let why: string;
      try {
        return await attempt(address, scheme === "tls" ? opts.tls! : null, host, port, opts, deadline);
      } catch (err) {
        if (!(err instanceof AttemptFailed)) throw err;
        if (!err.retryable || (opts.retry === false && !err.closedByPeer)) throw new CommError(`Could not connect to ${address}: ${err.message}`);
        why = err.message;
      }
      if (deadline.left <= 0) throw new CommError(`Could not connect to ${address} within ${timeoutMs} ms: ${why}`);
      await new Promise((r) => setTimeout(r, Math.min(delay, deadline.left)));
      delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
    }
  } finally {
    deadline.stop();
  }
}

function attempt(address: string, tlsOpts: TlsOptions | null, host: string, port: number, opts: ConnectOptions, deadline: Deadline): Promise<Connection> {
  return new Promise<Connection>((resolve, reject) => {
    let conn: WireConnection | null = null;
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err === null) resolve(conn!);
      else reject(err);
    };
    // Plain TCP reads large frames straight into their memory; TLS decrypts into buffers of its own.
    const reads = tlsOpts ? undefined : directReads();
    const socket: net.Socket = tlsOpts ? tls.connect(tlsClientOptions(tlsOpts, host, port)) : net.connect({ host, port, onread: reads!.onread });
    let timer: NodeJS.Timeout;
    const arm = () => {
      timer = setTimeout(timedOut, Math.max(1, deadline.left));
    };
    const timedOut = () => {
      // The deadline moved (this process was busy): what happened meanwhile (connected, closed) is still to be read.
      if (deadline.left > 0) return arm();
      socket.destroy();
      conn?.close("handshake timed out");
      settle(new AttemptFailed(conn ? "connected, but no handshake reply arrived" : "the connection attempt timed out", true));
    };
    arm();
    const onEarlyError = (err: NodeJS.ErrnoException) => {
      const code = err.code ?? "";
      const retryable = TRANSIENT_CODES.has(code) || (opts.awaitListener !== false && NO_LISTENER_CODES.has(code));
      settle(new AttemptFailed(describeSocketError(err, host), retryable));
    };
    socket.once("error", onEarlyError);
    socket.once(tlsOpts ? "secureConnect" : "connect", () => {
      socket.off("error", onEarlyError);
      const c = new WireConnection(socketTransport(socket, reads));
      conn = c;
      c.handshakeHandler = (msg: Message) => {
        if (msg.op === "welcome") {
          c.open("peer");
          settle(null);
        } else if (msg.op === "refused") {
          const reason = typeof msg.reason === "string" ? msg.reason : "no reason given";
          settle(
            reason.includes("protocol version")
              ? new ProtocolError(`Connection to ${address} refused: ${reason}`)
              : new AuthError(`Connection to ${address} refused: ${reason}`),
          );
          c.close("refused by the peer");
        } else {
          c.fail(`expected welcome or refused, got "${msg.op}"`);
        }
      };
      c.onClose = (reason) => {
        // Only matters during the handshake; the owner replaces onClose after.
        if (tlsOpts && c.closeKind === "remote") {
          // With TLS 1.3 a server that rejects our certificate just closes after the TLS handshake.
          settle(new AuthError(`Connection to ${address} closed by the server right after the TLS handshake: it probably rejected this side's certificate; use one signed by the cluster's CA (--tls-cert/--tls-key/--tls-ca)`));
          return;
        }
        const byPeer = c.closeKind === "remote";
        settle(new AttemptFailed(`the connection closed during the handshake (${reason})`, byPeer, byPeer));
      };
      c.send(makeHello(opts.token, opts.role));
    });
  }).then((c) => {
    (c as WireConnection).onClose = undefined;
    return c;
  });
}

function describeSocketError(err: NodeJS.ErrnoException, host: string): string {
  switch (err.code) {
    case "ENOTFOUND":
      return `host "${host}" not found`;
    case "ECONNREFUSED":
      return "connection refused (ECONNREFUSED): nothing listens there; check the address, and that the scheduler or worker is running";
    default:
      return err.message;
  }
}
