// Functions and classes ⇄ CodeRef (R-CODE-1..7). Exported code travels as a
// module reference (relative to the code root, with the content hash of the
// version that defines it); anything else travels as its source text.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CodeShippingError, ConfigError } from "../errors.js";
import type { CodeRef } from "../protocol/messages.js";
import { importEntry, importModule, isEntryFile, isOwnScript } from "./entry.js";
import { exportedByText, findExport, importSoon, scriptUrlOf } from "./locate.js";
import { compileSource, howToFix, sourceRef } from "./source.js";
import { claimVersion, diskHash, hashOf, loadedUrl, realpath } from "./versions.js";

export { prepareCodeLookup } from "./locate.js";
export { explainSourceError } from "./source.js";

export interface CodeOptions {
  /** Directory module paths are relative to; default process.cwd(). */
  codeRoot?: string;
}

export type ModuleRef = CodeRef & { kind: "module" };

const require = createRequire(import.meta.url);

const refCache = new WeakMap<Function, CodeRef>();
/** Code known in this thread by refKey: located or loaded here, read synchronously. */
const known = new Map<string, Function>();
const loadCache = new Map<string, Promise<Function>>();
/** Namespaces of modules imported here, by URL: exports are then found without importing again. */
const namespaces = new Map<string, Record<string, unknown>>();

/** Versions of a module file a thread keeps loaded code of; older ones are dropped from its caches. */
const MAX_VERSIONS = 8;
/** Per module file: its versions loaded here (oldest first), and what each left in the caches. */
const versions = new Map<string, Map<string, { url: string; cacheKeys: Set<string>; knownKeys: Set<string> }>>();

function refKey(ref: ModuleRef): string {
  return `${ref.url}#${ref.export}@${ref.hash}`;
}

/** The CodeRef of fn if codeRefOf has already computed it (sync; for errorToInfo). */
export function cachedCodeRef(fn: Function): CodeRef | undefined {
  return refCache.get(fn);
}

/** Code already loaded in this thread for a module ref, if any (sync; for decoding). */
export function loadedCode(ref: ModuleRef): Function | undefined {
  return known.get(refKey(ref));
}

let tsxRegistered: Promise<void> | null = null;

/** Make .ts files importable in this thread (once). */
export function ensureTypeScript(): Promise<void> {
  tsxRegistered ??= (async () => {
    const api = (await import("tsx/esm/api")) as { register: () => unknown };
    api.register();
  })();
  return tsxRegistered;
}

function isTypeScript(file: string): boolean {
  return /\.(ts|mts|cts|tsx)$/.test(file);
}

// ------------------------------------------------------------------ refs

interface Located {
  file: string;
  /** Content hash of the version of the module that defines it. */
  hash: string;
  export: string;
  /** Refs already built, by code root. */
  refs: Map<string, ModuleRef>;
}
const located = new WeakMap<Function, Located | null>();

function moduleRefAt(fn: Function, loc: Located, codeRoot: string): ModuleRef {
  let ref = loc.refs.get(codeRoot);
  if (ref !== undefined) return ref;
  const rel = path.relative(codeRoot, loc.file);
  const module = rel === "" || rel.startsWith("..") || path.isAbsolute(rel) ? "" : rel.split(path.sep).join("/");
  ref = { kind: "module", module, url: pathToFileURL(loc.file).href, export: loc.export, hash: loc.hash, name: fn.name };
  if (isEntryFile(loc.file)) ref.entry = true;
  loc.refs.set(codeRoot, ref);
  known.set(refKey(ref), fn);
  return ref;
}

// One lookup per function and code root, shared by every caller: a map of
// 20,000 tasks asks for the same function 20,000 times in one turn.
const refsInFlight = new WeakMap<Function, Map<string, Promise<CodeRef>>>();

/**
 * How a worker finds fn: by module reference when fn is exported from a module
 * file, else by source text. Rejects with a ConfigError for native and bound functions.
 */
export function codeRefOf(fn: Function, opts?: CodeOptions): Promise<CodeRef> {
  if (typeof fn !== "function") return Promise.reject(new ConfigError(`expected a function or class to ship, got ${typeof fn}: pass the function itself, not its result`));
  const codeRoot = opts?.codeRoot ?? process.cwd();
  let byRoot = refsInFlight.get(fn);
  if (byRoot === undefined) refsInFlight.set(fn, (byRoot = new Map()));
  let p = byRoot.get(codeRoot);
  if (p === undefined) {
    p = computeCodeRef(fn, codeRoot);
    byRoot.set(codeRoot, p);
    // A failed lookup may succeed later (e.g. the module finished loading).
    p.catch(() => byRoot!.delete(codeRoot));
  }
  return p;
}

