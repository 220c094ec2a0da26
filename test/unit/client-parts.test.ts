// Client-side pieces that need no cluster: key bookkeeping, graph collection,
// option checking, waiting.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { flatKey, randomKey } from "../../src/client/keygen.js";
import { ActorCaller, type ActorLocation } from "../../src/client/actor-caller.js";
import { ActorFuture } from "../../src/client/actor-future.js";
import { collectGraph, delayed } from "../../src/client/delayed.js";
import { KeyTable } from "../../src/client/keys.js";
import { checkSubmitOptions } from "../../src/client/options.js";
import { SETTLED } from "../../src/client/settle.js";
import { asCompleted, wait } from "../../src/client/wait.js";
import { encodeBatch, MAX_FRAME_BYTES, MAX_HEADER_BYTES, type ReplyHandler } from "../../src/comm/index.js";
import { Payload } from "../../src/protocol/payload.js";
import { graphParts } from "../../src/client/graph-parts.js";
import { ActorLostError, ConfigError, ProtocolError, TimeoutError } from "../../src/errors.js";
import type { ActorCalls, Message, TaskSpec } from "../../src/protocol/messages.js";
import { deserialize, serialize } from "../../src/serialize/index.js";
import { ReadyQueue } from "../../src/worker/ready-queue.js";

const inc = (x: number) => x + 1;
const add = (a: number, b: number) => a + b;

describe("KeyTable", () => {
  test("counts references and forgets a key with its last one", () => {
    const t = new KeyTable();
    assert.equal(t.ref("k"), true);
    assert.equal(t.ref("k"), false);
    assert.equal(t.unref("k"), false);
    assert.equal(t.unref("k"), true);
    assert.equal(t.get("k"), undefined);
  });

  test("settles on a final state and waits again when a key goes back to pending", async () => {
    const t = new KeyTable();
    t.ref("k");
    const first = t.get("k")!.settled;
    t.update("k", "finished", { workers: ["tcp://a:1"] });
    await first;
    t.update("k", "pending", {});
    const rec = t.get("k")!;
    assert.equal(rec.status, "pending");
    let settled = false;
    void rec.settled.then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false);
    t.update("k", "finished", { workers: ["tcp://b:1"] });
    await rec.settled;
    assert.deepEqual(rec.workers, ["tcp://b:1"]);
  });

  test("failPending settles every pending key with the local error", async () => {
    const t = new KeyTable();
    t.ref("a");
    t.ref("b");
    t.update("b", "finished", {});
    t.failPending(new Error("gone"));
    await t.get("a")!.settled;
    assert.equal(t.get("a")!.status, "lost");
    assert.equal(t.get("a")!.localError?.message, "gone");
    assert.equal(t.get("b")!.status, "finished");
  });
});

describe("delayed graphs", () => {
  test("collects dependencies first, nested anywhere, each node once", () => {
    const a = delayed(inc)(1);
    const b = delayed(inc)(a);
    const c = delayed(add)(a as never, { nested: [b], m: new Map([["k", b]]) } as never);
    const order = collectGraph([c]);
    assert.equal(order.length, 3);
    assert.equal(order.at(-1), c);
    assert.ok(order.indexOf(a) < order.indexOf(b));
  });

  test("a chain of 20,000 nodes does not overflow the stack", () => {
    let node = delayed(inc)(0);
    for (let i = 0; i < 20_000; i++) node = delayed(inc)(node);
    assert.equal(collectGraph([node]).length, 20_001);
  });

  test("rejects what is not a function", () => {
    assert.throws(() => delayed(42 as never), ConfigError);
  });
});

