// Instances of exported classes travel with a reference to their class and
// come back on its prototype, their own fields restored without a constructor
// call, as pickle does (R-CODE-7). A class the receiver cannot find gives
// plain objects, with one warning per class.

import { createLogger } from "../log.js";
import { classRefOf, loadCode, loadedCode, type CodeOptions, type ModuleRef } from "./code.js";

const log = createLogger("serialize");

/** A class as an encoded value names it: a module ref, or only a name when it is not exported. */
export type ClassTag = ModuleRef | { kind: "unexported"; name: string };

/** Thrown by deserialize when a value holds instances of classes not loaded in this thread yet: load them, decode again. */
export class ClassesPending extends Error {
  constructor(readonly refs: ModuleRef[]) {
    super(`a value holds instances of ${refs.map((r) => r.name).join(", ")}, whose module is not loaded yet`);
  }
}

/** A class as decoding uses it: its prototype, or undefined for plain objects. */
export interface DecodedClass {
  proto: object | undefined;
  /** Names the prototype chain defines accessors for: fields of those names are defined, never assigned. */
  accessors: Set<string> | undefined;
}

const PLAIN: DecodedClass = { proto: undefined, accessors: undefined };
const decodedClasses = new WeakMap<Function, DecodedClass>();
const unloadable = new Map<string, string>();
const warned = new Set<string>();

/** How an instance of cls is tagged for the wire (sync: a serializer cannot wait). */
export function classTagOf(cls: Function, codeRoot?: string): ClassTag {
  let ref: ModuleRef | undefined;
  try {
    ref = classRefOf(cls, codeRoot);
  } catch {
    ref = undefined; // not locatable (no inspector): the receiver warns
  }
  return ref ?? { kind: "unexported", name: cls.name };
}

function keyOf(ref: ModuleRef): string {
  return `${ref.url}#${ref.export}@${ref.hash}`;
}

function warnOnce(name: string, key: string, why: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  log.warn(`instances of class ${name || "(anonymous)"} arrive as plain objects, without their methods: ${why}`, { class: name });
}

function accessorsOf(proto: object): Set<string> | undefined {
  let names: Set<string> | undefined;
  for (let p: object | null = proto; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, k)!;
      if (d.get || d.set) (names ??= new Set()).add(k);
    }
  }
  return names;
}

/**
 * The class for a tag: loaded (or known plain) here, or undefined when its
 * module must be loaded first (the caller collects it for ClassesPending).
 */
export function decodedClass(tag: ClassTag): DecodedClass | undefined {
  if (tag.kind === "unexported") {
    warnOnce(tag.name, `unexported:${tag.name}`, `${tag.name} is not exported from a module; export it from a module the workers can import`);
    return PLAIN;
  }
  const cls = loadedCode(tag);
  if (cls !== undefined) {
    let d = decodedClasses.get(cls);
    if (d === undefined) {
      const proto = cls.prototype as object | undefined;
      d = proto !== null && typeof proto === "object" ? { proto, accessors: accessorsOf(proto) } : PLAIN;
      decodedClasses.set(cls, d);
    }
    return d;
  }
  const why = unloadable.get(keyOf(tag));
  if (why === undefined) return undefined;
  warnOnce(tag.name, keyOf(tag), why);
  return PLAIN;
}

/** Load the modules of classes a decode met, remembering those that cannot be loaded. */
export async function loadClasses(refs: ModuleRef[], opts?: CodeOptions): Promise<void> {
  await Promise.all(
    refs.map((ref) =>
      loadCode(ref, opts).then(
        () => {
          // Dropped again at once (many versions loading): plain, rather than asking forever.
          if (loadedCode(ref) === undefined) unloadable.set(keyOf(ref), "its module was loaded but not kept");
        },
        (err: unknown) => void unloadable.set(keyOf(ref), (err as Error)?.message ?? String(err)),
      ),
    ),
  );
}

/**
 * Runs a decode; if it met instances of classes not loaded here yet, loads
 * them and decodes again (decoding has no side effects). Synchronous when
 * every class was already loaded.
 */
export function decodeWithClasses<T>(decode: () => T, opts?: CodeOptions): T | Promise<T> {
  try {
    return decode();
  } catch (err) {
    if (!(err instanceof ClassesPending)) throw err;
    return loadClasses(err.refs, opts).then(decode);
  }
}
