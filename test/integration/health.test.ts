// /health on the scheduler and on each worker (R-OPS-1): what Kubernetes
// probes and load balancers ask, with no token.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Scheduler, Worker } from "../../src/index.js";

describe("health", () => {
  const token = "health-" + process.pid;
  let scheduler: Scheduler;
  let worker: Worker;
  before(async () => {
    // Beyond loopback (with a token), where every other route of the dashboard needs the token.
    scheduler = await Scheduler.start({ host: "0.0.0.0", token, dashboardPort: 0 });
    worker = await Worker.start({ scheduler: scheduler.address.replace("0.0.0.0", "127.0.0.1"), token, host: "0.0.0.0", contactHost: "127.0.0.1" });
  });
  after(async () => {
    await worker?.close();
    await scheduler?.close();
  });

  test("health - the scheduler answers 200 on /health without the token, while its other routes still need it", async () => {
    const base = `http://127.0.0.1:${new URL(scheduler.dashboardUrl!).port}/`;
    const health = await fetch(new URL("health", base));
    assert.equal(health.status, 200);
    assert.equal(await health.text(), "ok\n");
    assert.equal((await fetch(new URL("api/info", base))).status, 401);
  });

  test("health - a worker answers 200 on /health of its own HTTP port, and stops answering once closed", async () => {
    const url = new URL(worker.httpUrl);
    assert.notEqual(url.port, new URL(worker.address.replace("tcp:", "http:")).port, "HTTP has a port of its own");
    const health = await fetch(`http://127.0.0.1:${url.port}/health`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), "ok\n");
    assert.equal((await fetch(`http://127.0.0.1:${url.port}/nope`)).status, 404);
    await worker.close();
    await assert.rejects(fetch(`http://127.0.0.1:${url.port}/health`), "nothing listens once the worker closed");
  });

  test("health - a worker refuses to start when its HTTP port is taken, naming the option", async () => {
    const taken = new URL(scheduler.dashboardUrl!).port;
    await assert.rejects(
      Worker.start({ scheduler: scheduler.address.replace("0.0.0.0", "127.0.0.1"), token, httpPort: Number(taken), host: "0.0.0.0", contactHost: "127.0.0.1" }),
      (err: Error) => err.name === "CommError" && /HTTP endpoint \(\/health, \/metrics\) on port \d+.*--http-port/.test(err.message),
    );
  });
});
