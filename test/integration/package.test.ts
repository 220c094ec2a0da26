// The package as another project gets it (R-PKG-1, R-PKG-5): `npm pack`,
// installed into a fresh project (from npm's cache when it can), used from
// plain JavaScript, from TypeScript through `troupe run`, and from CommonJS.

import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { requireBuilt, ROOT } from "../helpers/procs.js";

const T = { timeout: 120_000 };
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; license: string; repository?: { url?: string } };

// The project's scripts use troupe on an embedded cluster, never one named by the environment.
const env: NodeJS.ProcessEnv = { ...process.env, TROUPE_LOG: "error" };
delete env.TROUPE_SCHEDULER;
delete env.TROUPE_TOKEN;

function run(command: string, args: string[], cwd: string, timeoutMs: number): SpawnSyncReturns<string> {
  // SIGKILL on timeout; the embedded cluster's workers leave once their scheduler is gone.
  const r = spawnSync(command, args, { cwd, env, encoding: "utf8", timeout: timeoutMs, killSignal: "SIGKILL" });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (status ${r.status}, signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

const FILES: Record<string, string> = {
  "package.json": JSON.stringify({ name: "troupe-user", private: true, type: "module" }),
  "tasks.js": "export function double(x) {\n  return 2 * x;\n}\n",
  // The README's plain-JavaScript form: close the client in finally.
  "main.js": `import { Client } from "troupe";
import { double } from "./tasks.js";

const client = await Client.connect();
try {
  console.log(JSON.stringify({ result: await client.submit(double, [21]).result(30_000), client: String(client) }));
} finally {
  await client.close();
}
`,
  "shapes.ts": "export interface Rect {\n  w: number;\n  h: number;\n}\nexport function area(r: Rect): number {\n  return r.w * r.h;\n}\n",
  "job.ts": `import { Client } from "troupe";
import { area, type Rect } from "./shapes.js";

const client = await Client.connect();
try {
  const rect: Rect = { w: 6, h: 7 };
  console.log(await client.submit(area, [rect]).result(30_000));
} finally {
  await client.close();
}
`,
  "legacy.cjs": 'require("troupe");\n',
  // Uses the public types the way a TypeScript project does, checked with troupe's declarations included.
  "typed.ts": `import { Client, ConfigError, LocalCluster, Scheduler, Worker, type Actor, type ClientOptions, type LocalClusterOptions } from "troupe";
export class Counter {
  n = 0;
  inc(): number {
    return ++this.n;
  }
}
export async function use(options: LocalClusterOptions, clientOptions: ClientOptions): Promise<number> {
  await using cluster = await LocalCluster.start(options);
  await using client = await Client.connect(cluster, clientOptions);
  const counter: Actor<Counter> = await client.submit(Counter, [], { actor: true });
  const n: number = await counter.inc();
  await using scheduler = await Scheduler.start({ port: 0 });
  await using worker = await Worker.start({ scheduler: scheduler.address });
  const e: unknown = undefined;
  return e instanceof ConfigError ? e.code.length : n + worker.nthreads;
}
`,
};

describe("the packed package in another project", () => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-pack-"));
  const project = join(dir, "project");
  const installed = join(project, "node_modules", "troupe");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";

  before(() => {
    requireBuilt();
    // dist is built already (npm test builds first): skip the prepare script.
    ok(run(npm, ["pack", "--ignore-scripts", "--pack-destination", dir, "--silent"], ROOT, 120_000), "npm pack");
    const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    assert.ok(tarball, `npm pack left no tarball in ${dir}`);
    mkdirSync(project);
    for (const [name, text] of Object.entries(FILES)) writeFileSync(join(project, name), text);
    ok(run(npm, ["install", join(dir, tarball), "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], project, 300_000), "npm install of the tarball");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("package - carries its LICENSE, repository, and every file the README links to", () => {
    assert.equal(pkg.license, "MIT");
    assert.match(readFileSync(join(installed, "LICENSE"), "utf8"), /^MIT License/);
    assert.ok(pkg.repository?.url, "package.json has no repository");
    const readme = readFileSync(join(installed, "README.md"), "utf8");
    const links = [...readme.matchAll(/\]\(([^)\s#]+)[^)]*\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
    assert.ok(links.length > 0, "the README links to no file of the package");
    for (const link of links) assert.ok(existsSync(join(installed, link)), `README links to ${link}, which the package lacks`);
  });

  test("package - a plain JavaScript script submits a task to an embedded cluster", T, () => {
    const out = JSON.parse(ok(run(process.execPath, ["main.js"], project, 60_000), "node main.js").trim().split("\n").at(-1)!);
    assert.equal(out.result, 42);
    assert.match(out.client, /^<Client: scheduler=tcp:\/\/127\.0\.0\.1:\d+, status=open>$/);
  });

  test("package - troupe run runs a TypeScript script whose tasks come from a TypeScript module", T, () => {
    const troupe = join(project, "node_modules", ".bin", "troupe");
    assert.equal(ok(run(troupe, ["run", "job.ts"], project, 60_000), "troupe run job.ts").trim(), "42");
    assert.equal(ok(run(troupe, ["--version"], project, 30_000), "troupe --version").trim(), pkg.version);
  });

  test("package - its type declarations compile in a strict project, and leave troupe's internals out", T, () => {
    const tsconfig = {
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2022", "ESNext.Disposable"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: ["node"],
        typeRoots: [join(ROOT, "node_modules", "@types")],
      },
      files: ["typed.ts"],
    };
    writeFileSync(join(project, "tsconfig.json"), JSON.stringify(tsconfig));
    ok(run(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "."], project, 120_000), "tsc on typed.ts");
    const client = readFileSync(join(installed, "dist", "client", "client.d.ts"), "utf8");
    assert.match(client, /connect\(/);
    assert.doesNotMatch(client, /_forThread|_closeNow|_futureFor/, "@internal members are in the published declarations");
  });

  test("package - require() from CommonJS says troupe is an ES module and to use import()", () => {
    const r = run(process.execPath, ["legacy.cjs"], project, 30_000);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /troupe is an ES module/);
    assert.match(r.stderr, /await import\("troupe"\)/);
    assert.doesNotMatch(r.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });
});
