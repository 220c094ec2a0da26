// The script being run (`troupe run app.ts`, `node app.ts`) may export the
// functions and classes it submits (R-CODE-6). A worker imports such a script
// so that its own work never runs there: a loader hook hands the module's
// namespace to troupe before the script's first statement, and while the
// script is being imported, Client.connect() and LocalCluster.start() never
// settle. The script's work therefore parks at its first connect; what it
// declared before that point (functions are hoisted) is what workers use.

import { AsyncLocalStorage } from "node:async_hooks";
import { register } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { MessageChannel } from "node:worker_threads";
import { CodeShippingError } from "../errors.js";
import { realpath } from "./versions.js";

interface EntryLoad {
  url: string;
  file: string;
  /** The module's namespace, handed over by the hook before its first statement runs (ES modules). */
  ns?: Record<string, unknown>;
  /** Imported as a dependency of another module rather than by importEntry. */
  indirect: boolean;
  /** Reached a connect (then the script never runs further). */
  parked: boolean;
  onPark(): void;
}

interface EntryState {
  readonly als: AsyncLocalStorage<EntryLoad>;
  /** Entry scripts seen in this thread (real paths): refs to them are marked, the hook wraps them. */
  readonly files: Set<string>;
  /** Entry imports in flight, by URL. */
  readonly loads: Map<string, EntryLoad>;
  /** Entry scripts imported here, by URL: importing one again would wait for a script that never ends. */
  readonly imported: Map<string, Promise<Record<string, unknown>>>;
  /** Imports of other modules in flight: an entry parking under one of them makes it fail (see parkIfEntry). */
  readonly importing: Set<(err: Error) => void>;
  /** Entry scripts imported here that have not reached a connect yet. */
  running: number;
  /** Tells the loader hook about an entry file (registered on first need). */
  tell?: (file: string) => Promise<void>;
  argv?: string;
  argvFile?: string;
}

// One state per thread, shared by every copy of this module the thread loads
// (the worker's own and the one a user script reaches through "troupe").
const SLOT = Symbol.for("troupe.entryScripts");
const HANDOFF = Symbol.for("troupe.entryModule");
const slot = globalThis as unknown as Record<symbol, unknown>;
const state = (slot[SLOT] ??= {
  als: new AsyncLocalStorage<EntryLoad>(),
  files: new Set<string>(),
  loads: new Map<string, EntryLoad>(),
  imported: new Map<string, Promise<Record<string, unknown>>>(),
  importing: new Set<(err: Error) => void>(),
  running: 0,
}) as EntryState;

/** Whether `file` is the script this process runs. */
export function isOwnScript(file: string): boolean {
  const argv = process.argv[1];
  if (argv !== state.argv) {
    // `troupe run` sets argv[1] to the script before importing it.
    state.argv = argv;
    state.argvFile = argv === undefined ? undefined : realpath(argv);
  }
  return file === state.argvFile;
}

/** Whether code defined in `file` belongs to the script this process runs, or to one a client ran. */
export function isEntryFile(file: string): boolean {
  return isOwnScript(file) || state.files.has(file);
}

// The hook runs on Node's loader thread; it learns entry files over a port
// and acknowledges each, so that an import never overtakes the news.
const HOOK_SOURCE = `
import { fileURLToPath } from "node:url";
const files = new Set();
export function initialize({ port }) {
  port.on("message", ({ id, file }) => { files.add(file); port.postMessage(id); });
  port.unref();
}
export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (result.format !== "module" || result.source == null || !url.startsWith("file:")) return result;
  if (!files.has(fileURLToPath(url))) return result;
  let source = typeof result.source === "string" ? result.source : new TextDecoder().decode(result.source);
  const handoff = "import * as __troupeEntry from " + JSON.stringify(url) + ";" +
    "globalThis[Symbol.for(\\"troupe.entryModule\\")]?.(" + JSON.stringify(url) + ", __troupeEntry);";
  // Same first line: the script's line numbers (and source maps) stay as they are.
  source = source.startsWith("#!") ? handoff + source.slice(source.indexOf("\\n")) : handoff + source;
  return { ...result, source };
}
`;

