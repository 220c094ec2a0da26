// Batches of messages as bytes, and back. Pure: no sockets, so the decoder can
// be tested and fuzzed on plain byte arrays.
//
// Wire layout of one batch (all integers u32 little-endian):
//
//   headerLen | oobCount | oobLen[0] .. oobLen[oobCount-1] | header | oob[0] .. oob[oobCount-1]
//
// `header` is msgpack: a flat array of entries, each one of
//   - a message object;
//   - a request id (positive integer) immediately followed by the message it
//     tags as a request;
//   - a request group: [rid, n] followed by one message that stands for n
//     requests, with ids rid .. rid+n-1, each answered on its own;
//   - a successful reply: the negated request id followed by the value;
//   - a failed reply: {op:"reply", rid, ok:false, error}.
// Keeping ids outside the messages means the objects handed to handlers are
// exactly what the sender passed, with nothing internal to strip, and a
// successful reply costs no object of its own on either side.
//
// Payload parts of 64 KiB or more travel as out-of-band frames (`oob`): the
// header holds their index, the bytes go to the socket as their own writes and
// come back as views over the received bytes. All lengths come first so the
// decoder can check every limit before buffering any body.

import { addExtension, Packr } from "msgpackr";
import { ProtocolError } from "../errors.js";
import type { ErrorInfo } from "../protocol/messages.js";
import { isKnownOp, MAX_GROUP } from "../protocol/schemas.js";
import { Payload } from "../protocol/payload.js";

/** Largest out-of-band frame (one Payload part): 1 GiB. */
export const MAX_FRAME_BYTES = 1024 * 1024 * 1024;
/** Largest header frame (the msgpack of one batch's messages): 64 MiB. */
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;
/** Most out-of-band frames in one batch. */
export const MAX_OOB_FRAMES = 65536;
/** Payload parts this size or larger go out of band instead of inline in the header. */
export const OOB_THRESHOLD_BYTES = 64 * 1024;

/** The msgpack extension type that marks a Payload. */
const PAYLOAD_EXT = 0x50;

/** A failed reply (a successful one is its negated request id followed by the value); its error as every error crosses the wire. */
export interface ErrorReply {
  op: "reply";
  rid: number;
  ok: false;
  error: ErrorInfo;
}

/**
 * One element of a batch header: a message, a failed reply, a request id
 * (the request follows), a negated request id (the reply's value follows), or
 * such a value, which can be any data.
 */
export type WireEntry = unknown;

/** Where the unit starting at `i` ends: an id (or a group's ids) and what follows go together. */
export function unitEnd(entries: readonly WireEntry[], i: number): number {
  const e = entries[i];
  return typeof e === "number" || Array.isArray(e) ? i + 2 : i + 1;
}

// ---------------------------------------------------------------- codec

// msgpackr extensions are global to the thread and run synchronously inside
// pack/unpack, so the batch being encoded or decoded is passed through this
// state rather than through the extension's arguments. Every copy of troupe
// a thread loads shares it: the extension registered last decodes for all
// of them, whichever copy's decoder set the frames.
interface OobState {
  encoding: Uint8Array[] | null;
  decoding: Uint8Array[] | null;
}
const OOB_STATE = Symbol.for("troupe.payloadFrames");
const oob = ((globalThis as unknown as Record<symbol, OobState | undefined>)[OOB_STATE] ??= { encoding: null, decoding: null });

addExtension({
  Class: Payload,
  type: PAYLOAD_EXT,
  write(p: Payload): Array<Uint8Array | number> {
    const out: Array<Uint8Array | number> = new Array(p.parts.length);
    for (let i = 0; i < p.parts.length; i++) {
      const part = p.parts[i];
      if (!(part instanceof Uint8Array)) {
        throw new ProtocolError(`Payload part ${i} is a ${typeof part}, not a Uint8Array; serialize the value first`);
      }
      const encoding = oob.encoding;
      if (encoding !== null && part.byteLength >= OOB_THRESHOLD_BYTES) {
        checkFrameSize(part);
        out[i] = encoding.length;
        encoding.push(part);
      } else {
        out[i] = part;
      }
    }
    return out;
  },
  read(data: unknown): Payload {
    if (!Array.isArray(data)) throw new ProtocolError("Malformed Payload in message: expected an array of parts");
    const parts: Uint8Array[] = new Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const d = data[i];
      if (d instanceof Uint8Array) parts[i] = d;
      else if (typeof d === "number" && oob.decoding !== null && Number.isInteger(d) && d >= 0 && d < oob.decoding.length) {
        parts[i] = oob.decoding[d]!;
      } else throw new ProtocolError("Malformed Payload in message: a part is neither bytes nor a valid out-of-band frame index");
    }
    return new Payload(parts);
  },
});

