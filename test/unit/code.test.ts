import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { CodeShippingError, RemoteError } from "../../src/errors.js";
import type { CodeRef } from "../../src/protocol/messages.js";
import {
  codeRefOf,
  errorToInfo,
  errorToInfoAsync,
  explainSourceError,
  infoToError,
  infoToErrorSync,
  loadCode,
} from "../../src/serialize/index.js";
import triple, { BadThing, double, notExportedHelper, throwUnexported } from "../fixtures/serialize/funcs.js";
import { inc } from "../fixtures/serialize/plain.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, "../fixtures/serialize");
const repoRoot = path.resolve(here, "../..");
const { square } = createRequire(import.meta.url)("../fixtures/serialize/common.cjs") as { square: (x: number) => number };

const temp = mkdtempSync(path.join(tmpdir(), "troupe-code-"));
after(() => rmSync(temp, { recursive: true, force: true }));

describe("code - codeRefOf", () => {
  it("ships an exported function of a .ts module by reference", async () => {
    const ref = await codeRefOf(double, { codeRoot: repoRoot });
    assert.equal(ref.kind, "module");
    if (ref.kind !== "module") return;
    assert.equal(ref.module, "test/fixtures/serialize/funcs.ts");
    assert.equal(ref.url, pathToFileURL(path.join(fixtures, "funcs.ts")).href);
    assert.equal(ref.export, "double");
    assert.equal(ref.name, "double");
    assert.match(ref.hash, /^[0-9a-f]{64}$/);
    assert.equal(await loadCode(ref, { codeRoot: repoRoot }), double);
  });

  it("ships exports of .js and CommonJS modules, and default exports", async () => {
    const js = await codeRefOf(inc, { codeRoot: repoRoot });
    assert.deepEqual([js.kind, (js as { export: string }).export], ["module", "inc"]);
    assert.equal(await loadCode(js), inc);
    const cjs = await codeRefOf(square, { codeRoot: repoRoot });
    assert.deepEqual([cjs.kind, (cjs as { export: string }).export], ["module", "square"]);
    assert.equal(((await loadCode(cjs)) as typeof square)(3), 9);
    const def = await codeRefOf(triple);
    assert.deepEqual([def.kind, (def as { export: string }).export], ["module", "default"]);
    assert.equal(await loadCode(def), triple);
  });

  it("gives module '' for files outside the code root", async () => {
    const ref = await codeRefOf(double, { codeRoot: temp });
    assert.equal((ref as { module: string }).module, "");
    assert.equal(await loadCode(ref, { codeRoot: temp }), double);
  });

  it("ships inline arrows, unexported functions, classes and methods by source", async () => {
    const arrow = (x: number) => x + 100;
    const ref = await codeRefOf(arrow);
    assert.equal(ref.kind, "source");
    assert.equal(((await loadCode(ref)) as typeof arrow)(1), 101);

    const viaNotExported = await codeRefOf(notExportedHelper);
    assert.equal(viaNotExported.kind, "module", "an exported arrow is still a module export");

    class Local {
      constructor(readonly n: number) {}
      get twice() {
        return this.n * 2;
      }
    }
    const cls = await codeRefOf(Local);
    assert.deepEqual([cls.kind, (cls as { isClass: boolean }).isClass], ["source", true]);
    const L = (await loadCode(cls)) as typeof Local;
    assert.equal(new L(4).twice, 8);

    const obj = {
      add(a: number, b: number) {
        return a + b;
      },
      async *gen() {
        yield 1;
      },
    };
    const m = await codeRefOf(obj.add);
    assert.equal(m.kind, "source");
    assert.equal(((await loadCode(m)) as typeof obj.add)(2, 3), 5);
    const g = await codeRefOf(obj.gen);
    const gen = (await loadCode(g)) as typeof obj.gen;
    const got = [];
    for await (const v of gen()) got.push(v);
    assert.deepEqual(got, [1]);
  });

  it("finds an export of a module still in its top-level await without waiting on itself", async () => {
    const { ref } = await import("../fixtures/serialize/tla.js");
    assert.equal(ref.kind, "module");
    assert.equal((ref as { export: string }).export, "selfRef");
  });

  it("refuses native and bound functions with a clear ConfigError", async () => {
    await assert.rejects(codeRefOf(Math.max), { name: "ConfigError", message: /max is a native or bound function/ });
    await assert.rejects(codeRefOf(double.bind(null)), { name: "ConfigError", message: /cannot be shipped/ });
  });
});

