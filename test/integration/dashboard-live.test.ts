// The dashboard's live feed (R-OBS-5) over a real cluster: Server-Sent
// Events at /api/live, pushed without being asked, through a worker's death:
// the worker stays listed as gone with the reason, its actor comes back on
// another worker counted as restarted, and the lost one shows as lost, and
// among the failures.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { actorInfo, Client, LocalCluster } from "../../src/index.js";
import type { LiveFrame } from "../../src/dashboard/stream.js";
import { Counter } from "../fixtures/actors.js";

const T = { timeout: 90_000 };

/** Reads frames from the feed until `check` finds what it waits for in one (bounded). */
async function until<R>(link: string, what: string, check: (f: LiveFrame) => R | undefined, timeoutMs = 30_000): Promise<R> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let last: LiveFrame | undefined;
  try {
    const res = await fetch(new URL("api/live", link), { signal: abort.signal });
    assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const decoder = new TextDecoder();
    let text = "";
    for await (const chunk of res.body!) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = text.indexOf("\n\n")) >= 0) {
        const event = text.slice(0, end);
        text = text.slice(end + 2);
        if (!event.startsWith("data: ")) continue;
        last = JSON.parse(event.slice(6)) as LiveFrame;
        const found = check(last);
        if (found !== undefined) return found;
      }
    }
    throw new Error(`the feed ended before ${what}`);
  } catch (err) {
    if (abort.signal.aborted) throw new Error(`no frame showed ${what} within ${timeoutMs} ms; the last: ${JSON.stringify(last)?.slice(0, 2000)}`);
    throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

describe("dashboard - live feed", () => {
  test("dashboard - across a worker's death the feed shows it gone, its restartable actor restarted elsewhere, and the other lost", T, async () => {
    const cluster = await LocalCluster.start({ workers: 2 });
    const client = await Client.connect(cluster);
    try {
      const link = cluster.dashboardLink!;
      // Both on one worker; the restartable one may come back on another.
      const kept = await client.submit(Counter, [], { actor: true, restarts: 1, workers: cluster.workerAddresses()[0], allowOtherWorkers: true });
      const lost = await client.submit(Counter, [], { actor: true, workers: cluster.workerAddresses()[0] });
      for (let i = 0; i < 10; i++) await Promise.all([kept.increment(), lost.increment()]);
      const doomed = actorInfo(kept).workerAddress;
      const [keptKey, lostKey] = [actorInfo(kept).key, actorInfo(lost).key];
      assert.equal(actorInfo(lost).workerAddress, doomed);
      const before = await until(link, "both actors alive with their calls", (f) => (f.actors.filter((a) => a.state === "alive" && a.calls === 10).length === 2 ? f : undefined));
      const name = before.workers.find((w) => w.address === doomed)!.name;

      await cluster.stopWorker(doomed, { graceful: false });
      const after = await until(link, "the worker gone and the actors restarted and lost", (f) => {
        const a = f.actors.find((x) => x.key === keptKey);
        const b = f.actors.find((x) => x.key === lostKey);
        const w = f.workers.find((x) => x.name === name);
        return a?.state === "alive" && a.restarts === 1 && b?.state === "lost" && w?.state === "gone" ? { a, b, w } : undefined;
      });
      assert.notEqual(after.a.worker, doomed);
      assert.match(after.b.error!, /ActorLostError/);
      const failure = await until(link, "the lost actor among the failures", (f) => f.failures.find((x) => x.key === lostKey));
      assert.deepEqual([failure.kind, failure.error.name], ["actor", "ActorLostError"]);
      assert.ok(after.w.reason, "the reason it is gone");
      assert.equal(after.w.tasksProcessing, 0);
    } finally {
      await client.close();
      await cluster.close();
    }
  });
});
