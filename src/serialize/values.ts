// User values ⇄ Payload. A small tagged binary format written in one pass:
// refs (Futures, Actor handles, ActorFutures) are replaced where they appear,
// large binary goes out of band as its own Payload part, shared and circular
// references are kept. msgpackr is not used here on purpose: its extension
// registry is process-wide (registering ours would change how every other
// msgpackr user in the process decodes), and refs must be recognised by a
// method, not by class, which its extensions cannot do.
//
// Documented choices:
// - Class instances travel as their own enumerable string-keyed properties
//   and a reference to their class, which must be exported from a module:
//   the receiver restores them onto its prototype without calling the
//   constructor (see classes.ts). Private #fields do not travel.
// - Null-prototype objects come back with a null prototype.
// - Sparse arrays come back dense (holes become undefined).
// - A Buffer comes back as a Buffer, other typed arrays as their own type.
// - Binary of LARGE_BINARY_BYTES or more is decoded as a view over the
//   received part (zero copy) unless the part is misaligned for its element
//   size, in which case it is copied.
// - Errors nested in values travel as ErrorInfo and come back through
//   infoToErrorSync (own class when already loaded here, else RemoteError).

import { copyBytes, Payload } from "../protocol/payload.js";
import { ConfigError, ProtocolError } from "../errors.js";
import type { ActorMeta, Key } from "../protocol/messages.js";
import { ClassesPending, classTagOf, decodedClass, type ClassTag, type DecodedClass } from "./classes.js";
import type { ModuleRef } from "./code.js";
import { errorBaseInfo, errorExtras, infoToErrorSync } from "./errors.js";

/** Objects with this method serialize as the reference it returns (Futures, ActorFutures, Actor handles). */
export const TO_REF: unique symbol = Symbol.for("troupe.toRef") as never;

export type Ref =
  | { type: "future"; key: Key }
  | { type: "actor"; meta: ActorMeta }
  | { type: "pending"; promise: Promise<unknown> }
  | { type: "inline"; value: unknown };

export interface Encoded {
  payload: Payload;
  /** Keys of Futures found in the value, each once. */
  futureKeys: Key[];
  /** Keys of Actor handles found in the value, each once. */
  actorKeys: Key[];
  /** Unfinished ActorFutures: await them all, then serialize again. */
  pending: Promise<unknown>[];
}

/** What most values hold of each kind of ref: one shared empty list, frozen (a map keeps 20,000 Encodeds alive). */
const NONE: never[] = Object.freeze([]) as unknown as never[];

export interface Resolver {
  /** What a Future ref becomes on decode (default: a ProtocolError is thrown). */
  future?(key: Key): unknown;
  /** What an Actor ref becomes (default: the ActorMeta itself). */
  actor?(meta: ActorMeta): unknown;
}

export interface SerializeOptions {
  /** Name of the root in error messages; default "args" for arrays, "value" otherwise. */
  root?: string;
  /** Directory module paths of classes are relative to; default process.cwd(). */
  codeRoot?: string;
}

/** Binary at least this large travels as its own Payload part, never copied. */
export const LARGE_BINARY_BYTES = 64 * 1024;

const FORMAT_VERSION = 1;

const enum T {
  Undefined = 0,
  Null,
  False,
  True,
  Int8,
  Int32,
  Float64,
  BigInt,
  Str8,
  Str32,
  Array,
  Object,
  NullObject,
  Map,
  Set,
  Date,
  RegExp,
  Binary,
  BinaryPart,
  Error,
  Future,
  Actor,
  BackRef,
  Instance,
}

// How an Instance names its class, the first time a payload meets it.
const CLASS_UNEXPORTED = 0;
const CLASS_MODULE = 1;
const CLASS_ENTRY = 2;

