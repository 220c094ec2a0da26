import { test } from "node:test";
import assert from "node:assert/strict";
import type { ComputeTask, KeyState, TaskSpec } from "../../src/protocol/messages.js";
import { Few } from "../../src/scheduler/few.js";
import { InvalidTransition, SchedulerState, TRANSITIONS, type Instruction, type SchedulerEvent } from "../../src/scheduler/state.js";
import { RECOVERY_QUIET_MS } from "../../src/scheduler/recovery.js";
import { Tables } from "../../src/scheduler/tables.js";
import { ARGS, spec } from "../helpers/specs.js";

/** A scheduler plus helpers that feed events and check invariants after each. */
function harness(opts?: ConstructorParameters<typeof SchedulerState>[0]) {
  const s = new SchedulerState(opts);
  let now = 0;
  const h = {
    s,
    ev(e: SchedulerEvent, at?: number): Instruction[] {
      if (at !== undefined) now = at;
      const out = s.handle(e, now);
      s.checkInvariants();
      return out;
    },
    worker(address: string, nthreads = 1, extra: { resources?: Record<string, number>; actorThreads?: number } = {}) {
      return h.ev({ type: "worker-added", address, name: address, nthreads, actorThreads: extra.actorThreads ?? 1, resources: extra.resources ?? {}, incarnation: address + "-1" });
    },
    submit(tasks: TaskSpec[], wanted = tasks.map((t) => t.key), client = "c1") {
      return h.ev({ type: "update-graph", client, tasks, wanted });
    },
    finish(worker: string, key: string, nbytes = 10, actor?: { className: string }) {
      return h.ev({
        type: "task-finished", worker, key, nbytes, startMs: 0, stopMs: 1,
        ...(actor ? { actor: { key, className: actor.className, workerAddress: worker, methods: ["m"], attributes: [], incarnation: 0 } } : {}),
      });
    },
  };
  h.ev({ type: "client-added", client: "c1" });
  return h;
}

const computes = (out: Instruction[]) =>
  out.flatMap((i) => (i.to === "worker" && i.msg.op === "compute-task" ? [{ address: i.address, msg: i.msg as ComputeTask }] : []));
const frees = (out: Instruction[]) =>
  out.flatMap((i) => (i.to === "worker" && i.msg.op === "free-keys" ? [{ address: i.address, keys: [...i.msg.keys].sort() }] : []));
const states = (out: Instruction[], client = "c1") =>
  out.flatMap((i) => (i.to === "client" && i.client === client ? [i.msg as KeyState] : []));

test("simple task: placed, computed, client told", () => {
  const h = harness();
  h.worker("w1");
  const out = h.submit([spec("a")]);
  const c = computes(out);
  assert.equal(c.length, 1);
  assert.equal(c[0]!.address, "w1");
  assert.deepEqual(c[0]!.msg.whoHas, {});
  assert.equal(c[0]!.msg.args, ARGS);
  assert.equal(c[0]!.msg.actor, false);
  const done = h.finish("w1", "a");
  assert.deepEqual(states(done), [{ op: "key-state", key: "a", status: "finished", workers: ["w1"] }]);
  assert.deepEqual(h.s.whoHas(["a", "zz"]), { a: ["w1"], zz: [] });
});

test("chain: chained to the worker computing its dep, intermediates freed as it goes", () => {
  const h = harness();
  h.worker("w1");
  let out = h.submit([spec("a"), spec("b", ["a"]), spec("c", ["b"])], ["c"]);
  // b and c wait on w1 for deps computing there: no holder yet, no round trip per link.
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address, c.msg.whoHas]), [
    ["a", "w1", {}],
    ["b", "w1", { a: [] }],
    ["c", "w1", { b: [] }],
  ]);
  out = h.finish("w1", "a");
  assert.deepEqual(computes(out), []);
  out = h.finish("w1", "b");
  assert.deepEqual(computes(out), []);
  // a is not needed any more (b done), but kept as lineage while b's result exists.
  assert.deepEqual(frees(out), [{ address: "w1", keys: ["a"] }]);
  out = h.finish("w1", "c");
  assert.deepEqual(frees(out), [{ address: "w1", keys: ["b"] }]);
  assert.equal(states(out)[0]!.status, "finished");
  out = h.ev({ type: "release-keys", client: "c1", keys: ["c"] });
  assert.deepEqual(frees(out), [{ address: "w1", keys: ["c"] }]);
  assert.equal(h.s.size, 0);
});

test("fan-in: waits for all deps; whoHas lists each", () => {
  const h = harness();
  h.worker("w1", 4);
  h.worker("w2", 4);
  const out = h.submit([spec("x1"), spec("x2"), spec("x3"), spec("sum", ["x1", "x2", "x3"])], ["sum"]);
  const placed = new Map(computes(out).map((c) => [c.msg.key, c.address]));
  assert.equal(placed.size, 3);
  assert.equal(computes(h.finish(placed.get("x1")!, "x1")).length, 0);
  assert.equal(computes(h.finish(placed.get("x2")!, "x2")).length, 0);
  const last = computes(h.finish(placed.get("x3")!, "x3"));
  assert.equal(last.length, 1);
  assert.deepEqual(Object.keys(last[0]!.msg.whoHas).sort(), ["x1", "x2", "x3"]);
});

test("pure dedupe: a known key is not recomputed; a second client is told at once", () => {
  const h = harness();
  h.worker("w1");
  h.ev({ type: "client-added", client: "c2" });
  assert.equal(computes(h.submit([spec("p")])).length, 1);
  assert.equal(computes(h.submit([spec("p")], ["p"], "c2")).length, 0);
  const out = h.finish("w1", "p");
  assert.equal(states(out, "c1").length, 1);
  assert.equal(states(out, "c2").length, 1);
  const again = h.submit([spec("p")], ["p"], "c2");
  assert.equal(computes(again).length, 0);
  assert.equal(states(again, "c2")[0]!.status, "finished");
  // One client releasing keeps it for the other.
  assert.equal(frees(h.ev({ type: "release-keys", client: "c1", keys: ["p"] })).length, 0);
  assert.equal(frees(h.ev({ type: "release-keys", client: "c2", keys: ["p"] })).length, 1);
});

test("erred propagation: dependents fail with the same error", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a"), spec("b", ["a"]), spec("c", ["b"])], ["b", "c"]);
  const error = { name: "TypeError", message: "boom", stack: "TypeError: boom\n at f" };
  const out = h.ev({ type: "task-erred", worker: "w1", key: "a", error });
  const st = states(out);
  assert.deepEqual(st.map((m) => [m.key, m.status]).sort(), [["b", "error"], ["c", "error"]]);
  for (const m of st) assert.deepEqual(m.error, error);
  assert.equal(h.s.taskState("a"), undefined); // nobody wants a
  // A new task on an erred key fails at once.
  const late = h.submit([spec("d", ["b"])], ["d"]);
  assert.deepEqual(states(late).map((m) => [m.key, m.status]), [["d", "error"]]);
  assert.equal(states(late)[0]!.error!.message, "boom");
});

test("dependency released earlier: clear LostError", () => {
  const h = harness();
  h.worker("w1");
  const out = h.submit([spec("d", ["gone"])]);
  const m = states(out)[0]!;
  assert.equal(m.status, "error");
  assert.equal(m.error!.name, "LostError");
  assert.match(m.error!.message, /dependency gone was released/);
});