describe("graph parts", () => {
  const spec = (i: number, argBytes = 4): TaskSpec => ({
    key: `t-${i}`,
    fn: { kind: "source", source: "(x) => x", name: "f", isClass: false },
    args: new Payload([new Uint8Array(argBytes)]),
    deps: i > 0 ? [`t-${i - 1}`] : [],
    options: {},
    group: "f",
  });

  test("a small graph is one message", () => {
    const tasks = [spec(0), spec(1)];
    assert.deepEqual(graphParts(tasks, ["t-1"]), [{ op: "update-graph", tasks, wanted: ["t-1"] }]);
  });

  test("a large graph is split in order, every part but the last says more, and each part encodes", () => {
    const tasks = Array.from({ length: 25_000 }, (_, i) => spec(i));
    const wanted = tasks.map((t) => t.key);
    const parts = graphParts(tasks, wanted);
    assert.ok(parts.length >= 3, `${parts.length} parts`);
    assert.deepEqual(parts.map((p) => p.more === true), parts.map((_, i) => i < parts.length - 1));
    assert.deepEqual(parts.flatMap((p) => p.tasks), tasks);
    assert.deepEqual(parts.flatMap((p) => p.wanted), wanted);
    for (const p of parts) assert.doesNotThrow(() => encodeBatch([p]));
  });

  test("arguments inside the header bound a part by bytes, not only by count", () => {
    // 2,000 specs of 60 KiB (below the out-of-band threshold) are ~120 MiB of header: more than one message may hold.
    const tasks = Array.from({ length: 2000 }, (_, i) => spec(i, 60 * 1024));
    const parts = graphParts(tasks, ["t-1999"]);
    assert.ok(parts.length > 2, `${parts.length} parts`);
    for (const p of parts) assert.ok(encodeBatch([p])[0]!.byteLength < MAX_HEADER_BYTES);
    assert.deepEqual(parts.flatMap((p) => p.wanted), ["t-1999"]);
  });
});

describe("submit options", () => {
  test("accepts the documented options", () => {
    checkSubmitOptions({ key: "k", pure: true, workers: ["tcp://a:1"], allowOtherWorkers: true, resources: { GPU: 1 }, retries: 2, priority: -1, actor: false, allowReconstruction: true, restarts: 1 }, "submit");
  });

  test("names a misspelt or mistyped option", () => {
    assert.throws(() => checkSubmitOptions({ retry: 1 } as never, "submit"), /unknown option "retry"/);
    assert.throws(() => checkSubmitOptions({ retries: -1 }, "submit"), /retries must be a non-negative integer/);
    assert.throws(() => checkSubmitOptions({ resources: { GPU: "1" } } as never, "submit"), /resources/);
    assert.throws(() => checkSubmitOptions({ workers: 3 } as never, "submit"), /workers/);
  });
});

