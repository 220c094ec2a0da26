// Every message is checked against its schema where it enters a process
// (SPEC R-SEC-6): one with a wrongly typed field closes that connection with
// a logged reason, nothing acts on it, and the process serves everyone else.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, listen, Payload, type Connection } from "../../src/comm/index.js";
import type { Message } from "../../src/protocol/messages.js";
import { Client, LocalCluster, Scheduler, Worker } from "../../src/index.js";
import type { SchedulerEvent } from "../../src/scheduler/events.js";
import { serialize } from "../../src/serialize/index.js";
import { double } from "../fixtures/failures.js";
import { waitFor } from "../helpers/cluster.js";

const P = new Payload([new Uint8Array([1])]);
const code = { kind: "source" as const, source: "(x) => x", name: "id", isClass: false };
const spec = { key: "k-1", fn: code, args: P, deps: [], options: {}, group: "k" };
const errorInfo = { name: "Error", message: "m", stack: "" };

/** A well-formed message of each op a side takes; the tests break one field at a time. */
const FROM_CLIENT: Message[] = [
  { op: "register-client", clientId: "c" },
  { op: "update-graph", tasks: [spec], wanted: ["k-1"] },
  { op: "release-keys", keys: ["a"] },
  { op: "want-keys", keys: ["a"] },
  { op: "cancel-keys", keys: ["a"] },
  { op: "who-has", keys: ["a"] },
  { op: "choose-workers", count: 1, workers: ["tcp://x:1"], broadcast: false },
  { op: "update-data", who: { a: ["tcp://x:1"] }, nbytes: { a: 1 } },
  { op: "run-on-workers", fn: code, args: P },
  { op: "proxy", to: "tcp://x:1", msg: { op: "get-data", keys: ["a"] } },
  { op: "where-is-actor", key: "a" },
  { op: "fire-and-forget", keys: ["a"] },
  { op: "wait-for-workers", count: 1, timeoutMs: 1 },
];
const FROM_WORKER: Message[] = [
  { op: "heartbeat", memoryBytes: 1, actors: { a: { calls: 1, inFlight: 0, meanCallMs: 1 } }, spilledBytes: 0, busyMs: 0 },
  { op: "worker-status", status: "paused", reason: "r" },
  { op: "actors-lost", keys: ["a"], error: errorInfo },
  { op: "task-finished", key: "a", nbytes: 1, startMs: 0, stopMs: 1 },
  { op: "tasks-finished", keys: ["a"], nbytes: [1], durationMs: [1] },
  { op: "task-erred", key: "a", error: errorInfo },
  { op: "missing-data", key: "a", worker: "tcp://x:1" },
  { op: "add-keys", keys: ["a"], nbytes: { a: 1 } },
  { op: "steal-response", released: ["a"], kept: [] },
];
const TO_WORKER: Message[] = [
  { op: "get-data", keys: ["a"] },
  { op: "put-data", data: { a: P }, report: false },
  { op: "actor-call", key: "a", kind: "call", name: "m", args: P },
  { op: "run-function", fn: code, args: P },
];

/** The message with its first field after `op` given a value of the wrong type. */
function broken(msg: Message): Message {
  const [field, value] = Object.entries(msg).find(([k]) => k !== "op")!;
  const wrong = typeof value === "string" ? 42 : typeof value === "number" ? "42" : typeof value === "boolean" ? 1 : 7;
  return { ...msg, [field]: wrong } as Message;
}

function requestOrSend(conn: Connection, msg: Message): void {
  // Whichever way it goes, the answer is the connection closing.
  conn.request(msg).catch(() => undefined);
}

describe("bad messages - the scheduler", () => {
  let scheduler: Scheduler;
  /** What reached the state machine, but its own periodic ticks. */
  const events: SchedulerEvent[] = [];
  before(async () => {
    scheduler = await Scheduler.start({ token: "bad" });
    scheduler._onEvent = (e) => {
      if (e.type !== "tick") events.push(e);
    };
  });
  after(() => scheduler.close());

  for (const msg of FROM_CLIENT) {
    test(`a client's "${msg.op}" with a wrongly typed field closes its connection; no event reaches the state machine`, async () => {
      const conn = await connect(scheduler.address, { token: "bad", role: "client" });
      events.length = 0;
      requestOrSend(conn, broken(msg));
      await waitFor(() => !conn.isOpen, "the scheduler to close the connection");
      await waitFor(() => events.some((e) => e.type === "client-removed"), "the client to be removed");
      assert.deepEqual(events.map((e) => e.type), ["client-removed"]);
    });
  }

  for (const msg of FROM_WORKER) {
    test(`a worker's "${msg.op}" with a wrongly typed field closes its connection before the state machine sees it`, async () => {
      const conn = await connect(scheduler.address, { token: "bad", role: "worker" });
      conn.onRequest = () => null;
      await conn.request({ op: "register-worker", address: "tcp://127.0.0.1:9", name: "fake", nthreads: 1, actorThreads: 1, resources: {}, incarnation: msg.op });
      events.length = 0;
      requestOrSend(conn, broken(msg));
      await waitFor(() => !conn.isOpen, "the scheduler to close the connection");
      await waitFor(() => events.some((e) => e.type === "worker-removed"), "the worker to be removed");
      assert.deepEqual(events.map((e) => e.type), ["worker-removed"]);
    });
  }

  test("choose-workers asking for 100 million workers is refused, not served", async () => {
    const conn = await connect(scheduler.address, { token: "bad", role: "client" });
    const t0 = Date.now();
    await assert.rejects(conn.request({ op: "choose-workers", count: 1e8 }));
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(conn.isOpen, false);
  });
});

describe("bad messages - a worker", () => {
  let cluster: LocalCluster;
  let client: Client;
  before(async () => {
    cluster = await LocalCluster.start({ workers: 1, token: "badw" });
    client = await Client.connect(cluster);
  });
  after(async () => {
    await client.close();
    await cluster.close();
  });

  for (const msg of TO_WORKER) {
    test(`a peer's "${msg.op}" with a wrongly typed field closes that connection; the worker serves on`, async () => {
      const [address] = cluster.workerAddresses();
      const conn = await connect(address!, { token: "badw", role: "client" });
      requestOrSend(conn, broken(msg));
      await waitFor(() => !conn.isOpen, "the worker to close the connection");
      assert.equal(await client.submit(double, [21]).result(10_000), 42);
      assert.deepEqual(cluster.workerAddresses(), [address]);
    });
  }

  test("a compute-task with a wrongly typed field from its scheduler is never run; the worker stops with the reason", async () => {
    let conn: Connection | undefined;
    const ran: string[] = [];
    const listener = await listen({
      token: "w",
      onConnection: (c) => {
        conn = c;
        c.onRequest = (m) => (m.op === "register-worker" ? { heartbeatTimeoutMs: 60_000, schedulerId: "test" } : null);
        c.onMessage = (m) => {
          if (m.op === "task-finished" || m.op === "tasks-finished" || m.op === "task-erred") ran.push(m.op);
        };
      },
    });
    const worker = await Worker.start({ scheduler: listener.address, token: "w", name: "w" });
    try {
      conn!.send({ op: "compute-task", key: "k", fn: code, args: serialize([1]).payload, whoHas: { a: "not-an-array" }, actor: false, priority: 0 } as unknown as Message);
      const { fault } = await worker.closed;
      assert.match(fault ?? "", /lost the connection to the scheduler/);
      assert.deepEqual(ran, []);
    } finally {
      await worker.close();
      await listener.close();
    }
  });
});
