// The `troupe` command (R-PKG-3, R-PKG-5, R-SEC-2): help, version, bad flags,
// one-line errors, the refusal to open an unauthenticated port, and a real
// cluster built from the command line.

import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type AddressInfo } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Client, type Actor } from "../../src/index.js";
import { Counter } from "../fixtures/actors.js";
import { add } from "../fixtures/tasks.js";
import { waitFor } from "../helpers/cluster.js";
import { unusedAddress } from "../helpers/ports.js";
import { ProcGroup, ROOT, requireBuilt, runCli, type CliResult } from "../helpers/procs.js";

const T = { timeout: 60_000 };
const SCHEDULER_LINE = /troupe scheduler at ((?:tcp|tls):\/\/\S+)/;
const WORKER_LINE = /troupe worker (\S+) at ((?:tcp|tls):\/\/\S+)/;

before(requireBuilt);

/** Whether something accepts TCP connections on a loopback port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** A failure troupe explains: exit status `status`, nothing on stdout, one line "troupe: …" on stderr matching `message`. */
function assertOneLineError(r: CliResult, status: number, message: RegExp): void {
  assert.equal(r.status, status, `exit code; stderr: ${r.stderr}`);
  assert.equal(r.stdout, "");
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^troupe: /);
  assert.match(lines[0]!, message);
}

describe("troupe --version", () => {
  const version = (JSON.parse(readFileSync(`${ROOT}/package.json`, "utf8")) as { version: string }).version;
  for (const flag of ["--version", "-v", "version"]) {
    test(`troupe ${flag} prints the package version`, () => {
      const r = runCli([flag]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), version);
    });
  }
});

describe("troupe --help", () => {
  const cases: [string[], RegExp][] = [
    [["--help"], /^Usage: troupe <command>/],
    [["scheduler", "--help"], /^Usage: troupe scheduler/],
    [["worker", "--help"], /^Usage: troupe worker <scheduler-address>/],
    [["run", "--help"], /^Usage: troupe run <script/],
  ];
  for (const [args, usage] of cases) {
    test(`troupe ${args.join(" ")} prints usage and exits 0`, () => {
      const r = runCli(args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, usage);
      assert.equal(r.stderr, "");
    });
  }
  test("the scheduler and worker usage name their flags", () => {
    const s = runCli(["scheduler", "--help"]).stdout;
    for (const flag of ["--host", "--port", "--dashboard-port", "--token-file", "--tls-cert", "--tls-key", "--tls-ca"]) assert.ok(s.includes(flag), `scheduler --help lacks ${flag}`);
    const w = runCli(["worker", "--help"]).stdout;
    for (const flag of ["--nthreads", "--actor-threads", "--resources", "--name", "--host", "--port", "--token-file", "--tls-cert"]) assert.ok(w.includes(flag), `worker --help lacks ${flag}`);
  });
});

describe("bad flags: one line on stderr, exit code 2", () => {
  const cases: [string[], RegExp][] = [
    [["worker", "--bogus"], /bogus/],
    [["worker", "tcp://127.0.0.1:1", "--bogus"], /bogus/],
    [["scheduler", "--port", "abc"], /--port.*abc/],
    [["scheduler", "--port", "-3"], /--port/],
    [["worker", "tcp://127.0.0.1:1", "--nthreads", "0"], /--nthreads/],
    [["worker", "tcp://127.0.0.1:1", "--resources", "GPU"], /--resources/],
    [["worker"], /scheduler address/],
    [["scheduler", "extra"], /extra/],
    [["scheduler", "--tls-cert", "x.pem"], /--tls-cert, --tls-key and --tls-ca/],
    [["scheduler", "--token-file", "/nonexistent/token"], /token-file/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["run"], /script/],
  ];
  for (const [args, message] of cases) {
    test(`troupe ${args.join(" ")}`, () => assertOneLineError(runCli(args), 2, message));
  }
});

