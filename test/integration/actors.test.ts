// Actors over real worker processes (SPEC §5, R-ACT-1..13).

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import {
  ActorFuture,
  ActorLostError,
  Client,
  ConfigError,
  Future,
  TimeoutError,
  actorInfo,
  asCompleted,
  delayed,
  wait,
  type Actor,
} from "../../src/index.js";
import { bumpCounter, Counter, Exploding, readCounter, Recorder, Relay, Waiter } from "../fixtures/actors.js";
import {
  bumpNested,
  busyFromTask,
  describeHandle,
  Faulty,
  FileDisposable,
  Overlap,
  Probe,
  readAfter,
  Slow,
  taskPlace,
} from "../fixtures/actors-extra.js";
import { add, identity, ValidationError } from "../fixtures/tasks.js";
import { useCluster, waitFor } from "../helpers/cluster.js";
import { forceGc } from "../helpers/gc.js";

/** Every test is bounded: a hang fails that test instead of the whole file. */
const T = { timeout: 30_000 };

type ActorStatsSeen = Awaited<ReturnType<Client["schedulerInfo"]>>["workers"][string]["actors"][string];

const HANDLE_TEXT = /^<Actor: Counter, key=Counter-[0-9a-f]+>$/;

async function newCounter(client: Client): Promise<Actor<Counter>> {
  return client.submit(Counter, [], { actor: true });
}

/** The actors a worker reports in schedulerInfo(), by key (heartbeats refresh it every second). */
async function actorsOn(client: Client): Promise<Map<string, { worker: string; calls: number; className: string }>> {
  const info = await client.schedulerInfo();
  const out = new Map<string, { worker: string; calls: number; className: string }>();
  for (const [worker, w] of Object.entries(info.workers)) {
    for (const [key, a] of Object.entries(w.actors)) out.set(key, { worker, calls: a.calls, className: a.className });
  }
  return out;
}