test("retries: rerun on error until retries are used up", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("r", [], { retries: 2 })]);
  const error = { name: "Error", message: "flaky", stack: "" };
  for (let i = 0; i < 2; i++) {
    const out = h.ev({ type: "task-erred", worker: "w1", key: "r", error });
    assert.equal(computes(out).length, 1, `retry ${i + 1}`);
    assert.equal(states(out).length, 0);
  }
  const out = h.ev({ type: "task-erred", worker: "w1", key: "r", error });
  assert.equal(states(out)[0]!.status, "error");
});

test("cancel: pending task and dependents cancelled, freed on worker; finished keys untouched", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("done1"), spec("a"), spec("b", ["a"])]);
  h.finish("w1", "done1");
  const out = h.ev({ type: "cancel-keys", client: "c1", keys: ["a", "done1"] });
  const st = states(out);
  assert.deepEqual(st.map((m) => [m.key, m.status]).sort(), [["a", "cancelled"], ["b", "cancelled"]]);
  assert.equal(st[0]!.error!.name, "CancelledError");
  // b was waiting on w1 for a: both are dropped there.
  assert.deepEqual(frees(out), [{ address: "w1", keys: ["a", "b"] }]);
  assert.equal(h.s.taskState("done1"), "memory");
  // A late result of the cancelled task is dropped on the worker.
  assert.deepEqual(frees(h.finish("w1", "a")), [{ address: "w1", keys: ["a"] }]);
  // Resubmitting a cancelled key runs it again.
  assert.equal(computes(h.submit([spec("a")])).length, 1);
});

test("release while processing frees on the worker; unneeded deps freed too", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a"), spec("b", ["a"])], ["b"]);
  h.finish("w1", "a");
  const out = h.ev({ type: "release-keys", client: "c1", keys: ["b"] });
  assert.deepEqual(frees(out), [{ address: "w1", keys: ["a", "b"] }]);
  assert.equal(h.s.size, 0);
});

test("client-removed drops its wants", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a")]);
  h.finish("w1", "a");
  assert.deepEqual(frees(h.ev({ type: "client-removed", client: "c1" })), [{ address: "w1", keys: ["a"] }]);
  assert.equal(h.s.size, 0);
});

test("resources: no-worker until a worker with the resource joins; held while running", () => {
  const h = harness();
  h.worker("w1");
  let out = h.submit([spec("g1", [], { resources: { GPU: 1 } }), spec("g2", [], { resources: { GPU: 1 } })]);
  assert.equal(computes(out).length, 0);
  assert.deepEqual(h.s.info().unrunnable.sort(), ["g1", "g2"]);
  assert.equal(h.s.info().tasks["no-worker"], 2);
  out = h.worker("gpu", 4, { resources: { GPU: 1 } });
  assert.equal(computes(out).length, 1);
  assert.equal(computes(out)[0]!.address, "gpu");
  assert.deepEqual(computes(out)[0]!.msg.resources, { GPU: 1 });
  const first = computes(out)[0]!.msg.key;
  const second = first === "g1" ? "g2" : "g1";
  assert.deepEqual(h.s.info().unrunnable, [second]);
  out = h.finish("gpu", first);
  assert.deepEqual(computes(out).map((c) => c.msg.key), [second]);
  assert.deepEqual(h.s.info().unrunnable, []);
});

test("workers restriction: strict waits for the named worker, loose falls back", () => {
  const h = harness();
  h.worker("w1");
  let out = h.submit([spec("strict", [], { workers: ["w9"] }), spec("loose", [], { workers: ["w9"], allowOtherWorkers: true })]);
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["loose", "w1"]]);
  assert.deepEqual(h.s.info().unrunnable, ["strict"]);
  out = h.worker("w9");
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["strict", "w9"]]);
  // Loose restriction prefers the named worker when it exists.
  out = h.submit([spec("loose2", [], { workers: ["w9"], allowOtherWorkers: true })]);
  assert.equal(computes(out)[0]!.address, "w9");
});

test("actor placement: 10 actors over 5 equal workers, 2 each; resources kept while alive", () => {
  const h = harness();
  for (let i = 0; i < 5; i++) h.worker(`w${i}`, 2, { actorThreads: 1 });
  const out = h.submit(Array.from({ length: 10 }, (_, i) => spec(`A-${i}`, [], { actor: true })));
  const per = new Map<string, number>();
  for (const c of computes(out)) {
    assert.equal(c.msg.actor, true);
    per.set(c.address, (per.get(c.address) ?? 0) + 1);
  }
  assert.deepEqual([...per.values()], [2, 2, 2, 2, 2]);
});

test("actor placement: fewest actors first, even against locality; 10 actors sharing a 1 MB argument go 2 on each of 5", () => {
  const h = harness();
  for (let i = 0; i < 5; i++) h.worker(`w${i}`, 2);
  h.ev({ type: "update-data", client: "c1", who: { big: ["w3"] }, nbytes: { big: 1_000_000 } });
  // Two in a row: the second sees the first still being created on the holder and goes elsewhere.
  const placed = [];
  let out = h.submit([spec("A-0", ["big"], { actor: true })]);
  placed.push(...computes(out));
  assert.equal(placed[0]!.address, "w3");
  out = h.submit([spec("A-1", ["big"], { actor: true })]);
  placed.push(...computes(out));
  assert.notEqual(placed[1]!.address, "w3");
  out = h.submit(Array.from({ length: 8 }, (_, i) => spec(`A-${i + 2}`, ["big"], { actor: true })));
  placed.push(...computes(out));
  const per = new Map<string, number>();
  for (const c of placed) per.set(c.address, (per.get(c.address) ?? 0) + 1);
  assert.deepEqual([...per.values()], [2, 2, 2, 2, 2], JSON.stringify([...per]));
});

test("actor placement: among workers hosting as many actors, locality decides, then load", () => {
  const h = harness();
  h.worker("w1", 1);
  h.worker("w2", 1);
  h.worker("w3", 1);
  h.ev({ type: "update-data", client: "c1", who: { small: ["w1"], big: ["w2"] }, nbytes: { small: 10, big: 1000 } });
  let out = h.submit([spec("A-1", ["small", "big"], { actor: true })]);
  assert.equal(computes(out)[0]!.address, "w2");
  h.finish("w2", "A-1", 0, { className: "A" });
  // w1 and w3 host none; w1 holds some of the argument.
  out = h.submit([spec("A-2", ["small", "big"], { actor: true })]);
  assert.equal(computes(out)[0]!.address, "w1");
  h.finish("w1", "A-2", 0, { className: "A" });
  // No locality anywhere now, one actor each on w1 and w2, none on w3; busy w3 still wins on count.
  h.submit([spec("busy", [], {})].map((t) => ({ ...t, options: { workers: ["w3"] } })));
  out = h.submit([spec("A-3", [], { actor: true })]);
  assert.equal(computes(out)[0]!.address, "w3");
  // All host one; w3 also runs a task: load breaks the tie.
  out = h.submit([spec("A-4", [], { actor: true })]);
  assert.notEqual(computes(out)[0]!.address, "w3");
});

