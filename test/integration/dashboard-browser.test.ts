// The live dashboard in a real browser (R-OBS-5): Debian's Chromium, headless,
// driven by playwright-core against the page of an embedded cluster while it
// runs tasks and actor calls. Skipped, saying why, where no Chromium exists.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Client, LocalCluster, type Future } from "../../src/index.js";
import { Counter } from "../fixtures/actors.js";
import { explode, step } from "../fixtures/dashboard-work.js";

const CHROMIUM = process.env.TROUPE_CHROMIUM ?? "/usr/bin/chromium";
const missing = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set TROUPE_CHROMIUM)`;
if (missing) console.log(`# skipping the dashboard's browser test: ${missing}`);

/** How long the page may take to show what the workload did: heartbeats come each second, frames every half. */
const SHOWN_MS = 30_000;

describe("dashboard - in a browser", () => {
  test("dashboard - the live page shows the task stream, actors with call rates, a failure's stack and worker output, without console errors", { timeout: 120_000, skip: missing }, async () => {
    const { chromium } = await import("playwright-core");
    const dir = mkdtempSync(join(tmpdir(), "troupe-dashboard-"));
    const cluster = await LocalCluster.start({ workers: 2, threadsPerWorker: 2 });
    const client = await Client.connect(cluster);
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    let working = true;
    const calls: Promise<unknown>[] = [];
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(`console: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page: ${e.message}`));
      await page.goto(cluster.dashboardLink!);

      // The workload runs while the page watches: tasks on every thread, actor calls, one failure.
      const counter = await client.submit(Counter, [], { actor: true });
      calls.push(
        (async () => {
          while (working) await Promise.all(Array.from({ length: 20 }, () => counter.increment()));
        })(),
      );
      const tasks: Future<number>[] = client.map(step, Array.from({ length: 400 }, (_, i) => [i, 40] as [number, number]));
      const failed = client.submit(explode, ["on purpose"]);
      await assert.rejects(failed.result(), /exploded: on purpose/);

      // Run in the page (as text: this file is not compiled against the DOM).
      const shown = (expression: string) => page.waitForFunction(expression, undefined, { timeout: SHOWN_MS });
      await shown(`(() => { const c = document.getElementById("stream"); return Number(c.dataset.lanes) >= 4 && Number(c.dataset.bars) >= 20; })()`);
      await shown(`[...document.querySelectorAll("#actors tr[data-state=alive]")].some((tr) => tr.textContent.includes("Counter") && Number(tr.querySelector("[data-rate]").dataset.rate) > 0)`);
      const stack = page.locator("#failures pre.stack", { hasText: "explode" }).first();
      await stack.waitFor({ state: "visible", timeout: SHOWN_MS });
      assert.match((await stack.textContent())!, /dashboard-work\.ts/, "the remote stack names the task's file");
      await page.locator("#logs pre.log", { hasText: "done" }).first().waitFor({ state: "visible", timeout: SHOWN_MS });
      await shown(`document.querySelectorAll("#workers tr[data-worker]").length === 2 && document.getElementById("status").textContent === "live"`);

      const lanes = await page.locator("#stream").getAttribute("data-lanes");
      assert.equal(Number(lanes), 4, "one lane per task thread of each worker");
      await page.screenshot({ path: join(dir, "dashboard.png"), fullPage: true });
      await client.gather(tasks);
      assert.deepEqual(problems, [], "the page ran without console errors");
    } finally {
      working = false;
      await Promise.allSettled(calls);
      await browser.close();
      await client.close();
      await cluster.close();
    }
  });
});
