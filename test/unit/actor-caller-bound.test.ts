// One caller's actor calls in flight to one actor are bounded (R-FLOW-2):
// past the bound, calls are returned at once and sent in order as earlier
// ones settle. A fake transport records what would travel.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ActorCaller } from "../../src/client/actor-caller.js";
import { ActorFuture } from "../../src/client/actor-future.js";
import { CallQueue } from "../../src/client/call-queue.js";
import { pendingCallLimits, type PendingCallLimits } from "../../src/client/options.js";
import type { ReplyHandler } from "../../src/comm/index.js";
import { Payload } from "../../src/protocol/payload.js";
import { ConfigError } from "../../src/errors.js";
import type { ActorCalls, ActorCall, Message } from "../../src/protocol/messages.js";
import { deserialize, serialize } from "../../src/serialize/index.js";

const meta = { key: "Echo-1", className: "Echo", workerAddress: "tcp://127.0.0.1:1", callAddress: "tcp://127.0.0.1:2", incarnation: 0, methods: ["echo"], attributes: [] };

interface Sent {
  args: unknown[];
  handler: ReplyHandler;
}

/** A caller whose transport records each call sent (grouped or alone), in the order sent. */
function harness(limits: PendingCallLimits, congested?: (address: string) => Promise<void> | undefined) {
  const sent: Sent[] = [];
  const record = (msg: Message, handlers: ReplyHandler[]) => {
    if (msg.op === "actor-calls") {
      const m = msg as ActorCalls;
      m.args.forEach((a, i) => sent.push({ args: a === 0 ? [] : (deserialize(a) as unknown[]), handler: handlers[i]! }));
    } else sent.push({ args: deserialize((msg as ActorCall).args as Payload) as unknown[], handler: handlers[0]! });
  };
  const caller = new ActorCaller(
    {
      call: (_address, msg, handler) => record(msg, [handler]),
      callGroup: (_address, msg, handlers) => record(msg, handlers),
      locate: async () => ({ ...meta }),
      decode: (p) => deserialize(p),
      decodeError: async (info) => new Error(info.message),
      connectTimeoutMs: 1000,
      direct: true,
      holds: () => true,
      congested,
    },
    limits,
  );
  const rec = caller.record(meta);
  /** Answer the sent call `i` with its first argument. */
  const answer = (i: number) => sent[i]!.handler.ok(serialize(sent[i]!.args[0] ?? null).payload);
  return { caller, rec, sent, answer };
}

const turn = () => new Promise((r) => setImmediate(r));

