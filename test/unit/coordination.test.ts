// The scheduler's coordination primitives (src/scheduler/coordination/), without sockets.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Payload } from "../../src/protocol/payload.js";
import { Coordination } from "../../src/scheduler/coordination/index.js";

function harness(t: { after(fn: () => void): void }) {
  // The scheduler's wait timers do not hold its process; here, something must while a test waits.
  const keep = setInterval(() => undefined, 1000);
  t.after(() => clearInterval(keep));
  const log: string[] = [];
  const c = new Coordination({
    want: (keys) => log.push(`want ${keys.join(",")}`),
    release: (keys) => log.push(`release ${keys.join(",")}`),
    handTo: (client, keys) => log.push(`${client} wants ${keys.join(",")}`),
  });
  return { c, log };
}

const value = (n: number) => new Payload([new Uint8Array([n])]);
const byte = (reply: unknown) => ((reply as { value: Payload }).value.parts[0] as Uint8Array)[0];

test("queue: first in first out; a get waits for a put; a timed-out get answers timeout; queued Futures are held until taken", async (t) => {
  const { c, log } = harness(t);
  void c.serve("c1", { op: "queue-put", name: "q", value: value(1), keys: ["f-1"] });
  void c.serve("c1", { op: "queue-put", name: "q", value: value(2), keys: [] });
  assert.equal(c.serve("c1", { op: "queue-size", name: "q" }), 2);
  assert.deepEqual(log, ["want f-1"]);
  assert.equal(byte(c.serve("c2", { op: "queue-get", name: "q" })), 1);
  assert.deepEqual(log, ["want f-1", "c2 wants f-1", "release f-1"], "the taker holds the Future before the queue lets go");
  assert.equal(byte(c.serve("c2", { op: "queue-get", name: "q" })), 2);
  const waiting = c.serve("c2", { op: "queue-get", name: "q" });
  assert.ok(waiting instanceof Promise);
  void c.serve("c1", { op: "queue-put", name: "q", value: value(3), keys: [] });
  assert.equal(byte(await waiting), 3);
  assert.deepEqual(await c.serve("c2", { op: "queue-get", name: "q", timeoutMs: 10 }), { timeout: true });
  assert.deepEqual(c.serve("c2", { op: "queue-get", name: "q", timeoutMs: 0 }), { timeout: true });
});

test("leases: a lock is exclusive; a waiter gets it on release; a disconnected holder's lease is freed and its waits dropped", async (t) => {
  const { c } = harness(t);
  const acquire = (client: string, holder: string, timeoutMs?: number) =>
    c.serve(client, { op: "lease-acquire", kind: "lock", name: "L", holder, maxLeases: 1, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
  assert.deepEqual(acquire("c1", "a"), { ok: true });
  assert.deepEqual(await acquire("c2", "b", 10), { ok: false });
  let gone = false;
  void (acquire("c3", "dead") as Promise<unknown>).then(() => (gone = true));
  const next = acquire("c2", "b");
  c.clientGone("c3"); // its wait is dropped: never granted to nobody
  assert.deepEqual(c.serve("c9", { op: "lease-release", kind: "lock", name: "L", holder: "a" }), { ok: false }, "only the holder's client releases");
  c.clientGone("c1");
  assert.deepEqual(await next, { ok: true });
  assert.equal(gone, false);
  assert.equal(c.serve("c2", { op: "lease-count", kind: "lock", name: "L" }), 1);
  assert.deepEqual(c.serve("c2", { op: "lease-release", kind: "lock", name: "L", holder: "b" }), { ok: true });
  assert.equal(c.serve("c2", { op: "lease-count", kind: "lock", name: "L" }), 0);
});

test("leases: a semaphore grants maxLeases at once and refuses a different maxLeases for the same name", (t) => {
  const { c } = harness(t);
  const acquire = (holder: string, maxLeases = 2) => c.serve("c1", { op: "lease-acquire", kind: "semaphore", name: "S", holder, maxLeases, timeoutMs: 0 });
  assert.deepEqual(acquire("a"), { ok: true });
  assert.deepEqual(acquire("a"), { ok: true }, "one object may hold several leases");
  assert.deepEqual(acquire("b"), { ok: false });
  const refused = acquire("c", 3);
  assert.ok("error" in refused && /maxLeases 2/.test(refused.error.message));
});

test("events and variables: waits end on set, or false / timeout at their bound; a variable's Futures are held while it is the value", async (t) => {
  const { c, log } = harness(t);
  const waiting = c.serve("c1", { op: "event", name: "e", action: "wait" });
  assert.equal(c.serve("c1", { op: "event", name: "e", action: "is-set" }), false);
  void c.serve("c2", { op: "event", name: "e", action: "set" });
  assert.equal(await waiting, true);
  assert.equal(c.serve("c1", { op: "event", name: "e", action: "wait" }), true);
  void c.serve("c2", { op: "event", name: "e", action: "clear" });
  assert.equal(await c.serve("c1", { op: "event", name: "e", action: "wait", timeoutMs: 10 }), false);

  const get = c.serve("c1", { op: "variable-get", name: "v" });
  void c.serve("c2", { op: "variable-set", name: "v", value: value(7), keys: ["f-1"] });
  assert.equal(byte(await get), 7);
  void c.serve("c2", { op: "variable-set", name: "v", value: value(8), keys: ["f-2"] });
  void c.serve("c2", { op: "variable-delete", name: "v" });
  assert.deepEqual(log, ["want f-1", "c1 wants f-1", "want f-2", "release f-1", "release f-2"]);
  assert.deepEqual(await c.serve("c1", { op: "variable-get", name: "v", timeoutMs: 5 }), { timeout: true });
});