test("actor placement: worker holding most dependency bytes wins; actor keeps resources", () => {
  const h = harness();
  h.worker("w1", 1, { resources: { slot: 1 } });
  h.worker("w2", 1, { resources: { slot: 1 } });
  h.ev({ type: "update-data", client: "c1", who: { small: ["w1"], big: ["w2"] }, nbytes: { small: 10, big: 1000 } });
  let out = h.submit([spec("Counter-1", ["small", "big"], { actor: true, resources: { slot: 1 } })]);
  assert.equal(computes(out)[0]!.address, "w2");
  assert.deepEqual(computes(out)[0]!.msg.whoHas, { small: ["w1"], big: ["w2"] });
  out = h.finish("w2", "Counter-1", 0, { className: "Counter" });
  const st = states(out)[0]!;
  assert.equal(st.status, "finished");
  assert.deepEqual(st.actor, { key: "Counter-1", className: "Counter", workerAddress: "w2", methods: ["m"], attributes: [], incarnation: 0 });
  assert.deepEqual(h.s.actorLocation("Counter-1"), st.actor);
  // The slot stays held by the actor: a second slot task must go to w1.
  out = h.submit([spec("t", [], { resources: { slot: 1 }, workers: ["w2"] })]);
  assert.equal(computes(out).length, 0);
  // Releasing the actor frees it on its worker and returns the slot.
  out = h.ev({ type: "release-keys", client: "c1", keys: ["Counter-1"] });
  assert.deepEqual(frees(out), [{ address: "w2", keys: ["Counter-1"] }]);
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["t", "w2"]]);
  const gone = h.s.actorLocation("Counter-1");
  assert.ok("error" in gone);
  assert.match(gone.error.message, /released/);
});

test("task depending on an actor: told where the actor lives (its handle is fetched, the actor never copied)", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("A-1", [], { actor: true })]);
  h.finish("w1", "A-1", 0, { className: "A" });
  const out = h.submit([spec("use", ["A-1"])], ["use"]);
  assert.equal(computes(out).length, 1);
  assert.deepEqual(computes(out)[0]!.msg.whoHas, { "A-1": ["w1"] });
});

test("actor released while tasks depending on it are pending: freed once the last has finished, then where-is-actor says released", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  h.ev({ type: "client-added", client: "c2" });
  // A-1 is released while still being created, A-2 once alive; each has a dependent waiting on other data too.
  h.submit([spec("A-1", [], { actor: true, workers: ["w1"] }), spec("A-2", [], { actor: true, workers: ["w1"] })]);
  h.finish("w1", "A-2", 0, { className: "A" });
  h.submit([spec("x", [], { workers: ["w2"] }), spec("use-1", ["A-1", "x"], { workers: ["w2"] }), spec("use-2", ["A-2", "x"], { workers: ["w2"] })], ["use-1", "use-2"]);
  // A second client holds the first dependent too: only its finishing matters, not who holds its result.
  h.submit([], ["use-1"], "c2");
  let out = h.ev({ type: "release-keys", client: "c1", keys: ["A-1", "A-2"] });
  assert.deepEqual(frees(out), [], "pending dependents hold both actors");
  h.finish("w1", "A-1", 0, { className: "A" });
  assert.ok("workerAddress" in h.s.actorLocation("A-1"), "still alive for its dependent");
  h.finish("w2", "x");
  out = h.finish("w2", "use-1");
  assert.deepEqual(frees(out), [{ address: "w1", keys: ["A-1"] }]);
  out = h.ev({ type: "task-erred", worker: "w2", key: "use-2", error: { name: "Error", message: "boom", stack: "" } });
  const byWorker = frees(out).sort((a, b) => a.address.localeCompare(b.address));
  assert.deepEqual(byWorker, [{ address: "w1", keys: ["A-2"] }, { address: "w2", keys: ["use-2", "x"] }]);
  for (const key of ["A-1", "A-2"]) {
    const gone = h.s.actorLocation(key);
    assert.ok("error" in gone && gone.released === true, `${key} is released, not lost`);
  }
  h.ev({ type: "release-keys", client: "c1", keys: ["use-1", "use-2"] });
  h.ev({ type: "release-keys", client: "c2", keys: ["use-1"] });
  assert.equal(h.s.size, 0, "nothing is left behind");
});

test("worker death: processing task rescheduled elsewhere", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a")]);
  h.worker("w2");
  const at = h.s.processingOn("a")!;
  const other = at === "w1" ? "w2" : "w1";
  const out = h.ev({ type: "worker-removed", address: at, reason: "closed" });
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["a", other]]);
  // A message from the dead worker is ignored.
  assert.deepEqual(h.finish(at, "a"), []);
  assert.equal(h.s.taskState("a"), "processing");
});

test("worker death: lost result recomputed from lineage, clients told pending then finished", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a"), spec("b", ["a"])], ["b"]);
  h.finish("w1", "a");
  h.finish("w1", "b");
  h.worker("w2");
  let out = h.ev({ type: "worker-removed", address: "w1", reason: "killed" });
  assert.deepEqual(states(out).map((m) => [m.key, m.status]), [["b", "pending"]]);
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["a", "w2"], ["b", "w2"]]);
  out = h.finish("w2", "a");
  assert.deepEqual(computes(out), []);
  out = h.finish("w2", "b");
  assert.deepEqual(states(out).map((m) => [m.key, m.status]), [["b", "finished"]]);
});

test("worker death: allowReconstruction false and scattered data become lost", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  h.ev({ type: "update-data", client: "c1", who: { s: ["w1"] }, nbytes: { s: 5 } });
  h.submit([spec("n", [], { allowReconstruction: false, workers: ["w1"] })]);
  h.finish("w1", "n");
  const out = h.ev({ type: "worker-removed", address: "w1", reason: "killed" });
  const st = states(out);
  assert.deepEqual(st.map((m) => [m.key, m.status]).sort(), [["n", "lost"], ["s", "lost"]]);
  for (const m of st) {
    assert.equal(m.error!.name, "LostError");
    assert.match(m.error!.message, /died/);
  }
  assert.equal(computes(out).length, 0);
  assert.equal(h.s.info().tasks.lost, 2);
});

test("worker death: actor lost without restarts, dependents erred; with restarts re-created", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("A-1", [], { actor: true }), spec("B-1", [], { actor: true, restarts: 1 })]);
  h.finish("w1", "A-1", 0, { className: "A" });
  h.finish("w1", "B-1", 0, { className: "B" });
  h.submit([spec("gate")], ["gate"]);
  h.submit([spec("uses", ["A-1", "gate"])], ["uses"]);
  let out = h.ev({ type: "worker-removed", address: "w1", reason: "killed" });
  const st = new Map(states(out).map((m) => [m.key, m]));
  assert.equal(st.get("A-1")!.status, "lost");
  assert.deepEqual([st.get("A-1")!.error!.name, st.get("A-1")!.error!.message], ["ActorLostError", "Worker holding Actor was lost"]);
  assert.equal(st.get("uses")!.status, "error");
  assert.equal(st.get("uses")!.error!.name, "ActorLostError");
  assert.equal(st.get("B-1")!.status, "pending");
  assert.deepEqual(h.s.actorLocation("B-1"), { pending: true });
  const lost = h.s.actorLocation("A-1");
  assert.ok("error" in lost && lost.error.message === "Worker holding Actor was lost");
  // No worker yet: B waits; a new worker gets exactly one compute-task for it.
  out = h.worker("w2");
  assert.deepEqual(computes(out).map((c) => c.msg.key).sort(), ["B-1", "gate"]);
  out = h.finish("w2", "B-1", 0, { className: "B" });
  assert.equal(states(out)[0]!.actor!.incarnation, 1);
  assert.equal(states(out)[0]!.actor!.workerAddress, "w2");
  // Out of restarts now.
  out = h.ev({ type: "worker-removed", address: "w2", reason: "killed" });
  assert.equal(new Map(states(out).map((m) => [m.key, m.status])).get("B-1"), "lost");
});