class Fake {
  #done = false;
  #promise: Promise<void>;
  finish!: () => void;
  constructor() {
    this.#promise = new Promise((r) => (this.finish = () => { this.#done = true; r(); }));
  }
  [SETTLED]() { return this.#promise; }
  done() { return this.#done; }
  get status() { return this.#done ? "finished" : "pending"; }
  async result() { await this.#promise; return "v"; }
}

describe("wait and asCompleted", () => {
  test("FIRST_COMPLETED returns as soon as one finishes", async () => {
    const a = new Fake();
    const b = new Fake();
    setTimeout(() => a.finish(), 5);
    const { done, notDone } = await wait([a, b], { returnWhen: "FIRST_COMPLETED" });
    assert.deepEqual([...done], [a]);
    assert.deepEqual([...notDone], [b]);
  });

  test("a timeout rejects with TimeoutError", async () => {
    await assert.rejects(wait([new Fake()], { timeout: 10 }), TimeoutError);
  });

  test("asCompleted yields in completion order, with results on request", async () => {
    const a = new Fake();
    const b = new Fake();
    setTimeout(() => b.finish(), 5);
    setTimeout(() => a.finish(), 15);
    const seen = [];
    for await (const [f, v] of asCompleted([a, b], { withResults: true })) seen.push([f === a ? "a" : "b", v]);
    assert.deepEqual(seen, [["b", "v"], ["a", "v"]]);
  });
});

describe("ReadyQueue", () => {
  test("higher priority first, then arrival order", () => {
    const q = new ReadyQueue<string>();
    q.push("a", 0);
    q.push("b", 5);
    q.push("c", 0);
    q.push("d", 5);
    q.push("e", -1);
    const out = [];
    while (q.size) out.push(q.pop());
    assert.deepEqual(out, ["b", "d", "a", "c", "e"]);
  });
});

describe("progress", () => {
  test("draws a bar on a terminal and finishes when every future has", async () => {
    const { progress } = await import("../../src/client/progress.js");
    const { PassThrough } = await import("node:stream");
    const out = Object.assign(new PassThrough(), { isTTY: true, columns: 80, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
    let text = "";
    out.on("data", (d: Buffer) => (text += d.toString()));
    const a = new Fake();
    const b = new Fake();
    setTimeout(() => a.finish(), 5);
    setTimeout(() => b.finish(), 10);
    await progress([a, b], { stream: out as unknown as NodeJS.WriteStream, label: "work" });
    assert.match(text, /work \[.*\] 2\/2 100%/);
  });

  test("writes plain lines, no bar or control codes, when the stream is not a terminal", async () => {
    const { progress } = await import("../../src/client/progress.js");
    const { PassThrough } = await import("node:stream");
    const out = new PassThrough();
    let text = "";
    out.on("data", (d: Buffer) => (text += d.toString()));
    const a = new Fake();
    a.finish();
    await progress([a], { stream: out as unknown as NodeJS.WriteStream });
    assert.match(text, /^1\/1 done \(100%\), \d+s elapsed\n$/);
  });
});

describe("ActorFuture", () => {
  test("settles once; a failure nobody awaited never becomes an unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on("unhandledRejection", onUnhandled);
    try {
      const f = new ActorFuture<number>("Counter", "increment");
      f._reject(new RangeError("boom"));
      f._resolve(1); // too late: the first outcome stands
      assert.equal(f.done(), true);
      await assert.rejects(f.result(), RangeError);
      new ActorFuture("Counter", "never awaited")._reject(new Error("ignored"));
      // A bad timeout is refused before the outcome is looked at; the failure itself stays unobserved.
      const g = new ActorFuture("Counter", "fail");
      g._reject(new Error("unobserved"));
      await assert.rejects(g.result(-1), ConfigError);
      await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  test("resolves every awaiter with the same value, and later awaiters too", async () => {
    const f = new ActorFuture<number>("Counter", "increment");
    const early = f.then((v) => v * 2);
    f._resolve(21);
    assert.equal(await early, 42);
    assert.equal(await f, 21);
    assert.equal(String(f), "<ActorFuture: status=finished, call=Counter.increment>");
  });
});

describe("ActorCaller", () => {
  const meta = { key: "Counter-1", className: "Counter", workerAddress: "tcp://127.0.0.1:1", callAddress: "tcp://127.0.0.1:2", incarnation: 0, methods: ["increment", "add"], attributes: ["n"] };

  /** A caller whose transport records what is sent; nothing travels. */
  function harness(locate: () => Promise<ActorLocation> = async () => ({ ...meta })) {
    const held = new Set<string>();
    const singles: Array<{ msg: Message; handler: ReplyHandler }> = [];
    const groups: Array<{ msg: Message; handlers: ReplyHandler[] }> = [];
    const caller = new ActorCaller({
      call: (_address, msg, handler) => void singles.push({ msg, handler }),
      callGroup: (_address, msg, handlers) => void groups.push({ msg, handlers }),
      locate,
      decode: (p) => deserialize(p),
      decodeError: async (info) => new Error(info.message),
      connectTimeoutMs: 1000,
      direct: true,
      holds: (key) => held.has(key),
    });
    return { caller, rec: caller.record(meta), singles, groups, held };
  }

  test("calls of one turn leave as one group, in call order; a call alone leaves on its own", async () => {
    const { caller, rec, singles, groups } = harness();
    const futures = [caller.call(rec, "call", "increment", []), caller.call(rec, "get", "n", []), caller.call(rec, "call", "add", [5])];
    assert.equal(groups.length, 0, "a group leaves at the end of the turn");
    await Promise.resolve();
    assert.equal(groups.length, 1);
    const msg = groups[0]!.msg as ActorCalls;
    assert.deepEqual([msg.op, msg.key, msg.names, msg.gets], ["actor-calls", "Counter-1", ["increment", "n", "add"], [1]]);
    assert.equal(msg.args[0], 0);
    assert.deepEqual(deserialize(msg.args[2] as Payload), [5]);
    // Each call is answered on its own, in any order.
    groups[0]!.handlers[2]!.ok(serialize(6).payload);
    groups[0]!.handlers[0]!.ok(serialize(1).payload);
    groups[0]!.handlers[1]!.ok(serialize(1).payload);
    assert.deepEqual(await Promise.all(futures), [1, 1, 6]);
    const alone = caller.call(rec, "call", "increment", []);
    await Promise.resolve();
    assert.equal(singles.length, 1);
    assert.equal(singles[0]!.msg.op, "actor-call");
    singles[0]!.handler.ok(serialize(2).payload);
    assert.equal(await alone, 2);
  });

  test("a reply that is neither a value nor an error, or a refused call, fails that call at once", async () => {
    const { caller, rec, singles } = harness();
    const odd = caller.call(rec, "call", "increment", []);
    await Promise.resolve();
    singles[0]!.handler.ok(null);
    await assert.rejects(odd.result(), ProtocolError);
    const refused = caller.call(rec, "call", "increment", []);
    await Promise.resolve();
    singles[1]!.handler.fail(new ProtocolError("an actor thread serves only actor calls"));
    await assert.rejects(refused.result(), ProtocolError);
    assert.equal(singles.length, 2, "neither was sent again");
  });

  test("a call whose argument cannot travel fails alone and does not join the group", async () => {
    const { caller, rec, groups, singles } = harness();
    const huge = new Uint8Array(MAX_FRAME_BYTES + 1); // never touched: the pages are not really allocated
    const ok1 = caller.call(rec, "call", "increment", []);
    const bad = caller.call(rec, "call", "add", [huge]);
    const ok2 = caller.call(rec, "call", "increment", []);
    await assert.rejects(bad.result(), /frame limit/);
    await Promise.resolve();
    assert.equal(groups.length, 1);
    assert.deepEqual((groups[0]!.msg as ActorCalls).names, ["increment", "increment"]);
    groups[0]!.handlers.forEach((h, i) => h.ok(serialize(i + 1).payload));
    assert.deepEqual(await Promise.all([ok1, ok2]), [1, 2]);
    assert.equal(singles.length, 0);
  });

  test("with many calls unanswered for long, the caller asks where the actor is, and fails them all when it is lost", async () => {
    let asked = 0;
    const { caller, rec, groups } = harness(async () => {
      asked++;
      return { error: { name: "ActorLostError", message: "Worker holding Actor was lost", stack: "" } };
    });
    const n = 300_000; // far more than a function call can take as arguments
    const futures = Array.from({ length: n }, () => caller.call(rec, "call", "increment", []));
    await Promise.resolve();
    assert.equal(groups.reduce((s, g) => s + g.handlers.length, 0), 10_000, "the default bound on calls in flight; the rest wait");
    let done = false;
    const all = Promise.allSettled(futures).finally(() => (done = true));
    // The caller's watch timer does not keep a process alive: wait here, with a bound.
    for (let i = 0; i < 200 && !done; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(done, "the calls were still waiting after 10 s");
    const settled = await all;
    assert.ok(asked >= 1);
    assert.ok(settled.every((o) => o.status === "rejected" && o.reason instanceof ActorLostError), "every call failed as lost, sent or waiting");
    // A reply arriving after the loss changes nothing.
    groups[0]!.handlers[0]!.ok(serialize(1).payload);
    await assert.rejects(futures[0]!.result(), ActorLostError);
  });
});

describe("ActorCaller: lifetime", () => {
  const metaOf = (key: string) => ({ key, className: "Counter", workerAddress: "tcp://127.0.0.1:1", callAddress: "tcp://127.0.0.1:2", incarnation: 0, methods: ["increment", "add", "nap"], attributes: ["n"] });

  function harness(locate: () => Promise<ActorLocation> = async () => ({ ...metaOf("Counter-1") })) {
    const held = new Set<string>();
    const sent: ReplyHandler[] = [];
    const caller = new ActorCaller({
      call: (_address, _msg, handler) => void sent.push(handler),
      callGroup: (_address, _msg, handlers) => void sent.push(...handlers),
      locate,
      decode: (p) => deserialize(p),
      decodeError: async (info) => new ActorLostError(info.message),
      connectTimeoutMs: 1000,
      direct: true,
      holds: (key) => held.has(key),
    });
    return { caller, held, sent };
  }

  const turn = () => new Promise((r) => setImmediate(r));
  async function until(check: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(check(), `timed out waiting for ${what}`);
  }

  test("actor caller - a release waits for every call made before it: queued behind an argument, grouped, sent, relocated", async () => {
    const { caller, held, sent } = harness();
    held.add("Counter-1");
    const rec = caller.record(metaOf("Counter-1"));
    const arg = new ActorFuture<number>("Other", "slow");
    const answered = caller.call(rec, "call", "increment", []);
    await turn();
    const relocated = caller.call(rec, "call", "increment", []);
    await turn();
    const queued = caller.call(rec, "call", "add", [arg]); // waits for its argument
    const grouped = caller.call(rec, "call", "increment", []); // behind it, in call order
    held.delete("Counter-1");
    let released = false;
    const release = caller.release("Counter-1");
    assert.ok(release, "calls are outstanding: the release waits");
    void release.then(() => (released = true));
    sent[0]!.ok(serialize(1).payload);
    sent[1]!.ok({ ok: false, missing: true, error: { name: "ActorLostError", message: "not here", stack: "" } });
    assert.equal(await answered, 1);
    assert.equal(released, false, "a call being relocated is still outstanding");
    await until(() => sent.length === 3, "the relocated call to be sent again");
    sent[2]!.ok(serialize(2).payload); // the relocated call, sent again
    assert.equal(await relocated, 2);
    assert.equal(released, false, "calls queued behind an argument are still outstanding");
    arg._resolve(5);
    await until(() => sent.length === 5, "the queued calls to be sent");
    sent[3]!.ok(serialize(7).payload);
    await turn();
    assert.equal(released, false, "the last call is still outstanding");
    assert.equal(caller.size, 1);
    sent[4]!.ok(serialize(8).payload);
    assert.deepEqual(await Promise.all([queued, grouped]), [7, 8]);
    await turn();
    assert.equal(released, true);
    assert.equal(caller.size, 0, "the record went with the last call");
  });

  test("actor caller - a held actor reported lost fails calls through later handles at once; its record goes with the release", async () => {
    const { caller, held, sent } = harness();
    held.add("Counter-1");
    caller.update(metaOf("Counter-1"));
    caller.markLost("Counter-1", new ActorLostError("Worker holding Actor was lost"));
    const call = caller.call(caller.record(metaOf("Counter-1")), "call", "increment", []);
    await assert.rejects(call.result(1000), /was lost/);
    await turn();
    assert.equal(sent.length, 0, "nothing was sent to the lost worker");
    held.delete("Counter-1");
    assert.equal(caller.release("Counter-1"), undefined);
    assert.equal(caller.size, 0);
  });

  test("actor caller - records are kept while the actor is held or called: 2,000 actors called and released leave none", async () => {
    const { caller, held, sent } = harness();
    const n = 2000;
    const recs = Array.from({ length: n }, (_, i) => caller.record(metaOf(`Counter-${i}`)));
    assert.equal(caller.size, 0, "a handle never called costs the caller nothing");
    for (let i = 0; i < n; i++) held.add(`Counter-${i}`);
    const calls = recs.map((rec) => caller.call(rec, "call", "increment", []));
    await turn();
    assert.equal(caller.size, n);
    for (const h of sent) h.ok(serialize(1).payload);
    await Promise.all(calls);
    assert.equal(caller.size, n, "held actors keep their records");
    for (let i = 0; i < n; i++) {
      held.delete(`Counter-${i}`);
      assert.equal(caller.release(`Counter-${i}`), undefined, "no call outstanding: released at once");
    }
    assert.equal(caller.size, 0);
    // Weak handles (never held): a call lists the record again, and it goes once answered.
    const weak = caller.call(recs[0]!, "call", "increment", []);
    await turn();
    assert.equal(caller.size, 1);
    sent[n]!.ok(serialize(2).payload);
    assert.equal(await weak, 2);
    assert.equal(caller.size, 0);
  });
});

test("task keys: <name>-<16 hex digits>, unique, for any function name", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const k = randomKey("noop");
    assert.match(k, /^noop-[0-9a-f]{16}$/);
    seen.add(k);
  }
  assert.equal(seen.size, 5000);
  assert.match(randomKey(""), /^lambda-[0-9a-f]{16}$/);
  assert.match(randomKey("café"), /^café-[0-9a-f]{16}$/);
  assert.match(randomKey("λ"), /^λ-[0-9a-f]{16}$/, "a name beyond one byte per character still works");
  assert.match(randomKey("x".repeat(2000)), new RegExp(`^x{2000}-[0-9a-f]{16}$`));
  assert.equal(flatKey("sum-12"), "sum-12");
  assert.equal(flatKey("日本-3"), "日本-3");
});

test("allSettled waits for every pending key (a forgotten one counts as settled), at once when none is pending", async () => {
  const t = new KeyTable();
  for (const k of ["a", "b", "c"]) t.ref(k);
  t.update("c", "finished", { workers: ["w"] });
  let done = false;
  const all = t.allSettled(["a", "b", "c", "unknown"]).then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  t.update("a", "error", {});
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false, "b is still pending");
  t.forget("b");
  await all;
  assert.equal(done, true);
  let immediate = false;
  await t.allSettled(["a", "c"]).then(() => (immediate = true));
  assert.equal(immediate, true);
});
