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

describe("dashboard - beyond loopback it needs the token (R-SEC-7)", () => {
  const token = "dash-secret-" + process.pid;
  let scheduler: Scheduler;
  let base: string;
  before(async () => {
    // Where it listens decides, not where a request comes from: bound to every interface, asked over loopback.
    scheduler = await Scheduler.start({ host: "0.0.0.0", token, dashboardPort: 0 });
    base = `http://127.0.0.1:${new URL(scheduler.dashboardUrl!).port}/`;
  });
  after(() => scheduler?.close());

  const get = (path: string, headers: Record<string, string> = {}) => fetch(new URL(path, base), { headers, redirect: "manual" });

  test("dashboard - without credentials every route answers 401 and no data", async () => {
    for (const path of ["/", "api/info", "metrics", "nope"]) {
      const r = await get(path);
      assert.equal(r.status, 401, path);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer/);
      const body = await r.text();
      assert.ok(!body.includes(scheduler.address.split(":").at(-1)!), `${path} leaks the scheduler's port: ${body}`);
      assert.doesNotMatch(body, /troupe_workers|"workers"/);
    }
    const page = await (await get("/")).text();
    assert.match(page, /needs the cluster token/);
    assert.match(page, /\?token=/, "the page says how to log in");
  });

  test("dashboard - a scraper with Authorization: Bearer gets the API and metrics", async () => {
    const info = await get("api/info", { authorization: `Bearer ${token}` });
    assert.equal(info.status, 200);
    assert.equal(((await info.json()) as { address: string }).address, scheduler.address);
    const metrics = await get("metrics", { authorization: `Bearer ${token}` });
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^troupe_workers 0$/m);
  });

  test("dashboard - the login link sets an HttpOnly, SameSite=Strict cookie that then opens every route", async () => {
    const login = await get(`/?token=${encodeURIComponent(token)}`);
    assert.equal(login.status, 200);
    assert.match(await login.text(), /troupe scheduler/);
    const setCookie = login.headers.get("set-cookie") ?? "";
    assert.match(setCookie, /HttpOnly/i);
    assert.match(setCookie, /SameSite=Strict/i);
    assert.ok(!setCookie.includes(token), "the cookie is not the token itself");
    const cookie = setCookie.split(";")[0]!;
    const info = await get("api/info", { cookie });
    assert.equal(info.status, 200);
    assert.equal(((await info.json()) as { address: string }).address, scheduler.address);
    assert.equal((await get("metrics", { cookie: `other=1; ${cookie}` })).status, 200);
  });

  test("dashboard - a wrong token, bearer or cookie is refused", async () => {
    const wrong = await get("/?token=not-the-token");
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get("set-cookie"), null);
    assert.match(await wrong.text(), /wrong/);
    assert.equal((await get("api/info?token=not-the-token")).status, 401);
    assert.equal((await get("api/info", { authorization: "Bearer not-the-token" })).status, 401);
    assert.equal((await get("api/info", { authorization: `Basic ${Buffer.from(`x:${token}`).toString("base64")}` })).status, 401);
    const name = (await get(`/?token=${encodeURIComponent(token)}`)).headers.get("set-cookie")!.split("=")[0]!;
    assert.equal((await get("metrics", { cookie: `${name}=forged` })).status, 401);
    assert.equal((await get("metrics", { cookie: `${name}=${token}` })).status, 401, "the token is no cookie");
  });
});
