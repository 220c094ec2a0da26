// R-CODE-7 over real processes: instances of exported classes keep their
// class between client, tasks and actors; others arrive as plain objects.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Collector, classesIn, inspectPoint, makePoint, nested, unexported } from "../fixtures/classes.js";
import { Point } from "../fixtures/shapes.js";
import { useCluster } from "../helpers/cluster.js";

describe("classes - instances across the wire", () => {
  const h = useCluster({ workers: 1, threadsPerWorker: 1, actorThreads: 1 });

  it("an instance passed to a task arrives with its class and methods", async () => {
    assert.deepEqual(await h.client.submit(inspectPoint, [new Point(3, 4)]).result(20_000), [true, 5]);
  });

  it("an instance a task returns reaches the client as an instance", async () => {
    const p = await h.client.submit(makePoint, [6, 8]).result(20_000);
    assert.ok(p instanceof Point);
    assert.equal(p.norm(), 10);
  });

  it("instances nested in arrays and Maps keep their class both ways", async () => {
    const p = new Point(1, 1);
    const sent = { list: [p, new Point(2, 2)], byName: new Map([["p", p]]) };
    assert.deepEqual(await h.client.submit(classesIn, [sent]).result(20_000), [true, true, true]);
    const back = await h.client.submit(nested, [3]).result(20_000);
    assert.ok(back.list.every((x) => x instanceof Point));
    assert.equal(back.byName.get("same"), back.list[0], "a shared instance stays shared");
  });

  it("an actor receives instances in call order, its thread loading their class on the way", async () => {
    const c = await h.client.submit(Collector, [], { actor: true }).result(20_000);
    const calls = [c.mark("first"), c.add(new Point(1, 2)), c.mark("after"), c.add(new Point(3, 4))];
    await Promise.all(calls.map((f) => f.result(20_000)));
    assert.deepEqual(await c.all().result(20_000), ["first", "Point(1,2)", "after", "Point(3,4)"]);
  });

  it("an instance of an unexported class arrives as a plain object", async () => {
    const v = await h.client.submit(unexported, []).result(20_000);
    assert.deepEqual(v, { v: 7 });
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
  });
});
