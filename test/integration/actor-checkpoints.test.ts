// Checkpoints (R-ACT-19): a restarted actor is rebuilt from its latest
// checkpoint, kept on a worker other than its own.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as troupe from "../../src/index.js";
import { actorInfo, ConfigError } from "../../src/index.js";
import { Tally } from "../fixtures/actors-flow.js";
import { useCluster, waitFor } from "../helpers/cluster.js";

const T = { timeout: 120_000 };

describe("actor checkpoints", () => {
  const h = useCluster({ workers: 2 });

  it("checkpoints - the symbols are registered, so any copy of troupe sees the same ones", T, () => {
    assert.equal(troupe.checkpoint, Symbol.for("troupe.checkpoint"));
    assert.equal(troupe.restore, Symbol.for("troupe.restore"));
  });

  it("checkpoints - a counter at 41 whose worker is SIGKILLed comes back at 41 on another worker", T, async () => {
    const tally = await h.client.submit(Tally, [], { actor: true, restarts: 1 });
    const first = actorInfo(tally).workerAddress;
    let last = 0;
    for (let i = 0; i < 41; i++) last = await tally.increment();
    assert.equal(last, 41);
    await h.cluster.stopWorker(first, { graceful: false });
    await waitFor(() => actorInfo(tally).workerAddress !== first, "the client to learn the actor's new worker", 30_000);
    assert.equal(await tally.n.result(15_000), 41, "the re-created actor starts from its checkpoint");
    assert.equal(await tally.restored, true);
    assert.notEqual(await tally.where(), first);
    assert.equal(await tally.increment(), 42);
  });

  it("checkpoints - checkpointEvery is for actors, and a positive integer", T, () => {
    assert.throws(() => h.client.submit(Tally, [], { actor: true, checkpointEvery: 0 }), ConfigError);
    assert.throws(() => h.client.submit(() => 1, [], { checkpointEvery: 2 }), /checkpointEvery is for actors/);
  });
});
