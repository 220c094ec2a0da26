// Network namespaces for tests that cross a network: made with iproute2,
// which needs root (CAP_NET_ADMIN). Tests skip with the reason where they
// cannot be made. Names are fixed per test file, so two runs of one file on a
// machine (two people running the suite) are serialised by a lock file.

import { execFileSync } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRunning } from "../../src/shm/index.js";

export function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** ip, for removing what may not be there. */
export function ipQuiet(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    // not there: nothing to remove
  }
}

/** Why namespaces cannot be made here, or false when they can. */
/** A namespace standing for a host: its address, the root-side veth (on the bridge) and the namespace-side veth. */
export interface NetnsHost {
  ns: string;
  ip: string;
  outer: string;
  inner: string;
}

/** Puts each host in a namespace of its own, linked to `bridge` (which must exist and be up). */
export function addHosts(bridge: string, hosts: Iterable<NetnsHost>): void {
  for (const h of hosts) {
    ip("netns", "add", h.ns);
    ip("link", "add", h.outer, "type", "veth", "peer", "name", h.inner);
    ip("link", "set", h.inner, "netns", h.ns);
    ip("link", "set", h.outer, "master", bridge, "up");
    ip("-n", h.ns, "addr", "add", `${h.ip}/24`, "dev", h.inner);
    ip("-n", h.ns, "link", "set", h.inner, "up");
    ip("-n", h.ns, "link", "set", "lo", "up");
  }
}

export function netnsUnavailable(): string | false {
  const probe = `tr-probe-${process.pid}`;
  try {
    ip("netns", "add", probe);
    ip("netns", "del", probe);
    return false;
  } catch (err) {
    const msg = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim().split("\n")[0];
    return `cannot create network namespaces (needs root / CAP_NET_ADMIN and iproute2): ${msg}`;
  }
}

/** A lock file holding its owner's pid; a dead owner's lock is stale. */
export class NetLock {
  readonly path: string;

  constructor(name: string) {
    this.path = join(tmpdir(), `troupe-${name}.lock`);
  }

  async acquire(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const fd = openSync(this.path, "wx");
        writeFileSync(fd, String(process.pid));
        closeSync(fd);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      let owner = NaN;
      try {
        owner = Number(readFileSync(this.path, "utf8"));
      } catch {
        continue; // released in between
      }
      if (!Number.isInteger(owner) || owner <= 0 || !isRunning(owner)) {
        rmSync(this.path, { force: true }); // a crashed run's
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another run of this file (pid ${owner}) holds ${this.path} and the test network; waited ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  release(): void {
    try {
      if (Number(readFileSync(this.path, "utf8")) === process.pid) unlinkSync(this.path);
    } catch {
      // not ours, or gone
    }
  }
}
