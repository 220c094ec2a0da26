// R-CODE-5 over real processes: a module edited on disk is used in its new
// version by the next submission, on workers that keep running; versions run
// side by side; a worker whose file is not the client's version says so.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { CodeShippingError } from "../../src/index.js";
import { useCluster } from "../helpers/cluster.js";

const require = createRequire(import.meta.url);
const dir = mkdtempSync(join(tmpdir(), "troupe-versions-"));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));

let edits = 0;
/** Writes the file and imports what is now in it, as a client started after the edit would. */
async function writeAndImport<T>(file: string, text: string): Promise<T> {
  writeFileSync(file, text);
  delete require.cache[file]; // CommonJS: forget the old version here too
  return (await import(`${pathToFileURL(file).href}?edit=${edits++}`)) as T;
}

type VersionFn = () => [number, number];
// The version lives outside the function: shipped by source, it would not be found.
const versionModule = (n: number, ts = false) =>
  ts
    ? `const N: number = ${n};\nexport function version(): [number, number] { return [N, process.pid]; }\n`
    : `const N = ${n};\nexport function version() { return [N, process.pid]; }\n`;

describe("code versions - one running cluster", () => {
  // One task thread: every version of a module is loaded by the same thread.
  const h = useCluster({ workers: 1, threadsPerWorker: 1, actorThreads: 1 });

  for (const [ext, text] of [
    ["mjs", (n: number) => versionModule(n)],
    ["ts", (n: number) => versionModule(n, true)],
    ["cjs", (n: number) => `const N = ${n};\nexports.version = function version() { return [N, process.pid]; };\n`],
  ] as const) {
    it(`code versions - an edited .${ext} module is used by the next submission, by the same worker`, async () => {
      const file = join(dir, `edited.${ext}`);
      const results: [number, number][] = [];
      for (const n of [1, 2, 3]) {
        const { version } = await writeAndImport<{ version: VersionFn }>(file, text(n));
        results.push(await h.client.submit(version, []).result(20_000));
      }
      assert.deepEqual(results.map(([n]) => n), [1, 2, 3]);
      assert.equal(new Set(results.map(([, pid]) => pid)).size, 1, "the same worker process ran every version");
    });
  }

  it("code versions - a pure task of an edited module gets a key of its own, and runs the new version", async () => {
    const file = join(dir, "pure.mjs");
    const { version: v1 } = await writeAndImport<{ version: VersionFn }>(file, versionModule(1));
    const first = h.client.submit(v1, [], { pure: true });
    assert.equal((await first.result(20_000))[0], 1);
    const { version: v2 } = await writeAndImport<{ version: VersionFn }>(file, versionModule(2));
    const second = h.client.submit(v2, [], { pure: true });
    assert.notEqual(second.key, first.key);
    assert.equal((await second.result(20_000))[0], 2);
  });

  it("code versions - an actor of the old version keeps working beside one of the new, on the same thread", async () => {
    const file = join(dir, "box.mjs");
    const box = (n: number) => `export class Box { version() { return ${n}; } thread() { return globalThis.boxThread ??= Math.random(); } }\n`;
    const { Box: Old } = await writeAndImport<{ Box: new () => { version(): number; thread(): number } }>(file, box(1));
    const old = await h.client.submit(Old, [], { actor: true }).result(20_000);
    const { Box: New } = await writeAndImport<{ Box: typeof Old }>(file, box(2));
    const fresh = await h.client.submit(New, [], { actor: true }).result(20_000);
    assert.deepEqual([await old.version().result(20_000), await fresh.version().result(20_000)], [1, 2]);
    assert.equal(await old.thread().result(20_000), await fresh.thread().result(20_000), "both live on one actor thread");
  });

  it("code versions - a worker whose file is not the version the client uses reports it", async () => {
    const file = join(dir, "stale.mjs");
    const { version } = await writeAndImport<{ version: VersionFn }>(file, versionModule(1));
    assert.deepEqual((await h.client.submit(version, []).result(20_000))[0], 1);
    writeFileSync(file, versionModule(2));
    // A worker that never loaded version 1 finds only version 2 on disk.
    const other = await h.cluster.addWorker();
    try {
      await assert.rejects(h.client.submit(version, [], { workers: other }).result(20_000), (err: unknown) => {
        assert.ok(err instanceof CodeShippingError, String(err));
        assert.match(err.message, /stale\.mjs differs between client and worker \(content hash mismatch\)/);
        return true;
      });
      // The worker that has version 1 still runs it: that is the client's code.
      assert.deepEqual((await h.client.submit(version, [], { workers: h.cluster.workerAddresses()[0] }).result(20_000))[0], 1);
    } finally {
      await h.cluster.stopWorker(other);
    }
  });
});