/** Throws the ProtocolError a part too large to travel meets on the wire. */
export function checkFrameSize(part: Uint8Array): void {
  if (part.byteLength > MAX_FRAME_BYTES) {
    throw new ProtocolError(`Payload part of ${part.byteLength} bytes exceeds the ${MAX_FRAME_BYTES}-byte frame limit; split the data into smaller pieces`);
  }
}

// One instance for every connection: creating a Packr is costly and they are
// stateless between calls when records are off.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

function writeU32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v & 0xff;
  buf[at + 1] = (v >>> 8) & 0xff;
  buf[at + 2] = (v >>> 16) & 0xff;
  buf[at + 3] = (v >>> 24) & 0xff;
}

function readU32(buf: Uint8Array, at: number): number {
  return (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16)) + buf[at + 3] * 0x1000000;
}

/**
 * Encode one batch. Returns the chunks to write in order: the first holds the
 * lengths and the header; the others are out-of-band parts, not copied.
 * Throws (ProtocolError or msgpackr's error) when an entry cannot be encoded;
 * a batch whose header would exceed MAX_HEADER_BYTES is split by the caller.
 */
export function encodeBatch(entries: readonly WireEntry[]): Uint8Array[] {
  const frames: Uint8Array[] = [];
  oob.encoding = frames;
  let header: Uint8Array;
  try {
    header = packr.pack(entries);
  } finally {
    oob.encoding = null;
  }
  if (header.byteLength > MAX_HEADER_BYTES) throw new HeaderTooLargeError(header.byteLength);
  if (frames.length > MAX_OOB_FRAMES) {
    throw new ProtocolError(`A batch holds ${frames.length} large Payload parts, above the limit of ${MAX_OOB_FRAMES}; send fewer at once`);
  }
  const prefix = 8 + 4 * frames.length;
  const first = new Uint8Array(prefix + header.byteLength);
  writeU32(first, 0, header.byteLength);
  writeU32(first, 4, frames.length);
  for (let i = 0; i < frames.length; i++) writeU32(first, 8 + 4 * i, frames[i]!.byteLength);
  first.set(header, prefix);
  const chunks: Uint8Array[] = [first];
  for (const part of frames) chunks.push(part);
  return chunks;
}

/** The header of a batch went over MAX_HEADER_BYTES: split the batch and retry. */
export class HeaderTooLargeError extends ProtocolError {
  constructor(readonly byteLength: number) {
    super(`A message batch encodes to ${byteLength} bytes, above the ${MAX_HEADER_BYTES}-byte header limit; move large data into Payload parts`);
  }
}

// ---------------------------------------------------------------- decoder

const enum State {
  Prefix,
  Lengths,
  Header,
  Oob,
  Failed,
}

/**
 * Incremental batch decoder. push() bytes as they arrive, then call next()
 * until it returns null. next() throws ProtocolError (and only that) on bad
 * input; the decoder is then unusable and the connection must be closed.
 * Bytes are buffered as a list of chunks and each frame body is copied at
 * most once, so large frames arriving in many chunks cost linear time.
 *
 * A large body that has not all arrived gets its own memory at once: what is
 * buffered is copied in, and later bytes follow as they come, so that the
 * chunks holding it are not kept until its end. A transport that can read
 * into memory it is given asks `readTarget()` before each read: while such a
 * body arrives from a peer without a limit (one that proved its token), that
 * is the rest of the body, and its bytes are not copied at all (`wrote()`
 * then counts them).
 */
export class BatchDecoder {
  private chunks: Uint8Array[] = [];
  private head = 0; // read offset into chunks[0]
  private buffered = 0; // unread bytes across chunks
  private state = State.Prefix;
  private headerLen = 0;
  private oobLens: number[] = [];
  private header: Uint8Array | null = null;
  private oob: Uint8Array[] = [];
  /** Bytes of the batch being decoded, as announced by its lengths. */
  private batchBytes = 0;
  /**
   * Bytes the peer may still send, counting every batch whole from its
   * announced lengths: a batch that would go beyond fails before any of its
   * body is buffered. Unlimited unless set (see setLimit).
   */
  private budget = Infinity;
  /** Why the budget exists, for the error that spends it. */
  private budgetWhy = "";
  /** A large body being filled as its bytes arrive, and how much of it is. */
  private body: Uint8Array | null = null;
  private bodyFilled = 0;

  /**
   * Accept at most `bytes` more (whole batches, as announced), or any amount
   * with Infinity: a connection that has not proved its token may not make
   * this side buffer more than a little. `why` ends the error's message.
   */
  setLimit(bytes: number, why = ""): void {
    this.budget = bytes;
    this.budgetWhy = why;
  }

