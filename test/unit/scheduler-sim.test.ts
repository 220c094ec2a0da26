// Seeded randomized simulation of the scheduler (see bench/sim.ts for the
// world it runs against and what it checks after every step). A failure names
// the seed and step: rerun `node --import tsx bench/sim.ts --seed N --steps M`
// with SIM_TRACE=<key> to see that key's history.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runSimulation } from "../../bench/sim.js";

for (let seed = 1; seed <= 16; seed++) {
  test(`simulation seed ${seed}: invariants hold after every step`, () => {
    const stats = runSimulation({ steps: 5000, seed });
    // The run exercised the interesting paths, not just idled.
    assert.ok(stats.computeTasks > 300, `compute-tasks ${stats.computeTasks}`);
    assert.ok(stats.workerDeaths > 10, `worker deaths ${stats.workerDeaths}`);
    assert.ok(stats.chained > 20, `chained ${stats.chained}`);
    assert.ok(stats.retired > 0 && stats.replicated > 0, `retired ${stats.retired}, keys copied off retiring workers ${stats.replicated}`);
  });
}
