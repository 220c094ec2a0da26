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

import type { Payload } from "../protocol/payload.js";
import type { ActorMeta, Key } from "../protocol/messages.js";

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

export const FORMAT_VERSION = 1;

export const enum T {
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
export const CLASS_UNEXPORTED = 0;
export const CLASS_MODULE = 1;
export const CLASS_ENTRY = 2;

// Binary kinds, by constructor. Buffer is checked before Uint8Array.
export const BIN_CTORS = [
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
export const BIN_BUFFER = 1;
export const BIN_ARRAYBUFFER = 2;
export const BIN_DATAVIEW = 3;