describe("code - loadCode failures", () => {
  it("reports a module whose content differs", async () => {
    const file = path.join(temp, "mod.ts");
    writeFileSync(file, "export function f() { return 1; }\n");
    const ref: CodeRef = { kind: "module", module: "mod.ts", url: pathToFileURL(file).href, export: "f", hash: "0".repeat(64), name: "f" };
    await assert.rejects(loadCode(ref, { codeRoot: temp }), (err: unknown) => {
      assert.ok(err instanceof CodeShippingError);
      assert.match(err.message, /^f: module .*mod\.ts differs between client and worker \(content hash mismatch\); deploy the same code to workers \(.*run it again\)$/);
      return true;
    });
  });

  it("names the function, module and fix for a missing export or module", async () => {
    const ref = (await codeRefOf(double, { codeRoot: repoRoot })) as CodeRef & { kind: "module" };
    await assert.rejects(loadCode({ ...ref, export: "gone", name: "gone", hash: "" }, { codeRoot: repoRoot }), {
      name: "CodeShippingError",
      message: /^gone: module .*funcs\.ts has no exported function or class "gone" on the worker; export gone from a module the workers can import$/,
    });
    await assert.rejects(
      loadCode({ ...ref, module: "nowhere/x.ts", url: "file:///nowhere/x.ts", name: "x" }, { codeRoot: repoRoot }),
      { name: "CodeShippingError", message: /^x: module nowhere\/x\.ts \(under code root .*\) was not found on the worker; .*export x from a module/ },
    );
  });

  it("resolves the module under the worker's code root first", async () => {
    const ref = (await codeRefOf(double, { codeRoot: repoRoot })) as CodeRef & { kind: "module" };
    const otherRoot = path.join(temp, "root");
    cpSync(path.join(fixtures, "funcs.ts"), path.join(otherRoot, "test/fixtures/serialize/funcs.ts"));
    const fn = (await loadCode({ ...ref, url: "file:///not/here.ts" }, { codeRoot: otherRoot })) as typeof double;
    assert.notEqual(fn, double, "a separate copy was imported");
    assert.equal(fn(4), 8);
  });

  it("turns a syntax error in shipped source into CodeShippingError", async () => {
    await assert.rejects(loadCode({ kind: "source", source: "(x) => {", name: "broken", isClass: false }), {
      name: "CodeShippingError",
      message: /^broken: its source could not be compiled on the worker .*export broken from a module/,
    });
  });

  it("explains a free variable in shipped source", async () => {
    const secret = 5;
    const usesFree = (x: number) => x + secret;
    const ref = await codeRefOf(usesFree);
    const fn = (await loadCode(ref)) as typeof usesFree;
    let thrown: unknown;
    try {
      fn(1);
    } catch (err) {
      thrown = err;
    }
    const explained = explainSourceError(thrown, ref);
    assert.ok(explained instanceof CodeShippingError);
    assert.equal(
      explained.message,
      "usesFree refers to secret, which does not exist on the worker: functions shipped by source may only use their parameters and globals; export usesFree from a module the workers can import",
    );
    assert.equal((explained as Error).cause, thrown);
    const other = new TypeError("x");
    assert.equal(explainSourceError(other, ref), other);
  });
});

