// The byte pipe under a Connection: a TCP/TLS socket, or an in-memory pair
// for tests. A Connection only needs to write chunks, receive chunks, hear
// about the end, and know when the pipe is full.

import type { Socket } from "node:net";
import { watchLink } from "./link-watch.js";
import { traffic } from "./traffic.js";

export interface Transport {
  /** Remote "host:port" (or a label for in-memory pipes). */
  readonly peer: string;
  /**
   * Write chunks in order, as one unit where the transport can (writev).
   * Returns false when the transport now holds WRITE_HIGH_WATER_BYTES or
   * more: write nothing else until `onDrain`.
   */
  write(chunks: Uint8Array[]): boolean;
  /** Bytes written and not yet taken by the system (or by the peer, in memory). */
  readonly bufferedBytes: number;
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
  /** After a write returned false: the transport took everything it held. */
  onDrain: () => void;
  /** Fires once, after which nothing else does. */
  onClose: (reason: string) => void;
}

/**
 * What a connection lets its socket hold before it keeps batches back: enough
 * to keep a fast link busy between two turns, small enough that a peer that
 * stops reading costs little. The kernel's send buffer comes on top.
 */
export const WRITE_HIGH_WATER_BYTES = 4 * 1024 * 1024;

/** How long end() waits for the peer to finish closing before forcing it. */
const END_GRACE_MS = 2000;

/**
 * Socket options (`onread`, for `net.connect`) that read into memory the
 * transport chooses: a large frame's bytes go from the kernel straight into
 * the frame, in reads as large as the socket has ready, rather than through
 * 64 KiB chunks copied into it one by one. Node offers this to connecting
 * sockets only.
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
      // Node keeps the memory it was last given referenced until the next read.
      buffer: () => reads.transport?.readTarget() ?? scratch,
      callback: (n, buf) => {
        const t = reads.transport;
        if (t === null) return true;
        traffic.received += n;
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
      if (socket.destroyed || socket.writableEnded) return true;
      // cork + several writes become one writev: large Payload parts reach the
      // kernel without being copied into a combined buffer.
      socket.cork();
      for (const c of chunks) {
        traffic.sent += c.byteLength;
        socket.write(c);
      }
      socket.uncork();
      // Above the mark the socket has seen its own (smaller) mark too, so it will emit 'drain'.
      return socket.writableLength < WRITE_HIGH_WATER_BYTES;
    },
    get bufferedBytes() {
      return socket.writableLength;
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
    onDrain: () => {},
    onClose: () => {},
  };
  socket.setNoDelay(true);
  watchLink(socket);
  // A connection keeps nothing alive by itself: its pending requests do (keep-alive.ts), and listeners.
  socket.unref();
  if (reads) reads.transport = t;
  else {
    socket.on("data", (chunk: Buffer) => {
      traffic.received += chunk.byteLength;
      t.onData(chunk);
    });
  }
  socket.on("drain", () => t.onDrain());
  socket.on("error", (err) => {
    error = err;
  });
  socket.on("close", () => {
    if (endTimer) clearTimeout(endTimer);
    t.onClose(error ? `connection error: ${error.message}` : "the peer closed the connection");
  });
  return t;
}

/** An in-memory transport; the receiving side can stop taking bytes, as a peer that stops reading does. */
export interface MemoryTransport extends Transport {
  /** Stop delivering what arrives (it waits here, counted against the sender's mark). */
  pause(): void;
  /** Deliver what waited, and what comes after. */
  resume(): void;
}

/** Two transports wired to each other in memory, delivering bytes asynchronously like a socket. */
export function memoryTransportPair(highWaterBytes = WRITE_HIGH_WATER_BYTES): [MemoryTransport, MemoryTransport] {
  const a = new MemoryPipeEnd("memory:a", highWaterBytes);
  const b = new MemoryPipeEnd("memory:b", highWaterBytes);
  a.other = b;
  b.other = a;
  return [a, b];
}

class MemoryPipeEnd implements MemoryTransport {
  other!: MemoryPipeEnd;
  private closed = false;
  private paused = false;
  /** Bytes sent to this end and not yet delivered to it (the sender's buffered bytes). */
  private waiting: Uint8Array[] = [];
  private waitingBytes = 0;
  private needDrain = false;
  private ending = false;
  onData: (chunk: Uint8Array) => void = () => {};
  readTarget: () => Uint8Array | null = () => null;
  onDataInto: (n: number) => void = () => {};
  onDrain: () => void = () => {};
  onClose: (reason: string) => void = () => {};

  constructor(
    readonly peer: string,
    private readonly highWaterBytes: number,
  ) {}

  get bufferedBytes(): number {
    return this.other.waitingBytes;
  }

  write(chunks: Uint8Array[]): boolean {
    if (this.closed) return true;
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
    other.waiting.push(buf);
    other.waitingBytes += n;
    if (!other.paused) setImmediate(() => other.deliver());
    if (other.waitingBytes < this.highWaterBytes) return true;
    this.needDrain = true;
    return false;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    setImmediate(() => this.deliver());
  }

  /** Hand over what waits here, in order, then tell the sender if it waits for room. */
  private deliver(): void {
    while (!this.paused && !this.closed && this.waiting.length > 0) {
      const buf = this.waiting.shift()!;
      this.waitingBytes -= buf.byteLength;
      this.onData(buf);
    }
    if (this.waiting.length > 0) return;
    const sender = this.other;
    if (sender.ending) {
      sender.finish("the connection was closed locally");
      this.finish("the peer closed the connection");
    } else if (sender.needDrain && !sender.closed) {
      sender.needDrain = false;
      sender.onDrain();
    }
  }

  end(): void {
    // The peer sees the end after everything written before it, as with a socket.
    this.ending = true;
    const other = this.other;
    setImmediate(() => other.deliver());
  }

  destroy(): void {
    this.finish("the connection was closed locally");
    setImmediate(() => this.other.finish("the peer closed the connection"));
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.waiting = [];
    this.waitingBytes = 0;
    this.onClose(reason);
  }
}
