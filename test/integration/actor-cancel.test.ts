// Cancelling actor calls and the `timeout` option (R-ACT-17, R-TASK-13).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CancelledError, ConfigError, TimeoutError } from "../../src/index.js";
import { Cancellable, recordOn, reportAbort } from "../fixtures/actors-flow.js";
import { useCluster, waitFor } from "../helpers/cluster.js";

const T = { timeout: 60_000 };

describe("actor call cancellation and timeouts", () => {
  const h = useCluster({ workers: 2 });

  it("cancel - a call still waiting for its turn on the actor never runs", T, async () => {
    const c = await h.client.submit(Cancellable, [], { actor: true, maxConcurrency: 1 });
    const first = c.hold("first");
    const victim = c.record("victim");
    // A read sent after the victim has answered: the victim has reached the actor and waits there.
    assert.deepEqual(await c.ran, ["first"]);
    await victim.cancel();
    await assert.rejects(victim.result(), CancelledError);
    assert.equal(await c.openAll(), 1);
    assert.equal(await first, "first");
    assert.equal(await c.record("after"), "after");
    assert.deepEqual(await c.ran, ["first", "after"]);
  });

  it("cancel - a call not sent yet is never sent", T, async () => {
    const c = await h.client.submit(Cancellable, [], { actor: true });
    const victim = c.record("victim");
    await victim.cancel();
    await assert.rejects(victim.result(), CancelledError);
    assert.equal(await c.record("after"), "after");
    assert.deepEqual(await c.ran, ["after"]);
  });

  it("cancel - a running call sees currentSignal() abort, and cancel() resolves once it has ended", T, async () => {
    const c = await h.client.submit(Cancellable, [], { actor: true });
    const running = c.untilAborted("r");
    await waitFor(async () => (await c.ran).includes("r"), "the call to start");
    await running.cancel();
    assert.deepEqual(await c.aborted, ["r"]);
    await assert.rejects(running.result(), CancelledError);
    assert.equal(running.done(), true);
  });

  it("timeout - a call made with options({ timeout }) is cancelled at its deadline with TimeoutError", T, async () => {
    const c = await h.client.submit(Cancellable, [], { actor: true });
    const call = c.untilAborted.options({ timeout: 300 })("t");
    await assert.rejects(call.result(), TimeoutError);
    await waitFor(async () => (await c.aborted).includes("t"), "the call's signal to abort");
    // Without the option a result() deadline leaves the call running.
    const other = c.untilAborted("u");
    await assert.rejects(other.result(200), TimeoutError);
    await waitFor(async () => (await c.ran).includes("u"), "the second call to start");
    assert.deepEqual(await c.aborted, ["t"]);
    await other.cancel();
  });

  it("timeout - with the option, a result(timeout) deadline cancels the call", T, async () => {
    const c = await h.client.submit(Cancellable, [], { actor: true });
    const call = c.untilAborted.options({ timeout: 60_000 })("d");
    await waitFor(async () => (await c.ran).includes("d"), "the call to start");
    await assert.rejects(call.result(100), TimeoutError);
    await waitFor(async () => (await c.aborted).includes("d"), "the call's signal to abort");
  });

  it("timeout - a task submitted with timeout sees its signal abort and fails with TimeoutError", T, async () => {
    const c = await h.client.submit(Cancellable, [], { actor: true });
    // A task cancelled before it starts never runs: the first task taking a handle on a thread waits
    // for the thread's client to connect, so that is done first, and the deadline leaves a busy machine time.
    await h.client.gather(h.client.map(recordOn, [[c, "warm"], [c, "warm"], [c, "warm"], [c, "warm"]]));
    const task = h.client.submit(reportAbort, [c, "task"], { timeout: 5000 });
    await assert.rejects(task.result(), TimeoutError);
    assert.ok((await c.ran).includes("task started"));
    await waitFor(async () => (await c.ran).includes("task"), "the task to see its signal abort");
    const again = h.client.submit(reportAbort, [c, "by result"], { timeout: 60_000 });
    await waitFor(async () => (await c.ran).includes("by result started"), "the second task to start");
    await assert.rejects(again.result(100), TimeoutError);
    await waitFor(async () => (await c.ran).includes("by result"), "result(timeout)'s deadline to abort the task");
    await assert.rejects(again.result(), TimeoutError);
  });

  it("timeout - options are checked", T, () => {
    const bad = { timeout: -1 };
    assert.throws(() => h.client.submit(reportAbort, [undefined as never, "x"], bad), ConfigError);
    assert.throws(() => h.client.submit(Cancellable, [], { actor: true, timeout: 100 }), /takes it per call/);
  });
});
