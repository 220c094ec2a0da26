// The public error classes: codes documented in docs/errors.md, and
// instanceof across two copies of troupe loaded in one process.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import * as troupe from "../../src/index.js";
import * as here from "../../src/errors.js";

type ErrorClass = typeof here.TroupeError;

/** The exported classes of a module that are troupe errors, by name. */
function errorClasses(mod: Record<string, unknown>): Map<string, ErrorClass> {
  const base = mod.TroupeError as ErrorClass;
  const out = new Map<string, ErrorClass>();
  for (const [name, value] of Object.entries(mod)) {
    if (typeof value !== "function") continue;
    if (value === base || Object.prototype.isPrototypeOf.call(base.prototype, value.prototype)) out.set(name, value as ErrorClass);
  }
  return out;
}

function make(cls: ErrorClass, name: string): Error {
  return name === "RemoteError" ? new (cls as unknown as typeof here.RemoteError)("ValueError", "m") : new cls("m");
}

describe("errors - docs/errors.md", () => {
  test("errors - the table lists exactly the exported error classes, each with its code", () => {
    const text = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
    const documented = new Map<string, string>();
    for (const m of text.matchAll(/^\| `(\w+)` \| `(\w+)` \|/gm)) documented.set(m[1]!, m[2]!);
    const exported = errorClasses(troupe);
    assert.ok(exported.size >= 13, `expected the public error classes, found ${[...exported.keys()].join(", ")}`);
    assert.deepEqual(new Map([...exported].map(([name, cls]) => [name, cls.code])), documented);
    for (const [name, cls] of exported) {
      const err = make(cls, name);
      assert.equal((err as here.TroupeError).code, cls.code, `${name}: instances carry the class's code`);
      if (name !== "RemoteError") assert.equal(err.name, name);
    }
  });

  test("errors - codes are unique", () => {
    const codes = [...errorClasses(troupe).values()].map((cls) => cls.code);
    assert.equal(new Set(codes).size, codes.length);
  });
});

describe("errors - instanceof across copies", () => {
  // The compiled copy, as a user's `import "troupe"` loads it next to a worker running from source.
  const other = async () => {
    try {
      return (await import(new URL("../../dist/errors.js", import.meta.url).href)) as typeof here;
    } catch (err) {
      throw new Error(`dist/errors.js is needed as the second copy: run npm run build first (${String(err)})`);
    }
  };

  test("errors - the two copies are distinct classes", async () => {
    const there = await other();
    assert.notEqual(there.CommError, here.CommError);
    assert.equal(Function.prototype[Symbol.hasInstance].call(here.CommError, new there.CommError("m")), false);
  });

  test("errors - an error of one copy is instanceof the other copy's class of its code and its bases, and of no other", async () => {
    const there = await other();
    const mine = errorClasses(here);
    const theirs = errorClasses(there);
    assert.deepEqual([...theirs.keys()].sort(), [...mine.keys()].sort());
    const bases: Record<string, string[]> = { WorkerMemoryError: ["KilledWorkerError"] };
    for (const [made, makeCls] of theirs) {
      for (const copy of [here, there]) {
        const err = make(makeCls, made);
        for (const [target, cls] of errorClasses(copy)) {
          const expected = target === made || target === "TroupeError" || (bases[made] ?? []).includes(target);
          assert.equal(err instanceof cls, expected, `${made} instanceof ${target} (${copy === here ? "other" : "same"} copy)`);
        }
        assert.ok(err instanceof Error);
      }
    }
    // And the other way round.
    assert.ok(new here.WorkerMemoryError("m") instanceof there.KilledWorkerError);
    assert.ok(!(new here.KilledWorkerError("m") instanceof there.WorkerMemoryError));
    assert.ok(new here.ConfigError("m") instanceof there.TroupeError);
  });

  test("errors - only branded errors count: a lookalike with a troupe code is not one", () => {
    const lookalike = Object.assign(new Error("m"), { code: "ERR_TROUPE_COMM" });
    assert.ok(!(lookalike instanceof here.CommError));
    assert.ok(!(lookalike instanceof here.TroupeError));
    assert.ok(!({ code: "ERR_TROUPE_COMM" } instanceof here.TroupeError));
    assert.ok(!((null as unknown) instanceof here.TroupeError));
    // A branded error with a code this copy does not know (a newer copy's class) is a TroupeError, nothing more.
    const newer = Object.assign(new Error("m"), { code: "ERR_TROUPE_FROM_THE_FUTURE" });
    Object.defineProperty(newer, Symbol.for("troupe.error"), { value: true });
    assert.ok(newer instanceof here.TroupeError);
    assert.ok(!(newer instanceof here.CommError));
  });

  test("errors - the brand lives on the prototype, not among an error's own properties", () => {
    const err = new here.CommError("m");
    assert.deepEqual(Object.getOwnPropertySymbols(err), []);
    assert.equal((err as unknown as Record<symbol, unknown>)[Symbol.for("troupe.error")], true);
  });

  test("errors - a user's subclass matches its own instances only", async () => {
    const there = await other();
    class MyConfigError extends here.ConfigError {}
    assert.ok(new MyConfigError("m") instanceof MyConfigError);
    assert.ok(new MyConfigError("m") instanceof there.ConfigError);
    assert.ok(!(new here.ConfigError("m") instanceof MyConfigError));
    assert.ok(!(new there.ConfigError("m") instanceof MyConfigError));
  });
});
