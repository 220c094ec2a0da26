import assert from "node:assert/strict";
import { test } from "node:test";
import { BatchDecoder } from "../../src/comm/frames.js";
import { Payload } from "../../src/protocol/payload.js";
import { accepting, messageSchema } from "../../src/protocol/schemas.js";

const P = new Payload([new Uint8Array([1, 2])]);

test("schemas - each side takes only its own messages", () => {
  const worker = accepting("worker");
  assert.equal(worker.message({ op: "get-data", keys: ["a"] } as never, false), undefined);
  assert.match(worker.message({ op: "update-graph", tasks: [], wanted: [] } as never, false)!, /not a message this side takes/);
  assert.match(accepting("caller").message({ op: "key-state", key: "a", status: "finished" } as never, false)!, /not a message/);
  assert.match(accepting("actor-endpoint").message({ op: "actor-call", key: "a", kind: "call", name: "m", args: P } as never, true)!, /cannot stand for a request group/);
});

test("schemas - fields are checked with their types and bounds, and say where", () => {
  const s = accepting("scheduler-from-client");
  assert.equal(s.message({ op: "choose-workers", count: 3 } as never, false), undefined);
  assert.match(s.message({ op: "choose-workers", count: 1e8 } as never, false)!, /\.count: expected an integer from 0 to 1048576/);
  assert.match(s.message({ op: "who-has", keys: ["a", 7] } as never, false)!, /\.keys: \[1\]: expected a string/);
  assert.match(s.message({ op: "want-keys", keys: ["x".repeat(5000)] } as never, false)!, /longer than 4096/);
  const w = accepting("scheduler-from-worker");
  assert.match(w.message({ op: "tasks-finished", keys: ["a", "b"], nbytes: [1], durationMs: [1, 2] } as never, false)!, /"nbytes" has 1 entries/);
  assert.match(w.message({ op: "heartbeat", memoryBytes: -1, actors: {} } as never, false)!, /\.memoryBytes: expected a number ≥ 0/);
});

test("schemas - replies are checked by the op of their request", () => {
  const c = accepting("caller");
  assert.equal(c.reply("get-data", { values: [P, new Uint8Array(1), null] }), undefined);
  assert.match(c.reply("get-data", { values: [42] })!, /a malformed reply to "get-data"/);
  assert.equal(c.reply("actor-call", P), undefined);
  assert.equal(c.reply("actor-call", { ok: false, error: { name: "E", message: "m", stack: "" }, missing: true }), undefined);
  assert.match(c.reply("actor-call", { ok: true })!, /malformed reply/);
  assert.equal(c.reply("put-data", null), undefined);
});

test("schemas - every message op has a schema", () => {
  for (const op of ["update-graph", "compute-tasks", "actor-calls", "register-worker", "key-state", "steal-request"] as const) assert.ok(messageSchema(op), op);
});

test("payloads - instanceof and out-of-band frames hold across two copies of troupe in one thread", async () => {
  const dist = (await import(new URL("../../dist/protocol/payload.js", import.meta.url).href)) as typeof import("../../src/protocol/payload.js");
  const distFrames = (await import(new URL("../../dist/comm/frames.js", import.meta.url).href)) as typeof import("../../src/comm/frames.js");
  assert.notEqual(dist.Payload, Payload, "two copies are loaded");
  const theirs = new dist.Payload([new Uint8Array(1)]);
  assert.ok(theirs instanceof Payload);
  assert.ok(P instanceof dist.Payload);
  assert.ok(!({ parts: [] } instanceof Payload));
  // A large part travels out of band: encoded by one copy, decoded by the other.
  const big = new Uint8Array(100_000).fill(7);
  const chunks = distFrames.encodeBatch([{ op: "put-data", data: { a: new dist.Payload([big]) }, report: false }]);
  const d = new BatchDecoder();
  for (const c of chunks) d.push(c);
  const [msg] = d.next()! as Array<{ data: { a: Payload } }>;
  assert.ok(msg!.data.a instanceof Payload);
  assert.equal(msg!.data.a.parts[0]!.byteLength, 100_000);
  assert.equal(msg!.data.a.parts[0]![99_999], 7);
});
