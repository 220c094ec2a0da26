// maxConcurrency (R-ACT-16): how many calls of an actor's async methods interleave.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/index.js";
import { Gated } from "../fixtures/actors-flow.js";
import { useCluster, waitFor } from "../helpers/cluster.js";

const T = { timeout: 60_000 };

describe("actor concurrency", () => {
  const h = useCluster({ workers: 1 });

  it("maxConcurrency - at most 2 of 10 gated calls are inside at once, admitted and finished in call order", T, async () => {
    const g = await h.client.submit(Gated, [], { actor: true, maxConcurrency: 2 });
    const calls = Array.from({ length: 10 }, (_, i) => g.work(i));
    for (let left = 10; left > 0; left--) {
      // The sync openOne() and the reads are not held back by the bound.
      await waitFor(async () => (await g.inside) === Math.min(2, left), `${Math.min(2, left)} calls inside`);
      assert.ok((await g.maxInside) <= 2);
      assert.equal(await g.openOne(), true);
    }
    assert.deepEqual(await Promise.all(calls), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(await g.maxInside, 2);
    assert.deepEqual(await g.started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(await g.finished, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("maxConcurrency - without it, async calls interleave without bound", T, async () => {
    const g = await h.client.submit(Gated, [], { actor: true });
    const calls = Array.from({ length: 10 }, (_, i) => g.work(i));
    await waitFor(async () => (await g.inside) === 10, "all 10 calls inside");
    for (let i = 0; i < 10; i++) await g.openOne();
    assert.deepEqual(await Promise.all(calls), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("maxConcurrency - must be a positive integer, and is for actors only", T, () => {
    assert.throws(() => h.client.submit(Gated, [], { actor: true, maxConcurrency: 0 }), ConfigError);
    assert.throws(() => h.client.submit(Gated, [], { actor: true, maxConcurrency: 1.5 }), ConfigError);
    assert.throws(() => h.client.submit(() => 1, [], { maxConcurrency: 2 }), /maxConcurrency bounds the calls of an actor/);
  });
});
