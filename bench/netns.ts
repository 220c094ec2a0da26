// 100 MB between two "hosts": a worker in each of two network namespaces,
// joined by a bridge in the root namespace where the scheduler and the client
// run (the multi-host test's setup). Namespaces share /dev/shm, so the
// workers run with TROUPE_SHM=0 and the bytes cross the veth pair and the
// bridge. Needs root (CAP_NET_ADMIN) and iproute2.

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "troupe";
import { addHosts, ip, ipQuiet } from "../test/helpers/netns.js";
import { makeBytes, size } from "./workloads.js";

const CLI = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
const MB = 100;

/** Resolves once something listens at host:port, or rejects after `ms`. */
async function listening(host: string, port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (up) return;
    if (Date.now() > end) throw new Error(`nothing listened at ${host}:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Median MB/s of `runs` transfers of 100 MB from the worker in one namespace to the one in the other, every byte read there. */
export async function netnsTransfer(runs: number, median: (xs: number[]) => number): Promise<number> {
  // Names and subnet of this run's own: two runs on one machine do not meet.
  const tag = String(process.pid % 100_000);
  const net = `10.79.${process.pid % 250}`;
  const bridge = `trb${tag}`;
  const hosts = ["a", "b"].map((n, i) => ({ ns: `trb-${tag}-${n}`, outer: `trb${tag}${n}`, inner: `trb${tag}${n}i`, ip: `${net}.${11 + i}` }));
  const dir = mkdtempSync(join(tmpdir(), "troupe-bench-"));
  const procs: ChildProcess[] = [];
  const teardown = async () => {
    // SIGINT: a worker's nanny stops its worker before it exits.
    await Promise.all(procs.map((p) => stop(p)));
    for (const h of hosts) {
      ipQuiet("netns", "del", h.ns);
      ipQuiet("link", "del", h.outer);
    }
    ipQuiet("link", "del", bridge);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    try {
      ip("link", "add", bridge, "type", "bridge");
    } catch (err) {
      throw new Error(`cannot make network namespaces here (needs root and iproute2): ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
    }
    ip("addr", "add", `${net}.1/24`, "dev", bridge);
    ip("link", "set", bridge, "up");
    addHosts(bridge, hosts);
    const token = randomBytes(16).toString("hex");
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, token, { mode: 0o600 });
    const port = 20_000 + (process.pid % 20_000);
    const address = `tcp://${net}.1:${port}`;
    const quiet = { stdio: "ignore" as const };
    procs.push(spawn(process.execPath, [CLI, "scheduler", "--host", `${net}.1`, "--port", String(port), "--dashboard-port", "0", "--token-file", tokenFile], quiet));
    await listening(`${net}.1`, port, 20_000);
    for (const h of hosts) {
      const args = ["netns", "exec", h.ns, process.execPath, CLI, "worker", address, "--host", h.ip, "--name", h.ns, "--token-file", tokenFile];
      procs.push(spawn("ip", args, { ...quiet, env: { ...process.env, TROUPE_SHM: "0" } }));
    }
    const client = await Client.connect(address, { token });
    try {
      await client.waitForWorkers(2, { timeout: 30_000 });
      const [w0, w1] = Object.keys((await client.schedulerInfo()).workers).sort();
      const out: number[] = [];
      for (let i = 0; i < runs; i++) {
        const data = client.submit(makeBytes, [MB * 1e6], { workers: w0!, pure: false });
        await data.exception();
        const t = performance.now();
        const n = await client.submit(size, [data], { workers: w1!, pure: false });
        out.push(MB / ((performance.now() - t) / 1000));
        if (n !== MB * 1e6) throw new Error("short transfer");
        data.release();
      }
      return median(out);
    } finally {
      await client.close();
    }
  } finally {
    await teardown();
  }
}

/** Stop a process: SIGINT, then SIGKILL if it has not exited within 10 s. */
async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.once("exit", () => resolve()));
  p.kill("SIGINT");
  const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
