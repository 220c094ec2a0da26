// Actor calls in flight from one caller to one actor are bounded (R-FLOW-2):
// a client process making 200,000 calls of 10 KiB in one loop stays within a
// few hundred MB and every call succeeds.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client, ConfigError, LocalCluster } from "../../src/index.js";
import { Counter } from "../fixtures/actors.js";
import { ProcGroup } from "../helpers/procs.js";

const CALLS = 200_000;
const RSS_BOUND = 500 * 1024 * 1024;

describe("actor calls in flight are bounded", () => {
  const procs = new ProcGroup();
  let cluster: LocalCluster;
  before(async () => {
    cluster = await LocalCluster.start({ workers: 1 });
  });
  after(async () => {
    await procs.killAll();
    await cluster?.close();
  });

  test("actor calls - with a small maxPendingCalls, 500 calls made at once still run in call order and all succeed", async () => {
    const client = await Client.connect(cluster, { maxPendingCalls: 3 });
    try {
      const counter = await client.submit(Counter, [], { actor: true });
      const calls = Array.from({ length: 500 }, (_, i) => (i % 2 ? counter.increment() : counter.add(1)));
      assert.deepEqual(await Promise.all(calls), Array.from({ length: 500 }, (_, i) => i + 1));
    } finally {
      await client.close();
    }
  });

  test("actor calls - a bad maxPendingCalls is a ConfigError before anything starts", async () => {
    await assert.rejects(Client.connect(undefined, { maxPendingCalls: 0 }), (e) => e instanceof ConfigError && /maxPendingCalls/.test(e.message));
    await assert.rejects(Client.connect(cluster, { maxPendingCalls: { calls: 10, bytes: -1 } }), ConfigError);
  });

  test("actor calls - 200,000 calls of 10 KiB from one client all succeed, and the client stays below 500 MB", { timeout: 240_000 }, async (t) => {
    const p = procs.node("call-flood", ["--import", "tsx", "test/fixtures/call-flood.ts", String(CALLS)], {
      env: { TROUPE_SCHEDULER: cluster.schedulerAddress, TROUPE_TOKEN: cluster.token },
    });
    await p.waitExit(230_000);
    assert.equal(p.exitCode, 0, `stderr: ${p.stderr}`);
    const out = JSON.parse(p.stdout.trim().split("\n").at(-1)!) as { answered: number; received: { calls: number; bytes: number }; peakRss: number; seconds: number };
    t.diagnostic(`client peak RSS ${(out.peakRss / 2 ** 20).toFixed(0)} MiB, ${out.seconds.toFixed(1)} s`);
    assert.equal(out.answered, CALLS, "every call answered with its argument's size");
    assert.deepEqual(out.received, { calls: CALLS, bytes: CALLS * 10 * 1024 });
    assert.ok(out.peakRss < RSS_BOUND, `the client's peak RSS was ${(out.peakRss / 2 ** 20).toFixed(0)} MiB`);
  });
});
