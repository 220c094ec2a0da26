// Errors ⇄ ErrorInfo (R-TASK-7): the receiver gets an error with the original
// name, message and remote stack, of the original class when it can import it,
// else a RemoteError.

import { inspect } from "node:util";
import { RemoteError, TROUPE_ERRORS } from "../errors.js";
import type { CodeRef, ErrorInfo } from "../protocol/messages.js";
import { cachedCodeRef, codeRefOf, loadCode, loadedCode, type CodeOptions } from "./code.js";
import { decodeWithClasses } from "./classes.js";
import { deserialize, serialize } from "./values.js";

type ModuleRef = CodeRef & { kind: "module" };

const BUILTIN_ERRORS: Record<string, new (message: string) => Error> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  EvalError,
  URIError,
  ReferenceError,
}; // AggregateError takes (errors, message): built in byName.
const BUILTIN_CTORS = new Set<Function>([Error, TypeError, RangeError, SyntaxError, EvalError, URIError, ReferenceError, AggregateError]);
const TROUPE_CTORS = new Set<Function>(Object.values(TROUPE_ERRORS));
const OWN_FIELDS = new Set(["name", "message", "stack", "code"]);

/** Classes decoded by name never carry a classRef: the receiver has its own copy. */
function needsClassRef(ctor: unknown): ctor is Function {
  return typeof ctor === "function" && !BUILTIN_CTORS.has(ctor) && !TROUPE_CTORS.has(ctor) && ctor !== RemoteError;
}

/** @internal An error's extra properties (own enumerable ones and `cause`), or undefined when none. */
export function errorExtras(err: object): Record<string, unknown> | undefined {
  const props: Record<string, unknown> = {};
  let any = false;
  for (const k of Object.keys(err)) {
    if (OWN_FIELDS.has(k)) continue;
    props[k] = (err as Record<string, unknown>)[k];
    any = true;
  }
  if ("cause" in err && !Object.prototype.propertyIsEnumerable.call(err, "cause")) {
    props.cause = (err as { cause: unknown }).cause;
    any = true;
  }
  return any ? props : undefined;
}

function propsOf(err: object): ErrorInfo["props"] {
  const props = errorExtras(err);
  if (props === undefined) return undefined;
  try {
    return serialize(props, { root: "error" }).payload;
  } catch {
    // Keep what can travel: a property holding a function must not hide the error itself.
    const kept: Record<string, unknown> = {};
    for (const k of Object.keys(props)) {
      try {
        serialize(props[k]);
        kept[k] = props[k];
      } catch {
        kept[k] = `[not serializable: ${inspect(props[k], { depth: 0 })}]`;
      }
    }
    return serialize(kept).payload;
  }
}

/**
 * The wire form of a thrown value. Synchronous: classRef is set when the error's
 * class was located before (see errorToInfoAsync). Non-Error throws become an
 * Error-like info whose message describes the thrown value.
 */
/** An ErrorInfo for an error raised by troupe itself (no remote stack to carry). */
export function errorInfoOf(name: string, message: string): ErrorInfo {
  return { name, message, stack: `${name}: ${message}` };
}

export function errorToInfo(err: unknown, opts?: CodeOptions): ErrorInfo {
  const info = errorBaseInfo(err, opts);
  if (err !== null && typeof err === "object") {
    const props = propsOf(err);
    if (props !== undefined) info.props = props;
  }
  return info;
}

