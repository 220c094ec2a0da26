// R-CODE-6 over real processes: a script that exports the task function and
// actor class it submits runs under `troupe run` and `node --import tsx`; its
// work runs once, where it was started, and workers never multiply.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../../src/index.js";
import { defaultWorkerCount } from "../../src/cluster/options.js";
import { clusterInside, connectInside } from "../fixtures/entry-tasks.js";
import { useCluster } from "../helpers/cluster.js";
import { descendants, ProcGroup, requireBuilt, ROOT, type Proc } from "../helpers/procs.js";

const T = { timeout: 120_000 };
const dir = mkdtempSync(join(tmpdir(), "troupe-entry-"));
const procs = new ProcGroup();
const started = new Set<number>();

/** The scripts' clusters are grandchildren: end every one this file saw, by pid. */
function killStarted(): void {
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

after(async () => {
  killStarted();
  await procs.killAll();
  rmSync(dir, { recursive: true, force: true });
});

before(() => {
  requireBuilt();
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  const troupe = pathToFileURL(join(ROOT, "dist/index.js")).href;
  writeFileSync(
    join(dir, "app.ts"),
    `import { Client } from ${JSON.stringify(troupe)};

export function double(x: number): number {
  return 2 * x;
}

export function triple(x: number): number {
  return 3 * x;
}

export class Counter {
  n = 0;
  add(x: number): number {
    return (this.n += x);
  }
}

const client = await Client.connect();

export class DeclaredLate {}

try {
  const doubled = await client.gather(client.map(double, [[1], [2], [3], [4], [5], [6]]));
  const counter = await client.submit(Counter, [], { actor: true }).result(30_000);
  await counter.add(2).result(30_000);
  const n = await counter.add(3).result(30_000);
  let late = "";
  try {
    await client.submit(DeclaredLate, [], { actor: true }).result(30_000);
  } catch (err) {
    late = (err as Error).name + ": " + (err as Error).message;
  }
  // Each worker thread takes a second export of the script it already imported.
  const addresses = Object.keys((await client.schedulerInfo()).workers);
  const pairs = [];
  for (const w of addresses) {
    pairs.push([await client.submit(double, [w.length], { workers: w }).result(30_000), await client.submit(triple, [w.length], { workers: w }).result(30_000)]);
  }
  const workers = addresses.length;
  console.log("WORKLOAD " + JSON.stringify({ doubled, n, workers, late, pairs: pairs.every(([d, t]) => d / 2 === t / 3) }));
} finally {
  await client.close();
}
`,
  );
});

/**
 * Runs the script to its end, counting the worker processes that descend from
 * it meanwhile; stops everything at once if they outnumber its cluster.
 */
async function runWatched(p: Proc): Promise<{ maxWorkers: number; workload: { doubled: number[]; n: number; workers: number; late: string; pairs: boolean } }> {
  const size = defaultWorkerCount(); // Client.connect() with no address starts a cluster of this size
  let maxWorkers = 0;
  const deadline = Date.now() + 100_000;
  while (p.running && Date.now() < deadline) {
    const tree = descendants(p.pid);
    for (const [pid] of tree) started.add(pid);
    const workers = [...tree.values()].filter((cmd) => cmd.includes("process-main")).length;
    maxWorkers = Math.max(maxWorkers, workers);
    if (workers > size) {
      await p.kill();
      killStarted();
      assert.fail(`${workers} worker processes for a cluster of ${size}: workers are multiplying`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await p.waitExit(5_000);
  assert.equal(p.exitCode, 0, `the script failed; stdout: ${p.stdout} stderr: ${p.stderr}`);
  const lines = p.stdout.split("\n").filter((l) => l.startsWith("WORKLOAD "));
  assert.equal(lines.length, 1, `the script's work ran ${lines.length} times:\n${p.stdout}`);
  return { maxWorkers, workload: JSON.parse(lines[0]!.slice("WORKLOAD ".length)) };
}

function checkWorkload(r: Awaited<ReturnType<typeof runWatched>>): void {
  assert.deepEqual(r.workload.doubled, [2, 4, 6, 8, 10, 12]);
  assert.equal(r.workload.n, 5);
  assert.equal(r.workload.pairs, true);
  assert.ok(r.maxWorkers >= 1, "worker processes were seen");
  assert.ok(r.maxWorkers <= r.workload.workers, `${r.maxWorkers} worker processes for a cluster of ${r.workload.workers}`);
  assert.match(r.workload.late, /^CodeShippingError: DeclaredLate is declared after app\.ts calls Client\.connect\(\).*move it to a module of its own$/);
}

describe("entry script - exports shipped from the script being run", () => {
  it("entry script - troupe run: the script's work runs once and workers never multiply", T, async () => {
    checkWorkload(await runWatched(procs.cli("troupe run app.ts", ["run", join(dir, "app.ts")])));
  });

  it("entry script - node --import tsx: the same", T, async () => {
    const tsx = import.meta.resolve("tsx");
    checkWorkload(await runWatched(procs.node("node --import tsx app.ts", ["--import", tsx, join(dir, "app.ts")], { cwd: dir })));
  });
});

describe("entry script - a worker's own client", () => {
  const h = useCluster({ workers: 1 });

  it("Client.connect() with no address in a task is the worker's client, and closing it leaves it open", async () => {
    assert.deepEqual(await h.client.submit(connectInside, []).result(20_000), [true, 1]);
    assert.deepEqual(await h.client.submit(connectInside, []).result(20_000), [true, 1]);
  });

  it("LocalCluster.start() in a task is refused", async () => {
    await assert.rejects(h.client.submit(clusterInside, []).result(20_000), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, /LocalCluster\.start\(\) was called on a troupe worker/);
      return true;
    });
  });
});
