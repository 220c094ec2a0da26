// A worker bounds the dependencies it fetches from peers at once, in count and
// bytes, and a value larger than the byte bound still comes, alone (R-FLOW-3).
// The test plays the scheduler and four peers holding the dependencies: the
// peers hold each get-data reply a while and count the requests in flight.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { listen, type Connection, type Listener } from "../../src/comm/index.js";
import type { ComputeTask, GetData, Message } from "../../src/protocol/messages.js";
import { serialize } from "../../src/serialize/index.js";
import { Worker } from "../../src/index.js";
import { waitFor } from "../helpers/cluster.js";

const TOKEN = "transfers";
const MiB = 1024 * 1024;
const HOLD_MS = 150;
const PEERS = 4;

const listeners: Listener[] = [];
const workers: Worker[] = [];
after(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await Promise.all(listeners.map((l) => l.close()));
});

interface Seen {
  /** Most get-data requests in flight at once. */
  maxCount: number;
  /** Most bytes in flight at once in more than one request. */
  maxSharedBytes: number;
  /** Every key requested, once per request. */
  requested: string[];
  /** Requests for the value above the byte bound that did not go alone. */
  bigNotAlone: number;
}

/**
 * Four peers holding five 1 MiB values each, the first also one of 4 MiB; a
 * worker with the given limits runs one task needing all 21. Resolves with
 * what the peers saw once the task finished.
 */
async function fetchAll(limits: { transferIncomingCountLimit: number; transferIncomingBytesLimit: number | string }): Promise<Seen> {
  const sizes = new Map<string, number>();
  const holderOf = new Map<string, number>();
  for (let p = 0; p < PEERS; p++) {
    for (let i = 0; i < 5; i++) {
      sizes.set(`dep-${p}-${i}`, MiB);
      holderOf.set(`dep-${p}-${i}`, p);
    }
  }
  sizes.set("big", 4 * MiB);
  holderOf.set("big", 0);

  const seen: Seen = { maxCount: 0, maxSharedBytes: 0, requested: [], bigNotAlone: 0 };
  let count = 0;
  let bytes = 0;
  const peers: string[] = [];
  for (let p = 0; p < PEERS; p++) {
    const l = await listen({
      token: TOKEN,
      onConnection: (c) => {
        c.onRequest = async (msg) => {
          if (msg.op !== "get-data") throw new TypeError(`a peer got ${msg.op}`);
          const keys = (msg as GetData).keys;
          const n = keys.reduce((sum, k) => sum + sizes.get(k)!, 0);
          count++;
          bytes += n;
          seen.maxCount = Math.max(seen.maxCount, count);
          if (count > 1) seen.maxSharedBytes = Math.max(seen.maxSharedBytes, bytes);
          if (keys.includes("big") && (keys.length > 1 || count > 1)) seen.bigNotAlone++;
          seen.requested.push(...keys);
          await new Promise((r) => setTimeout(r, HOLD_MS));
          count--;
          bytes -= n;
          return { values: keys.map((k) => serialize(new Uint8Array(sizes.get(k)!)).payload) };
        };
      },
    });
    listeners.push(l);
    peers.push(l.address);
  }

  const received: Message[] = [];
  let scheduler: Connection | undefined;
  const s = await listen({
    token: TOKEN,
    onConnection: (c) => {
      scheduler = c;
      c.onRequest = (msg) => {
        if (msg.op === "heartbeat") return null;
        if (msg.op !== "register-worker") throw new TypeError(`unexpected ${msg.op}`);
        return { heartbeatTimeoutMs: 60_000, schedulerId: "test" };
      };
      c.onMessage = (msg) => received.push(msg);
    },
  });
  listeners.push(s);
  const worker = await Worker.start({ scheduler: s.address, token: TOKEN, ...limits });
  workers.push(worker);

  const whoHas: Record<string, string[]> = {};
  const nbytes: Record<string, number> = {};
  for (const [k, p] of holderOf) {
    whoHas[k] = [peers[p]!];
    nbytes[k] = sizes.get(k)!;
  }
  const inc = { kind: "source" as const, source: "(x) => x + 1", name: "inc", isClass: false };
  scheduler!.send({ op: "compute-task", key: "all", fn: inc, args: serialize([1]).payload, whoHas, nbytes, actor: false, priority: 0 } satisfies ComputeTask);
  const done = await waitFor(
    () => received.find((m) => (m.op === "task-finished" && m.key === "all") || (m.op === "tasks-finished" && m.keys.includes("all")) || (m.op === "task-erred" && m.key === "all")),
    "the task needing every dependency to finish",
    40_000,
  );
  assert.notEqual(done.op, "task-erred", JSON.stringify(done));
  assert.deepEqual([...seen.requested].sort(), [...sizes.keys()].sort(), "every dependency fetched once");
  return seen;
}

test("transfers - with a count limit of 2, a worker fetching 21 dependencies from 4 peers has at most 2 requests in flight, and the task runs", { timeout: 60_000 }, async () => {
  const seen = await fetchAll({ transferIncomingCountLimit: 2, transferIncomingBytesLimit: "1GiB" });
  assert.equal(seen.maxCount, 2, `${seen.maxCount} get-data requests were in flight at once`);
});

test("transfers - with a byte limit of 2.5 MiB, at most 2.5 MiB is in flight, a 4 MiB value comes alone, and the task runs", { timeout: 60_000 }, async () => {
  const seen = await fetchAll({ transferIncomingCountLimit: 4, transferIncomingBytesLimit: "2.5MiB" });
  assert.ok(seen.maxSharedBytes <= 2.5 * MiB, `${seen.maxSharedBytes} bytes were in flight in several requests at once`);
  assert.equal(seen.bigNotAlone, 0, "the value above the byte bound came with others");
  assert.equal(seen.maxCount, 2, "two 1 MiB values did go at once");
});
