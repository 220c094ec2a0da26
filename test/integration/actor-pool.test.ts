// ActorPool over real actors (R-ACT-15).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ActorPool, ConfigError, TimeoutError, actorInfo } from "../../src/index.js";
import { Doubler, Gate } from "../fixtures/actors-named.js";
import { useCluster } from "../helpers/cluster.js";

const T = { timeout: 60_000 };

describe("actor pool", () => {
  const h = useCluster({ workers: 2 });

  it("actor pool - map of 30 items over 3 actors yields results in order, each actor used", T, async () => {
    const actors = await h.client.gather(h.client.map(Doubler, [[], [], []], { actors: true }));
    const pool = new ActorPool(actors);
    const items = Array.from({ length: 30 }, (_, i) => i);
    const out: number[] = [];
    for await (const r of pool.map((a, v: number) => a.double(v), items)) out.push(r);
    assert.deepEqual(out, items.map((i) => 2 * i));
    const calls = await Promise.all(actors.map((a) => a.calls));
    assert.equal(calls.reduce((x, y) => x + y, 0), 30);
    for (const [i, n] of calls.entries()) assert.ok(n > 0, `actor ${actorInfo(actors[i]!).key} was never used`);
    // Unordered: every result, each once.
    const unordered: number[] = [];
    for await (const r of pool.mapUnordered((a, v: number) => a.double(v), items)) unordered.push(r);
    assert.deepEqual(unordered.sort((x, y) => x - y), items.map((i) => 2 * i));
    h.client.release(actors);
  });

  it("actor pool - submit/next return in completion order; an item waits for an idle actor", T, async () => {
    const [a, b] = await h.client.gather(h.client.map(Gate, [[], []], { actors: true }));
    const pool = new ActorPool([a!, b!]);
    assert.ok(!pool.hasNext());
    pool.submit((g, v: string) => g.pass(v), "first"); // on a
    pool.submit((g, v: string) => g.pass(v), "second"); // on b
    pool.submit((g, v: string) => g.pass(v), "third"); // waits for an idle actor
    assert.ok(pool.hasNext());
    assert.ok(!pool.hasFree());
    await assert.rejects(pool.next({ timeout: 50 }), TimeoutError);
    await b!.open();
    assert.equal(await pool.next(), "second");
    // "third" went to b, open already.
    assert.equal(await pool.next(), "third");
    await a!.open();
    assert.equal(await pool.next(), "first");
    assert.ok(!pool.hasNext());
    await assert.rejects(pool.next(), ConfigError);
    h.client.release([a!, b!]);
  });

  it("actor pool - a failing item throws at its place; the actor serves the rest", T, async () => {
    const [d] = await h.client.gather(h.client.map(Doubler, [[]], { actors: true }));
    const pool = new ActorPool([d!]);
    const seen: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const r of pool.map((a, v: number) => a.double(v), [1, 2, -3, 4])) seen.push(r);
      })(),
      RangeError,
    );
    assert.deepEqual(seen, [2, 4]);
    pool.submit((a, v: number) => a.double(v), 5);
    assert.equal(await pool.next(), 10);
    assert.throws(() => new ActorPool([]), ConfigError);
    assert.throws(() => new ActorPool([{} as never]), ConfigError);
    h.client.release(d!);
  });
});
