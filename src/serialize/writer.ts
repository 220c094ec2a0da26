// Writing a value in the tagged format (format.ts), in one pass.

import { Payload } from "../protocol/payload.js";
import { ConfigError } from "../errors.js";
import type { Key } from "../protocol/messages.js";
import { classTagOf, type ClassTag } from "./classes.js";
import { BIN_ARRAYBUFFER, BIN_BUFFER, BIN_CTORS, CLASS_ENTRY, CLASS_MODULE, CLASS_UNEXPORTED, FORMAT_VERSION, LARGE_BINARY_BYTES, T, TO_REF, type Encoded, type Ref, type SerializeOptions } from "./format.js";
import { errorBaseInfo, errorExtras } from "./errors.js";

/** What most values hold of each kind of ref: one shared empty list, frozen (a map keeps 20,000 Encodeds alive). */
const NONE: never[] = Object.freeze([]) as unknown as never[];

/** Thrown while walking; each container adds its segment so the message names the path. */
class PathError extends Error {
  segs: string[] = [];
  constructor(
    readonly what: string,
    readonly make: (path: string) => Error,
  ) {
    super(what);
  }
}

function seg(key: string | number): string {
  if (typeof key === "number") return `[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

const textEncoder = new TextEncoder();
let scratch: Uint8Array | null = new Uint8Array(16 * 1024);
let scratchView = new DataView(scratch.buffer);

class Writer {
  buf: Uint8Array;
  view: DataView;
  pos = 0;
  /** Out-of-band binary: parts[1..] of the payload. */
  large: Uint8Array[] = [];
  futureKeys: Key[] = NONE;
  actorKeys: Key[] = NONE;
  pending: Promise<unknown>[] = NONE;
  seen: Map<object, number> | null = null;
  nextId = 0;
  /** Classes of the instances written so far, numbered in order. */
  classes: Map<Function, number> | null = null;
  codeRoot: string | undefined;

  constructor(buf: Uint8Array, view: DataView) {
    this.buf = buf;
    this.view = view;
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.byteLength) return;
    let size = this.buf.byteLength * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  uvar(n: number): void {
    this.ensure(5);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }

  f64(n: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, n, true);
    this.pos += 8;
  }

  /** A string with its tag: Str8 when it surely fits in 255 bytes, else Str32. */
  str(s: string): void {
    const len = s.length;
    const max = len * 3;
    this.ensure(max + 6);
    const buf = this.buf;
    if (max < 256) {
      buf[this.pos++] = T.Str8;
      const lenAt = this.pos++;
      let p = this.pos;
      let ascii = true;
      for (let i = 0; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          ascii = false;
          break;
        }
        buf[p++] = c;
      }
      if (!ascii) p = this.pos + textEncoder.encodeInto(s, buf.subarray(this.pos)).written;
      buf[lenAt] = p - this.pos;
      this.pos = p;
    } else {
      buf[this.pos++] = T.Str32;
      const lenAt = this.pos;
      this.pos += 4;
      const written = textEncoder.encodeInto(s, buf.subarray(this.pos)).written;
      this.view.setUint32(lenAt, written, true);
      this.pos += written;
    }
  }

  /** Registers an object for back references; returns true when it was already written. */
  backRef(o: object): boolean {
    if (this.seen === null) this.seen = new Map();
    const id = this.seen.get(o);
    if (id !== undefined) {
      this.byte(T.BackRef);
      this.uvar(id);
      return true;
    }
    this.seen.set(o, this.nextId++);
    return false;
  }

  value(v: unknown): void {
    switch (typeof v) {
      case "number":
        return this.number(v);
      case "string":
        return this.str(v);
      case "boolean":
        return this.byte(v ? T.True : T.False);
      case "undefined":
        return this.byte(T.Undefined);
      case "bigint":
        this.byte(T.BigInt);
        return this.str(v.toString());
      case "object":
        if (v === null) return this.byte(T.Null);
        return this.object(v);
      case "function":
        if (typeof (v as { [TO_REF]?: unknown })[TO_REF] === "function") return this.ref(v);
        throw new PathError(
          "is a function",
          (path) =>
            new ConfigError(
              `${path} is a function: functions cannot travel inside values; pass it as the task's function, ` +
                `or export it from a module and import it where it is needed`,
            ),
        );
      default:
        throw new PathError(
          `is a ${typeof v}`,
          (path) => new ConfigError(`${path} is a ${typeof v}: it cannot be serialized; convert it to a string or number first`),
        );
    }
  }

  number(v: number): void {
    if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
      if (v >= -128 && v < 128) {
        this.ensure(2);
        this.buf[this.pos++] = T.Int8;
        this.buf[this.pos++] = v & 0xff;
      } else {
        this.ensure(5);
        this.buf[this.pos++] = T.Int32;
        this.view.setInt32(this.pos, v, true);
        this.pos += 4;
      }
    } else {
      this.byte(T.Float64);
      this.f64(v);
    }
  }

  ref(o: object): void {
    const r = (o as { [TO_REF]: () => Ref })[TO_REF]();
    switch (r.type) {
      case "future":
        if (this.futureKeys === NONE) this.futureKeys = [];
        if (!this.futureKeys.includes(r.key)) this.futureKeys.push(r.key);
        this.byte(T.Future);
        return this.str(r.key);
      case "actor":
        if (this.actorKeys === NONE) this.actorKeys = [];
        if (!this.actorKeys.includes(r.meta.key)) this.actorKeys.push(r.meta.key);
        this.byte(T.Actor);
        return this.value({ ...r.meta });
      case "pending":
        if (this.pending === NONE) this.pending = [];
        this.pending.push(r.promise);
        return this.byte(T.Undefined);
      case "inline":
        return this.value(r.value);
      default:
        throw new Error(`a [TO_REF]() method returned an unknown ref type ${JSON.stringify((r as Ref).type)}`);
    }
  }

  object(o: object): void {
    if (typeof (o as { [TO_REF]?: unknown })[TO_REF] === "function") return this.ref(o);
    if (this.backRef(o)) return;
    if (Array.isArray(o)) return this.array(o);
    const proto = Object.getPrototypeOf(o);
    if (proto === Object.prototype) return this.plain(o, T.Object);
    if (proto === null) return this.plain(o, T.NullObject);
    if (o instanceof Map) return this.map(o);
    if (o instanceof Set) return this.set(o);
    if (o instanceof Date) {
      this.byte(T.Date);
      return this.f64(o.getTime());
    }
    if (o instanceof RegExp) {
      this.byte(T.RegExp);
      this.str(o.source);
      return this.str(o.flags);
    }
    if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer) return this.binary(o);
    if (o instanceof Error) {
      this.byte(T.Error);
      this.value(errorBaseInfo(o));
      // Props are written inline (not as a nested payload) so refs, binary and cycles inside them work.
      return this.value(errorExtras(o));
    }
    if (o instanceof Promise) {
      throw new PathError(
        "is a Promise",
        (path) => new ConfigError(`${path} is a Promise: await it before sending its value`),
      );
    }
    if (o instanceof WeakMap || o instanceof WeakSet || o instanceof WeakRef) {
      throw new PathError("is weak", (path) => new ConfigError(`${path} is a ${o.constructor.name}, which cannot be serialized: send the values it holds instead`));
    }
    return this.instance(o, proto as object);
  }

  instance(o: object, proto: object): void {
    const cls = (proto as { constructor?: unknown }).constructor;
    // Objects of another realm, or made from a plain object as prototype, are plain.
    if (typeof cls !== "function" || cls === Object || Object.getPrototypeOf(proto) === null) return this.plain(o, T.Object);
    this.byte(T.Instance);
    const id = this.classes?.get(cls);
    if (id !== undefined) this.uvar(id);
    else {
      this.classes ??= new Map();
      this.uvar(this.classes.size);
      this.classes.set(cls, this.classes.size);
      this.classTag(classTagOf(cls, this.codeRoot));
    }
    this.fields(o);
  }

  classTag(tag: ClassTag): void {
    if (tag.kind === "unexported") {
      this.byte(CLASS_UNEXPORTED);
      return this.str(tag.name);
    }
    this.byte(tag.entry ? CLASS_ENTRY : CLASS_MODULE);
    this.str(tag.name);
    this.str(tag.module);
    this.str(tag.url);
    this.str(tag.export);
    this.str(tag.hash);
  }

  array(a: unknown[]): void {
    const n = a.length;
    this.byte(T.Array);
    this.uvar(n);
    let i = 0;
    try {
      for (; i < n; i++) this.value(a[i]);
    } catch (e) {
      throw addSeg(e, seg(i));
    }
  }

  plain(o: object, tag: T): void {
    this.byte(tag);
    this.fields(o);
  }

  fields(o: object): void {
    const keys = Object.keys(o);
    this.uvar(keys.length);
    let k = "";
    try {
      for (k of keys) {
        this.str(k);
        this.value((o as Record<string, unknown>)[k]);
      }
    } catch (e) {
      throw addSeg(e, seg(k));
    }
  }

  map(m: Map<unknown, unknown>): void {
    this.byte(T.Map);
    this.uvar(m.size);
    let i = 0;
    try {
      for (const [k, v] of m) {
        this.value(k);
        this.value(v);
        i++;
      }
    } catch (e) {
      throw addSeg(e, `<map entry ${i}>`);
    }
  }

  set(s: Set<unknown>): void {
    this.byte(T.Set);
    this.uvar(s.size);
    let i = 0;
    try {
      for (const v of s) {
        this.value(v);
        i++;
      }
    } catch (e) {
      throw addSeg(e, `<set member ${i}>`);
    }
  }

  binary(o: ArrayBufferView | ArrayBuffer): void {
    let kind = 0;
    if (o instanceof ArrayBuffer) kind = BIN_ARRAYBUFFER;
    else if (Buffer.isBuffer(o)) kind = BIN_BUFFER;
    else {
      kind = BIN_CTORS.indexOf(o.constructor as never);
      if (kind < 0) {
        // A subclass of a typed array: travel as its base type.
        kind = BIN_CTORS.findIndex((c) => o instanceof c);
        if (kind < 0) kind = 0;
      }
    }
    const bytes = o instanceof ArrayBuffer ? new Uint8Array(o) : new Uint8Array(o.buffer, o.byteOffset, o.byteLength);
    if (bytes.byteLength >= LARGE_BINARY_BYTES) {
      this.byte(T.BinaryPart);
      this.byte(kind);
      this.large.push(bytes);
      this.uvar(this.large.length);
      return;
    }
    this.byte(T.Binary);
    this.byte(kind);
    this.uvar(bytes.byteLength);
    this.ensure(bytes.byteLength);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.byteLength;
  }
}

