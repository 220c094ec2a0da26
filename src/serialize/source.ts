// Code that is not exported travels as its source text (R-CODE-2): it may
// use only its parameters and globals, and a free variable is explained.

import { CodeShippingError, ConfigError } from "../errors.js";
import type { CodeRef } from "../protocol/messages.js";

/** Where shipped source is compiled; stack frames of shipped code carry this prefix. */
const SOURCE_URL_PREFIX = "troupe-shipped:";

export function howToFix(name: string): string {
  return `export ${name || "it"} from a module the workers can import`;
}

export function sourceRef(fn: Function): CodeRef {
  const name = fn.name;
  const text = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(text)) {
    throw new ConfigError(
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


export function compileSource(ref: CodeRef & { kind: "source" }): Function {
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
