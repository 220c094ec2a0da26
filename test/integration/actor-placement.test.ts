// Where actors go (R-ACT-10b): fewest actors hosted first, then data
// locality, then load, over real worker processes.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { actorInfo, type Client } from "../../src/index.js";
import { Keeper } from "../fixtures/actors-named.js";
import { useCluster, waitFor } from "../helpers/cluster.js";

const T = { timeout: 60_000 };

/** How many actors each worker hosts, as the scheduler sees it. */
async function actorCount(client: Client): Promise<number> {
  const info = await client.schedulerInfo();
  return Object.values(info.workers).reduce((n, w) => n + Object.keys(w.actors).length, 0);
}

describe("actors: placement by count", () => {
  const h = useCluster({ workers: 5 });

  it("10 actors over 5 workers with a shared 1 MB argument held on one: 2 on each; two in a row on 2 idle workers: one on each", T, async () => {
    const [first, second] = h.cluster.workerAddresses();
    const big = h.client.scatter(new Uint8Array(1 << 20), { workers: first! });
    await big;
    const handles = await h.client.gather(h.client.map(Keeper, Array.from({ length: 10 }, () => [big]), { actors: true }));
    const perWorker = new Map<string, number>();
    for (const k of handles) perWorker.set(actorInfo(k).workerAddress, (perWorker.get(actorInfo(k).workerAddress) ?? 0) + 1);
    assert.deepEqual([...perWorker.values()], [2, 2, 2, 2, 2], JSON.stringify([...perWorker]));
    assert.equal(await handles[0]!.bytes, 1 << 20);
    h.client.release(handles);
    await waitFor(async () => (await actorCount(h.client)) === 0, "actors released");
    // Two in a row on two idle workers, the argument held on one of them: one on each.
    const pair = [first!, second!];
    const a = h.client.submit(Keeper, [big], { actor: true, workers: pair });
    const b = h.client.submit(Keeper, [big], { actor: true, workers: pair });
    const [ka, kb] = await h.client.gather([a, b]);
    assert.deepEqual(new Set([actorInfo(ka).workerAddress, actorInfo(kb).workerAddress]), new Set(pair));
    h.client.release([ka, kb]);
  });
});
