// The byte pipe under a Connection: a TCP/TLS socket, or an in-memory pair
// for tests. A Connection only needs to write chunks, receive chunks, and hear
// about the end.

import type { Socket } from "node:net";

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
  /**
   * Where the next bytes may be read into instead of arriving as a chunk (the
   * rest of a large frame), or null. Asked before each read by transports that
   * can read into memory they are given; `onDataInto` then says how much came.
   */
  readTarget: () => Uint8Array | null;
  onDataInto: (n: number) => void;
  /** Fires once, after which nothing else does. */
  onClose: (reason: string) => void;
}

/** How long end() waits for the peer to finish closing before forcing it. */
const END_GRACE_MS = 2000;

/**
 * Socket options (for `net.connect`) that read into memory the transport
 * chooses: a large frame's bytes go from the kernel straight into the frame,
 * in reads as large as the socket has ready, rather than through 64 KiB
 * chunks copied into it one by one. Node offers this to connecting sockets only.
 */
export interface DirectReads {
  readonly onread: { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean };
  transport: Transport | null;
}

/** Reads that are not into a frame land here, then are copied out at their size (a few bytes, usually). */
const SCRATCH_BYTES = 64 * 1024;

export function directReads(): DirectReads {
  const scratch = new Uint8Array(SCRATCH_BYTES);
  const reads: DirectReads = {
    transport: null,
    onread: {
      buffer: () => reads.transport?.readTarget() ?? scratch,
      callback: (n, buf) => {
        const t = reads.transport;
        if (t === null) return true;
        // A copy (a plain Uint8Array's slice; a Buffer's would be a view): the next read overwrites the scratch.
        if (buf === scratch) t.onData(scratch.slice(0, n));
        else t.onDataInto(n);
        return true;
      },
    },
  };
  return reads;
}

/** `reads`: the socket was made with `reads.onread` (plain TCP only). */
export function socketTransport(socket: Socket, reads?: DirectReads): Transport {
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
      for (const c of chunks) socket.write(c);
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
    readTarget: () => null,
    onDataInto: () => {},
    onClose: () => {},
  };
  socket.setNoDelay(true);
  // A connection keeps nothing alive by itself: its pending requests do (keep-alive.ts), and listeners.
  socket.unref();
  if (reads) reads.transport = t;
  else socket.on("data", (chunk: Buffer) => t.onData(chunk));
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
  readTarget: () => Uint8Array | null = () => null;
  onDataInto: (n: number) => void = () => {};
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