test("KilledWorkerError after the task's third worker dies", () => {
  const h = harness();
  let out: Instruction[] = [];
  h.submit([spec("bad")]);
  for (let i = 1; i <= 3; i++) {
    out = h.worker(`w${i}`);
    assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["bad", `w${i}`]]);
    out = h.ev({ type: "worker-removed", address: `w${i}`, reason: "killed" });
  }
  const m = states(out)[0]!;
  assert.equal(m.status, "error");
  assert.equal(m.error!.name, "KilledWorkerError");
  assert.match(m.error!.message, /task bad was running on 3 workers that died/);
});

test("memory: a task whose workers restart for memory fails with WorkerMemoryError", () => {
  const h = harness();
  let out: Instruction[] = [];
  h.submit([spec("hog")]);
  for (let i = 1; i <= 3; i++) {
    out = h.worker(`w${i}`);
    assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["hog", `w${i}`]]);
    h.ev({ type: "worker-status", worker: `w${i}`, status: "restarting", reason: "memory" });
    out = h.ev({ type: "worker-removed", address: `w${i}`, reason: "restarting" });
  }
  const m = states(out)[0]!;
  assert.equal(m.status, "error");
  assert.equal(m.error!.name, "WorkerMemoryError");
  assert.match(m.error!.message, /3 of them restarted because their memory passed the limit/);
});

test("memory: a paused worker gets no new tasks until it runs again", () => {
  const h = harness();
  h.worker("w1");
  h.ev({ type: "worker-status", worker: "w1", status: "paused" });
  let out = h.submit([spec("a")]);
  assert.deepEqual(computes(out), []);
  assert.equal(h.s.taskState("a"), "no-worker");
  assert.equal(h.s.info().workers.w1!.status, "paused");
  assert.equal(h.s.info().workers.w1!.pauses, 1);
  out = h.ev({ type: "worker-status", worker: "w1", status: "running" });
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["a", "w1"]]);
  // A second worker takes what the paused one cannot.
  h.worker("w2");
  h.ev({ type: "worker-status", worker: "w1", status: "paused" });
  out = h.submit([spec("b")]);
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["b", "w2"]]);
  assert.equal(h.s.info().workers.w1!.pauses, 2);
});

test("actors-lost: a lost actor is re-created while it has restarts, then lost with the worker's reason", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("A-1", [], { actor: true, restarts: 1 })]);
  h.finish("w1", "A-1", 0, { className: "A" });
  const error = { name: "ActorLostError", message: "the thread holding it ran out of memory", stack: "" };
  let out = h.ev({ type: "actors-lost", worker: "w1", keys: ["A-1"], error });
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["A-1", "w1"]]);
  h.finish("w1", "A-1", 0, { className: "A" });
  out = h.ev({ type: "actors-lost", worker: "w1", keys: ["A-1"], error });
  const m = states(out).find((x) => x.key === "A-1")!;
  assert.equal(m.status, "lost");
  assert.equal(m.error!.message, "the thread holding it ran out of memory");
  assert.equal(h.s.info().workers.w1!.actors["A-1"], undefined);
});

test("duplicate and late task-finished", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  h.submit([spec("a")]);
  const at = h.s.processingOn("a")!;
  const other = at === "w1" ? "w2" : "w1";
  h.finish(at, "a");
  assert.deepEqual(h.finish(at, "a"), []); // duplicate: nothing
  assert.deepEqual(h.finish(other, "a"), []); // another copy: recorded as replica
  assert.deepEqual(h.s.whoHas(["a"]).a!.sort(), ["w1", "w2"]);
  assert.deepEqual(frees(h.finish("w1", "unknown")), [{ address: "w1", keys: ["unknown"] }]);
});

test("missing-data: holder dropped, dependent re-sent with updated whoHas or waits for recompute", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  h.worker("w3");
  h.ev({ type: "update-data", client: "c1", who: { d: ["w1", "w2"] }, nbytes: { d: 1 } });
  h.submit([spec("t", ["d"], { workers: ["w3"] })]);
  let out = h.ev({ type: "missing-data", worker: "w3", key: "d", holder: "w1" });
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address, c.msg.whoHas]), [["t", "w3", { d: ["w2"] }]]);
  // Now a computed dep whose only holder lost it: recomputed, then t re-sent.
  h.submit([spec("x", [], { workers: ["w1"] }), spec("y", ["x"], { workers: ["w3"] })], ["y"]);
  h.finish("w1", "x");
  out = h.ev({ type: "missing-data", worker: "w3", key: "x", holder: "w1" });
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["x", "w1"]]);
  assert.equal(h.s.taskState("y"), "waiting");
  out = h.finish("w1", "x");
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["y", "w3"]]);
});

test("missing-data for an actor: the dependent waits for the actor's restart and is sent again, never left hanging", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  h.submit([spec("A-1", [], { actor: true, restarts: 1, workers: ["w1"] })]);
  h.finish("w1", "A-1", 0, { className: "A" });
  h.submit([spec("use", ["A-1"], { workers: ["w2"] })], ["use"]);
  assert.equal(h.s.processingOn("use"), "w2");
  // w1 dies: the actor restarts (w2 only, as w1 is gone); w2 had already failed to fetch its handle from w1.
  h.ev({ type: "worker-removed", address: "w1", reason: "died" });
  let out = h.ev({ type: "missing-data", worker: "w2", key: "A-1", holder: "w1" });
  assert.equal(h.s.taskState("use"), "waiting", "the dependent gave up on the old actor: it waits for the new one");
  h.worker("w1b");
  out = h.ev({ type: "worker-added", address: "w1", name: "w1", nthreads: 1, actorThreads: 1, resources: {}, incarnation: "w1-2" });
  const at = h.s.processingOn("A-1")!;
  out = h.finish(at, "A-1", 0, { className: "A" });
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address, c.msg.whoHas]), [["use", "w2", { "A-1": [at] }]]);
});

test("a lineage brought back for a task that fails half-way is left alone from there, and counted right", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  // c needs b and a; b needs the scattered s. Everything but a lives on w2; the client holds c and s.
  h.ev({ type: "update-data", client: "c1", who: { s: ["w2"] }, nbytes: { s: 1 } });
  h.submit([spec("b", ["s"], { workers: ["w2"] }), spec("a", [], { workers: ["w1"] }), spec("c", ["b", "a"], { workers: ["w2"] })], ["c"]);
  h.finish("w2", "b");
  h.finish("w1", "a");
  h.finish("w2", "c");
  assert.equal(h.s.taskState("a"), "released");
  assert.equal(h.s.taskState("b"), "released");
  // w2 dies: s is lost for good, c is recomputed; b comes back first and fails (its s is lost), which
  // fails c: a, next in line, must not be brought back for nobody (nor touched once forgotten).
  h.ev({ type: "worker-removed", address: "w2", reason: "died" }); // the harness checks every count
  assert.equal(h.s.taskState("c"), "erred");
  assert.equal(h.s.taskState("a"), undefined, "a is forgotten: nothing depends on it any more");
});