function addSeg(e: unknown, s: string): unknown {
  if (e instanceof PathError) e.segs.push(s);
  return e;
}

function fresh(): Writer {
  const buf = new Uint8Array(1024);
  return new Writer(buf, new DataView(buf.buffer));
}

/**
 * Encode a value. Refs inside it are collected in futureKeys/actorKeys; unfinished
 * ActorFutures are collected in `pending` and written as undefined: await them,
 * then serialize again. Throws a ConfigError naming the path of a value that cannot
 * travel (a function, a symbol, a Promise).
 */
export function serialize(value: unknown, opts?: SerializeOptions): Encoded {
  // A reused scratch buffer keeps small encodes allocation-light; re-entrant calls
  // (from a [TO_REF] method) get their own.
  const own = scratch;
  scratch = null;
  const w = own !== null ? new Writer(own, scratchView) : fresh();
  w.codeRoot = opts?.codeRoot;
  try {
    w.buf[w.pos++] = FORMAT_VERSION;
    w.value(value);
  } catch (e) {
    if (e instanceof PathError) {
      const root = opts?.root ?? (Array.isArray(value) ? "args" : "value");
      throw e.make(root + e.segs.reverse().join(""));
    }
    throw e;
  } finally {
    if (own !== null) {
      // Keep a grown buffer for next time, unless it grew huge.
      if (w.buf === own || w.buf.byteLength > 1 << 20) scratch = own;
      else {
        scratch = w.buf;
        scratchView = w.view;
      }
    }
  }
  const head = w.buf.slice(0, w.pos);
  const parts = w.large.length === 0 ? [head] : [head, ...w.large];
  return { payload: new Payload(parts), futureKeys: w.futureKeys, actorKeys: w.actorKeys, pending: w.pending };
}