describe("token files and the dashboard's login link (R-SEC-7)", () => {
  const procs = new ProcGroup();
  const dir = mkdtempSync(join(tmpdir(), "troupe-token-"));
  const token = "login-token-" + process.pid;
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A token file with exactly `mode` (the umask does not apply to chmod). */
  function tokenFile(name: string, mode: number): string {
    const file = join(dir, name);
    writeFileSync(file, token + "\n");
    chmodSync(file, mode);
    return file;
  }

  test("a token file other users may read is refused, as ssh refuses such keys: one line naming the file and the fix, exit 1", T, () => {
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      const file = tokenFile(`token-${mode.toString(8)}`, mode);
      const fix = new RegExp(`${file.replace(/[/.]/g, "\\$&")}.*too open.*chmod 600 ${file.replace(/[/.]/g, "\\$&")}`);
      assertOneLineError(runCli(["scheduler", "--port", "0", "--dashboard-port", "0", "--token-file", file]), 1, fix);
    }
    const open = tokenFile("token-open", 0o644);
    assertOneLineError(runCli(["worker", "tcp://127.0.0.1:1", "--no-nanny", "--token-file", open]), 1, /chmod 600/);
    assertOneLineError(runCli(["worker", "tcp://127.0.0.1:1", "--token-file", open]), 1, /chmod 600/);
    assertOneLineError(runCli(["run", "--token-file", open, "test/fixtures/cli-script.ts"]), 1, /chmod 600/);
  });

  test("a scheduler whose dashboard listens beyond loopback prints its login link once; on loopback, the plain address", T, async () => {
    const file = tokenFile("token-private", 0o600);
    const wide = procs.cli("scheduler 0.0.0.0", ["scheduler", "--host", "0.0.0.0", "--port", "0", "--dashboard-port", "0", "--token-file", file]);
    const link = new URL((await wide.line(/dashboard at (http:\/\/\S+)/))[1]!);
    assert.equal(link.hostname, hostname(), "a wildcard bind is named by this host's name");
    assert.equal(link.searchParams.get("token"), token);
    assert.equal(wide.stdout.split(token).length, 2, "the token is printed once");
    // Asked over loopback: the check is about where it listens.
    const local = (path: string) => `http://127.0.0.1:${link.port}${path}`;
    assert.equal((await fetch(local("/api/info"))).status, 401);
    const login = await fetch(local(link.pathname + link.search));
    assert.equal(login.status, 200);
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    assert.equal((await fetch(local("/api/info"), { headers: { cookie } })).status, 200);

    const narrow = procs.cli("scheduler 127.0.0.1", ["scheduler", "--port", "0", "--dashboard-port", "0", "--token-file", file]);
    const plain = new URL((await narrow.line(/dashboard at (http:\/\/\S+)/))[1]!);
    assert.equal(plain.search, "", "on loopback the dashboard needs no token, and none is printed");
    assert.ok(!narrow.stdout.includes(token));
    assert.equal((await fetch(new URL("api/info", plain))).status, 200);
  });
});