describe("code - TypeScript in worker threads", () => {
  const serializeUrl = pathToFileURL(path.join(repoRoot, "src/serialize/index.ts")).href;
  const run = (preloaded: boolean, ref: CodeRef) =>
    new Promise<{ ok: boolean; value?: number; export?: string; message?: string }>((resolve, reject) => {
      const w = new Worker(path.join(fixtures, "worker-load.mjs"), {
        workerData: { serializeUrl, ref, codeRoot: repoRoot, preloaded },
        // Worker threads do not inherit --import hooks: tsx is absent unless the fixture registers it.
        execArgv: [],
      });
      w.once("message", (m) => {
        resolve(m);
        void w.terminate();
      });
      w.once("error", reject);
    });

  it("registers tsx once in a worker thread that lacks it", async () => {
    const ref = await codeRefOf(double, { codeRoot: repoRoot });
    const res = await run(false, ref);
    // serialize/ itself came through a namespaced tsx import here, whose imports get their
    // own module instances, so codeRefOf in that thread cannot match exports by identity.
    assert.deepEqual([res.ok, res.value], [true, 42], res.message);
  });

  it("works when the thread already has tsx", async () => {
    const ref = await codeRefOf(double, { codeRoot: repoRoot });
    const res = await run(true, ref);
    assert.deepEqual(res, { ok: true, value: 42, export: "double" }, res.message);
  });
});

describe("code - errors", () => {
  it("an exported error class round trips to instanceof", async () => {
    const err = new BadThing("it broke", 7);
    const info = await errorToInfoAsync(err);
    assert.equal(info.classRef?.export, "BadThing");
    const back = await infoToError(info);
    assert.ok(back instanceof BadThing);
    assert.ok(back instanceof Error);
    assert.equal(back.name, "BadThing");
    assert.equal(back.message, "it broke");
    assert.equal((back as BadThing).detail, 7);
    assert.ok(back.stack?.includes(err.stack!.split("\n")[1]!), "the remote stack is kept");
    // Once located, the sync path finds the class too.
    assert.ok(infoToErrorSync(errorToInfo(err)) instanceof BadThing);
  });

  it("a built-in error keeps its class; troupe errors come back by name", async () => {
    const back = await infoToError(errorToInfo(new RangeError("out of range")));
    assert.ok(back instanceof RangeError);
    assert.equal(back.message, "out of range");
    const shipping = await infoToError(errorToInfo(new CodeShippingError("cs")));
    assert.ok(shipping instanceof CodeShippingError);
    assert.equal((shipping as CodeShippingError).code, "ERR_TROUPE_CODE_SHIPPING");
  });

  it("an unexported error class becomes a RemoteError with the original name", async () => {
    let err: unknown;
    try {
      throwUnexported();
    } catch (e) {
      err = e;
    }
    const info = await errorToInfoAsync(err);
    assert.equal(info.classRef, undefined);
    const back = await infoToError(info);
    assert.ok(back instanceof RemoteError);
    assert.equal(back.name, "Unexported");
    assert.equal((back as RemoteError).remoteName, "Unexported");
    assert.equal(back.message, "nope");
    assert.ok(back.stack?.includes("throwUnexported"));
  });

  it("a class whose module cannot be imported falls back to RemoteError", async () => {
    const info = errorToInfo(new BadThing("x", 1));
    const back = await infoToError({ ...info, classRef: { ...info.classRef!, module: "", url: "file:///gone.ts" } });
    assert.ok(back instanceof RemoteError);
    assert.equal(back.name, "BadThing");
  });

  it("non-Error throws become Error-like info", () => {
    const info = errorToInfo("plain string");
    assert.equal(info.name, "Error");
    assert.equal(info.message, "plain string");
    assert.equal(errorToInfo(42).message, "42");
    assert.equal(errorToInfo({ weird: true }).message, "{ weird: true }");
    assert.ok(infoToErrorSync(info) instanceof Error);
  });

  it("keeps code, cause and extra properties, dropping ones that cannot travel", async () => {
    const cause = new TypeError("root cause");
    const err = Object.assign(new Error("top", { cause }), { code: "E_TOP", retry: 3, fn: () => 1 });
    const back = (await infoToError(errorToInfo(err))) as Error & { code: string; retry: number; fn: string };
    assert.equal(back.code, "E_TOP");
    assert.equal(back.retry, 3);
    assert.match(back.fn, /not serializable/);
    assert.ok(back.cause instanceof TypeError);
    assert.equal((back.cause as Error).message, "root cause");
  });
});