test("add-keys records replicas; unknown keys are freed on the worker", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  h.ev({ type: "update-data", client: "c1", who: { d: ["w1"] }, nbytes: { d: 1 } });
  assert.deepEqual(h.ev({ type: "add-keys", worker: "w2", keys: ["d"], nbytes: { d: 1 } }), []);
  assert.deepEqual(h.s.whoHas(["d"]).d!.sort(), ["w1", "w2"]);
  assert.deepEqual(frees(h.ev({ type: "add-keys", worker: "w2", keys: ["zz"], nbytes: {} })), [{ address: "w2", keys: ["zz"] }]);
});

test("heartbeat timeout: tick closes silent workers once", () => {
  const h = harness({ heartbeatTimeoutMs: 1000 });
  h.ev({ type: "worker-added", address: "w1", name: "a", nthreads: 1, actorThreads: 1, resources: {}, incarnation: "i" }, 0);
  h.ev({ type: "worker-added", address: "w2", name: "b", nthreads: 1, actorThreads: 1, resources: {}, incarnation: "i" }, 0);
  h.ev({ type: "heartbeat", worker: "w2", memoryBytes: 5, actors: {} }, 900);
  assert.deepEqual(h.ev({ type: "tick" }, 1000), []);
  const out = h.ev({ type: "tick" }, 1500);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.to, "close-worker");
  assert.equal((out[0] as { address: string }).address, "w1");
  assert.deepEqual(h.ev({ type: "tick" }, 1600), []);
  // A closing worker gets no new work.
  assert.deepEqual(computes(h.submit([spec("a")])).map((c) => c.address), ["w2"]);
});

test("a worker re-registering with a new incarnation is a new worker", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a")]);
  h.finish("w1", "a");
  const out = h.ev({ type: "worker-added", address: "w1", name: "w1", nthreads: 1, actorThreads: 1, resources: {}, incarnation: "new" });
  // a was recomputed on the new process (it held nothing of its previous life).
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["a", "w1"]]);
  assert.equal(h.s.info().workers.w1!.storedKeys, 0);
});

test("want-keys: unknown key → lost; final key → state at once", () => {
  const h = harness();
  h.worker("w1");
  let out = h.ev({ type: "want-keys", client: "c1", keys: ["nope"] });
  assert.equal(states(out)[0]!.status, "lost");
  assert.equal(states(out)[0]!.error!.name, "LostError");
  h.ev({ type: "client-added", client: "c2" });
  h.submit([spec("a")]);
  h.finish("w1", "a");
  out = h.ev({ type: "want-keys", client: "c2", keys: ["a"] });
  assert.deepEqual(states(out, "c2"), [{ op: "key-state", key: "a", status: "finished", workers: ["w1"] }]);
  // c2's want keeps it alive after c1 lets go.
  assert.deepEqual(h.ev({ type: "release-keys", client: "c1", keys: ["a"] }), []);
});

test("info(): workers, actors with stats, unrunnable, counts", () => {
  const h = harness();
  h.ev({ type: "worker-added", address: "w1", name: "alpha", nthreads: 2, actorThreads: 1, resources: { GPU: 2 }, incarnation: "i" });
  h.submit([spec("A-1", [], { actor: true }), spec("a"), spec("b"), spec("nope", [], { resources: { TPU: 1 } })]);
  h.finish("w1", "A-1", 0, { className: "Counter" });
  h.finish("w1", "a");
  h.ev({ type: "heartbeat", worker: "w1", memoryBytes: 1234, actors: { "A-1": { calls: 3, inFlight: 1, meanCallMs: 2.5 } } });
  const info = h.s.info();
  assert.deepEqual(info.workers.w1, {
    name: "alpha", nthreads: 2, actorThreads: 1, resources: { GPU: 2 }, tasksProcessing: 1, storedKeys: 2,
    actors: { "A-1": { className: "Counter", calls: 3, inFlight: 1, meanCallMs: 2.5, p50Ms: 0, p99Ms: 0 } }, memoryBytes: 1234,
    memoryLimit: 0, spilledBytes: 0, status: "running", pauses: 0, restarts: 0,
  });
  assert.deepEqual(info.unrunnable, ["nope"]);
  assert.deepEqual(info.tasks, { waiting: 0, processing: 1, memory: 2, erred: 0, lost: 0, "no-worker": 1, queued: 0 });
  assert.deepEqual(h.s.workerAddresses(), ["w1"]);
});

test("info(): tasks processing on a worker beyond its threads count as queued", () => {
  const h = harness();
  h.worker("w1", 1);
  h.worker("w2", 2);
  h.submit([spec("a", [], { workers: ["w1"] }), spec("b", [], { workers: ["w1"] }), spec("c", [], { workers: ["w1"] })]);
  assert.equal(h.s.info().tasks.processing, 3);
  assert.equal(h.s.info().tasks.queued, 2, "two wait behind w1's one thread");
  h.finish("w1", "a");
  assert.equal(h.s.info().tasks.queued, 1);
  // Tasks chained behind their deps wait in the worker's queue too: three on w2's two threads.
  h.submit([spec("x"), spec("y", ["x"]), spec("z", ["y"])], ["z"]);
  assert.deepEqual(["x", "y", "z"].map((k) => h.s.processingOn(k)), ["w2", "w2", "w2"]);
  assert.equal(h.s.info().tasks.queued, 2);
});

test("transitions: a change the table forbids throws InvalidTransition naming the key and both states", () => {
  const tb = new Tables({});
  const t = tb.newTask("k", spec("k"));
  tb.setState(t, "processing");
  tb.setState(t, "memory");
  const counts = [tb.counts.get("memory"), tb.counts.get("processing")];
  assert.throws(
    () => tb.setState(t, "processing"),
    (err: unknown) => {
      assert.ok(err instanceof InvalidTransition);
      assert.equal(err.name, "InvalidTransition");
      assert.deepEqual([err.key, err.from, err.to], ["k", "memory", "processing"]);
      assert.match(err.message, /task k from memory to processing/);
      assert.match(err.message, /from memory it may go to released, cancelled/);
      return true;
    },
  );
  assert.equal(t.state, "memory", "a refused change leaves the task as it was");
  assert.deepEqual([tb.counts.get("memory"), tb.counts.get("processing")], counts);
  // A key leaves memory only through released (recomputed from there); an outcome is not rerun.
  for (const [from, to] of [["memory", "waiting"], ["released", "processing"], ["erred", "waiting"], ["lost", "waiting"], ["processing", "no-worker"]] as const) {
    assert.equal(TRANSITIONS[from][to], undefined, `${from} → ${to}`);
    const u = tb.newTask(`${from}-${to}`, spec(`${from}-${to}`));
    u.state = from;
    assert.throws(() => tb.setState(u, to), InvalidTransition, `${from} → ${to}`);
  }
});

test("chooseWorkers: least loaded first, cycling; broadcast; restricted", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  h.worker("w3");
  h.submit([spec("busy", [], { workers: ["w1"] })]);
  const picks = h.s.chooseWorkers(4);
  assert.equal(picks.length, 4);
  assert.notEqual(picks[0], "w1");
  assert.equal(picks[3], picks[0]);
  assert.deepEqual(h.s.chooseWorkers(1, { broadcast: true }).sort(), ["w1", "w2", "w3"]);
  assert.deepEqual(h.s.chooseWorkers(2, { workers: ["w3"] }), ["w3", "w3"]);
});