  /** Drop everything buffered: the connection is gone, and so is what it sent. */
  discard(): void {
    this.state = State.Failed;
    this.chunks = [];
    this.head = 0;
    this.buffered = 0;
    this.header = null;
    this.oob = [];
    this.oobLens = [];
    this.body = null;
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0 || this.state === State.Failed) return;
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
  }

  /**
   * Memory the next bytes received may be written into directly (the rest of
   * a large body, and never more), or null: they come as chunks to push().
   * Only a peer without a limit gets one: a stranger never makes this side
   * read into memory it allocated for it.
   */
  readTarget(): Uint8Array | null {
    if (this.body === null || this.buffered > 0 || this.budget !== Infinity || this.state === State.Failed) return null;
    return this.body.subarray(this.bodyFilled);
  }

  /** n bytes were written into the memory readTarget() gave; call next() as after push(). */
  wrote(n: number): void {
    if (this.body === null || !(n >= 0) || this.bodyFilled + n > this.body.byteLength) {
      throw new Error("BatchDecoder.wrote() without a matching readTarget()");
    }
    this.bodyFilled += n;
  }

  /** Bytes received but not yet part of a decoded batch. */
  get pendingBytes(): number {
    return this.buffered;
  }

  next(): WireEntry[] | null {
    for (;;) {
      switch (this.state) {
        case State.Failed:
          throw new ProtocolError("The frame decoder already failed on earlier bytes");
        case State.Prefix: {
          if (this.buffered < 8) return null;
          const b = this.take(8);
          this.headerLen = readU32(b, 0);
          const count = readU32(b, 4);
          if (this.headerLen === 0) this.fail("a batch header frame of 0 bytes");
          if (this.headerLen > MAX_HEADER_BYTES) {
            this.fail(`a header frame of ${this.headerLen} bytes, above the ${MAX_HEADER_BYTES}-byte limit`);
          }
          if (count > MAX_OOB_FRAMES) this.fail(`${count} out-of-band frames in one batch, above the limit of ${MAX_OOB_FRAMES}`);
          this.batchBytes = 8 + 4 * count + this.headerLen;
          this.checkBudget();
          this.oobLens = new Array(count);
          this.state = count > 0 ? State.Lengths : State.Header;
          continue;
        }
        case State.Lengths: {
          const n = this.oobLens.length;
          if (this.buffered < 4 * n) return null;
          const b = this.take(4 * n);
          for (let i = 0; i < n; i++) {
            const len = readU32(b, 4 * i);
            if (len > MAX_FRAME_BYTES) this.fail(`an out-of-band frame of ${len} bytes, above the ${MAX_FRAME_BYTES}-byte limit`);
            this.oobLens[i] = len;
            this.batchBytes += len;
          }
          this.checkBudget();
          this.state = State.Header;
          continue;
        }
        case State.Header: {
          const header = this.frame(this.headerLen);
          if (header === null) return null;
          this.header = header;
          this.oob = [];
          this.state = State.Oob;
          continue;
        }
        case State.Oob: {
          while (this.oob.length < this.oobLens.length) {
            const frame = this.frame(this.oobLens[this.oob.length]);
            if (frame === null) return null;
            this.oob.push(frame);
          }
          const header = this.header!;
          const oob = this.oob;
          this.header = null;
          this.oob = [];
          this.oobLens = [];
          this.state = State.Prefix;
          this.budget -= this.batchBytes;
          const entries = decodeHeader(header, oob, (why) => this.fail(why));
          return entries;
        }
      }
    }
  }

  private checkBudget(): void {
    if (this.batchBytes > this.budget) {
      const why = this.budgetWhy === "" ? "" : ` ${this.budgetWhy}`;
      this.discard();
      throw new ProtocolError(`Received a batch of ${this.batchBytes} bytes where at most ${this.budget} more are accepted${why}`);
    }
  }

  private fail(why: string): never {
    this.discard();
    throw new ProtocolError(`Received ${why}; the peer is not speaking the troupe protocol (or a different version)`);
  }

  /**
   * The next frame of n bytes, or null until all of it is here. A small one
   * waits in the chunks (one copy once complete beats one per chunk); a large
   * one not all here yet is filled as its bytes come.
   */
  private frame(n: number): Uint8Array | null {
    if (this.body === null) {
      if (this.buffered >= n) return this.take(n);
      if (n < OOB_THRESHOLD_BYTES) return null;
      this.body = newBody(n);
      this.bodyFilled = 0;
    }
    const body = this.body;
    while (this.bodyFilled < n && this.buffered > 0) {
      const c = this.chunks[0]!;
      const k = Math.min(c.byteLength - this.head, n - this.bodyFilled);
      body.set(c.subarray(this.head, this.head + k), this.bodyFilled);
      this.bodyFilled += k;
      this.buffered -= k;
      this.head += k;
      if (this.head === c.byteLength) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    if (this.bodyFilled < n) return null;
    this.body = null;
    this.bodyFilled = 0;
    return body;
  }

  /** Remove n bytes (n <= buffered): a view when they lie in one chunk, else one copy. */
  private take(n: number): Uint8Array {
    this.buffered -= n;
    const first = this.chunks[0];
    if (n === 0) return new Uint8Array(0);
    if (first.byteLength - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.byteLength) {
        this.chunks.shift();
        this.head = 0;
      }
      return out;
    }
    const out = newBody(n);
    let filled = 0;
    let used = 0; // whole chunks consumed; removed in one splice, not one shift each
    while (filled < n) {
      const c = this.chunks[used];
      const avail = c.byteLength - this.head;
      const want = n - filled;
      if (avail <= want) {
        out.set(this.head === 0 ? c : c.subarray(this.head), filled);
        filled += avail;
        used++;
        this.head = 0;
      } else {
        out.set(c.subarray(this.head, this.head + want), filled);
        this.head += want;
        filled += want;
      }
    }
    this.chunks.splice(0, used);
    return out;
  }
}

