// The byte pipe under a Connection: a TCP/TLS socket, or an in-memory pair
// for tests. A Connection only needs to write chunks, receive chunks, and hear
// about the end.

import type { Socket } from "node:net";
import { traffic } from "./traffic.js";

export interface Transport {
  /** Remote "host:port" (or a label for in-memory pipes). */
  readonly peer: string;
  /** Write chunks in order, as one unit where the transport can (writev). */
  write(chunks: Uint8Array[]): void;
  /** Let written bytes drain, then close; `close` fires later. */
  end(): void;
  /** Close now, dropping unwritten bytes; `close` fires later. */
  destroy(): void;
  onData: (chunk: Uint8Array) => void;
  /** Fires once, after which nothing else does. */
  onClose: (reason: string) => void;
}

/** How long end() waits for the peer to finish closing before forcing it. */
const END_GRACE_MS = 2000;

export function socketTransport(socket: Socket): Transport {
  const host = socket.remoteAddress ?? "?";
  const peer = `${host.includes(":") ? `[${host}]` : host}:${socket.remotePort ?? "?"}`;
  let error: Error | null = null;
  let endTimer: NodeJS.Timeout | null = null;
  const t: Transport = {
    peer,
    write(chunks) {
      if (socket.destroyed || socket.writableEnded) return;
      // cork + several writes become one writev: large Payload parts reach the
      // kernel without being copied into a combined buffer.
      socket.cork();
      for (const c of chunks) {
        traffic.sent += c.byteLength;
        socket.write(c);
      }
      socket.uncork();
    },
    end() {
      if (socket.destroyed) return;
      socket.end();
      endTimer = setTimeout(() => socket.destroy(), END_GRACE_MS);
      endTimer.unref();
    },
    destroy() {
      socket.destroy();
    },
    onData: () => {},
    onClose: () => {},
  };
  socket.setNoDelay(true);
  // A connection keeps nothing alive by itself: its pending requests do (keep-alive.ts), and listeners.
  socket.unref();
  socket.on("data", (chunk: Buffer) => {
    traffic.received += chunk.byteLength;
    t.onData(chunk);
  });
  socket.on("error", (err) => {
    error = err;
  });
  socket.on("close", () => {
    if (endTimer) clearTimeout(endTimer);
    t.onClose(error ? `connection error: ${error.message}` : "the peer closed the connection");
  });
  return t;
}

/** Two transports wired to each other in memory, delivering bytes asynchronously like a socket. */
export function memoryTransportPair(): [Transport, Transport] {
  const a = new MemoryTransport("memory:a");
  const b = new MemoryTransport("memory:b");
  a.other = b;
  b.other = a;
  return [a, b];
}

class MemoryTransport implements Transport {
  other!: MemoryTransport;
  private closed = false;
  onData: (chunk: Uint8Array) => void = () => {};
  onClose: (reason: string) => void = () => {};

  constructor(readonly peer: string) {}

  write(chunks: Uint8Array[]): void {
    if (this.closed) return;
    // Copy, as a socket would: the receiver must not see later changes the
    // sender makes to its buffers.
    let n = 0;
    for (const c of chunks) n += c.byteLength;
    const buf = new Uint8Array(n);
    let at = 0;
    for (const c of chunks) {
      buf.set(c, at);
      at += c.byteLength;
    }
    const other = this.other;
    setImmediate(() => {
      if (!other.closed) other.onData(buf);
    });
  }

  end(): void {
    // Queued behind earlier writes (setImmediate is FIFO), so they arrive first.
    setImmediate(() => {
      this.finish("the connection was closed locally");
      this.other.finish("the peer closed the connection");
    });
  }

  destroy(): void {
    this.finish("the connection was closed locally");
    setImmediate(() => this.other.finish("the peer closed the connection"));
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(reason);
  }
}