test("many tasks spread evenly over workers in one event", () => {
  const h = harness();
  for (let i = 0; i < 4; i++) h.worker(`w${i}`, 2);
  const out = h.s.handle({ type: "update-graph", client: "c1", tasks: Array.from({ length: 20_000 }, (_, i) => spec(`t-${i}`)), wanted: Array.from({ length: 20_000 }, (_, i) => `t-${i}`) }, 0);
  const per = new Map<string, number>();
  for (const c of computes(out)) per.set(c.address, (per.get(c.address) ?? 0) + 1);
  assert.deepEqual([...per.values()], [5000, 5000, 5000, 5000]);
});

test("worker death losing a key and its dependent: the dependent goes where its dep is recomputed", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a"), spec("b", ["a"])], ["a", "b"]);
  h.finish("w1", "a");
  h.finish("w1", "b");
  h.worker("w2");
  const out = h.ev({ type: "worker-removed", address: "w1", reason: "killed" });
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address, c.msg.whoHas]), [["a", "w2", {}], ["b", "w2", { a: [] }]]);
  assert.deepEqual(states(out).map((m) => [m.key, m.status]).sort(), [["a", "pending"], ["b", "pending"]]);
});

test("chain: a dep retried elsewhere takes its chained dependents back", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a", [], { retries: 1 }), spec("b", ["a"])], ["b"]);
  h.worker("w2");
  // w1 is busy with a second task, so the retry goes to the idle w2; b follows a there.
  h.submit([spec("x", [], { workers: ["w1"] })]);
  const out = h.ev({ type: "task-erred", worker: "w1", key: "a", error: { name: "E", message: "m", stack: "" } });
  assert.deepEqual(frees(out), [{ address: "w1", keys: ["b"] }]);
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["a", "w2"], ["b", "w2"]]);
});

test("chain: a dep that errs fails its chained dependents and frees them on the worker", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a"), spec("b", ["a"]), spec("c", ["b"])], ["c"]);
  const out = h.ev({ type: "task-erred", worker: "w1", key: "a", error: { name: "E", message: "boom", stack: "" } });
  assert.deepEqual(states(out).map((m) => [m.key, m.status, m.error?.message]), [["c", "error", "boom"]]);
  assert.deepEqual(frees(out), [{ address: "w1", keys: ["a", "b", "c"] }]);
});

test("chain: a copy of the dep found elsewhere first is fetched instead", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  h.submit([spec("a", [], { workers: ["w1"] }), spec("b", ["a"])], ["b"]);
  assert.equal(h.s.processingOn("b"), "w1");
  const out = h.ev({ type: "add-keys", worker: "w2", keys: ["a"], nbytes: { a: 3 } });
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address, c.msg.whoHas]), [["b", "w1", { a: ["w2"] }]]);
});

test("chain: only unrestricted plain tasks are chained", () => {
  const h = harness();
  h.worker("w1", 4, { resources: { GPU: 1 } });
  const out = h.submit([
    spec("a1"), spec("b", ["a1"]),
    spec("a2"), spec("g", ["a2"], { resources: { GPU: 1 } }),
    spec("a3"), spec("k", ["a3"], { actor: true }),
    spec("a4"), spec("p", ["a4"], { workers: ["w1"] }),
  ]);
  assert.deepEqual(computes(out).map((c) => c.msg.key).sort(), ["a1", "a2", "a3", "a4", "b"]);
  for (const k of ["a2", "a3", "a4"]) h.finish("w1", k);
  assert.equal(h.s.taskState("g"), "processing");
  assert.equal(h.s.taskState("k"), "processing");
  assert.equal(h.s.taskState("p"), "processing");
});

test("chain: not the dependents of a fan-out, which placement spreads once the data exists", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  const deps = Array.from({ length: 8 }, (_, i) => spec(`d-${i}`, ["t"]));
  const out = h.submit([spec("t"), ...deps], deps.map((d) => d.key));
  assert.deepEqual(computes(out).map((c) => c.msg.key), ["t"]);
  const placed = computes(h.finish(h.s.processingOn("t")!, "t"));
  assert.equal(placed.length, 8);
  assert.deepEqual(new Set(placed.map((c) => c.address)), new Set(["w1", "w2"]));
});

test("chain: a task that died waiting for its dep is not blamed for the worker's death", () => {
  const h = harness({ maxWorkerDeaths: 2 });
  h.worker("w1");
  h.submit([spec("a"), spec("b", ["a"])], ["b"]);
  h.worker("w2");
  // a was running on w1 (one death), b was only waiting there (none).
  h.ev({ type: "worker-removed", address: "w1", reason: "killed" });
  assert.equal(h.s.processingOn("b"), "w2");
  h.finish("w2", "a");
  h.worker("w3");
  // Now b runs on w2 and dies with it: its first death; a second would have been fatal.
  const out = h.ev({ type: "worker-removed", address: "w2", reason: "killed" });
  assert.deepEqual(states(out), []);
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["a", "w3"], ["b", "w3"]]);
});

test("a cancelled key submitted again is pending again for every client holding it", () => {
  const h = harness();
  h.worker("w1");
  h.ev({ type: "client-added", client: "c2" });
  h.submit([spec("p")], ["p"], "c1");
  h.submit([spec("p")], ["p"], "c2");
  h.ev({ type: "cancel-keys", client: "c1", keys: ["p"] });
  const out = h.submit([spec("p")], ["p"], "c2");
  assert.equal(computes(out).length, 1);
  assert.equal(states(out, "c1")[0]!.status, "pending");
  assert.equal(states(out, "c2")[0]!.status, "pending");
});

test("task-erred from a worker the task is not on is ignored", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  h.submit([spec("a")]);
  const other = h.s.processingOn("a") === "w1" ? "w2" : "w1";
  assert.deepEqual(h.ev({ type: "task-erred", worker: other, key: "a", error: { name: "E", message: "m", stack: "" } }), []);
  assert.equal(h.s.taskState("a"), "processing");
});

test("info() counts tasks by group and state, and forgets released ones", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("sq-1"), spec("sq-2")], ["sq-1", "sq-2"]);
  assert.deepEqual(h.s.info().groups, { sq: { processing: 2 } });
  h.finish("w1", "sq-1");
  assert.deepEqual(h.s.info().groups, { sq: { processing: 1, memory: 1 } });
  h.ev({ type: "release-keys", client: "c1", keys: ["sq-1", "sq-2"] });
  assert.deepEqual(h.s.info().groups, {});
});