/**
 * Memory for a frame of n bytes. Large ones live in shared memory: a worker
 * hands them to its threads without another copy.
 */
function newBody(n: number): Uint8Array {
  return n >= OOB_THRESHOLD_BYTES ? new Uint8Array(new SharedArrayBuffer(n)) : new Uint8Array(n);
}

function decodeHeader(header: Uint8Array, frames: Uint8Array[], fail: (why: string) => never): WireEntry[] {
  let value: unknown;
  oob.decoding = frames;
  try {
    value = packr.unpack(header);
  } catch (err) {
    fail(`an undecodable batch header (${err instanceof Error ? err.message : String(err)})`);
  } finally {
    oob.decoding = null;
  }
  if (!Array.isArray(value)) fail("a batch header that is not an array of messages");
  const entries = value as unknown[];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (typeof e === "number") {
      if (!Number.isSafeInteger(e) || e === 0) fail(`an invalid request id ${e}`);
      if (i + 1 >= entries.length) fail(e > 0 ? "a request id not followed by a request message" : "a reply id not followed by its value");
      if (e < 0) {
        i++; // the reply's value: any data
        continue;
      }
      const m = entries[i + 1];
      if (!isMessageObject(m) || m.op === "reply") fail("a request id not followed by a request message");
      continue;
    }
    if (Array.isArray(e)) {
      const [rid, n] = e as unknown[];
      if (e.length !== 2 || !Number.isSafeInteger(rid) || (rid as number) <= 0 || !Number.isSafeInteger(n) || (n as number) < 1 || (n as number) > MAX_GROUP) {
        fail("a malformed request group (expected [first id, count])");
      }
      const m = entries[i + 1];
      if (!isMessageObject(m) || !isKnownOp(m.op)) fail("a request group not followed by a known message");
      continue;
    }
    if (!isMessageObject(e)) fail(`a message that is not an object (${e === null ? "null" : Array.isArray(e) ? "array" : typeof e})`);
    const op = (e as { op: unknown }).op;
    if (op === "reply") {
      const r = e as { rid?: unknown; ok?: unknown; error?: unknown };
      if (typeof r.rid !== "number" || !Number.isSafeInteger(r.rid) || r.rid <= 0 || r.ok !== false) {
        fail("a malformed error reply (rid missing, or ok not false)");
      }
      const err = r.error as { name?: unknown; message?: unknown } | null;
      if (typeof err !== "object" || err === null || typeof err.name !== "string" || typeof err.message !== "string") {
        fail("a malformed error reply (error.name or error.message missing)");
      }
    } else if (!isKnownOp(op)) {
      fail(`a message with unknown op ${JSON.stringify(String(op)).slice(0, 80)}`);
    }
  }
  return entries as WireEntry[];
}

function isMessageObject(v: unknown): v is { op: unknown } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && typeof (v as { op?: unknown }).op === "string";
}

/** Decode every complete batch in `bytes` (for tests and tools). Throws ProtocolError on bad input. */
export function decodeBatches(bytes: Uint8Array): { batches: WireEntry[][]; leftoverBytes: number } {
  const d = new BatchDecoder();
  d.push(bytes);
  const batches: WireEntry[][] = [];
  for (let b = d.next(); b !== null; b = d.next()) batches.push(b);
  return { batches, leftoverBytes: d.pendingBytes };
}
