// Functions and classes ⇄ CodeRef (R-CODE-1..4). Exported code travels as a
// module reference (relative to the code root, with a content hash); anything
// else travels as its source text and must only use its parameters and globals.

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { Session } from "node:inspector";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CodeShippingError } from "../errors.js";
import type { CodeRef } from "../protocol/messages.js";

export interface CodeOptions {
  /** Directory module paths are relative to; default process.cwd(). */
  codeRoot?: string;
}

type ModuleRef = CodeRef & { kind: "module" };

const refCache = new WeakMap<Function, CodeRef>();
/** Code known in this thread by "url#export": filled by codeRefOf and loadCode, read synchronously. */
const knownByUrl = new Map<string, Function>();
const loadCache = new Map<string, Promise<Function>>();
const hashCache = new Map<string, string>();

/** Where shipped source is compiled; stack frames of shipped code carry this prefix. */
const SOURCE_URL_PREFIX = "troupe-shipped:";

/** The CodeRef of fn if codeRefOf has already computed it (sync; for errorToInfo). */
export function cachedCodeRef(fn: Function): CodeRef | undefined {
  return refCache.get(fn);
}

/** Code already loaded in this thread for a module ref, if any (sync; for infoToErrorSync). */
export function loadedCode(ref: ModuleRef): Function | undefined {
  return knownByUrl.get(`${ref.url}#${ref.export}`);
}

// ------------------------------------------------------------------ locating a function's file

let session: Session | null = null;
const scriptUrls = new Map<string, string>();

function post<T>(method: string, params?: object): T {
  let result: T | undefined;
  let error: Error | null = null;
  // On the thread being inspected, Session.post runs its callback before returning.
  session!.post(method, params ?? {}, (err, res) => {
    error = err;
    result = res as T;
  });
  if (error) throw error;
  return result as T;
}

function openSession(): void {
  if (session !== null) return;
  session = new Session();
  session.connect();
  session.on("Debugger.scriptParsed", (m: { params: { scriptId: string; url: string } }) => {
    scriptUrls.set(m.params.scriptId, m.params.url);
  });
}

/**
 * Learns the scripts loaded so far (the first lookup's main cost, ~50 ms), so
 * that a first submit does not pay for it. Called while something else is
 * being waited for, e.g. a LocalCluster's workers starting.
 */
export function prepareCodeLookup(): void {
  openSession();
  post("Debugger.enable");
  post("Debugger.disable");
}

/** The URL of the script defining fn, or "" when unknown (eval'd, native, no inspector). */
function scriptUrlOf(fn: Function): string {
  openSession();
  const stash = Symbol.for("troupe.locate");
  (globalThis as Record<symbol, unknown>)[stash] = fn;
  try {
    const evaluated = post<{ result: { objectId?: string } }>("Runtime.evaluate", {
      expression: 'globalThis[Symbol.for("troupe.locate")]',
      objectGroup: "troupe-locate",
    });
    const objectId = evaluated.result.objectId;
    if (objectId === undefined) return "";
    const props = post<{ internalProperties?: { name: string; value?: { value?: { scriptId?: string } } }[] }>(
      "Runtime.getProperties",
      { objectId, ownProperties: true },
    );
    const loc = props.internalProperties?.find((p) => p.name === "[[FunctionLocation]]");
    const scriptId = loc?.value?.value?.scriptId;
    if (scriptId === undefined) return "";
    if (!scriptUrls.has(scriptId)) {
      // Enabling the debugger replays scriptParsed for every script; it is turned off
      // again at once so it costs nothing while user code runs.
      post("Debugger.enable");
      post("Debugger.disable");
    }
    return scriptUrls.get(scriptId) ?? "";
  } finally {
    delete (globalThis as Record<symbol, unknown>)[stash];
    post("Runtime.releaseObjectGroup", { objectGroup: "troupe-locate" });
  }
}

function fileHash(file: string): string {
  let h = hashCache.get(file);
  if (h === undefined) {
    h = createHash("sha256").update(readFileSync(file)).digest("hex");
    hashCache.set(file, h);
  }
  return h;
}

function isTypeScript(file: string): boolean {
  return /\.(ts|mts|cts|tsx)$/.test(file);
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

/**
 * Resolves when the import settles, or to undefined when it does not within a
 * moment: importing a module that is still evaluating (codeRefOf called from its
 * own top-level await) would otherwise wait forever.
 */
async function importSoon(url: string): Promise<Record<string, unknown> | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    // Not unref'd: during a top-level await nothing else may keep the process alive.
    timer = setTimeout(resolve, 200, undefined);
  });
  try {
    return await Promise.race([import(url) as Promise<Record<string, unknown>>, late]);
  } catch {
    return undefined; // not importable here: the function travels by source instead
  } finally {
    clearTimeout(timer);
  }
}