describe("troupe run on TypeScript in a CommonJS package", () => {
  test("says to add \"type\": \"module\" (or use .mts), in one line", () => {
    const dir = mkdtempSync(join(tmpdir(), "troupe-cjs-"));
    try {
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", type: "commonjs" }));
      writeFileSync(join(dir, "main.ts"), "const x = await Promise.resolve(1);\nconsole.log(x);\n");
      assertOneLineError(runCli(["run", join(dir, "main.ts")]), 2, /main\.ts is TypeScript in a CommonJS package.*"type": "module".*main\.mts/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("errors while running: one line on stderr, exit code 1", () => {
  const procs = new ProcGroup();
  after(() => procs.killAll());

  test("a scheduler port in use", T, async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = String((taken.address() as AddressInfo).port);
    try {
      assertOneLineError(runCli(["scheduler", "--port", port, "--dashboard-port", "0"]), 1, new RegExp(`${port}.*EADDRINUSE`));
      assertOneLineError(runCli(["scheduler", "--port", "0", "--dashboard-port", port]), 1, /dashboard.*EADDRINUSE.*--dashboard-port/);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  test("troupe run against a scheduler address where nothing listens", T, async () => {
    const address = await unusedAddress();
    const p = procs.cli("run", ["run", "test/fixtures/cli-script.ts", "--scheduler", address], { env: { TROUPE_TOKEN: "t" } });
    await p.waitExit(30_000);
    assertOneLineError({ status: p.exitCode, stdout: p.stdout, stderr: p.stderr }, 1, new RegExp(`${address.replace(/[/.]/g, "\\$&")}.*ECONNREFUSED`));
  });

  test("a worker started before its scheduler waits for it", T, async () => {
    const address = await unusedAddress();
    const workerPort = (await unusedAddress()).split(":").at(-1)!;
    const w = procs.cli("worker", ["worker", address, "--port", workerPort], { env: { TROUPE_TOKEN: "" } });
    // A worker listens for peers, then connects to its scheduler: once its port
    // answers, it is trying a scheduler that is not there yet.
    await waitFor(() => accepts(Number(workerPort)), "the worker to listen", 15_000);
    assert.ok(w.running && !WORKER_LINE.test(w.stdout), `stdout: ${w.stdout} stderr: ${w.stderr}`);
    const s = procs.cli("scheduler", ["scheduler", "--port", address.split(":").at(-1)!, "--dashboard-port", "0"], { env: { TROUPE_TOKEN: "" } });
    await s.line(SCHEDULER_LINE);
    await w.line(WORKER_LINE);
    assert.ok(w.running, `stderr: ${w.stderr}`);
  });
});

describe("R-SEC-2: no open port without a token", () => {
  const procs = new ProcGroup();
  after(() => procs.killAll());

  test("scheduler --host 0.0.0.0 without a token refuses to start", T, async () => {
    const p = procs.cli("scheduler", ["scheduler", "--host", "0.0.0.0", "--port", "0"], { env: { TROUPE_TOKEN: "" } });
    await p.waitExit(15_000);
    assert.notEqual(p.exitCode, 0);
    assert.ok(!SCHEDULER_LINE.test(p.stdout), `it said it started: ${p.stdout}`);
    assert.match(p.stderr, /token|--insecure/);
  });

  test("worker --host 0.0.0.0 without a token refuses to start", T, async () => {
    // The scheduler address is never reached: the refusal comes first.
    const p = procs.cli("worker", ["worker", "tcp://127.0.0.1:1", "--host", "0.0.0.0"], { env: { TROUPE_TOKEN: "" } });
    await p.waitExit(15_000);
    assert.notEqual(p.exitCode, 0);
    assert.match(p.stderr, /token|--insecure/);
  });

  test("with --insecure it starts", T, async () => {
    const p = procs.cli("scheduler", ["scheduler", "--host", "0.0.0.0", "--port", "0", "--insecure"], { env: { TROUPE_TOKEN: "" } });
    try {
      const [, address] = await p.line(SCHEDULER_LINE);
      assert.match(address!, /^tcp:\/\/[^:]+:\d+$/);
      // It prints an address others can use, not the wildcard it listens on.
      assert.doesNotMatch(address!, /0\.0\.0\.0/);
      assert.ok(p.running);
    } finally {
      await p.kill();
    }
  });
});

describe("a cluster started from the command line", () => {
  const procs = new ProcGroup();
  const dir = mkdtempSync(join(tmpdir(), "troupe-cli-"));
  const token = "cli-test-token-" + process.pid;
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, token + "\n", { mode: 0o600 });
  let address = "";
  const workers: string[] = [];
  let client: Client | undefined;

  before(async () => {
    const s = procs.cli("scheduler", ["scheduler", "--port", "0", "--token-file", tokenFile]);
    address = (await s.line(SCHEDULER_LINE))[1]!;
    const ws = [1, 2].map((i) => procs.cli(`worker ${i}`, ["worker", address, "--token-file", tokenFile, "--name", `cli-w${i}`]));
    for (const w of ws) workers.push((await w.line(WORKER_LINE))[2]!);
    client = await Client.connect(address, { token });
  });
  after(async () => {
    try {
      await client?.close();
    } finally {
      await procs.killAll();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("both workers register with the scheduler", T, async () => {
    assert.match(address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    await waitFor(async () => Object.keys((await client!.schedulerInfo()).workers).length === 2, "two workers in schedulerInfo");
    assert.deepEqual(Object.keys((await client!.schedulerInfo()).workers).sort(), [...workers].sort());
  });

  test("runs a task, and a task on one worker consuming data from the other", T, async () => {
    assert.equal(await client!.submit(add, [1, 2]).result(20_000), 3);
    const x = client!.submit(add, [10, 20], { workers: workers[0]! });
    const y = client!.submit(add, [x, 1], { workers: workers[1]! });
    assert.equal(await y.result(20_000), 31);
    assert.deepEqual((await client!.whoHas(y))[y.key], [workers[1]]);
  });

  test("runs an actor call", T, async () => {
    const counter: Actor<Counter> = await client!.submit(Counter, [], { actor: true });
    assert.equal(await counter.increment().result(20_000), 1);
    assert.equal(await counter.add(5).result(20_000), 6);
    assert.equal(await counter.n, 6);
  });

  test("a wrong token is refused", T, async () => {
    await assert.rejects(Client.connect(address, { token: "wrong", timeout: 3_000 }), /token|auth/i);
  });

  test("troupe run <script.ts> --scheduler ADDR with TROUPE_TOKEN", T, async () => {
    const p = procs.cli("run", ["run", "test/fixtures/cli-script.ts", "one", "--two", "--scheduler", address], { env: { TROUPE_TOKEN: token } });
    await p.waitExit(45_000);
    assert.equal(p.exitCode, 0, `stderr: ${p.stderr}`);
    const out = JSON.parse(p.stdout.trim().split("\n").at(-1)!) as { product: number; workers: number; args: string[]; resolved: string };
    assert.equal(out.product, 42);
    assert.equal(out.workers, 2, "it used the given scheduler, not an embedded cluster");
    assert.deepEqual(out.args, ["one", "--two"]);
    assert.match(out.resolved, /\/dist\/index\.js$/, '"troupe" resolves to the built package');
  });

  test("troupe run --token-file, before or after the script (the README's form)", T, async () => {
    for (const args of [
      ["run", "--token-file", tokenFile, "test/fixtures/cli-script.ts", "--scheduler", address],
      ["run", "test/fixtures/cli-script.ts", "--scheduler", address, "--token-file", tokenFile],
    ]) {
      const p = procs.cli("run", args, { env: { TROUPE_TOKEN: undefined, TROUPE_SCHEDULER: undefined } });
      await p.waitExit(45_000);
      assert.equal(p.exitCode, 0, `${args.join(" ")}: stderr: ${p.stderr}`);
      const out = JSON.parse(p.stdout.trim().split("\n").at(-1)!) as { product: number; workers: number; args: string[] };
      assert.equal(out.product, 42);
      assert.equal(out.workers, 2, "it used the given scheduler, not an embedded cluster");
      assert.deepEqual(out.args, [], "troupe's own flags do not reach the script");
    }
  });

  test("a wrong token: one line on stderr and exit code 1, for a worker and for troupe run", T, async () => {
    const wrongFile = join(dir, "wrong-token");
    writeFileSync(wrongFile, "not-the-token\n", { mode: 0o600 });
    const w = procs.cli("worker", ["worker", address, "--token-file", wrongFile]);
    await w.waitExit(30_000);
    assertOneLineError({ status: w.exitCode, stdout: w.stdout, stderr: w.stderr }, 1, /refused: wrong or missing token/);
    const r = procs.cli("run", ["run", "test/fixtures/cli-script.ts", "--scheduler", address, "--token-file", wrongFile], { env: { TROUPE_TOKEN: undefined } });
    await r.waitExit(30_000);
    assertOneLineError({ status: r.exitCode, stdout: r.stdout, stderr: r.stderr }, 1, /refused: wrong or missing token/);
  });

  test("troupe run with TROUPE_SCHEDULER in the environment", T, async () => {
    const p = procs.cli("run", ["run", "test/fixtures/cli-script.ts"], { env: { TROUPE_TOKEN: token, TROUPE_SCHEDULER: address } });
    await p.waitExit(45_000);
    assert.equal(p.exitCode, 0, `stderr: ${p.stderr}`);
    assert.equal(JSON.parse(p.stdout.trim().split("\n").at(-1)!).product, 42);
  });

  test("a worker stops cleanly on SIGTERM and leaves the cluster", T, async () => {
    const w = procs.cli("worker 3", ["worker", address, "--token-file", tokenFile]);
    const [, , waddr] = await w.line(WORKER_LINE);
    await waitFor(async () => (await client!.schedulerInfo()).workers[waddr!], "the third worker to register");
    w.child.kill("SIGTERM");
    await w.waitExit(15_000);
    assert.equal(w.exitCode, 0, `stderr: ${w.stderr}`);
    await waitFor(async () => !(await client!.schedulerInfo()).workers[waddr!], "the third worker to leave", 10_000);
  });
});

describe("troupe run without a scheduler", () => {
  const procs = new ProcGroup();
  after(() => procs.killAll());

  test("starts an embedded cluster and exits when the script is done", T, async () => {
    // undefined drops the variable from the child's environment.
    const p = procs.cli("run", ["run", "test/fixtures/cli-script.ts"], { env: { TROUPE_TOKEN: undefined, TROUPE_SCHEDULER: undefined } });
    await p.waitExit(45_000);
    assert.equal(p.exitCode, 0, `stderr: ${p.stderr}`);
    const out = JSON.parse(p.stdout.trim().split("\n").at(-1)!) as { product: number; workers: number };
    assert.equal(out.product, 42);
    assert.ok(out.workers >= 1);
  });
});
