// Named and detached actors over real worker processes (R-ACT-14).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ActorLostError, Client, ConfigError, actorInfo } from "../../src/index.js";
import { Counter } from "../fixtures/actors.js";
import { addToNamed } from "../fixtures/actors-named.js";
import { useCluster, waitFor } from "../helpers/cluster.js";

const T = { timeout: 60_000 };

describe("named actors", () => {
  const h = useCluster({ workers: 2 });

  it("named actors - getActor from a task on another worker reaches the same instance", T, async () => {
    const [first, second] = h.cluster.workerAddresses();
    const counter = await h.client.submit(Counter, [], { actor: true, name: "shared-counter", workers: first! });
    await counter.add(1);
    const done = await h.client.submit(addToNamed, ["shared-counter", 10], { workers: second! });
    assert.equal(done.worker, second);
    assert.equal(done.n, 11);
    assert.equal(await counter.n, 11);
    // Another client finds it too, and gets a handle to the same actor.
    const other = await Client.connect(h.cluster);
    try {
      const found = await other.getActor<Counter>("shared-counter");
      assert.equal(actorInfo(found).key, actorInfo(counter).key);
      assert.equal(await found.increment(), 12);
    } finally {
      await other.close();
    }
    h.client.release(counter);
  });

  it("named actors - a second live actor with the same name is refused; the name is free again once the first is gone", T, async () => {
    const a = await h.client.submit(Counter, [], { actor: true, name: "only-one" });
    const b = h.client.submit(Counter, [], { actor: true, name: "only-one" });
    await assert.rejects(b.result(), (err: Error) => err instanceof ConfigError && /"only-one" already exists/.test(err.message));
    assert.equal(await a.increment(), 1, "the first is untouched");
    h.client.release(a);
    const c = await waitFor(
      () => h.client.submit(Counter, [], { actor: true, name: "only-one" }).result().catch(() => undefined),
      "the name to be free after release",
    );
    assert.equal(await c.increment(), 1);
    h.client.release(c);
  });

  it("named actors - getActor of an unknown name and name on a plain task are clear errors", T, async () => {
    await assert.rejects(h.client.getActor("nobody-by-this-name"), (err: Error) => err instanceof ConfigError && /no live actor is named/.test(err.message));
    assert.throws(() => h.client.submit(addToNamed, ["x", 1], { name: "task" }), (err: Error) => err instanceof ConfigError && /actors only/.test(err.message));
    assert.throws(() => h.client.map(Counter, [[], []], { actors: true, name: "many" } as never), ConfigError);
  });

  it("detached actors - outlive their client; a second client finds the state intact; killActor ends them", T, async () => {
    const creator = await Client.connect(h.cluster);
    const made = await creator.submit(Counter, [], { actor: true, name: "keeper", lifetime: "detached" });
    await made.add(41);
    // A named actor that is not detached goes with its creator.
    await creator.submit(Counter, [], { actor: true, name: "ephemeral" });
    await creator.close();
    const keeper = await h.client.getActor<Counter>("keeper");
    assert.equal(await keeper.increment(), 42, "state intact after its creator closed");
    await waitFor(() => h.client.getActor("ephemeral").then(() => false, (err: Error) => err instanceof ConfigError), "the non-detached actor to go with its client");
    // Dropping this client's handle does not end it either: detached actors live until killed.
    h.client.release(keeper);
    const again = await h.client.getActor<Counter>("keeper");
    assert.equal(await again.n, 42);
    await h.client.killActor("keeper");
    await assert.rejects(again.increment().result(), ActorLostError);
    await assert.rejects(h.client.getActor("keeper"), ConfigError);
    await assert.rejects(h.client.killActor("keeper"), ActorLostError);
  });

  it("killActor - by handle: calls reject with ActorLostError and its Future is lost", T, async () => {
    const future = h.client.submit(Counter, [], { actor: true });
    const counter = await future;
    assert.equal(await counter.increment(), 1);
    await h.client.killActor(counter);
    await waitFor(() => future.status === "lost", "the Future to be lost");
    await assert.rejects(counter.increment().result(), ActorLostError);
    const info = await h.client.schedulerInfo();
    for (const w of Object.values(info.workers)) assert.ok(!(actorInfo(counter).key in w.actors), "deleted on its worker");
  });
});
