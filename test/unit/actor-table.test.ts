// The actors of one actor thread, without a thread: calls, and when a
// released actor is disposed of (R-ACT-9b).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ActorTable, MissingActorError } from "../../src/worker/actor-table.js";

class Sleeper {
  /** The instance the table made last: the test reaches it here. */
  static last: Sleeper | undefined;
  disposedAt: number | undefined;
  ended = 0;
  #wake: Array<() => void> = [];
  constructor() {
    Sleeper.last = this;
  }
  async sleep(): Promise<string> {
    await new Promise<void>((r) => this.#wake.push(r));
    this.ended++;
    return "woke";
  }
  wakeAll(): void {
    for (const w of this.#wake.splice(0)) w();
  }
  [Symbol.dispose](): void {
    this.disposedAt = this.ended;
  }
}

const noReport = (err: unknown) => assert.fail(`a dispose hook failed: ${String(err)}`);

async function withSleeper(): Promise<{ table: ActorTable; sleeper: Sleeper }> {
  const table = new ActorTable();
  await table.create("S-1", Sleeper, []);
  return { table, sleeper: Sleeper.last! };
}

describe("ActorTable", () => {
  test("actor table - a released actor is disposed of only after the async calls running on it end", async () => {
    const { table, sleeper } = await withSleeper();
    const running = [table.invoke("S-1", "call", "sleep", []), table.invoke("S-1", "call", "sleep", [])] as Promise<string>[];
    let freed = false;
    const free = table.free(["S-1"], noReport).then(() => (freed = true));
    assert.equal(table.has("S-1"), false, "a released actor takes no new call");
    assert.throws(() => table.invoke("S-1", "call", "sleep", []), MissingActorError);
    await new Promise((r) => setImmediate(r));
    assert.equal(freed, false);
    assert.equal(sleeper.disposedAt, undefined, "disposed of while its calls were running");
    sleeper.wakeAll();
    assert.deepEqual(await Promise.all(running), ["woke", "woke"]);
    await free;
    assert.equal(sleeper.disposedAt, 2, "disposed of after both calls ended");
  });

  test("actor table - an actor with no call running is disposed of at once, and only once", async () => {
    const { table, sleeper } = await withSleeper();
    await Promise.all([table.free(["S-1"], noReport), table.free(["S-1"], noReport)]);
    assert.equal(sleeper.disposedAt, 0);
    sleeper.disposedAt = undefined;
    await table.freeAll(noReport);
    assert.equal(sleeper.disposedAt, undefined);
  });

  test("actor table - a stopping thread disposes of every actor without waiting for its calls", async () => {
    const { table, sleeper } = await withSleeper();
    const running = table.invoke("S-1", "call", "sleep", []) as Promise<string>;
    const free = table.free(["S-1"], noReport);
    await table.freeAll(noReport);
    assert.equal(sleeper.disposedAt, 0);
    sleeper.wakeAll();
    await running;
    await free;
    assert.equal(sleeper.disposedAt, 0, "the release that waited does not dispose of it again");
  });
});
