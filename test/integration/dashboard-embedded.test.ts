// An embedded cluster serves the dashboard too (R-OBS-4): on port 8787 or,
// when it is taken, a free one; its link is printed once and held by the
// cluster and its clients; `dashboard: false` serves none.

import assert from "node:assert/strict";
import { createServer, type AddressInfo, type Server } from "node:net";
import { after, describe, test } from "node:test";
import { Client, LocalCluster, Scheduler } from "../../src/index.js";
import { ProcGroup, requireBuilt } from "../helpers/procs.js";

const T = { timeout: 60_000 };

/** Holds a loopback port for the test (or finds it held already: taken either way). */
async function occupy(port: number): Promise<Server | undefined> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

describe("dashboard - embedded clusters", () => {
  const procs = new ProcGroup();
  after(() => procs.killAll());

  test("dashboard - when port 8787 is taken, a LocalCluster serves it on a free port, and its clients hold the link", T, async () => {
    const blocker = await occupy(8787);
    const cluster = await LocalCluster.start({ workers: 1 });
    try {
      const link = cluster.dashboardLink!;
      assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.notEqual(new URL(link).port, "8787");
      const client = await Client.connect(cluster);
      try {
        assert.equal(client.dashboardLink, link);
        const info = (await (await fetch(new URL("api/info", link))).json()) as { address: string; workers: Record<string, unknown> };
        assert.equal(info.address, cluster.schedulerAddress);
      } finally {
        await client.close();
      }
    } finally {
      await cluster.close();
      blocker?.close();
    }
  });

  test("dashboard - a scheduler serves on the port asked for when it is free, and falls back only when allowed", T, async () => {
    const probe = await occupy(0);
    const port = (probe!.address() as AddressInfo).port;
    await new Promise((r) => probe!.close(r));
    const s = await Scheduler.start({ dashboardPort: port, dashboardFallback: true, holdProcess: false });
    try {
      assert.equal(new URL(s.dashboardUrl!).port, String(port));
      // Taken now: a second one asked for it without fallback fails and says how to pick another.
      await assert.rejects(Scheduler.start({ dashboardPort: port, holdProcess: false }), /dashboard on port \d+.*EADDRINUSE.*0 for any free port/);
      const other = await Scheduler.start({ dashboardPort: port, dashboardFallback: true, holdProcess: false });
      assert.notEqual(new URL(other.dashboardUrl!).port, String(port));
      await other.close();
    } finally {
      await s.close();
    }
  });

  test("dashboard - troupe run prints the embedded cluster's link once per process, on stderr, leaving stdout to the script; dashboard: false serves none", T, async () => {
    requireBuilt();
    const p = procs.cli("run", ["run", "test/fixtures/dashboard-links.ts"]);
    await p.waitExit(45_000);
    assert.equal(p.exitCode, 0, p.stderr);
    const printed = [...p.stderr.matchAll(/troupe dashboard at (\S+)/g)].map((m) => m[1]);
    const out = JSON.parse(p.stdout) as { links: Array<string | null>; status: number };
    assert.deepEqual(printed, [out.links[0]], `printed once on stderr, the first cluster's link: ${p.stderr}`);
    assert.match(out.links[1]!, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.notEqual(out.links[1], out.links[0]);
    assert.equal(out.links[2], null);
    assert.equal(out.status, 200);
  });
});
