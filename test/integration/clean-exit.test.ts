// R-PKG-6: a script that never closes its client exits once its own work is
// done, and takes its embedded cluster's workers with it; while it awaits
// something, it does not exit.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { waitFor } from "../helpers/cluster.js";
import { CLI, Proc, ProcGroup, requireBuilt, ROOT } from "../helpers/procs.js";
import { alive } from "../helpers/workers.js";

const T = { timeout: 90_000 };
const scratch = mkdtempSync(join(tmpdir(), "troupe-exit-"));
const procs = new ProcGroup();
const env = { ...process.env, TROUPE_LOG: "error", TROUPE_SCHEDULER: undefined, TROUPE_TOKEN: undefined };
const fixtures = pathToFileURL(join(ROOT, "test/fixtures/exits.ts")).href;
let scripts = 0;

before(requireBuilt);
after(async () => {
  await procs.killAll();
  rmSync(scratch, { recursive: true, force: true });
});

/** A script importing troupe from `index`; it prints one JSON line, and never closes its client. */
function script(index: string, body: string): string {
  const path = join(scratch, `script-${scripts++}.mts`);
  writeFileSync(
    path,
    `import { Client } from ${JSON.stringify(index)};
import { Notary, pid, sleepThen } from ${JSON.stringify(fixtures)};
const client = await Client.connect();
${body}
`,
  );
  return path;
}

/** Runs a script: with node itself (troupe from src), or with `troupe run` (troupe from dist). */
function start(how: "node" | "troupe run", path: string): Proc {
  const argv = how === "node" ? ["--import", "tsx", path] : [CLI, "run", path];
  const p = new Proc(spawn(process.execPath, argv, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] }), how);
  procs.procs.push(p);
  return p;
}

const INDEX = {
  node: pathToFileURL(join(ROOT, "src/index.ts")).href,
  "troupe run": pathToFileURL(join(ROOT, "dist/index.js")).href,
} as const;

for (const how of ["node", "troupe run"] as const) {
  describe(`a script run with ${how}`, () => {
    test("clean exit - it exits once its last result is in, after the calls it made, leaving no worker behind", T, async () => {
      const signed = join(scratch, `signed-${how.replace(" ", "-")}`);
      const p = start(
        how,
        script(
          INDEX[how],
          `const notary = await client.submit(Notary, [], { actor: true });
const value = await client.submit(sleepThen, [10, 21]);
const pids = Object.values(await client.run(pid));
console.log(JSON.stringify({ value, pids, at: Date.now() }));
// A call nobody awaits, still running at the end of the script: it is carried out before the exit.
void notary.sign(${JSON.stringify(signed)}, 500);`,
        ),
      );
      await p.waitExit(45_000);
      const exitedAt = Date.now();
      assert.equal(p.exitCode, 0, `stdout: ${p.stdout}\nstderr: ${p.stderr}`);
      const out = JSON.parse(p.stdout.trim().split("\n").at(-1)!) as { value: number; pids: number[]; at: number };
      assert.equal(out.value, 21);
      assert.ok(exitedAt - out.at < 5000, `exited ${exitedAt - out.at} ms after its last result`);
      assert.ok(existsSync(signed), "the actor call in flight at the end was carried out");
      assert.ok(out.pids.length > 0);
      await waitFor(() => out.pids.every((w) => !alive(w)), "the cluster's worker processes to be gone", 15_000);
    });

    test("clean exit - it does not exit while it awaits a long task", T, async () => {
      const p = start(
        how,
        script(
          INDEX[how],
          `const t0 = Date.now();
const value = await client.submit(sleepThen, [2000, "late"]);
console.log(JSON.stringify({ value, waitedMs: Date.now() - t0 }));`,
        ),
      );
      await p.waitExit(45_000);
      assert.equal(p.exitCode, 0, `stdout: ${p.stdout}\nstderr: ${p.stderr}`);
      const out = JSON.parse(p.stdout.trim().split("\n").at(-1) || "{}") as { value?: string; waitedMs?: number };
      assert.equal(out.value, "late", `the script ended before its result: stdout ${p.stdout}`);
      assert.ok(out.waitedMs! >= 2000);
    });
  });
}
