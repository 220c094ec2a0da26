// /metrics of the scheduler and of each worker (R-OBS-6): the exposition
// format and Prometheus' conventions, counters that rise, histograms of task
// and actor-call durations, process metrics, bounded labels.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client, Scheduler, Worker } from "../../src/index.js";
import { Counter } from "../fixtures/actors.js";
import { add, failWith } from "../fixtures/tasks.js";
import { waitFor } from "../helpers/cluster.js";
import { parseMetrics, promtoolProblems, value, type Family } from "../helpers/prometheus.js";

async function scrape(url: string, headers: Record<string, string> = {}): Promise<{ text: string; families: Map<string, Family> }> {
  const r = await fetch(url, { headers });
  assert.equal(r.status, 200, `${url}: ${r.status}`);
  assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  const problems = promtoolProblems(text);
  assert.ok(problems === undefined || problems === "", `promtool check metrics:\n${problems}`);
  return { text, families: parseMetrics(text) };
}

function assertType(families: Map<string, Family>, name: string, type: Family["type"]): void {
  assert.equal(families.get(name)?.type, type, `${name} is a ${type}`);
}

describe("metrics", () => {
  let scheduler: Scheduler;
  let worker: Worker;
  let client: Client;
  before(async () => {
    scheduler = await Scheduler.start({ dashboardPort: 0 });
    worker = await Worker.start({ scheduler: scheduler.address, name: "metrics-worker", heartbeatIntervalMs: 100 });
    client = await Client.connect(scheduler.address);
  });
  after(async () => {
    await client?.close();
    await worker?.close();
    await scheduler?.close();
  });

  test("metrics - the scheduler's counters, histograms and process metrics follow Prometheus' conventions and rise", async () => {
    const url = new URL("metrics", scheduler.dashboardUrl!).toString();
    await client.gather([1, 2, 3, 4, 5].map((i) => client.submit(add, [i, 10])));
    const failed = client.submit(failWith, ["range", "metrics failure"]);
    await assert.rejects(failed.result());
    const counterFuture = client.submit(Counter, [], { actor: true });
    const counter = await counterFuture;
    for (let i = 0; i < 4; i++) await counter.increment();

    // Actor calls reach the scheduler with heartbeats.
    const first = await waitFor(async () => {
      const s = await scrape(url);
      return value(s.families, "troupe_actor_calls_total", { class: "Counter" }) === 4 ? s : undefined;
    }, "4 Counter calls in the scheduler's metrics");
    const f = first.families;
    assertType(f, "troupe_tasks_finished_total", "counter");
    assertType(f, "troupe_tasks_erred_total", "counter");
    assertType(f, "troupe_task_duration_seconds", "histogram");
    assertType(f, "troupe_actor_calls_total", "counter");
    assertType(f, "troupe_actor_call_duration_seconds", "histogram");
    assertType(f, "troupe_tasks", "gauge");
    assertType(f, "process_cpu_seconds_total", "counter");
    assertType(f, "process_resident_memory_bytes", "gauge");
    assertType(f, "nodejs_eventloop_lag_p99_seconds", "gauge");
    assert.equal(value(f, "troupe_tasks_finished_total", { group: "add" }), 5);
    assert.equal(value(f, "troupe_tasks_erred_total", { group: "failWith" }), 1);
    assert.equal(value(f, "troupe_task_duration_seconds", { group: "add" }, "troupe_task_duration_seconds_count"), 5);
    assert.equal(value(f, "troupe_actor_call_duration_seconds", { class: "Counter" }, "troupe_actor_call_duration_seconds_count"), 4);
    assert.ok(value(f, "process_resident_memory_bytes")! > 1e6, "RSS in bytes");
    // Never a key in a label: keys are unbounded.
    for (const key of [counterFuture.key, failed.key]) assert.ok(!first.text.includes(key), `a key in the metrics: ${key}`);

    await client.gather([6, 7, 8].map((i) => client.submit(add, [i, 1])));
    for (let i = 0; i < 3; i++) await counter.increment();
    const second = await waitFor(async () => {
      const s = await scrape(url);
      return value(s.families, "troupe_actor_calls_total", { class: "Counter" }) === 7 ? s : undefined;
    }, "7 Counter calls in the scheduler's metrics");
    assert.equal(value(second.families, "troupe_tasks_finished_total", { group: "add" }), 8);
    assert.ok(value(second.families, "process_cpu_seconds_total")! >= value(f, "process_cpu_seconds_total")!);
  });

  test("metrics - each worker serves its own /metrics, named in schedulerInfo()", async () => {
    const info = await client.schedulerInfo();
    const url = info.workers[worker.address]?.metricsUrl;
    assert.equal(url, worker.metricsUrl);
    assert.match(url!, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const before = await scrape(url!);
    const finished = (fam: Map<string, Family>) => value(fam, "troupe_worker_tasks_finished_total", { group: "add" }) ?? 0;
    await client.gather([1, 2].map((i) => client.submit(add, [i, 3])));
    const counter = await client.submit(Counter, [], { actor: true });
    await counter.increment();
    const after = await waitFor(async () => {
      const s = await scrape(url!);
      return (value(s.families, "troupe_worker_actor_calls_total", { class: "Counter" }) ?? 0) >= 1 ? s : undefined;
    }, "the worker's actor calls");
    const f = after.families;
    assert.equal(finished(f), finished(before.families) + 2);
    assertType(f, "troupe_worker_task_duration_seconds", "histogram");
    assertType(f, "troupe_worker_actor_call_duration_seconds", "histogram");
    assertType(f, "troupe_worker_memory_bytes", "gauge");
    assertType(f, "process_cpu_seconds_total", "counter");
    assertType(f, "nodejs_eventloop_lag_max_seconds", "gauge");
    assert.equal(value(f, "troupe_worker_memory_limit_bytes"), worker.memoryLimit);
  });
});

describe("metrics - a worker beyond loopback needs the token (R-SEC-7)", () => {
  const token = "metrics-secret-" + process.pid;
  let scheduler: Scheduler;
  let worker: Worker;
  before(async () => {
    scheduler = await Scheduler.start({ token });
    worker = await Worker.start({ scheduler: scheduler.address, token, host: "0.0.0.0", contactHost: "127.0.0.1" });
  });
  after(async () => {
    await worker?.close();
    await scheduler?.close();
  });

  test("metrics - without the token a worker's /metrics answers 401; with it, the metrics", async () => {
    const url = worker.metricsUrl;
    const bare = await fetch(url);
    assert.equal(bare.status, 401);
    assert.doesNotMatch(await bare.text(), /troupe_worker/);
    assert.equal((await fetch(url, { headers: { authorization: "Bearer wrong" } })).status, 401);
    const { families } = await scrape(url, { authorization: `Bearer ${token}` });
    assert.ok(families.has("troupe_worker_memory_bytes"));
  });
});
