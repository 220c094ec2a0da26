// A worker against a scripted scheduler: what it does with compute-task
// messages that name their code by number (the scheduler sends each
// function once per connection).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect, listen, type Connection, type Listener } from "../../src/comm/index.js";
import type { ComputeTask, ComputeTaskByRef, GetDataReply, Message } from "../../src/protocol/messages.js";
import { deserialize, serialize } from "../../src/serialize/index.js";
import { Client, Scheduler, Worker } from "../../src/index.js";
import { add } from "../fixtures/tasks.js";
import { waitFor } from "../helpers/cluster.js";

describe("a worker and code sent by number", () => {
  let listener: Listener;
  let worker: Worker;
  let conn: Connection | undefined;
  const received: Message[] = [];

  before(async () => {
    listener = await listen({
      token: "proto",
      onConnection: (c) => {
        conn = c;
        c.onRequest = (msg) => {
          if (msg.op !== "register-worker") throw new TypeError(`unexpected ${msg.op}`);
          return null;
        };
        c.onMessage = (msg) => received.push(msg);
      },
    });
    worker = await Worker.start({ scheduler: listener.address, token: "proto", name: "scripted" });
  });
  after(async () => {
    await worker?.close();
    await listener?.close();
  });

  const base = { op: "compute-task" as const, whoHas: {}, actor: false, priority: 0 };
  const outcome = async (key: string): Promise<Message> =>
    (await waitFor(() => received.find((m) => (m.op === "task-finished" || m.op === "task-erred") && m.key === key), `an outcome for ${key}`))!;

  it("fails a task that names code it never received, with a message saying so, and runs the next", async () => {
    conn!.send({ ...base, key: "unknown-1", fn: 41, args: serialize([1]).payload } satisfies ComputeTaskByRef);
    const erred = await outcome("unknown-1");
    assert.equal(erred.op, "task-erred");
    assert.match((erred as { error: { message: string } }).error.message, /code 41 .* without sending it first/);

    const fn = { kind: "source" as const, source: "(x) => x + 1", name: "inc", isClass: false };
    conn!.send({ ...base, key: "full-1", fn, fnId: 7, args: serialize([1]).payload } satisfies ComputeTask);
    conn!.send({ ...base, key: "byref-1", fn: 7, args: serialize([2]).payload } satisfies ComputeTaskByRef);
    assert.equal((await outcome("full-1")).op, "task-finished");
    assert.equal((await outcome("byref-1")).op, "task-finished");
    // The numbered task ran the code sent with the full one.
    const peer = await connect(worker.address, { token: "proto", role: "client" });
    try {
      const reply = await peer.request<GetDataReply>({ op: "get-data", keys: ["full-1", "byref-1"] });
      assert.deepEqual([deserialize(reply.data["full-1"]!), deserialize(reply.data["byref-1"]!)], [2, 3]);
    } finally {
      peer.close();
    }
  });
});

describe("the scheduler and code sent by number", () => {
  it("sends a function in full once per worker, then by number, also for a client over TCP", async () => {
    const scheduler = await Scheduler.start({ token: "proto2" });
    const fake = await connect(scheduler.address, { token: "proto2", role: "worker" });
    const client = await Client.connect(scheduler.address, { token: "proto2" });
    try {
      const computes: Array<ComputeTask | ComputeTaskByRef> = [];
      fake.onMessage = (msg) => {
        if (msg.op === "compute-task") computes.push(msg);
      };
      await fake.request({ op: "register-worker", address: "tcp://127.0.0.1:9", name: "fake", nthreads: 1, actorThreads: 1, resources: {}, incarnation: "x" });
      // Decoded from the socket, each task's code is its own object: numbering goes by content.
      client.map(add, [[1, 1], [2, 2], [3, 3]]);
      await waitFor(() => computes.length === 3, "three compute-tasks at the fake worker");
      const full = computes.filter((c) => typeof c.fn !== "number") as ComputeTask[];
      assert.equal(full.length, 1);
      assert.equal((full[0]!.fn as { export?: string }).export, "add");
      assert.ok(full[0]!.fnId !== undefined);
      assert.deepEqual(computes.filter((c) => typeof c.fn === "number").map((c) => c.fn), [full[0]!.fnId, full[0]!.fnId]);
    } finally {
      await client.close();
      fake.close();
      await scheduler.close();
    }
  });
});
