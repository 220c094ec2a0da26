// Reading a payload written by writer.ts back into values.

import { copyBytes, Payload } from "../protocol/payload.js";
import { ProtocolError } from "../errors.js";
import type { ActorMeta } from "../protocol/messages.js";
import { ClassesPending, decodedClass, type ClassTag, type DecodedClass } from "./classes.js";
import type { ModuleRef } from "./code.js";
import { BIN_ARRAYBUFFER, BIN_BUFFER, BIN_CTORS, BIN_DATAVIEW, CLASS_ENTRY, CLASS_MODULE, CLASS_UNEXPORTED, FORMAT_VERSION, T, type Resolver } from "./format.js";
import { infoToErrorSync } from "./errors.js";

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