describe("actor calls in flight are bounded", () => {
  test("actor caller - calls past maxPendingCalls are returned at once, wait, and leave in call order as replies arrive", async () => {
    const { caller, rec, sent, answer } = harness({ calls: 3, bytes: Infinity });
    const futures = Array.from({ length: 10 }, (_, i) => caller.call<number>(rec, "call", "echo", [i]));
    await turn();
    assert.deepEqual(sent.map((s) => s.args[0]), [0, 1, 2], "three in flight; seven wait");
    assert.ok(futures.every((f) => !f.done()));
    answer(0);
    await turn();
    assert.deepEqual(sent.map((s) => s.args[0]), [0, 1, 2, 3], "one answered: one more leaves");
    answer(2); // replies in any order each free a place
    answer(1);
    await turn();
    assert.deepEqual(sent.map((s) => s.args[0]), [0, 1, 2, 3, 4, 5]);
    for (let i = 3; i < 10; i++) {
      answer(i);
      await turn();
      const unanswered = sent.length - (i + 1);
      assert.ok(unanswered <= 3, `${unanswered} calls in flight, past the bound of 3`);
    }
    assert.deepEqual(sent.map((s) => s.args[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "every call sent once, in call order");
    assert.deepEqual(await Promise.all(futures), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("actor caller - at the bound, waiting calls leave in batches once a quarter of the calls in flight are answered, not one per reply", async () => {
    const { caller, rec, sent, answer } = harness({ calls: 8, bytes: Infinity });
    const futures = Array.from({ length: 20 }, (_, i) => caller.call<number>(rec, "call", "echo", [i]));
    await turn();
    assert.equal(sent.length, 8);
    answer(0);
    await turn();
    assert.equal(sent.length, 8, "7 in flight: still waiting");
    answer(1);
    await turn();
    assert.equal(sent.length, 10, "6 in flight: two leave together, up to the bound");
    for (let i = 2; i < 20; i++) {
      answer(i);
      await turn();
    }
    assert.deepEqual(await Promise.all(futures), Array.from({ length: 20 }, (_, i) => i));
  });

  test("actor caller - the bytes of arguments in flight are bounded too; a call larger than the bound still leaves on its own", async () => {
    const { caller, rec, sent, answer } = harness({ calls: 100, bytes: 25_000 });
    const kib10 = new Uint8Array(10_240);
    const small = [1, 2, 3, 4].map(() => caller.call(rec, "call", "echo", [kib10]));
    await turn();
    assert.equal(sent.length, 3, "0, 10 and 20 KiB in flight are below 25,000 bytes; 30 KiB is not");
    answer(0);
    await turn();
    assert.equal(sent.length, 3, "20 KiB in flight: above three quarters of the bound, nothing leaves yet");
    answer(1);
    await turn();
    assert.equal(sent.length, 4);
    for (const i of [2, 3]) answer(i);
    await Promise.all(small);
    const huge = caller.call(rec, "call", "echo", [new Uint8Array(100_000)]);
    const after = caller.call(rec, "call", "echo", [1]);
    await turn();
    assert.equal(sent.length, 5, "nothing in flight: the large call leaves; the next waits for it");
    answer(4);
    await huge;
    await turn();
    assert.equal(sent.length, 6);
    answer(5);
    assert.equal(await after, 1);
  });

  test("actor caller - a call waiting for an ActorFuture argument and the bound keeps its place in line", async () => {
    const { caller, rec, sent, answer } = harness({ calls: 2, bytes: Infinity });
    const arg = new ActorFuture<number>("Other", "slow");
    const a = caller.call(rec, "call", "echo", ["a"]);
    const b = caller.call(rec, "call", "echo", [arg]);
    const c = caller.call(rec, "call", "echo", ["c"]);
    await turn();
    assert.deepEqual(sent.map((s) => s.args[0]), ["a"], "b waits for its argument, c behind it");
    arg._resolve(7);
    await turn();
    assert.deepEqual(sent.map((s) => s.args[0]), ["a", 7], "two in flight: c waits for the bound");
    answer(0);
    await turn();
    assert.deepEqual(sent.map((s) => s.args[0]), ["a", 7, "c"]);
    answer(1);
    answer(2);
    assert.deepEqual(await Promise.all([a, b, c]), ["a", 7, "c"]);
  });

  test("actor caller - waiting calls hold their arguments unencoded: one buffer passed to 20,000 calls is not copied for each", async () => {
    const { caller, rec, sent, answer } = harness({ calls: 10, bytes: Infinity });
    const kib10 = new Uint8Array(10_240).fill(7);
    const before = process.memoryUsage().arrayBuffers;
    const futures = Array.from({ length: 20_000 }, () => caller.call(rec, "call", "echo", [kib10]));
    await turn();
    const grown = process.memoryUsage().arrayBuffers - before;
    // Encoded at call time, they would hold 20,000 × 10 KiB = 200 MiB.
    assert.ok(grown < 20 * 2 ** 20, `waiting calls hold ${(grown / 2 ** 20).toFixed(1)} MiB of buffers`);
    assert.equal(sent.length, 10);
    for (let answered = 0; answered < 20_000; await turn()) {
      for (const upTo = sent.length; answered < upTo; answered++) answer(answered);
    }
    assert.equal((await Promise.all(futures)).length, 20_000);
  });
});

describe("actor calls and a full connection", () => {
  test("actor caller - while the connection to the actor is full, calls wait unsent, and leave in call order once it has room", async () => {
    let room: (() => void) | undefined;
    let full = false;
    const asked: string[] = [];
    const { caller, rec, sent, answer } = harness({ calls: 100, bytes: Infinity }, (address) => {
      asked.push(address);
      if (!full) return undefined;
      return new Promise<void>((resolve) => (room = resolve));
    });
    const first = Array.from({ length: 3 }, (_, i) => caller.call<number>(rec, "call", "echo", [i]));
    await turn();
    assert.equal(sent.length, 3);
    assert.equal(asked.at(-1), meta.callAddress, "the connection asked about is the actor thread's");
    full = true;
    const rest = Array.from({ length: 5 }, (_, i) => caller.call<number>(rec, "call", "echo", [3 + i]));
    await turn();
    assert.equal(sent.length, 3, "nothing more leaves while the connection is full");
    assert.ok(room, "the caller waits for room");
    full = false;
    room!();
    await turn();
    assert.deepEqual(sent.map((c) => c.args[0]), [0, 1, 2, 3, 4, 5, 6, 7], "then all leave, in call order");
    for (let i = 0; i < 8; i++) answer(i);
    assert.deepEqual(await Promise.all([...first, ...rest]), [0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe("actor calls sent again", () => {
  test("actor caller - a call sent again after its actor moved carries its arguments again, though it no longer holds them encoded", async () => {
    const { caller, rec, sent, answer } = harness({ calls: 10, bytes: Infinity });
    const data = { text: "x".repeat(20_000), n: 42 };
    const call = caller.call(rec, "call", "echo", [data, 7]);
    const other = caller.call(rec, "call", "echo", [1]);
    await turn();
    assert.equal(sent.length, 2);
    sent[0]!.handler.ok({ ok: false, missing: true, error: { name: "ActorLostError", message: "not here", stack: "" } });
    for (let i = 0; i < 200 && sent.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(sent.length, 3, "the call was sent again");
    assert.deepEqual(sent[2]!.args, [data, 7]);
    answer(2);
    answer(1);
    assert.deepEqual(await call, data);
    assert.equal(await other, 1);
  });
});

describe("maxPendingCalls", () => {
  test("client options - maxPendingCalls takes a count or { calls, bytes }; anything else is a ConfigError naming it", () => {
    assert.deepEqual(pendingCallLimits(undefined), { calls: 10_000, bytes: 64 * 2 ** 20 });
    assert.deepEqual(pendingCallLimits(50), { calls: 50, bytes: 64 * 2 ** 20 });
    assert.deepEqual(pendingCallLimits({ bytes: 1024 }), { calls: 10_000, bytes: 1024 });
    assert.deepEqual(pendingCallLimits({ calls: Infinity, bytes: Infinity }), { calls: Infinity, bytes: Infinity });
    for (const bad of [0, -1, 1.5, NaN, { calls: 0 }, { bytes: "1MiB" }, { count: 5 }, "10", null]) {
      assert.throws(() => pendingCallLimits(bad as never), (e) => e instanceof ConfigError && /maxPendingCalls/.test(e.message), String(bad));
    }
  });

  test("call queue - keeps order through many pushes and shifts, interleaved", () => {
    const q = new CallQueue<number>();
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 3000; i++) q.push(next++);
      for (let i = 0; i < 2000 + (round % 3) * 500; i++) assert.equal(q.shift(), expected++);
    }
    while (q.length > 0) assert.equal(q.shift(), expected++);
    assert.equal(expected, next);
    assert.equal(q.shift(), undefined);
    assert.equal(q.peek(), undefined);
  });
});