function startHook(): (file: string) => Promise<void> {
  const { port1, port2 } = new MessageChannel();
  register(`data:text/javascript,${encodeURIComponent(HOOK_SOURCE)}`, { data: { port: port2 }, transferList: [port2] });
  const acks = new Map<number, () => void>();
  let nextId = 0;
  port1.on("message", (id: number) => {
    acks.get(id)?.();
    acks.delete(id);
  });
  port1.unref();
  return (file) =>
    new Promise<void>((resolve) => {
      const id = nextId++;
      acks.set(id, resolve);
      port1.postMessage({ id, file });
    });
}

(slot as Record<symbol, (url: string, ns: Record<string, unknown>) => void>)[HANDOFF] = (url, ns) => {
  let load = state.loads.get(url);
  if (load === undefined) {
    // Another module imports the entry script: its code still must not run past its connect.
    load = { url, file: fileURLToPath(url), indirect: true, parked: false, onPark: () => undefined };
    state.running++;
  }
  load.ns = ns;
  // The rest of the script's evaluation, and everything it starts, runs in this context.
  state.als.enterWith(load);
};

/**
 * Import an entry script on a worker (`query` selects a version, see
 * versions.ts). Resolves with its namespace once its top-level code has
 * parked at a connect (or finished); rejects if it threw. A TypeScript
 * script must already be importable; whichever of tsx and the hook was
 * registered first, the handoff ends up in the compiled module.
 */
export function importEntry(file: string, query: string): Promise<Record<string, unknown>> {
  // The loader names modules by their real path: so must the handoff.
  file = realpath(file);
  const url = pathToFileURL(file).href + query;
  let p = state.imported.get(url);
  if (p === undefined) {
    p = importOnce(url, file);
    state.imported.set(url, p);
    // One that failed stays failed, as Node keeps the module's error: a fixed script is a new version.
  }
  return p;
}

async function importOnce(url: string, file: string): Promise<Record<string, unknown>> {
  state.files.add(file);
  await (state.tell ??= startHook())(file);
  let onPark!: () => void;
  const parkedAt = new Promise<void>((resolve) => (onPark = resolve));
  const load: EntryLoad = { url, file, indirect: false, parked: false, onPark };
  state.loads.set(url, load);
  state.running++;
  const imported = state.als.run(load, () => import(url) as Promise<Record<string, unknown>>);
  // Once parked, the import never settles; if the script throws later, nobody is waiting for it.
  imported.catch(() => undefined);
  try {
    await Promise.race([imported, parkedAt]);
    return load.ns ?? (await imported);
  } catch (err) {
    // It threw before reaching a connect: it will not reach one.
    if (!load.parked) parked(load);
    throw err;
  } finally {
    state.loads.delete(url);
  }
}

/**
 * Import a module that is not an entry script. Fails at once, instead of
 * waiting forever, if an entry script it imports parks at its connect.
 */
export async function importModule(url: string): Promise<Record<string, unknown>> {
  let fail!: (err: Error) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  state.importing.add(fail);
  try {
    return await Promise.race([import(url) as Promise<Record<string, unknown>>, failed]);
  } finally {
    state.importing.delete(fail);
  }
}

/**
 * Called by Client.connect() and LocalCluster.start(): while an entry script
 * is being imported on a worker, a promise that never settles (the script's
 * work stops there); otherwise undefined.
 */
export function parkIfEntry<T>(): Promise<T> | undefined {
  const load = state.als.getStore();
  if (load === undefined) return undefined;
  if (load.indirect) {
    const name = path.basename(load.file);
    const err = new CodeShippingError(
      `a module imports ${name}, the script a client runs: on a worker its top-level code would stop at its ` +
        `Client.connect() and never finish, so that module cannot load either; move what other modules use from ` +
        `${name} into a module of its own`,
    );
    for (const fail of state.importing) fail(err);
  }
  if (!load.parked) parked(load);
  return new Promise<T>(() => undefined);
}

function parked(load: EntryLoad): void {
  load.parked = true;
  load.onPark();
  // Imported by another module: a later import of the script itself takes its exports from here.
  if (load.indirect && load.ns !== undefined && !state.imported.has(load.url)) state.imported.set(load.url, Promise.resolve(load.ns));
  // Telling contexts apart costs every promise of the thread (async hooks): only while a script may still connect.
  if (--state.running === 0) state.als.disable();
}
