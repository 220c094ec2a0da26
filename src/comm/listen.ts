// Accept connections: TCP or mutual TLS, then the handshake. A connection is
// handed to the owner only after its Hello was accepted.

import * as net from "node:net";
import * as tls from "node:tls";
import { CommError, ConfigError } from "../errors.js";
import { createLogger } from "../log.js";
import type { Message } from "../protocol/messages.js";
import { formatAddress, isLoopbackHost } from "./address.js";
import { WireConnection, type Connection } from "./connection.js";
import { checkHello, type HelloRole } from "./handshake.js";
import { holdWhile } from "./keep-alive.js";
import { LogThrottle } from "./log-throttle.js";
import { tlsServerOptions, type TlsOptions } from "./tls.js";
import { socketTransport } from "./transport.js";

const log = createLogger("comm");

export interface ListenOptions {
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 0: the system picks a free port (see Listener.address). */
  port?: number;
  /** The token every connecting side must present; "" accepts only an empty token. */
  token: string;
  /** When given, listen with mutual TLS; the address then starts with tls://. */
  tls?: TlsOptions;
  /** How long a new connection may take to send its Hello (with TLS, its TLS handshake included). Default 10000. */
  handshakeTimeoutMs?: number;
  /**
   * Most connections that have not completed their handshake at once; further
   * ones are closed as they arrive. Default 1024.
   */
  maxUnauthenticated?: number;
  /** Called once per accepted connection; set its handlers before returning. */
  onConnection: (conn: Connection) => void;
  /** Allow an empty token on a non-loopback host. */
  insecure?: boolean;
  /** Whether listening keeps the process alive (default true; false for a cluster embedded in a script). */
  holdProcess?: boolean;
}