test("recomputing a released lineage 50,000 links deep does not exhaust the stack", () => {
  const s = new SchedulerState();
  s.handle({ type: "client-added", client: "c1" }, 0);
  const addWorker = (w: string) => s.handle({ type: "worker-added", address: w, name: w, nthreads: 1, actorThreads: 1, resources: {}, incarnation: w }, 0);
  addWorker("w1");
  const N = 50_000;
  const keys = Array.from({ length: N }, (_, i) => `inc-${i}`);
  // A chain, of which the client holds only the last link; every link runs on w1, the only worker.
  const specs = keys.map((k, i) => spec(k, i === 0 ? [] : [keys[i - 1]!]));
  s.handle({ type: "update-graph", client: "c1", tasks: specs, wanted: [keys[N - 1]!] }, 0);
  for (const key of keys) s.handle({ type: "task-finished", worker: "w1", key, nbytes: 8, startMs: 0, stopMs: 0 }, 0);
  assert.equal(s.taskState(keys[N - 1]!), "memory");
  assert.equal(s.taskState(keys[0]!), "released", "intermediate links are kept as lineage only");
  // w1 dies: the last link must be recomputed from the first, on w2.
  addWorker("w2");
  const out = s.handle({ type: "worker-removed", address: "w1", reason: "killed" }, 0);
  s.checkInvariants();
  const sent = computes(out);
  // The first link runs at once; the others are chained to wait for their dep there.
  assert.equal(sent[0]!.msg.key, keys[0]);
  assert.equal(sent.length, N);
  assert.ok(sent.every((c) => c.address === "w2"));
  assert.equal(s.taskState(keys[N - 1]!), "processing");
});

test("Few: one member inline, a set from the second, back to none", () => {
  const f = new Few();
  assert.equal(f.size, 0);
  assert.equal(f.delete("a"), false);
  f.add("a").add("a");
  assert.deepEqual([f.size, f.has("a"), f.has("b"), [...f]], [1, true, false, ["a"]]);
  f.add("b").add("c");
  assert.deepEqual([f.size, f.toArray()], [3, ["a", "b", "c"]]);
  assert.equal(f.delete("b"), true);
  assert.equal(f.delete("b"), false);
  assert.deepEqual(f.toArray(), ["a", "c"]);
  f.clear();
  assert.deepEqual([f.size, f.toArray(), f.has("a")], [0, [], false]);
  f.add("z");
  assert.equal(f.delete("z"), true);
  assert.equal(f.size, 0);
});

test("fire-and-forget: the scheduler holds a task its client let go of until it is done, then lets it go", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a"), spec("b", ["a"])], ["b"]);
  h.ev({ type: "fire-and-forget", keys: ["b"] });
  h.ev({ type: "client-removed", client: "c1" });
  assert.equal(h.s.taskState("a"), "processing", "its dependency still runs");
  let out = h.finish("w1", "a");
  assert.deepEqual(states(out, "fire-and-forget"), [], "nobody is told of it");
  out = h.finish("w1", "b");
  assert.deepEqual(frees(out), [{ address: "w1", keys: ["a", "b"] }]);
  assert.equal(h.s.size, 0);
  // A key that is already done is not held.
  h.ev({ type: "client-added", client: "c2" });
  h.submit([spec("c")], ["c"], "c2");
  h.finish("w1", "c");
  h.ev({ type: "fire-and-forget", keys: ["c", "unknown"] });
  h.ev({ type: "client-removed", client: "c2" });
  assert.equal(h.s.size, 0);
});

test("fire-and-forget: a failed task is let go of too", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("a")]);
  h.ev({ type: "fire-and-forget", keys: ["a"] });
  h.ev({ type: "client-removed", client: "c1" });
  h.ev({ type: "task-erred", worker: "w1", key: "a", error: { name: "Error", message: "x", stack: "" } });
  assert.equal(h.s.size, 0);
});

test("restart: every task cancelled for the clients holding it, every worker forgotten", () => {
  const h = harness();
  h.worker("w1");
  h.worker("w2");
  h.submit([spec("a", [], { workers: ["w1"] }), spec("b", ["a"]), spec("Counter-1", [], { actor: true })], ["a", "b", "Counter-1"]);
  h.submit([spec("c", [], { resources: { GPU: 1 } })], ["c"]);
  h.finish("w1", "a");
  h.finish("w2", "Counter-1", 0, { className: "Counter" });
  const out = h.ev({ type: "restart" });
  assert.deepEqual(
    states(out).map((m) => [m.key, m.status, m.error?.name]).sort(),
    [["Counter-1", "cancelled", "CancelledError"], ["a", "cancelled", "CancelledError"], ["b", "cancelled", "CancelledError"], ["c", "cancelled", "CancelledError"]],
  );
  assert.deepEqual(h.s.workerAddresses(), []);
  assert.deepEqual(frees(out), [], "the workers are gone: nothing is sent to them");
  // A new worker joins empty; a key submitted again runs again.
  h.worker("w3");
  const again = h.submit([spec("a")]);
  assert.deepEqual(computes(again).map((c) => [c.msg.key, c.address]), [["a", "w3"]]);
  h.ev({ type: "client-removed", client: "c1" });
  assert.equal(h.s.taskState("c"), undefined);
});

// ------------------------------------------------------------ a restarted scheduler rebuilds its state

/** A fresh scheduler (no client yet) at time 0, as one started again at its address. */
function restarted() {
  const s = new SchedulerState();
  let now = 0;
  const ev = (e: SchedulerEvent, at?: number): Instruction[] => {
    if (at !== undefined) now = at;
    const out = s.handle(e, now);
    s.checkInvariants();
    return out;
  };
  const rejoinWorker = (address: string, held: Record<string, number>, actors: string[] = [], running: string[] = [], at?: number) =>
    ev(
      {
        type: "worker-added",
        address,
        name: address,
        nthreads: 1,
        actorThreads: 1,
        resources: {},
        incarnation: address + "-1",
        rejoin: {
          schedulerId: "old",
          held,
          actors: actors.map((key) => ({ key, className: "A", workerAddress: "elsewhere", methods: ["m"], attributes: [], incarnation: 0 })),
          running,
        },
      },
      at,
    );
  return { s, ev, rejoinWorker };
}

test("restart: held keys and actors reported by workers are finished for clients that rejoin wanting them", () => {
  const r = restarted();
  r.rejoinWorker("w1", { "k-1": 10 }, ["A-1"]);
  const out = r.ev({ type: "client-rejoined", client: "c1", tasks: [spec("A-1", [], { actor: true, restarts: 1 })], wanted: ["k-1", "A-1"], actors: { "A-1": 0 } }, 100);
  const byKey = new Map(states(out).map((m) => [m.key, m]));
  assert.equal(byKey.get("k-1")!.status, "finished");
  assert.deepEqual(byKey.get("k-1")!.workers, ["w1"]);
  assert.equal(byKey.get("A-1")!.status, "finished");
  assert.equal(byKey.get("A-1")!.actor!.workerAddress, "w1");
  // The actor's spec came back with the client: it can be restarted again.
  const lost = r.ev({ type: "worker-removed", address: "w1", reason: "died" });
  assert.equal(states(lost).find((m) => m.key === "A-1")!.status, "pending");
});

test("restart: a key wanted before any worker reported it waits; one never reported is lost when recovery ends", () => {
  const r = restarted();
  let out = r.ev({ type: "client-rejoined", client: "c1", tasks: [], wanted: ["k-1", "k-2"], actors: {} }, 0);
  assert.deepEqual(states(out), [], "nothing is called lost while workers may still report");
  out = r.rejoinWorker("w1", { "k-1": 10 }, [], [], 500);
  assert.deepEqual(states(out).map((m) => [m.key, m.status]), [["k-1", "finished"]]);
  out = r.ev({ type: "tick" }, 1000);
  assert.deepEqual(states(out), [], "still recovering");
  out = r.ev({ type: "tick" }, 500 + RECOVERY_QUIET_MS);
  assert.deepEqual(states(out).map((m) => [m.key, m.status]), [["k-2", "lost"]]);
  assert.equal(r.s.taskState("k-1"), "memory", "still wanted by the client");
});

