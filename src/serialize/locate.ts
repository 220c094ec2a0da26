// Where a function or class lives: the script that defines it (through the
// V8 inspector's function location) and the name a module exports it under.

import { readFileSync } from "node:fs";
import { Session } from "node:inspector";

let session: Session | null = null;
const scriptUrls = new Map<string, string>();

function post<T>(method: string, params?: object): T {
  let result: T | undefined;
  // Typed by its cast: the callback assigns it, which flow analysis does not see.
  let error = null as Error | null;
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
export function scriptUrlOf(fn: Function): string {
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


/**
 * Resolves when the import settles, or to undefined when it does not within a
 * moment: importing a module that is still evaluating (codeRefOf called from its
 * own top-level await) would otherwise wait forever.
 */
export async function importSoon(url: string): Promise<Record<string, unknown> | undefined> {
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

export function findExport(mod: Record<string, unknown>, fn: Function): string | undefined {
  for (const k of Object.keys(mod)) if (k !== "default" && mod[k] === fn) return k;
  if (mod.default === fn) return "default";
  // CommonJS modules whose named exports the ESM loader did not detect.
  const d = mod.default;
  if (d !== null && typeof d === "object") for (const k of Object.keys(d)) if ((d as Record<string, unknown>)[k] === fn) return k;
  return undefined;
}

/** When the module cannot be imported right now, read its text for an export of that name. */
export function exportedByText(file: string, name: string): string | undefined {
  if (name === "" || !/^[A-Za-z_$][\w$]*$/.test(name)) return undefined;
  const text = readFileSync(file, "utf8");
  const decl = new RegExp(`export\\s+(?:default\\s+)?(?:async\\s+)?(?:abstract\\s+)?(?:function\\s*\\*?|class|const|let|var)\\s*${name}\\b`);
  const m = decl.exec(text);
  if (m) return /export\s+default/.test(m[0]) ? "default" : name;
  if (new RegExp(`export\\s*\\{[^}]*\\b${name}\\b(?!\\s+as)[^}]*\\}`).test(text)) return name;
  return undefined;
}
