import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, progress } from "../../src/index.js";
import { SETTLED } from "../../src/client/settle.js";
import { waitFor } from "../helpers/cluster.js";

/** A future that settles when told to, successfully or not. */
class Fake {
  status = "pending";
  readonly #settled: Promise<void>;
  settle!: (status: "finished" | "error") => void;
  constructor() {
    this.#settled = new Promise((r) => (this.settle = (s) => { this.status = s; r(); }));
  }
  [SETTLED]() { return this.#settled; }
  done() { return this.status !== "pending"; }
  async result() { await this.#settled; return 1; }
}

/** A stream as progress() sees a file or a CI log: no terminal. */
function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = { isTTY, columns: 80, write: (s: string) => { chunks.push(s); return true; }, on: () => stream, removeListener: () => stream, cursorTo: () => true, clearLine: () => true, moveCursor: () => true };
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => chunks.join("") };
}

describe("progress", () => {
  test("progress - off a terminal: a line every interval with failures and an estimate, and one at the end", async () => {
    const fs = Array.from({ length: 4 }, () => new Fake());
    const out = sink(false);
    const done = progress(fs, { stream: out.stream, label: "work", interval: 20 });
    fs[0]!.settle("finished");
    fs[1]!.settle("error");
    const mid = await waitFor(() => out.text().split("\n").find((l) => l.startsWith("work: 2/4")), "a line while half is done");
    assert.match(mid, /^work: 2\/4 done \(50%\), 1 failed, \d+s elapsed, about \d+s left$/);
    fs[2]!.settle("error");
    fs[3]!.settle("finished");
    await done;
    const last = out.text().trim().split("\n").at(-1)!;
    assert.match(last, /^work: 4\/4 done \(100%\), 2 failed, \d+s elapsed$/);
  });

  test("progress - on a terminal the bar counts failures", async () => {
    const fs = [new Fake(), new Fake()];
    const out = sink(true);
    const done = progress(fs, { stream: out.stream });
    fs[0]!.settle("error");
    fs[1]!.settle("finished");
    await done;
    assert.match(out.text(), /2\/2 100% \| 1 failed/);
  });

  test("progress - a bad interval is a ConfigError", async () => {
    await assert.rejects(progress([], { interval: -1 }), ConfigError);
  });
});