describe("actors: creation, handles and calls", () => {
  const h = useCluster({ workers: 2 });

  // ------------------------------------------------------------ creation (R-ACT-1)

  it("submit(Class, args, { actor: true }) resolves to a live handle", T, async () => {
    const future = h.client.submit(Counter, [], { actor: true });
    assert.ok(future instanceof Future);
    const counter = await future;
    assert.equal(await counter.increment(), 1);
    assert.equal(await counter.add(10).result(), 11);
    assert.equal(await counter.n, 11);
    assert.equal(actorInfo(counter).key, future.key);
    assert.equal(future.status, "finished");
  });

  it("map(Class, argsList, { actors: true }) makes one actor per element", T, async () => {
    const futures = h.client.map(Counter, [[], [], []], { actors: true });
    assert.equal(futures.length, 3);
    const handles = await h.client.gather(futures);
    const keys = new Set(handles.map((c) => actorInfo(c).key));
    assert.equal(keys.size, 3);
    // Each is its own instance: state is not shared.
    await handles[0]!.add(5);
    assert.deepEqual(await Promise.all(handles.map((c) => c.n)), [5, 0, 0]);
  });

  it("compute(delayed(Class)(), { actors }) makes an actor that tasks of the graph receive", T, async () => {
    const counter = delayed(Counter)();
    const parts = [1, 2, 3, 4].map((i) => delayed(bumpCounter)(counter, i));
    const total = delayed(readAfter)(counter, parts);
    const future = h.client.compute(total, { actors: counter });
    assert.deepEqual(await future, { n: 10, parts: 4 });
    // The actor node itself can be computed to a handle.
    const c2 = delayed(Counter)();
    const handle = await h.client.compute(c2, { actors: c2 });
    assert.match(String(handle), HANDLE_TEXT);
    assert.equal(await (handle as unknown as Actor<Counter>).increment(), 1);
  });

  it("actor keys are never pure: each submit makes a new actor", T, async () => {
    const a = h.client.submit(Counter, [], { actor: true, pure: true });
    const b = h.client.submit(Counter, [], { actor: true, pure: true });
    assert.notEqual(a.key, b.key);
    const [ca, cb] = await h.client.gather([a, b]);
    await ca.increment();
    assert.equal(await cb.n, 0);
  });

  // ------------------------------------------------------------ the handle (R-ACT-2)

  it("methods return ActorFutures and attributes read remotely", T, async () => {
    const counter = await newCounter(h.client);
    const f = counter.increment();
    assert.ok(f instanceof ActorFuture);
    const read = counter.n;
    assert.ok(read instanceof ActorFuture);
    assert.equal(await f, 1);
    assert.equal(await counter.n, 1);
  });

  it("a getter runs on the actor, and a throwing getter rejects", T, async () => {
    const counter = await newCounter(h.client);
    await counter.add(21);
    assert.equal(await counter.doubled, 42);
    await assert.rejects(async () => counter.broken, (err: Error) => {
      assert.ok(err instanceof RangeError, `expected RangeError, got ${err?.constructor?.name}`);
      assert.equal(err.message, "getter broke");
      return true;
    });
    // The getter's thread is the actor's, not the client's.
    const probe = await h.client.submit(Probe, [], { actor: true });
    const place = await probe.place();
    assert.equal(await probe.threadId, place.threadId);
    assert.equal(await probe.label, "probe");
  });

  it("`in` is true exactly for methods, accessors and own fields", T, async () => {
    const counter = await newCounter(h.client);
    for (const name of ["increment", "add", "ainc", "fail", "where", "doubled", "broken", "n"]) {
      assert.ok(name in counter, `${name} should be in the handle`);
    }
    for (const name of ["nope", "then", "toString", "hasOwnProperty", "constructor", "__proto__"]) {
      assert.ok(!(name in counter), `${name} should not be in the handle`);
    }
  });

  it("unknown names read as undefined and the handle is not thenable", T, async () => {
    const counter = await newCounter(h.client);
    const loose = counter as unknown as Record<string, unknown>;
    assert.equal(loose.nope, undefined);
    assert.equal(loose.then, undefined);
    const awaited = await counter;
    assert.equal(awaited, counter);
    // Returning it from an async function does not unwrap it either.
    const viaAsync = await (async () => counter)();
    assert.equal(viaAsync, counter);
  });

  it("assigning to a member throws TypeError", T, async () => {
    const counter = await newCounter(h.client);
    const loose = counter as unknown as Record<string, unknown>;
    assert.throws(() => {
      loose.n = 5;
    }, TypeError);
    assert.throws(() => {
      loose.brandNew = 1;
    }, TypeError);
    assert.equal(await counter.n, 0);
  });

  it("actorInfo(handle) tells key, class, worker, methods and attributes", T, async () => {
    const future = h.client.submit(Counter, [], { actor: true });
    const counter = await future;
    const info = actorInfo(counter);
    assert.equal(info.key, future.key);
    assert.equal(info.className, "Counter");
    assert.ok(h.cluster.workerAddresses().includes(info.workerAddress), `${info.workerAddress} is not a worker of the cluster`);
    assert.equal(info.workerAddress, await counter.where());
    for (const m of ["increment", "add", "ainc", "fail", "where"]) assert.ok(info.methods.includes(m), `methods lacks ${m}`);
    for (const a of ["n", "doubled", "broken"]) assert.ok(info.attributes.includes(a), `attributes lacks ${a}`);
    assert.ok(!info.methods.includes("constructor"));
    assert.throws(() => actorInfo({}), ConfigError);
  });

  it("String(handle) and util.inspect(handle) give <Actor: Counter, key=...>", T, async () => {
    const future = h.client.submit(Counter, [], { actor: true });
    const counter = await future;
    const expected = `<Actor: Counter, key=${future.key}>`;
    assert.match(expected, HANDLE_TEXT);
    assert.equal(String(counter), expected);
    assert.equal(`${counter}`, expected);
    assert.equal(inspect(counter), expected);
    assert.equal(inspect({ c: counter }), `{ c: ${expected} }`);
  });

  // ------------------------------------------------------------ ActorFuture (R-ACT-3)

  it("an ActorFuture is returned at once and the call is sent without awaiting", T, async () => {
    const counter = await newCounter(h.client);
    const f = counter.add(7);
    assert.equal(f.done(), false);
    assert.match(String(f), /ActorFuture/);
    // Fire and forget: nobody awaits these; a later read shows their effect.
    counter.increment();
    counter.increment();
    assert.equal(await counter.n, 9);
    assert.equal(f.done(), true);
    assert.equal(await f, 7);
  });

  it("result(timeout) rejects with TimeoutError while the call completes anyway", T, async () => {
    const slow = await h.client.submit(Slow, [], { actor: true });
    const f = slow.nap(400);
    await assert.rejects(f.result(20), TimeoutError);
    assert.equal(f.done(), false);
    assert.equal(await f.result(5000), 400);
    assert.equal(f.done(), true);
  });

  it("the result is cached: awaiting twice gives the same value and makes one call", T, async () => {
    const counter = await newCounter(h.client);
    const f = counter.increment();
    const [a, b] = await Promise.all([f, f]);
    assert.equal(a, 1);
    assert.equal(b, 1);
    assert.equal(await f, 1);
    assert.equal(await f.result(), 1);
    assert.equal(await counter.n, 1, "awaiting an ActorFuture again must not call the method again");
  });

  it("ActorFutures work with wait, asCompleted and gather, mixed with Futures", T, async () => {
    const counter = await newCounter(h.client);
    const af = counter.add(2);
    const tf = h.client.submit(add, [1, 2]);
    const { done, notDone } = await wait([af, tf]);
    assert.equal(done.size, 2);
    assert.equal(notDone.size, 0);

    const seen: unknown[] = [];
    for await (const [fut, value] of asCompleted([counter.add(3), h.client.submit(add, [10, 20])], { withResults: true })) {
      assert.ok(fut instanceof ActorFuture || fut instanceof Future);
      seen.push(value);
    }
    assert.deepEqual(seen.sort(), [30, 5].sort());

    const gathered = await h.client.gather({ a: counter.add(1), t: [h.client.submit(add, [2, 2])] });
    assert.deepEqual(gathered, { a: 6, t: [4] });
  });

  it("an ActorFuture is an argument to submit and to actor methods", T, async () => {
    const counter = await newCounter(h.client);
    const other = await newCounter(h.client);
    const viaTask = h.client.submit(add, [counter.add(5), 100]);
    assert.equal(await viaTask, 105);
    // To an actor method: other.add(counter.increment()) adds the increment's result.
    const chained = other.add(counter.increment());
    assert.equal(await chained, 6);
    assert.equal(await other.n, 6);
  });

  // ------------------------------------------------------------ execution (R-ACT-5)

  it("sync methods never overlap, whether called by the client or by tasks", T, async () => {
    const o = await h.client.submit(Overlap, [], { actor: true });
    const direct = Array.from({ length: 20 }, () => o.busy(2));
    const fromTasks = h.client.map(busyFromTask, [[o, 10, 2], [o, 10, 2]]);
    await Promise.all([...direct, ...fromTasks]);
    assert.equal((await o.spans).length, 40);
    assert.equal(await o.maxActive, 1);
    assert.equal(await o.overlaps(), 0);
  });

  it("async methods interleave: five pending wait() calls are released by one set()", T, async () => {
    const w = await h.client.submit(Waiter, [], { actor: true });
    const waits = Array.from({ length: 5 }, () => w.wait());
    // A later call from the same caller has started after the waits, so they are parked on the actor.
    const probe = await h.client.submit(Counter, [], { actor: true });
    await probe.increment();
    assert.ok(waits.every((f) => !f.done()), "wait() must not finish before set()");
    await w.set();
    assert.deepEqual(await Promise.all(waits), Array(5).fill("released"));
  });

  it("calls made in one turn are answered one by one: a waiting call holds up no later call's answer", T, async () => {
    const w = await h.client.submit(Waiter, [], { actor: true });
    // Made in one turn, these three travel together; the waits park until set(), which is sent only after ping answers.
    const waits = [w.wait(), w.wait()];
    assert.equal(await w.ping(), "pong");
    assert.ok(waits.every((f) => !f.done()), "wait() must not finish before set()");
    await w.set();
    assert.deepEqual(await Promise.all(waits), ["released", "released"]);
  });

  it("calls made in one turn start in order: methods, attribute reads, arguments and failures mixed", T, async () => {
    const c = await h.client.submit(Counter, [], { actor: true });
    const later = c.ainc(); // starts first, finishes after the sync calls behind it
    const mixed = await Promise.allSettled([c.n, c.increment(), c.add(10), c.doubled, c.fail("nope"), c.n]);
    assert.deepEqual(mixed.slice(0, 4).map((r) => (r as PromiseFulfilledResult<number>).value), [0, 1, 11, 22]);
    assert.equal(mixed[4]!.status, "rejected");
    assert.ok((mixed[4] as PromiseRejectedResult).reason instanceof TypeError);
    assert.match(String((mixed[4] as PromiseRejectedResult).reason), /nope/);
    assert.equal((mixed[5] as PromiseFulfilledResult<number>).value, 11);
    assert.equal(await later, 12);
  });

  it("10,000 calls from one caller arrive in the order they were made", T, async () => {
    const r = await h.client.submit(Recorder, [], { actor: true });
    const calls: ActorFuture<void>[] = [];
    for (let i = 0; i < 10_000; i++) calls.push(r.push(i));
    assert.equal(await r.count(), 10_000);
    assert.equal(await r.outOfOrder(), 0);
    await Promise.all(calls);
  });

  it("an actor runs on an actor thread: not the main thread, not a task thread", T, async () => {
    const worker = h.cluster.workerAddresses()[0]!;
    const probe = await h.client.submit(Probe, [], { actor: true, workers: worker });
    const actorPlace = await probe.place();
    const taskPlaces = await h.client.gather(h.client.map(taskPlace, [[], [], []], { workers: worker }));
    assert.equal(actorPlace.worker, worker);
    assert.equal(actorPlace.isMainThread, false, "actors must not run on the thread serving connections");
    for (const t of taskPlaces) {
      assert.equal(t.pid, actorPlace.pid, "task and actor should be on the same worker process");
      assert.notEqual(t.threadId, actorPlace.threadId, "an actor must not run on a task thread");
    }
  });

  // ------------------------------------------------------------ errors (R-ACT-7)

  it("a throwing constructor rejects the actor's Future with the original class and message", T, async () => {
    const future = h.client.submit(Exploding, ["boom at birth"], { actor: true });
    await assert.rejects(future.result(), (err: Error) => {
      assert.ok(err instanceof RangeError, `expected RangeError, got ${err?.constructor?.name}`);
      assert.equal(err.message, "boom at birth");
      return true;
    });
    assert.equal(future.status, "error");
  });

  it("a throwing method, a rejecting async method and a custom error keep class and message", T, async () => {
    const counter = await newCounter(h.client);
    await assert.rejects(counter.fail("bad call").result(), (err: Error) => {
      assert.ok(err instanceof TypeError);
      assert.equal(err.message, "bad call");
      assert.match(err.stack ?? "", /fail/);
      return true;
    });
    const faulty = await h.client.submit(Faulty, [], { actor: true });
    await assert.rejects(faulty.afail("async bad").result(), (err: Error) => {
      assert.ok(err instanceof TypeError);
      assert.equal(err.message, "async bad");
      return true;
    });
    await assert.rejects(faulty.invalid("too old").result(), (err: Error) => {
      assert.ok(err instanceof ValidationError, `expected ValidationError, got ${err?.constructor?.name}`);
      assert.equal(err.name, "ValidationError");
      assert.equal(err.message, "too old");
      return true;
    });
    // The actor survives its errors.
    assert.equal(await counter.increment(), 1);
  });

  // ------------------------------------------------------------ proxied calls (R-ACT-4)

  it("a client with directToWorkers: false creates and calls actors through the scheduler", T, async () => {
    const proxied = await Client.connect(h.cluster, { directToWorkers: false });
    try {
      const counter = await proxied.submit(Counter, [], { actor: true });
      assert.equal(await counter.increment(), 1);
      assert.equal(await counter.add(4), 5);
      assert.equal(await counter.n, 5);
      assert.equal(await counter.doubled, 10);
      await assert.rejects(counter.fail("proxied").result(), TypeError);
      // A handle made by another client works through the proxy too.
      const shared = await newCounter(h.client);
      await shared.add(3);
      const again = (await proxied.submit(identity, [shared])) as Actor<Counter>;
      assert.equal(await again.increment(), 4);
    } finally {
      await proxied.close();
    }
  });

  // ------------------------------------------------------------ handles travel (R-ACT-8)

  it("a handle passed to a task arrives live", T, async () => {
    const counter = await newCounter(h.client);
    assert.equal(await h.client.submit(bumpCounter, [counter, 3]), 3);
    assert.equal(await h.client.submit(readCounter, [counter]), 3);
    const seen = await h.client.submit(describeHandle, [counter]);
    assert.equal(seen.text, String(counter));
    assert.equal(seen.key, actorInfo(counter).key);
    assert.equal(seen.hasIncrement, true);
  });

  it("a handle nested in an object argument arrives live", T, async () => {
    const counter = await newCounter(h.client);
    assert.equal(await h.client.submit(bumpNested, [{ inner: { counter }, by: 4 }]), 4);
    assert.equal(await counter.n, 4);
  });

  it("a handle passed to another actor's method arrives live (Relay.forward)", T, async () => {
    const counter = await newCounter(h.client);
    const relay = await h.client.submit(Relay, [], { actor: true });
    assert.equal(await relay.forward(counter, 5), 5);
    assert.equal(await counter.n, 5);
  });

  it("a handle returned from a task is live on the client", T, async () => {
    const counter = await newCounter(h.client);
    const back = (await h.client.submit(identity, [counter])) as Actor<Counter>;
    assert.equal(String(back), String(counter));
    assert.equal(await back.increment(), 1);
    assert.equal(await counter.n, 1);
  });

  it("a task taking the actor's Future runs after the actor exists and gets a live handle", T, async () => {
    const future = h.client.submit(Counter, [], { actor: true });
    // Submitted in the same turn, before the actor exists: a dependency on its key.
    const bumped = h.client.submit(bumpCounter, [future as unknown as Actor<Counter>, 7]);
    const nested = h.client.submit(bumpNested, [{ inner: { counter: future as unknown as Actor<Counter> }, by: 1 }]);
    const results = await h.client.gather([bumped, nested]);
    assert.equal(Math.max(...results), 8);
    assert.equal(await (await future).n, 8);
  });

  // ------------------------------------------------------------ lifetime (R-ACT-9)

  it("release(future) and release(handle) make the worker drop the actor and dispose of it", T, async () => {
    const dir = mkdtempSync(join(tmpdir(), "troupe-actor-"));
    try {
      const marker = join(dir, "disposed");
      const future = h.client.submit(FileDisposable, [marker], { actor: true });
      const handle = await future;
      assert.equal(await handle.ping(), "pong");
      const key = future.key;
      await waitFor(async () => (await actorsOn(h.client)).has(key), `${key} to be listed by its worker`, 5000);
      h.client.release(future);
      h.client.release(handle);
      await waitFor(async () => !(await actorsOn(h.client)).has(key), `${key} to be dropped by its worker`, 5000);
      await waitFor(() => existsSync(marker), "the actor's [Symbol.dispose]() to run", 5000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("client.release(handle) alone, for a handle from `await submit(...)`, lets the actor go", T, async () => {
    const handle = await newCounter(h.client);
    const key = actorInfo(handle).key;
    await handle.increment();
    await waitFor(async () => (await actorsOn(h.client)).has(key), `${key} to be listed by its worker`, 5000);
    h.client.release(handle);
    await waitFor(async () => !(await actorsOn(h.client)).has(key), `${key} to be dropped by its worker`, 5000);
  });

  it("closing the client that holds an actor lets the worker drop it", T, async () => {
    const other = await Client.connect(h.cluster);
    let key: string;
    try {
      const counter = await other.submit(Counter, [], { actor: true });
      key = actorInfo(counter).key;
      await counter.increment();
      await waitFor(async () => (await actorsOn(h.client)).has(key), `${key} to be listed by its worker`, 5000);
    } finally {
      await other.close();
    }
    await waitFor(async () => !(await actorsOn(h.client)).has(key), `${key} to be dropped after its client closed`, 5000);
  });

  it(
    "awaiting an actor's Future that nothing else references survives garbage collection",
    { timeout: 15_000 },
    async () => {
      const gc = forceGc();
      const timer = setInterval(gc, 5);
      try {
        for (let i = 0; i < 5; i++) {
          const counter = await (async () => h.client.submit(Counter, [], { actor: true }))().then(undefined, (e: Error) => e);
          assert.ok(!(counter instanceof Error), String(counter));
          assert.equal(await (counter as Actor<Counter>).increment().result(5000), 1);
        }
      } finally {
        clearInterval(timer);
      }
    },
  );

  // ------------------------------------------------------------ diagnostics (R-ACT-13)

  it("schedulerInfo() shows each actor's class and call count on its worker", T, async () => {
    const future = h.client.submit(Counter, [], { actor: true });
    const counter = await future;
    await Promise.all([counter.increment(), counter.add(2), counter.increment()]);
    const where = actorInfo(counter).workerAddress;
    const stats = await waitFor<ActorStatsSeen | undefined>(
      async () => {
        const a = (await h.client.schedulerInfo()).workers[where]?.actors[future.key];
        return a && a.calls > 0 ? a : undefined;
      },
      "schedulerInfo() to report calls for the actor",
      5000,
    );
    assert.ok(stats);
    assert.equal(stats.className, "Counter");
    assert.ok(stats.calls >= 1 && stats.calls <= 4, `calls=${stats.calls}`);
    assert.equal(typeof stats.inFlight, "number");
    assert.equal(typeof stats.meanCallMs, "number");
  });
});

describe("actors: an actor calling an actor on the same thread", () => {
  const h = useCluster({ workers: 1, actorThreads: 1 });

  it("does not deadlock", T, async () => {
    const counter = await newCounter(h.client);
    const relay = await h.client.submit(Relay, [], { actor: true });
    const [pc, pr] = await Promise.all([(await h.client.submit(Probe, [], { actor: true })).place(), relay.forward(counter, 3)]);
    assert.equal(pr, 3);
    assert.equal(actorInfo(counter).workerAddress, actorInfo(relay).workerAddress);
    assert.equal(pc.isMainThread, false);
    assert.equal(await counter.n, 3);
    // And it keeps working under a burst of relayed calls.
    const results = await Promise.all(Array.from({ length: 5 }, () => relay.forward(counter, 20)));
    assert.equal(Math.max(...results), 103);
  });
});

describe("actors: placement", () => {
  const h = useCluster({ workers: 5 });

  it("map of 10 actors over 5 workers places 2 on each", T, async () => {
    const handles = await h.client.gather(h.client.map(Counter, Array.from({ length: 10 }, () => []), { actors: true }));
    const perWorker = new Map<string, number>();
    for (const c of handles) {
      const w = actorInfo(c).workerAddress;
      perWorker.set(w, (perWorker.get(w) ?? 0) + 1);
    }
    assert.equal(perWorker.size, 5, `actors landed on ${perWorker.size} workers: ${JSON.stringify([...perWorker])}`);
    for (const [w, n] of perWorker) assert.equal(n, 2, `${w} holds ${n} actors`);
    h.client.release(handles);
  });

  it("resources place an actor only on a worker that has them", T, async () => {
    const gpu = await h.cluster.addWorker({ resources: { GPU: 1 } });
    const handles = await h.client.gather(
      Array.from({ length: 3 }, () => h.client.submit(Slow, [], { actor: true, resources: { GPU: 0.25 } })),
    );
    for (const s of handles) {
      assert.equal(actorInfo(s).workerAddress, gpu);
      assert.equal(await s.where(), gpu);
    }
  });

  it("workers: places an actor on the named worker", T, async () => {
    const target = h.cluster.workerAddresses()[3]!;
    const c = await h.client.submit(Counter, [], { actor: true, workers: target });
    assert.equal(actorInfo(c).workerAddress, target);
    assert.equal(await c.where(), target);
  });
});

describe("actors: worker loss", () => {
  const h = useCluster({ workers: 4 });

  it("killing the actor's worker rejects pending and later calls with ActorLostError and marks the Future lost", T, async () => {
    const future = h.client.submit(Slow, [], { actor: true });
    const slow = await future;
    const where = actorInfo(slow).workerAddress;
    const pending = slow.nap(60_000);
    // Calls start in order, so once this returns the nap is running on the actor.
    assert.equal(await slow.increment(), 1);
    await h.cluster.stopWorker(where, { graceful: false });
    await assert.rejects(pending.result(15_000), (err: Error) => {
      assert.ok(err instanceof ActorLostError, `expected ActorLostError, got ${err?.constructor?.name}: ${err?.message}`);
      assert.match(err.message, /Worker holding Actor was lost/);
      return true;
    });
    await waitFor(() => future.status === "lost", `the actor's Future to become lost (is ${future.status})`, 10_000);
    await assert.rejects(slow.increment().result(10_000), ActorLostError);
    await assert.rejects(slow.n.result(10_000), ActorLostError);
  });

  it("with restarts: 1 the actor is re-created on a live worker, state reset", T, async () => {
    const future = h.client.submit(Slow, [], { actor: true, restarts: 1 });
    const slow = await future;
    const first = actorInfo(slow).workerAddress;
    await slow.increment();
    assert.equal(await slow.increment(), 2);
    await h.cluster.stopWorker(first, { graceful: false });
    // Once the client has heard where the new instance lives, calls go there.
    await waitFor(() => actorInfo(slow).workerAddress !== first, "the client to learn the actor's new worker", 10_000);
    assert.equal(future.status, "finished");
    assert.equal(await slow.increment().result(10_000), 1, "the re-created actor starts from fresh state");
    const now = await slow.where();
    assert.notEqual(now, first);
    assert.ok(h.cluster.workerAddresses().includes(now));
    assert.equal(actorInfo(slow).workerAddress, now);
  });

  it(
    "with restarts: 1 a call made right after the loss is noticed reaches the new instance",
    T,
    async () => {
      const slow = await h.client.submit(Slow, [], { actor: true, restarts: 1 });
      const first = actorInfo(slow).workerAddress;
      assert.equal(await slow.increment(), 1);
      await h.cluster.stopWorker(first, { graceful: false });
      await waitFor(async () => !(first in (await h.client.schedulerInfo()).workers), "the scheduler to notice the dead worker", 10_000);
      assert.equal(await slow.increment().result(8_000), 1, "the re-created actor starts from fresh state");
      assert.notEqual(await slow.where(), first);
    },
  );
});
