// Streaming methods (R-ACT-18): an async generator method's items reach the
// caller as an AsyncIterable, with flow control, and leaving the loop stops it.

import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { ActorStream, ConfigError } from "../../src/index.js";
import { countTo, Source } from "../fixtures/actors-flow.js";
import { useCluster } from "../helpers/cluster.js";

const T = { timeout: 120_000 };

describe("actor streams", () => {
  const h = useCluster({ workers: 1 });

  it("streams - 100,000 items arrive in order through for await", T, async () => {
    const s = await h.client.submit(Source, [], { actor: true });
    const stream: ActorStream<number> = s.count(100_000);
    let n = 0;
    for await (const x of stream) {
      if (x !== n) assert.fail(`item ${n} arrived as ${x}`);
      n++;
    }
    assert.equal(n, 100_000);
    assert.equal(await s.finalized, 1);
  });

  it("streams - a slow consumer keeps the generator paused within the window", T, async () => {
    const s = await h.client.submit(Source, [], { actor: true });
    const it = s.count(1_000_000)[Symbol.asyncIterator]();
    for (let i = 0; i < 5; i++) assert.deepEqual(await it.next(), { value: i, done: false });
    // The consumer holds back: whatever time passes, the generator is at most a window (16) ahead.
    for (let i = 0; i < 10; i++) {
      assert.ok((await s.produced) <= 5 + 16, "the generator ran past the window");
      await sleep(50);
    }
    for (let i = 5; i < 105; i++) assert.equal((await it.next()).value, i);
    assert.ok((await s.produced) <= 105 + 16);
    await it.return!();
    assert.equal(await s.finalized, 1);
    // A larger window lets it run further ahead.
    const wide = s.count.options({ streamWindow: 200 })(1_000_000)[Symbol.asyncIterator]();
    await wide.next();
    for (let i = 0; i < 5; i++) await sleep(50);
    assert.ok((await s.produced) <= 105 + 16 + 201);
    await wide.return!();
  });

  it("streams - breaking out of the loop runs the generator's finally on the worker", T, async () => {
    const s = await h.client.submit(Source, [], { actor: true });
    const seen: number[] = [];
    for await (const x of s.count(1_000_000_000)) {
      seen.push(x);
      if (x === 10) break;
    }
    assert.equal(seen.length, 11);
    assert.equal(await s.finalized, 1);
    assert.ok((await s.produced) < 1000);
    assert.equal(await s.ping(), "pong");
  });

  it("streams - an error thrown mid-stream reaches the consumer after the items before it", T, async () => {
    const s = await h.client.submit(Source, [], { actor: true });
    const seen: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const x of s.failAfter(3)) seen.push(x);
      })(),
      (err: Error) => err instanceof RangeError && err.message === "failed after 3 items",
    );
    assert.deepEqual(seen, [0, 1, 2]);
  });

  it("streams - a task function that is an async generator fails with a ConfigError saying what streams", T, async () => {
    await assert.rejects(h.client.submit(countTo, [3]).result(), (err: Error) => err instanceof ConfigError && /only actor methods stream/.test(err.message));
  });

  it("streams - a stream is iterated once, and streamWindow is checked", T, async () => {
    const s = await h.client.submit(Source, [], { actor: true });
    const stream = s.count(2);
    const it = stream[Symbol.asyncIterator]();
    assert.throws(() => stream[Symbol.asyncIterator](), ConfigError);
    await it.return!();
    assert.throws(() => s.count.options({ streamWindow: 0 }), ConfigError);
  });
});
