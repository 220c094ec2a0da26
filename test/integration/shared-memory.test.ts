// Large values between processes of one host travel as shared segments under
// /dev/shm: content intact, copies isolated, nothing left behind.

import assert from "node:assert/strict";
import { readdirSync, rmSync } from "node:fs";
import { describe, it } from "node:test";
import { shmDomain, stopSharing } from "../../src/shm/index.js";
import { bytes, checksum, sleep } from "../fixtures/tasks.js";
import { pid, scribble, slowBytes } from "../fixtures/tasks-extra.js";
import { useCluster, waitFor, withCluster } from "../helpers/cluster.js";

const MB = 1 << 20;
const skip = shmDomain() === undefined && "shared memory (the native addon and /dev/shm) is not available here";

/** Segments under /dev/shm named by these processes. */
function segmentsOf(pids: number[]): string[] {
  return readdirSync("/dev/shm").filter((n) => pids.some((p) => n.startsWith(`troupe-${p}-`)));
}

describe("shared memory between processes of one host", { skip }, () => {
  const h = useCluster({ workers: 2 });

  async function workerPids(): Promise<number[]> {
    return Object.values(await h.client.run(pid));
  }

  it("moves a large result to another worker and to the client intact, and frees it with the key", async () => {
    const [A, B] = h.cluster.workerAddresses();
    const pids = await workerPids();
    const data = h.client.submit(bytes, [8 * MB], { workers: A! });
    const expected = checksum(bytes(8 * MB));
    assert.equal(await h.client.submit(checksum, [data], { workers: B! }), expected);
    // Both workers now hold it, each under its own segment.
    assert.equal(segmentsOf(pids).length, 2);
    const local = await data;
    assert.equal(local.byteLength, 8 * MB);
    assert.equal(checksum(local), expected);
    data.release();
    await waitFor(() => segmentsOf(pids).length === 0, "the segments to be removed once the key is released");
  });

  it("gives each reader a private copy: a task that modifies its argument changes nothing else", async () => {
    const [A, B] = h.cluster.workerAddresses();
    const data = h.client.submit(bytes, [4 * MB], { workers: A! });
    const expected = checksum(bytes(4 * MB));
    // One scribbler on the holder itself, one on the other worker.
    assert.deepEqual(
      await h.client.gather([h.client.submit(scribble, [data], { workers: A! }), h.client.submit(scribble, [data], { workers: B! })]),
      [4 * MB, 4 * MB],
    );
    assert.equal(await h.client.submit(checksum, [data], { workers: A! }), expected);
    assert.equal(await h.client.submit(checksum, [data], { workers: B! }), expected);
    const local = await data;
    local.fill(1); // the client's copy too
    assert.equal(await h.client.submit(checksum, [data], { workers: B! }), expected);
    data.release();
  });

  it("leaves no segment behind for a large result released while its task ran", async () => {
    const [A] = h.cluster.workerAddresses();
    const pidA = (await h.client.run(pid))[A!]!;
    const slow = h.client.submit(slowBytes, [300, 2 * MB], { workers: A! });
    await waitFor(async () => (await h.client.schedulerInfo()).groups.slowBytes?.processing === 1, "the slow task to be running");
    slow.release();
    // The same (only) task thread answers in order: once this is done, the slow result was dropped.
    assert.equal(await h.client.submit(checksum, [new Uint8Array(8)], { workers: A! }), 0);
    await waitFor(() => segmentsOf([pidA]).length === 0, "the dropped result's segment to be removed");
  });

  it("sweeps the segments of a worker killed without cleaning up when a worker starts", async () => {
    const extra = await h.cluster.addWorker();
    const victim = (await h.client.run(pid))[extra];
    const data = h.client.submit(bytes, [2 * MB], { workers: extra });
    await data;
    assert.equal(segmentsOf([victim!]).length, 1);
    await h.cluster.stopWorker(extra, { graceful: false }); // SIGKILL: no exit hook runs
    assert.equal(segmentsOf([victim!]).length, 1);
    data.release();
    const replacement = await h.cluster.addWorker();
    await waitFor(() => segmentsOf([victim!]).length === 0, "the dead worker's segment to be swept");
    await h.cluster.stopWorker(replacement, { graceful: true });
  });

  it("a value whose segment was removed behind the worker's back is made again, for the client and for a task", async () => {
    const [A] = h.cluster.workerAddresses();
    const pids = await workerPids();
    const kept = h.client.submit(bytes, [4 * MB], { workers: A! });
    await kept.exception();
    const before = new Set(segmentsOf(pids));
    const removed = h.client.submit(bytes, [4 * MB + 1], { workers: A! });
    await removed.exception();
    const its = segmentsOf(pids).filter((n) => !before.has(n));
    assert.equal(its.length, 1);
    rmSync(`/dev/shm/${its[0]}`);
    const [a, b] = await h.client.gather([kept, removed]);
    assert.equal(checksum(a), checksum(bytes(4 * MB)));
    assert.equal(b.byteLength, 4 * MB + 1);
    assert.equal(checksum(b), checksum(bytes(4 * MB + 1)));
    assert.equal(await h.client.submit(checksum, [kept], { workers: A! }), checksum(bytes(4 * MB)));
    // A task on the holder itself, whose argument's segment is gone, waits for it to be made again.
    const before2 = new Set(segmentsOf(pids));
    const input = h.client.submit(bytes, [4 * MB + 2], { workers: A! });
    await input.exception();
    for (const n of segmentsOf(pids).filter((n) => !before2.has(n))) rmSync(`/dev/shm/${n}`);
    assert.equal(await h.client.submit(checksum, [input], { workers: A! }), checksum(bytes(4 * MB + 2)));
    kept.release();
    removed.release();
    input.release();
    await waitFor(() => segmentsOf(pids).length === 0, "the segments to be removed once the keys are released");
  });

  it("a task waiting on the holder behind a long one, whose argument's segment is removed, gets the value made again", async () => {
    const pids = await workerPids();
    const before = new Set(segmentsOf(pids));
    // Made anywhere, so that it can be made again on the other worker while this one is busy.
    const input = h.client.submit(bytes, [4 * MB + 3]);
    await input.exception();
    const A = (await h.client.whoHas([input]))[input.key]![0]!;
    const its = segmentsOf(pids).filter((n) => !before.has(n));
    // The task waits in the worker while its only thread sleeps; then the holder learns its value is gone.
    const long = h.client.submit(sleep, [1000], { workers: A, pure: false });
    await new Promise((r) => setTimeout(r, 100));
    const task = h.client.submit(checksum, [input], { workers: A });
    for (const n of its) rmSync(`/dev/shm/${n}`);
    assert.equal(checksum(await input), checksum(bytes(4 * MB + 3)));
    assert.equal(await task, checksum(bytes(4 * MB + 3)), "the task ran on the value, not on a stand-in for it");
    await long;
    input.release();
    task.release();
  });

  // Last: this process stops sharing for good.
  it("a requester that cannot map a worker's segment gets its bytes over the connection", async () => {
    const [A, B] = h.cluster.workerAddresses();
    const data = h.client.submit(bytes, [4 * MB], { workers: A! });
    const expected = checksum(bytes(4 * MB));
    // B now holds its copy as a segment too: whichever the client asks maps it to send the bytes.
    assert.equal(await h.client.submit(checksum, [data], { workers: B! }), expected);
    stopSharing();
    const local = await data;
    assert.equal(local.byteLength, 4 * MB);
    assert.equal(checksum(local), expected);
    data.release();
  });
});

describe("without shared memory", { skip }, () => {
  it("workers that cannot share send large values over the connection", async () => {
    const saved = process.env.TROUPE_SHM;
    process.env.TROUPE_SHM = "0"; // read by the worker processes started below
    try {
      await withCluster({ workers: 2 }, async ({ cluster, client }) => {
        const [A, B] = cluster.workerAddresses();
        const pids = Object.values(await client.run(pid));
        const data = client.submit(bytes, [4 * MB], { workers: A! });
        assert.equal(await client.submit(checksum, [data], { workers: B! }), checksum(bytes(4 * MB)));
        assert.equal(checksum(await data), checksum(bytes(4 * MB)));
        assert.deepEqual(segmentsOf(pids), []);
      });
    } finally {
      if (saved === undefined) delete process.env.TROUPE_SHM;
      else process.env.TROUPE_SHM = saved;
    }
  });
});
