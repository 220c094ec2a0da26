// The scheduler's dashboard: page, JSON API and Prometheus metrics (R-OBS-1).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client, Scheduler, Worker } from "../../src/index.js";
import { Counter } from "../fixtures/actors.js";
import { waitFor } from "../helpers/cluster.js";

describe("dashboard", () => {
  let scheduler: Scheduler;
  let worker: Worker;
  let client: Client;
  before(async () => {
    scheduler = await Scheduler.start({ token: "dash", dashboardPort: 0 });
    worker = await Worker.start({ scheduler: scheduler.address, token: "dash", name: "dash-worker", heartbeatIntervalMs: 200 });
    client = await Client.connect(scheduler.address, { token: "dash" });
  });
  after(async () => {
    await client?.close();
    await worker?.close();
    await scheduler?.close();
  });

  test("serves a page, the JSON API and metrics with actor call counts", async () => {
    const url = scheduler.dashboardUrl!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const counter = await client.submit(Counter, [], { actor: true });
    for (let i = 0; i < 5; i++) await counter.increment();

    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /troupe scheduler/);

    const info = await waitFor(async () => {
      const i = (await (await fetch(new URL("api/info", url))).json()) as { address: string; workers: Record<string, unknown> };
      const w = Object.values(i.workers)[0] as { actors: Record<string, { calls: number }> } | undefined;
      return w && Object.values(w.actors)[0]?.calls === 5 ? i : undefined;
    }, "the actor's calls to show in the API");
    assert.equal(info!.address, scheduler.address);

    const metrics = await (await fetch(new URL("metrics", url))).text();
    assert.match(metrics, /^troupe_workers 1$/m);
    assert.match(metrics, /troupe_actor_calls_total\{[^}]*class="Counter"\} 5/);
    assert.match(metrics, /# TYPE troupe_tasks gauge/);

    assert.equal((await fetch(new URL("nope", url))).status, 404);
  });
});