function findExport(mod: Record<string, unknown>, fn: Function): string | undefined {
  for (const k of Object.keys(mod)) if (k !== "default" && mod[k] === fn) return k;
  if (mod.default === fn) return "default";
  // CommonJS modules whose named exports the ESM loader did not detect.
  const d = mod.default;
  if (d !== null && typeof d === "object") for (const k of Object.keys(d)) if ((d as Record<string, unknown>)[k] === fn) return k;
  return undefined;
}

/** When the module cannot be imported right now, read its text for an export of that name. */
function exportedByText(file: string, name: string): string | undefined {
  if (name === "" || !/^[A-Za-z_$][\w$]*$/.test(name)) return undefined;
  const text = readFileSync(file, "utf8");
  const decl = new RegExp(`export\\s+(?:default\\s+)?(?:async\\s+)?(?:abstract\\s+)?(?:function\\s*\\*?|class|const|let|var)\\s*${name}\\b`);
  const m = decl.exec(text);
  if (m) return /export\s+default/.test(m[0]) ? "default" : name;
  if (new RegExp(`export\\s*\\{[^}]*\\b${name}\\b(?!\\s+as)[^}]*\\}`).test(text)) return name;
  return undefined;
}

function sourceRef(fn: Function): CodeRef {
  const name = fn.name;
  const text = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(text)) {
    throw new TypeError(
      `${name || "the function"} is a native or bound function and cannot be shipped: ` +
        `wrap it in a function of your own, e.g. (x) => ${name || "f"}(x), or export that wrapper from a module`,
    );
  }
  const source = loadableSource(text);
  return { kind: "source", source, name, isClass: /^class\b/.test(source) };
}

function parses(source: string): boolean {
  try {
    new Function(`return (${source}\n)`);
    return true;
  } catch {
    return false;
  }
}

/** Method shorthand (`f(x) {}`, `async *g() {}`, `get x() {}`) is not an expression: make it one. */
function loadableSource(text: string): string {
  if (parses(text)) return text;
  const m = /^(async(?:\s+|(?=\*)))?(\*\s*)?((?:get|set|static)\s+)?/.exec(text)!;
  let rest = text.slice(m[0].length);
  let open = 0;
  if (rest.startsWith("[")) {
    let depth = 0;
    for (; open < rest.length; open++) {
      if (rest[open] === "[") depth++;
      else if (rest[open] === "]" && --depth === 0) break;
    }
  }
  open = rest.indexOf("(", open);
  if (open < 0) return text;
  rest = rest.slice(open);
  const candidate = `${m[1] ? "async " : ""}function${m[2] ? "*" : ""} ${rest}`;
  return parses(candidate) ? candidate : text;
}

interface Located {
  file: string;
  export: string;
  /** Refs already built, by code root. */
  refs: Map<string, ModuleRef>;
}
const located = new WeakMap<Function, Located | null>();

function moduleRefAt(fn: Function, loc: Located, codeRoot: string): ModuleRef {
  const rel = path.relative(codeRoot, loc.file);
  const module = rel === "" || rel.startsWith("..") || path.isAbsolute(rel) ? "" : rel.split(path.sep).join("/");
  return { kind: "module", module, url: pathToFileURL(loc.file).href, export: loc.export, hash: fileHash(loc.file), name: fn.name };
}

/**
 * How a worker finds fn: by module reference when fn is exported from a module
 * file, else by source text. Throws a TypeError for native and bound functions.
 */
// One lookup per function and code root, shared by every caller: a map of
// 20,000 tasks asks for the same function 20,000 times in one turn.
const refsInFlight = new WeakMap<Function, Map<string, Promise<CodeRef>>>();

export function codeRefOf(fn: Function, opts?: CodeOptions): Promise<CodeRef> {
  if (typeof fn !== "function") return Promise.reject(new TypeError(`expected a function or class to ship, got ${typeof fn}`));
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
  const ref: ModuleRef = loc.refs.get(codeRoot) ?? moduleRefAt(fn, loc, codeRoot);
  loc.refs.set(codeRoot, ref);
  refCache.set(fn, ref);
  knownByUrl.set(`${ref.url}#${ref.export}`, fn);
  return ref;
}

