import assert from "node:assert/strict";
import { test } from "node:test";
import { Payload } from "../../src/protocol/payload.js";
import { createLogger } from "../../src/log.js";
import { MemoryMonitor } from "../../src/worker/memory.js";
import { Store } from "../../src/worker/store.js";

const MB = 1e6;

function monitor(rss: { now: number }, store = new Store()) {
  const pauses: boolean[] = [];
  const m = new MemoryMonitor(100 * MB, store, { onPause: (p) => pauses.push(p), keep: (k) => k.startsWith("actor") }, createLogger("test"), () => rss.now);
  return { m, pauses, store };
}

test("memory monitor - pauses above 80 % of the limit and runs again below it", () => {
  const rss = { now: 50 * MB };
  const { m, pauses } = monitor(rss);
  m.check();
  assert.deepEqual(pauses, []);
  rss.now = 81 * MB;
  m.check();
  m.check();
  assert.deepEqual(pauses, [true]);
  assert.equal(m.paused, true);
  rss.now = 79 * MB;
  m.check();
  assert.deepEqual(pauses, [true, false]);
});

test("memory monitor - above 60 % the largest values spill until below, never actors' handles; they read back whole", async () => {
  const rss = { now: 0 };
  const store = new Store();
  try {
    const value = (n: number, fill: number) => new Payload([new Uint8Array(n).fill(fill)]);
    store.set("small", value(10_000, 1)); // below the spill minimum
    store.set("a", value(20 * MB, 2));
    store.set("b", value(15 * MB, 3));
    store.set("c", value(5 * MB, 4));
    store.set("actor-1", value(30 * MB, 5));
    rss.now = 30 * MB + store.bytes; // 100 MB: 40 MB over the spill threshold
    const { m } = monitor(rss, store);
    m.check();
    await m.spilled;
    // The largest that may spill, until the estimate is down to 60 MB: a, b and c go; actor-1 and small stay.
    assert.equal(store.spilledBytes, 40 * MB);
    assert.equal(store.bytes, 30 * MB + 10_000);
    assert.deepEqual([...(store.get("a")!.parts[0] as Uint8Array).subarray(0, 3)], [2, 2, 2]);
    assert.equal(store.get("b")!.byteLength, 15 * MB);
    assert.equal(store.has("a"), true);
    store.delete("a");
    assert.equal(store.has("a"), false);
    assert.equal(store.spilledBytes, 20 * MB);
  } finally {
    store.clear();
  }
});
