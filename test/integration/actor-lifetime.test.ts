// When actors are deleted (SPEC R-ACT-9b): calls already made keep their
// actor alive, a pending dependent holds it until it finishes, and a client
// forgets what it knew of actors it let go. Each actor writes, when disposed
// of, how many of its calls had run to their end.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ActorLostError, Client, type Actor } from "../../src/index.js";
import { Counter } from "../fixtures/actors.js";
import { add } from "../fixtures/tasks.js";
import { Lingering, napOn, napOnFromWorker, Nudger } from "../fixtures/lifetime.js";
import { useCluster, waitFor } from "../helpers/cluster.js";
import { forceGc } from "../helpers/gc.js";

const T = { timeout: 60_000 };

/** How many calls had run when the actor was disposed of; waits for its dispose hook. */
async function disposedAfter(marker: string, what: string): Promise<number> {
  await waitFor(() => existsSync(marker), `${what}: the actor's dispose hook to run`, 20_000);
  return Number(readFileSync(marker, "utf8"));
}

async function actorsOnWorkers(client: Client): Promise<number> {
  const info = await client.schedulerInfo();
  return Object.values(info.workers).reduce((n, w) => n + Object.keys(w.actors).length, 0);
}

/**
 * Makes calls on a new actor and keeps no reference to it: once this
 * resolves, only the calls are left. Returns how many calls were made.
 */
async function callAndDrop(client: Client, marker: string): Promise<number> {
  const handle = await client.submit(Lingering, [marker], { actor: true });
  for (let i = 0; i < 100; i++) handle.touch();
  handle.nap(1500);
  handle.touch(handle.nap(300)); // waits here for the nap it takes as an argument
  return 103;
}

describe("actor lifetime", () => {
  const h = useCluster({ workers: 2 });
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "troupe-lifetime-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const directToWorkers of [true, false]) {
    it(
      `actor lifetime - fire-and-forget calls on a dropped handle all run before the actor is deleted (directToWorkers: ${directToWorkers})`,
      T,
      async () => {
        const client = await Client.connect(h.cluster, { directToWorkers });
        const gc = forceGc();
        const timer = setInterval(gc, 5);
        try {
          const marker = join(dir, `dropped-${directToWorkers}`);
          const made = await callAndDrop(client, marker);
          // Only garbage collection of the handle can release the actor.
          assert.equal(await disposedAfter(marker, "the handle was collected"), made);
          assert.equal(client._actorRecordCount, 0, "the client forgot the actor");
        } finally {
          clearInterval(timer);
          await client.close();
        }
      },
    );
  }

  it("actor lifetime - a running async call survives the release of the last handle", T, async () => {
    const marker = join(dir, "running");
    const handle = await h.client.submit(Lingering, [marker], { actor: true });
    const napping = handle.nap(3000);
    assert.equal(await handle.touch(), 1, "the nap started first: calls start in the order they were made");
    h.client.release(handle);
    assert.equal(await napping.result(15_000), 2);
    assert.equal(await disposedAfter(marker, "the last handle was released"), 2);
    // Released for good: a later call through the handle is refused.
    await assert.rejects(handle.touch().result(15_000), ActorLostError);
  });

  it("actor lifetime - a call from another actor runs to its end before the worker deletes the released actor", T, async () => {
    const marker = join(dir, "nudged");
    const target = await h.client.submit(Lingering, [marker], { actor: true });
    const nudger = await h.client.submit(Nudger, [], { actor: true });
    try {
      const nap = nudger.nap(target, 3000);
      await waitFor(async () => (await target.napping) === 1, "the nap to start");
      // The client's own calls have all been answered: its release reaches the worker while the nap runs.
      h.client.release(target);
      assert.equal(await nap.result(15_000), 1);
      assert.equal(await disposedAfter(marker, "released while another actor's call ran"), 1);
    } finally {
      h.client.release(nudger);
    }
  });

  for (const [where, task] of [
    ["the client", napOn],
    ["a worker", napOnFromWorker],
  ] as const) {
    it(`actor lifetime - released while a task from ${where} depends on it: deleted once that task finished and was released`, T, async () => {
      const marker = join(dir, `dependent-${task.name}`);
      const future = h.client.submit(Lingering, [marker], { actor: true });
      const handle = await future;
      const dependent = h.client.submit(task, [handle as Actor<Lingering>, 1000]);
      h.client.release(future); // the client lets go; the pending task still holds the actor
      assert.equal(await h.client.submit(add, [1, 2]), 3, "other work goes on meanwhile");
      assert.equal(await dependent.result(15_000), 1, "the actor lived until the task called it");
      dependent.release();
      assert.equal(await disposedAfter(marker, "its dependent finished and was released"), 1);
    });
  }

  it("actor lifetime - a client forgets each actor released once its calls settle: 2,000 actors leave no record", T, async () => {
    const client = await Client.connect(h.cluster);
    try {
      const n = 2000;
      const futures = client.map(Counter, Array.from({ length: n }, () => []), { actors: true });
      const handles = await client.gather(futures);
      const calls = handles.map((c) => c.increment());
      assert.equal(client._actorRecordCount, n);
      client.release(futures);
      assert.deepEqual(new Set(await Promise.all(calls)), new Set([1]), "every call made before the release ran");
      assert.equal(client._actorRecordCount, 0);
      await waitFor(async () => (await actorsOnWorkers(client)) === 0, "the workers to delete the 2,000 actors", 20_000);
    } finally {
      await client.close();
    }
  });
});
