// Logs (R-OBS-8): info says what happened, debug why; text on a terminal and
// JSON lines otherwise (TROUPE_LOG_FORMAT); an unknown TROUPE_LOG is an error.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Client, ConfigError, Scheduler } from "../../src/index.js";
import { requireBuilt, runCli } from "../helpers/procs.js";

const SCRIPT = "test/fixtures/log-script.ts";

describe("logs", () => {
  requireBuilt();

  test("logs - an unknown TROUPE_LOG or TROUPE_LOG_FORMAT is a clear error, not silence", async () => {
    const r = runCli(["run", SCRIPT], { TROUPE_LOG: "verbose" });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^troupe: TROUPE_LOG must be one of debug, info, warn, error, got "verbose"/);
    const f = runCli(["scheduler", "--port", "0"], { TROUPE_LOG: "info", TROUPE_LOG_FORMAT: "xml" });
    assert.equal(f.status, 2, f.stderr);
    assert.match(f.stderr, /^troupe: TROUPE_LOG_FORMAT must be text or json, got "xml"/);

    const saved = process.env.TROUPE_LOG;
    process.env.TROUPE_LOG = "loud";
    try {
      await assert.rejects(Scheduler.start({ port: 0 }), (err: Error) => err instanceof ConfigError && /TROUPE_LOG must be one of/.test(err.message));
      await assert.rejects(Client.connect("tcp://127.0.0.1:1"), ConfigError);
    } finally {
      if (saved === undefined) delete process.env.TROUPE_LOG;
      else process.env.TROUPE_LOG = saved;
    }
  });

  test("logs - info says a task failed and was retried, as text lines a person reads", () => {
    const r = runCli(["run", SCRIPT], { TROUPE_LOG: "info", TROUPE_LOG_FORMAT: "text" }, 60_000);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").at(-1)!), { failed: "RangeError" });
    const lines = r.stderr.trim().split("\n");
    const line = (re: RegExp) => lines.find((l) => re.test(l));
    assert.ok(line(/^\d\d:\d\d:\d\d\.\d{3} INFO  scheduler\[\d+\] worker joined address=tcp:\/\/\S+/), r.stderr);
    const retry = line(/INFO  scheduler\[\d+\] task failed; retrying it /);
    assert.ok(retry, r.stderr);
    assert.match(retry!, /key=refuse-\S+ group=refuse worker=tcp:\/\/\S+ error="RangeError: no such thing" retriesLeft=0/);
    assert.ok(line(/INFO  scheduler\[\d+\] task failed key=refuse-/), r.stderr);
    assert.ok(!lines.some((l) => l.startsWith("{")), "no JSON when text is asked for");
    assert.ok(!lines.some((l) => / DEBUG /.test(l)), "no debug lines at info");
  });

  test("logs - JSON lines when stderr is not a terminal, with the why at debug", () => {
    const r = runCli(["run", SCRIPT], { TROUPE_LOG: "debug" }, 60_000);
    assert.equal(r.status, 0, r.stderr);
    const records = r.stderr
      .trim()
      .split("\n")
      // The embedded cluster's one announcement of its dashboard link is not a log line.
      .filter((l) => !l.startsWith("troupe dashboard at "))
      .map((l) => JSON.parse(l) as { level: string; component: string; msg: string; key?: string; stack?: string });
    const failed = records.find((x) => x.msg === "task failed");
    assert.equal(failed?.level, "info");
    const why = records.find((x) => x.msg === "the failed task's stack" && x.key === failed!.key);
    assert.equal(why?.level, "debug");
    assert.match(why!.stack!, /RangeError: no such thing/);
  });
});