// Binary kinds, by constructor. Buffer is checked before Uint8Array.
const BIN_CTORS = [
  Uint8Array,
  Buffer,
  ArrayBuffer,
  DataView,
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;
const BIN_BUFFER = 1;
const BIN_ARRAYBUFFER = 2;
const BIN_DATAVIEW = 3;

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

// ------------------------------------------------------------------ writer

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

// ------------------------------------------------------------------ reader

const textDecoder = new TextDecoder();

class Reader {
  pos = 1;
  refs: unknown[] = [];
  /** Classes of the instances read so far, by number. */
  classes: DecodedClass[] | null = null;
  /** Classes met whose module is not loaded here yet: the decode ends with ClassesPending. */
  missing: ModuleRef[] | null = null;
  #view: DataView | undefined;

  constructor(
    readonly buf: Uint8Array,
    readonly parts: Uint8Array[],
    readonly resolve: Resolver | undefined,
  ) {}

  /** Made on first use: most small values (an actor call's answer) never need one. */
  get view(): DataView {
    return (this.#view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }

  uvar(): number {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw truncated();
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
      shift += 7;
    }
  }

  f64(): number {
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  str(long: boolean): string {
    let len: number;
    if (long) {
      len = this.view.getUint32(this.pos, true);
      this.pos += 4;
    } else len = this.buf[this.pos++];
    const start = this.pos;
    const end = start + len;
    if (end > this.buf.byteLength) throw truncated();
    this.pos = end;
    if (len < 32) {
      let s = "";
      for (let i = start; i < end; i++) {
        const c = this.buf[i];
        if (c >= 0x80) return textDecoder.decode(this.buf.subarray(start, end));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return textDecoder.decode(this.buf.subarray(start, end));
  }

  value(): unknown {
    const tag = this.buf[this.pos++];
    switch (tag) {
      case T.Undefined:
        return undefined;
      case T.Null:
        return null;
      case T.False:
        return false;
      case T.True:
        return true;
      case T.Int8:
        return (this.buf[this.pos++] << 24) >> 24;
      case T.Int32: {
        const b = this.buf;
        const p = this.pos;
        if (p + 4 > b.byteLength) throw truncated();
        this.pos = p + 4;
        return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);
      }
      case T.Float64:
        return this.f64();
      case T.BigInt:
        return BigInt(this.ustr());
      case T.Str8:
        return this.str(false);
      case T.Str32:
        return this.str(true);
      case T.Array: {
        const n = this.uvar();
        const a = new Array(n);
        this.refs.push(a);
        for (let i = 0; i < n; i++) a[i] = this.value();
        return a;
      }
      case T.Object:
      case T.NullObject: {
        const o: Record<string, unknown> = tag === T.Object ? {} : Object.create(null);
        this.refs.push(o);
        const n = this.uvar();
        for (let i = 0; i < n; i++) {
          const k = this.ustr();
          const v = this.value();
          if (k === "__proto__") Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
          else o[k] = v;
        }
        return o;
      }
      case T.Map: {
        const m = new Map();
        this.refs.push(m);
        const n = this.uvar();
        for (let i = 0; i < n; i++) {
          const k = this.value();
          m.set(k, this.value());
        }
        return m;
      }
      case T.Set: {
        const s = new Set();
        this.refs.push(s);
        const n = this.uvar();
        for (let i = 0; i < n; i++) s.add(this.value());
        return s;
      }
      case T.Date: {
        const d = new Date(this.f64());
        this.refs.push(d);
        return d;
      }
      case T.RegExp: {
        const at = this.refs.push(null) - 1;
        const source = this.ustr();
        const r = new RegExp(source, this.ustr());
        this.refs[at] = r;
        return r;
      }
      case T.Binary: {
        const kind = this.buf[this.pos++];
        const n = this.uvar();
        if (this.pos + n > this.buf.byteLength) throw truncated();
        // Copied: a view over parts[0] would keep the whole message alive and may be misaligned.
        const bytes = copyBytes(this.buf.subarray(this.pos, this.pos + n));
        this.pos += n;
        const b = binaryOf(kind, bytes);
        this.refs.push(b);
        return b;
      }
      case T.BinaryPart: {
        const kind = this.buf[this.pos++];
        const part = this.parts[this.uvar()];
        if (part === undefined) throw new ProtocolError("a payload refers to a binary part it does not carry; the sender and receiver disagree on the format");
        const b = binaryOf(kind, part);
        this.refs.push(b);
        return b;
      }
      case T.Error: {
        const at = this.refs.push(null) - 1;
        const info = this.value() as Parameters<typeof infoToErrorSync>[0];
        const err = infoToErrorSync(info);
        this.refs[at] = err;
        const props = this.value() as Record<string, unknown> | undefined;
        if (props !== undefined) applyErrorProps(err, props);
        return err;
      }
      case T.Future: {
        const key = this.ustr();
        if (this.resolve?.future === undefined) {
          throw new ProtocolError(
            `a value refers to the Future ${key}, but this receiver cannot resolve Futures; Futures must be resolved by the worker before the task runs`,
          );
        }
        return this.resolve.future(key);
      }
      case T.Actor: {
        const meta = this.value() as ActorMeta;
        return this.resolve?.actor ? this.resolve.actor(meta) : meta;
      }
      case T.BackRef: {
        const id = this.uvar();
        if (id >= this.refs.length) throw truncated();
        return this.refs[id];
      }
      case T.Instance: {
        const id = this.uvar();
        this.classes ??= [];
        if (id === this.classes.length) this.classes.push(this.classOf());
        else if (id > this.classes.length) throw truncated();
        const cls = this.classes[id]!;
        const o: Record<string, unknown> = cls.proto === undefined ? {} : Object.create(cls.proto);
        this.refs.push(o);
        const n = this.uvar();
        for (let i = 0; i < n; i++) {
          const k = this.ustr();
          const v = this.value();
          // A field named like an accessor of the class (or __proto__) is the object's own, as it was.
          if (k === "__proto__" || cls.accessors?.has(k)) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
          else o[k] = v;
        }
        return o;
      }
      default:
        throw tag === undefined ? truncated() : new ProtocolError(`unknown value tag ${tag} in a payload; is the sender running the same troupe version?`);
    }
  }

  /** A string where only a string can be: its tag still says short or long form. */
  ustr(): string {
    return this.str(this.buf[this.pos++] === T.Str32);
  }

  classOf(): DecodedClass {
    const how = this.buf[this.pos++];
    const name = this.ustr();
    let tag: ClassTag;
    if (how === CLASS_UNEXPORTED) tag = { kind: "unexported", name };
    else if (how === CLASS_MODULE || how === CLASS_ENTRY) {
      tag = { kind: "module", name, module: this.ustr(), url: this.ustr(), export: this.ustr(), hash: this.ustr() };
      if (how === CLASS_ENTRY) tag.entry = true;
    } else throw how === undefined ? truncated() : new ProtocolError(`unknown class tag ${how} in a payload; is the sender running the same troupe version?`);
    const cls = decodedClass(tag);
    if (cls !== undefined) return cls;
    (this.missing ??= []).push(tag as ModuleRef);
    return { proto: undefined, accessors: undefined };
  }
}

function truncated(): ProtocolError {
  return new ProtocolError("a payload ended early or is corrupt; the sender and receiver may run different troupe versions");
}

const ELEMENT_SIZE: Record<number, number> = { 6: 2, 7: 2, 8: 4, 9: 4, 10: 4, 11: 8, 12: 8, 13: 8 };

function binaryOf(kind: number, bytes: Uint8Array): unknown {
  switch (kind) {
    case 0:
      // Bytes read off a socket are Buffers; a Uint8Array must come back as one.
      return Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes;
    case BIN_BUFFER:
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    case BIN_ARRAYBUFFER:
      return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
        ? bytes.buffer
        : new Uint8Array(bytes).buffer; // a copy: shared memory or a view into a larger buffer
    case BIN_DATAVIEW:
      return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const Ctor = BIN_CTORS[kind] as unknown as new (b: ArrayBufferLike, off: number, len: number) => unknown;
  if (Ctor === undefined) throw new ProtocolError(`unknown binary kind ${kind} in a payload`);
  const size = ELEMENT_SIZE[kind] ?? 1;
  if (bytes.byteOffset % size !== 0) bytes = copyBytes(bytes);
  return new Ctor(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
}

function applyErrorProps(err: Error, props: Record<string, unknown>): void {
  for (const k of Object.keys(props)) {
    if (k === "cause") Object.defineProperty(err, k, { value: props[k], writable: true, configurable: true, enumerable: false });
    else (err as unknown as Record<string, unknown>)[k] = props[k];
  }
}

/**
 * Decode a payload made by serialize. Refs become what `resolve` makes of
 * them. Throws ClassesPending when it holds instances of classes whose module
 * is not loaded here yet (decodeWithClasses loads them and decodes again),
 * unless `missingClassesPlain`: then those instances are plain objects.
 */
export function deserialize(payload: Payload, resolve?: Resolver, missingClassesPlain = false): unknown {
  const head = payload.parts[0];
  if (head === undefined || head.byteLength === 0) throw new ProtocolError("an empty payload was received; it carries no value");
  if (head[0] !== FORMAT_VERSION) {
    throw new ProtocolError(`payload format ${head[0]} is not supported (expected ${FORMAT_VERSION}); run the same troupe version everywhere`);
  }
  const r = new Reader(head, payload.parts, resolve);
  const v = r.value();
  if (r.pos !== head.byteLength) throw truncated();
  if (r.missing !== null && !missingClassesPlain) throw new ClassesPending(r.missing);
  return v;
}