async function computeCodeRef(fn: Function, codeRoot: string): Promise<CodeRef> {
  let loc = located.get(fn);
  if (loc === undefined) {
    loc = (await locate(fn)) ?? null;
    located.set(fn, loc);
  }
  if (loc === null) {
    const cached = refCache.get(fn);
    if (cached !== undefined) return cached;
    const ref = sourceRef(fn);
    refCache.set(fn, ref);
    return ref;
  }
  const ref = moduleRefAt(fn, loc, codeRoot);
  refCache.set(fn, ref);
  return ref;
}

interface Script {
  url: string;
  file: string;
  /** The CommonJS module defining it, when it is one of those loaded now. */
  cjs?: NodeJS.Module;
}

function definingScript(fn: Function): Script | undefined {
  let url = scriptUrlOf(fn);
  if (url.startsWith("/")) url = pathToFileURL(url).href; // CommonJS scripts may report a path
  if (!url.startsWith("file:")) return undefined;
  const file = fileURLToPath(url.replace(/[?#].*$/, ""));
  if (!existsSync(file)) return undefined;
  // Every version of a CommonJS file has the same URL: the one in require's cache is the latest.
  const cjs = require.cache[file];
  return cjs !== undefined && findExport({ default: cjs.exports }, fn) !== undefined ? { url, file, cjs } : { url, file };
}

const cjsHashes = new WeakMap<NodeJS.Module, string>();

function versionOf(script: Script): string {
  if (script.cjs === undefined) return hashOf(script.url);
  let hash = cjsHashes.get(script.cjs);
  if (hash === undefined) cjsHashes.set(script.cjs, (hash = diskHash(script.file)));
  return hash;
}

function locatedAt(script: Script, exp: string): Located {
  return { file: script.file, hash: versionOf(script), export: exp, refs: new Map() };
}

const versionHashes = new WeakMap<Function, string>();

/**
 * The content hash of the version of the file that defines fn ("" when it
 * is not defined in a file), synchronously: part of a pure task's key, so
 * that an edited module is not answered from the old version's result.
 */
export function codeVersionOf(fn: Function): string {
  let hash = versionHashes.get(fn);
  if (hash === undefined) {
    const loc = located.get(fn);
    if (loc) hash = loc.hash;
    else {
      try {
        const script = definingScript(fn);
        hash = script === undefined ? "" : versionOf(script);
      } catch {
        hash = ""; // not locatable here (no inspector): the key still depends on the source text
      }
    }
    versionHashes.set(fn, hash);
  }
  return hash;
}

async function locate(fn: Function): Promise<Located | undefined> {
  const script = definingScript(fn);
  if (script === undefined) return undefined;
  const mod = script.cjs !== undefined ? { default: script.cjs.exports } : await importSoon(script.url);
  if (mod !== undefined && script.cjs === undefined) namespaces.set(script.url, mod);
  const exp = mod !== undefined ? findExport(mod, fn) : exportedByText(script.file, fn.name);
  return exp === undefined ? undefined : locatedAt(script, exp);
}

/**
 * The module ref of an exported class, found synchronously (serializing an
 * instance cannot wait): from modules imported here, CommonJS exports, or
 * else the file's text. Undefined when the class is not exported.
 */
export function classRefOf(cls: Function, codeRoot = process.cwd()): ModuleRef | undefined {
  let loc = located.get(cls);
  if (loc === undefined) {
    loc = locateSync(cls) ?? null;
    located.set(cls, loc);
  }
  return loc === null ? undefined : moduleRefAt(cls, loc, codeRoot);
}

function locateSync(cls: Function): Located | undefined {
  const script = definingScript(cls);
  if (script === undefined) return undefined;
  const mod = script.cjs !== undefined ? { default: script.cjs.exports } : namespaces.get(script.url);
  const exp = mod !== undefined ? findExport(mod, cls) : exportedByText(script.file, cls.name);
  return exp === undefined ? undefined : locatedAt(script, exp);
}

// ------------------------------------------------------------------ loading

function moduleFile(ref: ModuleRef, codeRoot: string, name: string): string {
  if (ref.module !== "") {
    const candidate = path.resolve(codeRoot, ref.module);
    if (existsSync(candidate)) return realpath(candidate);
  }
  if (ref.url.startsWith("file:")) {
    const candidate = fileURLToPath(ref.url);
    if (existsSync(candidate)) return realpath(candidate);
  }
  const where = ref.module !== "" ? `${ref.module} (under code root ${codeRoot})` : ref.url;
  throw new CodeShippingError(`${name}: module ${where} was not found on the worker; deploy the same code to workers and ${howToFix(name)}`);
}

interface Loaded {
  fn: Function;
  file: string;
  url: string;
  hash: string;
}

async function loadModule(ref: ModuleRef, codeRoot: string): Promise<Loaded> {
  const name = ref.name || ref.export;
  const file = moduleFile(ref, codeRoot, name);
  // A version already loaded here is used even if the file changed since: the client asked for it.
  let url = ref.hash === "" ? undefined : loadedUrl(file, ref.hash);
  let hash = ref.hash;
  if (url === undefined) {
    const onDisk = diskHash(file);
    if (ref.hash !== "" && onDisk !== ref.hash) {
      throw new CodeShippingError(
        `${name}: module ${file} differs between client and worker (content hash mismatch); deploy the same code to ` +
          `workers (a client started before the file was last edited still uses its old version: run it again)`,
      );
    }
    hash = onDisk;
    url = loadedUrl(file, hash) ?? pathToFileURL(file).href + claimVersion(file, hash);
  }
  if (isTypeScript(file)) await ensureTypeScript();
  let mod: Record<string, unknown> | undefined;
  try {
    if (!ref.entry) mod = await importModule(url);
    else if (!isOwnScript(file)) mod = await importEntry(file, url.slice(pathToFileURL(file).href.length));
    // This process's own script (a value coming back to the client): already loaded, maybe still in its top-level await.
    else if ((mod = await importSoon(url)) === undefined) {
      throw new CodeShippingError(
        `${name} is defined in ${path.basename(file)}, the script this process runs, which is still running its ` +
          `top-level code, so it cannot be imported here; move ${name} to a module of its own`,
      );
    }
  } catch (err) {
    if (err instanceof CodeShippingError) throw err;
    throw new CodeShippingError(`${name}: importing module ${file} on the worker failed: ${(err as Error)?.message ?? err}`, {
      cause: err,
    });
  }
  namespaces.set(url, mod);
  let value: unknown;
  try {
    value = mod[ref.export];
    if (value === undefined && mod.default !== null && typeof mod.default === "object") {
      value = (mod.default as Record<string, unknown>)[ref.export];
    }
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err;
    // Still in its temporal dead zone: the entry script stopped at its connect before declaring it.
    const script = path.basename(file);
    throw new CodeShippingError(
      `${name} is declared after ${script} calls Client.connect(), where a worker stops running ${script}: ` +
        `declare ${name} before connecting, or move it to a module of its own`,
      { cause: err },
    );
  }
  if (typeof value !== "function") {
    throw new CodeShippingError(
      `${name}: module ${file} has no exported function or class "${ref.export}" on the worker; ${howToFix(name)}`,
    );
  }
  return { fn: value, file, url, hash };
}

/** Keeps what a loaded version left in the caches, forgetting the oldest version of a file past MAX_VERSIONS. */
function remember(loaded: Loaded, ref: ModuleRef, cacheKey: string, codeRoot: string): void {
  const knownKey = refKey(ref);
  known.set(knownKey, loaded.fn);
  refCache.set(loaded.fn, ref);
  if (!located.get(loaded.fn)) {
    located.set(loaded.fn, { file: loaded.file, hash: loaded.hash, export: ref.export, refs: new Map([[codeRoot, ref]]) });
  }
  // The version loaded here is the one in require's cache, if the file is CommonJS.
  const cjs = require.cache[loaded.file];
  if (cjs !== undefined && !cjsHashes.has(cjs)) cjsHashes.set(cjs, loaded.hash);
  let byHash = versions.get(loaded.file);
  if (byHash === undefined) versions.set(loaded.file, (byHash = new Map()));
  let v = byHash.get(loaded.hash);
  if (v === undefined) byHash.set(loaded.hash, (v = { url: loaded.url, cacheKeys: new Set(), knownKeys: new Set() }));
  v.cacheKeys.add(cacheKey);
  v.knownKeys.add(knownKey);
  if (byHash.size <= MAX_VERSIONS) return;
  const [oldest, old] = byHash.entries().next().value!;
  byHash.delete(oldest);
  for (const k of old.cacheKeys) loadCache.delete(k);
  for (const k of old.knownKeys) known.delete(k);
  namespaces.delete(old.url);
}

/** The function or class a CodeRef names, loaded (once per ref) in this thread. */
export function loadCode(ref: CodeRef, opts?: CodeOptions): Promise<Function> {
  if (ref.kind === "source") {
    const key = `source:${ref.source}`;
    let p = loadCache.get(key);
    if (p === undefined) {
      try {
        p = Promise.resolve(compileSource(ref));
      } catch (err) {
        return Promise.reject(err);
      }
      loadCache.set(key, p);
    }
    return p;
  }
  const codeRoot = opts?.codeRoot ?? process.cwd();
  const key = `module:${codeRoot}\0${ref.module}\0${ref.url}\0${ref.export}\0${ref.hash}`;
  let p = loadCache.get(key);
  if (p === undefined) {
    p = loadModule(ref, codeRoot).then((loaded) => {
      remember(loaded, ref, key, codeRoot);
      return loaded.fn;
    });
    loadCache.set(key, p);
    // Failures are not kept: the code may be deployed before the next try.
    p.catch(() => loadCache.delete(key));
  }
  return p;
}