export interface Listener {
  /** "tcp://host:port" or "tls://host:port", with the real port. */
  readonly address: string;
  /** Stop accepting, close every accepted connection, and wait until they are closed. */
  close(): Promise<void>;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_UNAUTHENTICATED = 1024;

/**
 * A connection that has not proved the token yet. Known by its endpoints,
 * which its TLS socket shares with the TCP socket under it.
 */
interface Stranger {
  raw: net.Socket;
  conn?: WireConnection;
  timer: NodeJS.Timeout;
}

function endpoints(socket: net.Socket): string {
  return `${socket.localAddress}|${socket.localPort}|${socket.remoteAddress}|${socket.remotePort}`;
}

export async function listen(opts: ListenOptions): Promise<Listener> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 0;
  const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (typeof opts.token !== "string") throw new ConfigError('listen: token must be a string ("" for no token on loopback)');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`listen: port must be an integer from 0 to 65535, got ${port}`);
  if (!(handshakeTimeoutMs > 0)) throw new ConfigError(`listen: handshakeTimeoutMs must be positive, got ${handshakeTimeoutMs}`);
  const maxUnauthenticated = opts.maxUnauthenticated ?? DEFAULT_MAX_UNAUTHENTICATED;
  if (!Number.isInteger(maxUnauthenticated) || maxUnauthenticated < 1) {
    throw new ConfigError(`listen: maxUnauthenticated must be a positive integer, got ${maxUnauthenticated}`);
  }
  if (typeof opts.onConnection !== "function") throw new ConfigError("listen: onConnection must be a function");
  if (opts.token === "" && !isLoopbackHost(host) && !opts.insecure) {
    throw new ConfigError(
      `Refusing to listen on ${host} without a token: anyone who can reach it could run code on this machine. ` +
        "Give a token (--token-file / the token option), listen on 127.0.0.1, or pass --insecure (insecure: true) on a trusted network",
    );
  }

  const conns = new Set<WireConnection>();
  // Connections that have not proved the token: each may hold 64 KiB (the
  // decoder's limit) for up to the handshake timeout, and there are at most
  // maxUnauthenticated of them, so a flood of strangers costs a bounded amount.
  const strangers = new Map<string, Stranger>();
  const refused = new LogThrottle((n, peer) =>
    log.warn(
      `Refused ${n} connection${n === 1 ? "" : "s"} (the latest from ${peer}): ${maxUnauthenticated} connections have not completed their handshake yet, ` +
        "the most this listener accepts; something may be flooding its port",
    ),
  );
  const badHello = new LogThrottle((n, last) => log.warn(`Refused ${n} connection${n === 1 ? "" : "s"} for a bad hello (the latest, ${last})`));
  const expired = new LogThrottle((n, peer) =>
    log.warn(`Closed ${n} connection${n === 1 ? "" : "s"} (the latest from ${peer}) that sent no hello within ${handshakeTimeoutMs} ms`),
  );

  const arrive = (raw: net.Socket) => {
    if (raw.remoteAddress === undefined) {
      raw.destroy(); // reset before it was accepted
      return;
    }
    const peer = `${raw.remoteAddress ?? "?"}:${raw.remotePort ?? "?"}`;
    if (strangers.size >= maxUnauthenticated) {
      raw.destroy();
      refused.note(peer);
      return;
    }
    const key = endpoints(raw);
    const stranger: Stranger = {
      raw,
      timer: setTimeout(() => {
        strangers.delete(key);
        expired.note(peer);
        if (stranger.conn) stranger.conn.fail(`no hello within ${handshakeTimeoutMs} ms`, false);
        else raw.destroy();
      }, handshakeTimeoutMs),
    };
    stranger.timer.unref();
    strangers.set(key, stranger);
    raw.once("close", () => {
      clearTimeout(stranger.timer);
      if (strangers.get(key) === stranger) strangers.delete(key);
    });
    if (!opts.tls) accept(raw);
  };

  const accept = (socket: net.Socket) => {
    const key = endpoints(socket);
    const stranger = strangers.get(key);
    if (stranger === undefined) {
      socket.destroy(); // its time ran out during the TLS handshake
      return;
    }
    const conn = new WireConnection(socketTransport(socket));
    stranger.conn = conn;
    conns.add(conn);
    void conn.closed.then(() => conns.delete(conn));
    const trusted = () => {
      clearTimeout(stranger.timer);
      if (strangers.get(key) === stranger) strangers.delete(key);
    };
    conn.handshakeHandler = (msg: Message) => {
      if (msg.op !== "hello") {
        conn.fail(`the first message was "${msg.op}", expected hello`);
        return;
      }
      const refusal = checkHello(msg, opts.token);
      if (refusal !== null) {
        badHello.note(`${conn.peer}: ${refusal}`);
        conn.send({ op: "refused", reason: refusal });
        conn.close("refused");
        return;
      }
      trusted();
      conn.send({ op: "welcome" });
      conn.open(msg.role as HelloRole);
      try {
        opts.onConnection(conn);
      } catch (err) {
        log.error(`The onConnection handler threw: ${err instanceof Error ? err.stack : String(err)}`, { peer: conn.peer });
        conn.close("the owner failed to accept it");
      }
    };
  };

  const server: net.Server = opts.tls ? tls.createServer(tlsServerOptions(opts.tls), accept) : net.createServer({ noDelay: true });
  // For TLS, after the server's own listener has wrapped the socket: a refused one takes its TLS socket with it.
  server.on("connection", arrive);
  if (opts.tls) {
    server.on("tlsClientError", (err: Error, socket: tls.TLSSocket) => {
      log.warn(`Dropped a TLS connection: ${err.message}`, { peer: `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}` });
    });
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === "EADDRINUSE" ? "the port is already in use (EADDRINUSE); stop what listens there, or choose another port (0 picks a free one)" : err.message;
      reject(new CommError(`Could not listen on ${host}:${port}: ${why}`, { cause: err }));
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  server.on("error", (err) => log.error(`Listener error: ${err.message}`, { host }));
  if (opts.holdProcess === false) server.unref();

  const bound = server.address() as net.AddressInfo;
  const address = formatAddress(opts.tls ? "tls" : "tcp", host, bound.port);
  let closing: Promise<void> | null = null;
  return {
    address,
    close() {
      if (closing) return closing;
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      refused.flush();
      expired.flush();
      badHello.flush();
      for (const { raw, conn } of strangers.values()) if (!conn) raw.destroy();
      const all = [...conns].map((c) => {
        c.close("the listener is closing");
        return c.closed;
      });
      // Whoever awaits this must see it through, though neither the server nor its connections hold the process.
      closing = holdWhile(Promise.all([serverClosed, ...all]).then(() => undefined));
      return closing;
    },
  };
}