/** @internal errorToInfo without props (values.ts writes them inline, keeping cycles). */
export function errorBaseInfo(err: unknown, opts?: CodeOptions): ErrorInfo {
  void opts; // the class's module path was computed against the code root when it was located
  if (err === null || typeof err !== "object" || !("message" in err || err instanceof Error)) {
    const message = typeof err === "string" ? err : inspect(err, { depth: 2 });
    return { name: "Error", message, stack: `Error: ${message}\n    (a non-Error value was thrown: ${err === null ? "null" : typeof err})` };
  }
  const e = err as Error & { code?: unknown };
  const name = typeof e.name === "string" ? e.name : "Error";
  const message = typeof e.message === "string" ? e.message : String(e.message);
  const info: ErrorInfo = { name, message, stack: typeof e.stack === "string" ? e.stack : `${name}: ${message}` };
  if (typeof e.code === "string" || typeof e.code === "number") info.code = String(e.code);
  const ctor = (err as object).constructor;
  if (needsClassRef(ctor)) {
    const ref = cachedCodeRef(ctor);
    if (ref?.kind === "module") info.classRef = ref;
  }
  return info;
}

/** errorToInfo that first locates the error's class, so that classRef is set when it is exported. */
export async function errorToInfoAsync(err: unknown, opts?: CodeOptions): Promise<ErrorInfo> {
  const ctor = err !== null && typeof err === "object" ? (err as object).constructor : undefined;
  if (needsClassRef(ctor)) {
    try {
      await codeRefOf(ctor, opts);
    } catch {
      // A class that cannot be located travels without classRef: the receiver gets a RemoteError.
    }
  }
  return errorToInfo(err, opts);
}

function define(o: object, k: string, value: unknown, enumerable = false): void {
  Object.defineProperty(o, k, { value, writable: true, configurable: true, enumerable });
}

function finish(err: Error, info: ErrorInfo): Error {
  if (err.message !== info.message) define(err, "message", info.message);
  if (err.name !== info.name) define(err, "name", info.name);
  define(err, "stack", info.stack);
  if (info.code !== undefined && (err as { code?: unknown }).code !== info.code) {
    try {
      define(err, "code", info.code, true);
    } catch {
      // A frozen or accessor `code` on the class: keep the class's own.
    }
  }
  if (info.props !== undefined) {
    try {
      // Synchronous: classes not loaded yet leave plain objects (infoToError loads them first).
      const props = deserialize(info.props, undefined, true) as Record<string, unknown>;
      for (const k of Object.keys(props)) define(err, k, props[k], k !== "cause");
    } catch {
      // Props are extras: an error must still arrive when they cannot be decoded.
    }
  }
  return err;
}

function fromClass(Class: Function, info: ErrorInfo): Error {
  const err = Object.create(Class.prototype) as Error;
  define(err, "message", info.message);
  return finish(err, info);
}

function byName(info: ErrorInfo): Error | undefined {
  if (info.name === "AggregateError") return finish(new AggregateError([], info.message), info);
  const Builtin = Object.hasOwn(BUILTIN_ERRORS, info.name) ? BUILTIN_ERRORS[info.name] : undefined;
  if (Builtin !== undefined) return finish(new Builtin(info.message), info);
  const Troupe = Object.hasOwn(TROUPE_ERRORS, info.name) ? TROUPE_ERRORS[info.name] : undefined;
  if (Troupe !== undefined) return finish(new Troupe(info.message), info);
  return undefined;
}

function remote(info: ErrorInfo): Error {
  return finish(new RemoteError(info.name, info.message), info);
}

/** Synchronous decode: the original class only when it is already loaded in this thread. */
export function infoToErrorSync(info: ErrorInfo): Error {
  if (info.classRef !== undefined) {
    const Class = loadedCode(info.classRef);
    if (Class !== undefined) return fromClass(Class, info);
  }
  return byName(info) ?? remote(info);
}

/** Decode an ErrorInfo, importing the error's class when it names one this side can import. */
export async function infoToError(info: ErrorInfo, opts?: CodeOptions): Promise<Error> {
  const props = info.props;
  if (props !== undefined) await Promise.resolve(decodeWithClasses(() => deserialize(props), opts)).catch(() => undefined);
  if (info.classRef !== undefined) {
    try {
      return fromClass(await loadCode(info.classRef as ModuleRef, opts), info);
    } catch {
      // Not importable here (or a different version of it): fall back to name-based decoding.
    }
  }
  return byName(info) ?? remote(info);
}
