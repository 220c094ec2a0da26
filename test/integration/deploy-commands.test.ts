// The commands the Compose file runs (R-OPS-4), run here directly: a
// scheduler and 2 workers with the token in a file, then the README's
// example against them. Ports become 0 and hosts loopback, since every
// container has its own network and this machine has one for all. Where a
// container engine can run, the image is built and Compose runs the same.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { ProcGroup, requireBuilt, ROOT } from "../helpers/procs.js";

const T = { timeout: 180_000 };

type Service = { command: string[] };

/** A compose command as it runs here: the token file given, free ports, loopback, the scheduler where it listens. */
function local(args: string[], tokenFile: string, scheduler?: string): string[] {
  return args.map((a, i) => {
    const prev = args[i - 1];
    if (prev === "--token-file") return tokenFile;
    if (prev === "--port" || prev === "--dashboard-port" || prev === "--http-port") return "0";
    if (prev === "--host") return "127.0.0.1";
    if (scheduler && a === "tcp://scheduler:8786") return scheduler;
    return a;
  });
}

describe("deploy - the Compose file's commands", () => {
  const procs = new ProcGroup();
  const dir = mkdtempSync(join(tmpdir(), "troupe-deploy-"));
  const tokenFile = join(dir, "troupe-token");
  const services = (parse(readFileSync(join(ROOT, "compose.yaml"), "utf8")) as { services: Record<string, Service> }).services;
  before(() => {
    requireBuilt();
    writeFileSync(tokenFile, `deploy-${process.pid}\n`);
    chmodSync(tokenFile, 0o400); // as the secret is mounted
  });
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test("deploy - a scheduler and 2 workers started as Compose starts them complete the README's example", T, async () => {
    const s = procs.cli("scheduler", local(services.scheduler!.command, tokenFile));
    const address = (await s.line(/troupe scheduler at ((?:tcp|tls):\/\/\S+)/, 30_000))[1]!;
    const dashboard = (await s.line(/dashboard at (http:\/\/\S+?)\/(?:\?|\s|$)/, 30_000))[1]!;
    assert.equal((await fetch(`${dashboard}/health`)).status, 200);
    const workers = [1, 2].map((i) => procs.cli(`worker ${i}`, local(services.worker!.command, tokenFile, address)));
    for (const w of workers) {
      const health = (await w.line(/health at (\S+)/, 30_000))[1]!;
      assert.equal((await fetch(health)).status, 200);
    }
    const example = procs.cli("example", local(services.example!.command, tokenFile, address), { env: { TROUPE_TOKEN: undefined, TROUPE_SCHEDULER: undefined } });
    await example.waitExit(150_000);
    assert.equal(example.exitCode, 0, `stderr: ${example.stderr}`);
    assert.match(example.stdout, /sum of squares 0\.\.299 = 8955050/);
    assert.match(example.stdout, /Counter actor created/);
  });

  test("deploy - the image builds and Compose runs the example, where a container engine can run", T, (t) => {
    const engine = ["docker", "podman"].find((e) => spawnSync(e, ["info"], { stdio: "ignore", timeout: 20_000 }).status === 0);
    if (!engine) {
      t.skip("no container engine can run here (docker info and podman info both fail): only the commands above were run");
      return;
    }
    const env = { ...process.env, TROUPE_TOKEN: `deploy-${process.pid}` };
    const run = (args: string[], timeout = 900_000) => {
      const r = spawnSync(engine, args, { cwd: ROOT, env, encoding: "utf8", timeout });
      assert.equal(r.status, 0, `${engine} ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    try {
      run(["compose", "up", "-d", "--build", "--wait"]);
      assert.match(run(["compose", "run", "--rm", "example"]), /sum of squares 0\.\.299 = 8955050/);
    } finally {
      spawnSync(engine, ["compose", "down"], { cwd: ROOT, env, stdio: "ignore", timeout: 120_000 });
    }
  });
});