test("restart: nothing is placed while recovering (a worker yet to report may hold it); a task reported running stays where it runs", () => {
  const r = restarted();
  let out = r.ev({ type: "client-rejoined", client: "c1", tasks: [spec("t-1"), spec("t-2"), spec("t-3")], wanted: ["t-1", "t-2", "t-3"], actors: {} }, 0);
  assert.deepEqual(computes(out), []);
  assert.equal(r.s.taskState("t-1"), "no-worker");
  // w2 runs t-2, and held t-3's result all along.
  out = r.rejoinWorker("w2", { "t-3": 5 }, [], ["t-2"], 100);
  assert.deepEqual(computes(out).map((c) => [c.msg.key, c.address]), [["t-2", "w2"]]);
  assert.equal(r.s.taskState("t-3"), "memory");
  r.rejoinWorker("w1", {}, [], [], 200);
  out = r.ev({ type: "tick" }, 200 + RECOVERY_QUIET_MS);
  assert.deepEqual(computes(out).map((c) => c.msg.key), ["t-1"], "placed once recovery ends");
});

test("restart: a result reported during recovery for a key no client has asked for yet is kept for it", () => {
  const r = restarted();
  r.rejoinWorker("w1", {}, [], ["t-1"], 0);
  r.ev({ type: "task-finished", worker: "w1", key: "t-1", nbytes: 3, startMs: 0, stopMs: 1 }, 100);
  const out = r.ev({ type: "client-rejoined", client: "c1", tasks: [spec("t-1")], wanted: ["t-1"], actors: {} }, 200);
  assert.deepEqual(computes(out), [], "not run again");
  assert.deepEqual(states(out).map((m) => [m.key, m.status]), [["t-1", "finished"]]);
});

test("restart: keys workers report that no client wants are freed once recovery ends", () => {
  const r = restarted();
  r.rejoinWorker("w1", { "k-1": 10, "k-2": 10 }, [], [], 0);
  r.ev({ type: "client-rejoined", client: "c1", tasks: [], wanted: ["k-1"], actors: {} }, 100);
  const out = r.ev({ type: "tick" }, 100 + RECOVERY_QUIET_MS);
  assert.deepEqual(frees(out), [{ address: "w1", keys: ["k-2"] }]);
  assert.equal(r.s.taskState("k-1"), "memory");
  assert.equal(r.s.taskState("k-2"), undefined);
});

test("restart: an actor that died with the scheduler is re-created if its restarts allow, counting those made before", () => {
  const r = restarted();
  r.rejoinWorker("w1", {}, [], [], 0);
  // Held at its second incarnation: restarts: 2 leaves one more, restarts: 1 none.
  r.ev({ type: "client-rejoined", client: "c1", tasks: [spec("A-1", [], { actor: true, restarts: 2 }), spec("A-2", [], { actor: true, restarts: 1 })], wanted: ["A-1", "A-2"], actors: { "A-1": 1, "A-2": 1 } }, 0);
  const out = r.ev({ type: "tick" }, RECOVERY_QUIET_MS);
  const created = computes(out);
  assert.deepEqual(created.map((c) => [c.msg.key, c.msg.incarnation]), [["A-1", 2]]);
  assert.equal(states(out).find((m) => m.key === "A-2")!.status, "lost");
  // Its last restart is spent: when its worker dies, it is lost.
  const done = r.ev({ type: "task-finished", worker: "w1", key: "A-1", nbytes: 0, startMs: 0, stopMs: 1, actor: { key: "A-1", className: "A", workerAddress: "w1", methods: ["m"], attributes: [], incarnation: 2 } });
  assert.equal(states(done).find((m) => m.key === "A-1")!.actor!.incarnation, 2);
  const gone = r.ev({ type: "worker-removed", address: "w1", reason: "died" });
  assert.equal(states(gone).find((m) => m.key === "A-1")!.status, "lost");
});

test("named actors: a second live actor with the same name fails with a clear error; the name is free once the first is gone", () => {
  const h = harness();
  h.worker("w1");
  h.submit([spec("A-1", [], { actor: true, name: "shared" })]);
  h.finish("w1", "A-1", 0, { className: "A" });
  assert.equal(h.s.namedActor("shared"), "A-1");
  const out = h.submit([spec("A-2", [], { actor: true, name: "shared" })]);
  assert.deepEqual(computes(out), [], "never created");
  const refused = states(out).find((m) => m.key === "A-2")!;
  assert.equal(refused.status, "error");
  assert.equal(refused.error!.name, "ConfigError");
  assert.match(refused.error!.message, /already exists \(A-1\).*getActor/);
  assert.equal(h.s.namedActor("shared"), "A-1");
  // Released by its only holder: forgotten, and the name goes with it.
  h.ev({ type: "release-keys", client: "c1", keys: ["A-1", "A-2"] });
  assert.equal(h.s.namedActor("shared"), undefined);
  assert.equal(computes(h.submit([spec("A-3", [], { actor: true, name: "shared" })])).length, 1);
  assert.equal(h.s.namedActor("shared"), "A-3", "claimed while being created");
});

test("detached actors: kept when their client leaves, until kill-actor deletes them on their worker", () => {
  const h = harness();
  h.worker("w1");
  let out = h.submit([spec("A-1", [], { actor: true, name: "keeper", lifetime: "detached" })]);
  assert.equal(computes(out)[0]!.msg.name, "keeper", "the worker keeps its name and lifetime for a restarted scheduler");
  assert.equal(computes(out)[0]!.msg.lifetime, "detached");
  h.finish("w1", "A-1", 0, { className: "A" });
  out = h.ev({ type: "client-removed", client: "c1" });
  assert.deepEqual(frees(out), []);
  assert.equal(h.s.taskState("A-1"), "memory");
  h.ev({ type: "client-added", client: "c2" });
  h.ev({ type: "want-keys", client: "c2", keys: ["A-1"] });
  out = h.ev({ type: "kill-actor", key: "A-1" });
  assert.deepEqual(frees(out), [{ address: "w1", keys: ["A-1"] }]);
  const seen = states(out, "c2")[0]!;
  assert.equal(seen.status, "lost");
  assert.equal(seen.error!.name, "ActorLostError");
  assert.match(seen.error!.message, /killed/);
  assert.equal(h.s.namedActor("keeper"), undefined);
  h.ev({ type: "release-keys", client: "c2", keys: ["A-1"] });
  assert.equal(h.s.size, 0);
});

test("restart: a detached named actor its worker reports is kept with no client, under its name", () => {
  const r = restarted();
  const meta = { key: "A-1", className: "A", workerAddress: "w1", methods: ["m"], attributes: [], incarnation: 0, name: "keeper", lifetime: "detached" as const };
  r.ev({
    type: "worker-added", address: "w1", name: "w1", nthreads: 1, actorThreads: 1, resources: {}, incarnation: "w1-1",
    rejoin: { schedulerId: "old", held: {}, actors: [meta], running: [] },
  }, 0);
  const out = r.ev({ type: "tick" }, RECOVERY_QUIET_MS + 1);
  assert.deepEqual(frees(out), []);
  assert.equal(r.s.taskState("A-1"), "memory");
  assert.equal(r.s.namedActor("keeper"), "A-1");
});