async function locate(fn: Function): Promise<Located | undefined> {
  let url = scriptUrlOf(fn);
  if (url.startsWith("/")) url = pathToFileURL(url).href; // CommonJS scripts report a path
  if (!url.startsWith("file:")) return undefined;
  const file = fileURLToPath(url.replace(/[?#].*$/, ""));
  if (!existsSync(file)) return undefined;
  const mod = await importSoon(url);
  const exp = mod !== undefined ? findExport(mod, fn) : exportedByText(file, fn.name);
  return exp === undefined ? undefined : { file, export: exp, refs: new Map() };
}

// ------------------------------------------------------------------ loading

function howToFix(name: string): string {
  return `export ${name || "it"} from a module the workers can import`;
}

async function loadModule(ref: ModuleRef, codeRoot: string): Promise<Function> {
  const name = ref.name || ref.export;
  let file: string | undefined;
  if (ref.module !== "") {
    const candidate = path.resolve(codeRoot, ref.module);
    if (existsSync(candidate)) file = candidate;
  }
  if (file === undefined && ref.url.startsWith("file:")) {
    const candidate = fileURLToPath(ref.url);
    if (existsSync(candidate)) file = candidate;
  }
  if (file === undefined) {
    const where = ref.module !== "" ? `${ref.module} (under code root ${codeRoot})` : ref.url;
    throw new CodeShippingError(`${name}: module ${where} was not found on the worker; deploy the same code to workers and ${howToFix(name)}`);
  }
  if (ref.hash !== "" && fileHash(file) !== ref.hash) {
    throw new CodeShippingError(
      `${name}: module ${file} differs between client and worker (content hash mismatch); deploy the same code to workers`,
    );
  }
  if (isTypeScript(file)) await ensureTypeScript();
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new CodeShippingError(`${name}: importing module ${file} on the worker failed: ${(err as Error)?.message ?? err}`, {
      cause: err,
    });
  }
  let value = mod[ref.export];
  if (value === undefined && mod.default !== null && typeof mod.default === "object") {
    value = (mod.default as Record<string, unknown>)[ref.export];
  }
  if (typeof value !== "function") {
    throw new CodeShippingError(
      `${name}: module ${file} has no exported function or class "${ref.export}" on the worker; ${howToFix(name)}`,
    );
  }
  return value;
}

function compileSource(ref: CodeRef & { kind: "source" }): Function {
  const name = ref.name || "an inline function";
  const label = (ref.name || "anonymous").replace(/[^\w$.-]/g, "_");
  let value: unknown;
  try {
    // Indirect eval inside a fresh function: the source sees only globals, never this module's scope.
    // Code compiled by esbuild (tsx) calls its `__name` helper to keep names; the
    // sender's module defined it, so the shipped text needs its own copy.
    const helper = ref.source.includes("__name(")
      ? 'var __name = (target, value) => Object.defineProperty(target, "name", { value, configurable: true }); '
      : "";
    value = (0, eval)(`(function () { ${helper}return (${ref.source}\n); })()\n//# sourceURL=${SOURCE_URL_PREFIX}${label}`);
  } catch (err) {
    throw new CodeShippingError(
      `${name}: its source could not be compiled on the worker (${(err as Error)?.message ?? err}); ${howToFix(name)}`,
      { cause: err },
    );
  }
  if (typeof value !== "function") {
    throw new CodeShippingError(`${name}: its shipped source did not evaluate to a function; ${howToFix(name)}`);
  }
  return value;
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
    p = loadModule(ref, codeRoot).then((fn) => {
      knownByUrl.set(`${ref.url}#${ref.export}`, fn);
      return fn;
    });
    loadCache.set(key, p);
    // Failures are not kept: the code may be deployed before the next try.
    p.catch(() => loadCache.delete(key));
  }
  return p;
}

/**
 * A ReferenceError thrown by shipped source for a free variable becomes a
 * CodeShippingError saying why and what to do; any other error is returned as is.
 */
export function explainSourceError(err: unknown, ref: CodeRef): unknown {
  if (ref.kind !== "source" || !(err instanceof ReferenceError)) return err;
  const m = /^(\S+) is not defined$/.exec(err.message);
  if (m === null) return err;
  // Only when the failing frame is the shipped code itself, not something it called.
  const top = (err.stack ?? "").split("\n").find((l) => /^\s+at /.test(l));
  if (top !== undefined && !top.includes(SOURCE_URL_PREFIX)) return err;
  const name = ref.name || "the shipped function";
  return new CodeShippingError(
    `${name} refers to ${m[1]}, which does not exist on the worker: functions shipped by source may only use ` +
      `their parameters and globals; export ${name} from a module the workers can import`,
    { cause: err },
  );
}
