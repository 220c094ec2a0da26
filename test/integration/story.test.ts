// client.story(key) (R-OBS-7): one key's transitions across the scheduler and
// the workers, in order, each with the event that caused it.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, type StoryEntry } from "../../src/index.js";
import { double } from "../fixtures/failures.js";
import { flaky } from "../fixtures/tasks.js";
import { waitFor, withCluster } from "../helpers/cluster.js";

/** "where from→to" lines, for messages and for matching in order. */
const lines = (story: StoryEntry[]) => story.map((e) => `${e.where === "scheduler" ? "scheduler" : "worker"} ${e.from}→${e.to}`);

/** Asserts `expected` occur in `story` in this order (other entries may come between). */
function assertInOrder(story: StoryEntry[], expected: Array<Partial<StoryEntry> & { line: string }>): StoryEntry[] {
  const found: StoryEntry[] = [];
  const all = lines(story);
  let i = 0;
  for (const want of expected) {
    const { line, ...fields } = want;
    while (i < story.length && !(all[i] === line && Object.entries(fields).every(([k, v]) => story[i]![k as keyof StoryEntry] === v))) i++;
    assert.ok(i < story.length, `"${line}" ${JSON.stringify(fields)} not found in order in:\n${all.map((l, j) => `${l} (${story[j]!.cause})`).join("\n")}`);
    found.push(story[i++]!);
  }
  return found;
}

function assertWellFormed(story: StoryEntry[], key: string): void {
  for (let i = 0; i < story.length; i++) {
    const e = story[i]!;
    assert.equal(e.key, key);
    assert.match(e.cause, /^[a-z-]+#\d+$/, `a cause id: ${e.cause}`);
    if (i > 0) assert.ok(e.at >= story[i - 1]!.at, "in time order");
  }
}

describe("story", () => {
  test("story - a task that fails and is retried: the failure on the worker, the retry, the result, with causes", async () => {
    await withCluster({ workers: 1, threadsPerWorker: 1 }, async ({ client, cluster }) => {
      const [w] = cluster.workerAddresses();
      const f = client.submit(flaky, [1], { retries: 1, pure: false });
      assert.equal(await f, 2);
      const story = await client.story(f);
      assertWellFormed(story, f.key);
      const [submitted, sent, , failed, retried, , , , done] = assertInOrder(story, [
        { line: "scheduler new→waiting" },
        { line: "scheduler waiting→processing", worker: w },
        { line: "worker new→ready", where: w },
        { line: "worker running→erred", where: w },
        { line: "scheduler processing→waiting", worker: w },
        { line: "scheduler waiting→processing", worker: w },
        { line: "worker new→ready", where: w },
        { line: "worker running→memory", where: w },
        { line: "scheduler processing→memory", worker: w },
      ]);
      assert.match(submitted!.cause, /^update-graph#/);
      assert.equal(sent!.cause, submitted!.cause, "one event: submitted and sent to the worker");
      assert.match(failed!.cause, /^task-failed#/);
      assert.match(retried!.cause, /^task-erred#/, "the retry was caused by the worker's report");
      assert.match(done!.cause, /^tasks?-finished#/);
      // A key nobody ever saw has no story; a bad argument says what to pass.
      assert.deepEqual(await client.story("no-such-key"), []);
      await assert.rejects(client.story(42 as unknown as string), ConfigError);
    });
  });

  test("story - a key lost with its worker is recomputed elsewhere: the loss and the recomputation, in order", async () => {
    await withCluster({ workers: 2 }, async ({ client, cluster }) => {
      const [a, b] = cluster.workerAddresses();
      const x = client.submit(double, [21], { workers: a!, allowOtherWorkers: true });
      assert.equal(await x, 42);
      await cluster.stopWorker(a!, { graceful: false });
      await waitFor(async () => {
        const who = (await client.whoHas(x))[x.key] ?? [];
        return who.length > 0 && !who.includes(a!);
      }, "the result to be recomputed elsewhere", 15_000);
      const story = await client.story(x);
      assertWellFormed(story, x.key);
      const [, firstDone, lost, , again, , ran] = assertInOrder(story, [
        { line: "scheduler waiting→processing", worker: a },
        { line: "scheduler processing→memory", worker: a },
        { line: "scheduler memory→released", worker: a },
        { line: "scheduler released→waiting", worker: a },
        { line: "scheduler waiting→processing", worker: b },
        { line: "worker ready→running", where: b },
        { line: "worker running→memory", where: b },
        { line: "scheduler processing→memory", worker: b },
      ]);
      assert.match(firstDone!.cause, /^tasks?-finished#/);
      assert.match(lost!.cause, /^worker-removed#/, "lost because its worker was removed");
      assert.equal(again!.cause, lost!.cause, "recomputed in the same event");
      assert.ok(ran!.at > lost!.at);
      // The dead worker's own records went with it: nothing from it is claimed.
      assert.ok(!story.some((e) => e.where === a));
    });
  });
});
