// Seeded randomized simulation of the scheduler's state machine against a fake
// world: workers that run tasks after random delays, die, hang, join (also at
// a dead worker's address), and deliver messages late or twice; clients that
// submit random graphs, scatter, release, cancel and re-want keys; and the
// scheduler itself dying and starting again, rebuilt from what the workers
// and clients report. After every
// step the scheduler's invariants and the world's expectations are checked.
//
//   node --import tsx bench/sim.ts --steps 1000000 --seed 7
//
// The unit suite runs a short version of the same simulation.

import { pathToFileURL } from "node:url";
import { Payload } from "../src/protocol/payload.js";
import type { Address, Key, KeyStatus, SchedulerToWorker, TaskOptions, TaskSpec } from "../src/protocol/messages.js";
import { SchedulerState, type ClientId, type Instruction, type SchedulerEvent } from "../src/scheduler/state.js";
import { mulberry32 } from "../test/helpers/prng.js";

interface SimWorker {
  address: Address;
  incarnation: string;
  alive: boolean;
  hung: boolean;
  gpu: boolean;
  holds: Set<Key>;
  computing: Map<Key, boolean /* actor */>;
  /** The incarnation of each actor created here, as the scheduler said. */
  actorIncarnation: Map<Key, number>;
  /** Chained tasks, waiting for deps still computing here. */
  waiting: Map<Key, { actor: boolean; deps: Set<Key> }>;
  /** Worker → scheduler, in order (a connection keeps order). */
  up: SchedulerEvent[];
  /** Scheduler → worker, in order. */
  down: SchedulerToWorker[];
  lastHeartbeat: number;
}

interface SimClient {
  registered: boolean;
  wants: Set<Key>;
  /** The last key-state received per wanted key. */
  seen: Map<Key, KeyStatus>;
  /** Specs it submitted that have not finished, and of the actors it holds: told again to a restarted scheduler. */
  specs: Map<Key, TaskSpec>;
  /** The incarnation of each actor it was told of. */
  actors: Map<Key, number>;
}

export interface SimOptions {
  steps: number;
  seed: number;
  /** Progress lines every this many steps (0: none). */
  report?: number;
}

export interface SimStats {
  steps: number;
  events: number;
  computeTasks: number;
  /** compute-tasks chained behind a dep still processing on the same worker */
  chained: number;
  finished: number;
  workerDeaths: number;
  actorRestarts: number;
  /** Tasks a busy worker gave up to an idle one. */
  stolen: number;
  /** Times the scheduler died and another was rebuilt from its workers' and clients' reports. */
  schedulerRestarts: number;
  /** Workers retired gracefully, and keys copied off retiring workers. */
  retired: number;
  replicated: number;
  maxTasks: number;
}

const ARGS = new Payload([]);
const FINAL_STATUS: Record<string, KeyStatus> = { memory: "finished", erred: "error", cancelled: "cancelled", lost: "lost" };

export function runSimulation(opts: SimOptions): SimStats {
  const rnd = mulberry32(opts.seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[int(xs.length)]);
  let s = new SchedulerState({ heartbeatTimeoutMs: 5000, maxWorkerDeaths: 3 });
  const stats: SimStats = { steps: 0, events: 0, computeTasks: 0, chained: 0, finished: 0, workerDeaths: 0, actorRestarts: 0, stolen: 0, schedulerRestarts: 0, retired: 0, replicated: 0, maxTasks: 0 };
  let now = 0;
  let step = 0;
  let nextKey = 0;
  let nextWorker = 0;
  let nextIncarnation = 0;
  const workers = new Map<Address, SimWorker>(); // current process at each address
  const clients = new Map<ClientId, SimClient>();
  const everKeys: Key[] = [];
  const actorRestarts = new Map<Key, number>();
  /** Actor key → the incarnation → the worker the scheduler reported it on. */
  const actorSeen = new Map<Key, Map<number, Address>>();
  /** Actors the scheduler reported alive, and where (cleared when that worker is removed). */
  const actorAlive = new Map<Key, Address>();

  const fail = (msg: string): never => {
    throw new Error(`simulation seed=${opts.seed} step=${step}: ${msg}`);
  };

  const traceKey = process.env.SIM_TRACE;
  const trace = (what: string, x: unknown) => {
    const j = JSON.stringify(x, (k, v) => (k === "args" || k === "fn" ? undefined : v));
    if (traceKey && j.includes(`"${traceKey}"`)) console.log(`[${step}] ${what} ${j}`);
  };

  function feed(e: SchedulerEvent): void {
    stats.events++;
    trace("event", e);
    if (e.type === "worker-removed" || e.type === "worker-added") {
      for (const [k, a] of actorAlive) if (a === e.address) actorAlive.delete(k);
    }
    const out = s.handle(e, now);
    route(out);
    s.checkInvariants();
  }

  function route(out: Instruction[]): void {
    const registered = new Set(s.workerAddresses());
    // A worker retired in this event still hears what was decided for it before, then `retired`.
    for (const ins of out) if (ins.to === "retired") registered.add(ins.address);
    for (const ins of out) {
      trace("out", ins);
      if (ins.to === "client") {
        const c = clients.get(ins.client);
        if (!c || !c.registered) fail(`key-state to unknown client ${ins.client}`);
        const m = ins.msg;
        if ((m.status === "error" || m.status === "lost" || m.status === "cancelled") && !m.error) fail(`${m.key} ${m.status} without error info`);
        if (m.status === "lost" && s.taskState(m.key) === undefined) {
          // A want for a key the scheduler had forgotten: the client drops it.
          c!.wants.delete(m.key);
          c!.seen.delete(m.key);
          continue;
        }
        if (c!.wants.has(m.key)) c!.seen.set(m.key, m.status);
        // As a client does: a spec is kept until its task is done (an actor's while it is held).
        if (m.status !== "pending" && !(m.status === "finished" && m.actor)) c!.specs.delete(m.key);
        if (m.actor) {
          checkActorMeta(m.key, m.actor.incarnation, m.actor.workerAddress);
          c!.actors.set(m.key, m.actor.incarnation);
        }
      } else if (ins.to === "worker") {
        if (!registered.has(ins.address)) fail(`${ins.msg.op} sent to removed worker ${ins.address}`);
        if (ins.msg.op === "compute-task") {
          stats.computeTasks++;
          let chained = false;
          for (const d in ins.msg.whoHas) {
            if (ins.msg.whoHas[d]!.length > 0) continue;
            // No holder is right only for a dep still processing on the same worker (the task is chained).
            if (s.processingOn(d) !== ins.address) fail(`${ins.msg.key} sent to ${ins.address} with no holder for ${d} (${s.taskState(d)} on ${s.processingOn(d)})`);
            chained = true;
          }
          if (chained) stats.chained++;
          if (ins.msg.actor && actorAlive.has(ins.msg.key)) fail(`actor ${ins.msg.key} recomputed while alive on ${actorAlive.get(ins.msg.key)}`);
        }
        // A freed actor is gone from that worker (the retirement of its worker moves it so).
        if (ins.msg.op === "free-keys") for (const k of ins.msg.keys) if (actorAlive.get(k) === ins.address) actorAlive.delete(k);
        const w = workers.get(ins.address);
        if (w && w.alive) w.down.push(ins.msg);
      } else if (ins.to === "retired") {
        const w = workers.get(ins.address);
        if (w && w.alive) w.down.push({ op: "retired" });
        for (const [k, a] of actorAlive) if (a === ins.address) actorAlive.delete(k);
      } else if (ins.to === "close-worker") {
        // Heartbeat timeout: the server closes the connection; the worker is gone.
        const w = workers.get(ins.address);
        if (w && w.alive) {
          // Whatever a hung worker had not sent yet is lost with its connection.
          w.up.length = 0;
          kill(w);
        }
      }
    }
  }

  function checkActorMeta(key: Key, incarnation: number, address: Address): void {
    let m = actorSeen.get(key);
    if (!m) actorSeen.set(key, (m = new Map()));
    const prev = m.get(incarnation);
    if (prev !== undefined && prev !== address) fail(`actor ${key} incarnation ${incarnation} created twice (${prev}, ${address})`);
    m.set(incarnation, address);
    if (incarnation > (actorRestarts.get(key) ?? 0)) fail(`actor ${key} re-created ${incarnation} times with restarts=${actorRestarts.get(key)}`);
    if (incarnation > 0 && prev === undefined) stats.actorRestarts++;
    actorAlive.set(key, address);
  }

  /** The worker's process ends: everything it held or was doing goes with it. */
  function stop(w: SimWorker): void {
    w.alive = false;
    w.hung = false;
    w.computing.clear();
    w.waiting.clear();
    w.holds.clear();
    w.down.length = 0;
  }

  function kill(w: SimWorker): void {
    stop(w);
    // Messages already sent still arrive; then the connection closes.
    w.up.push({ type: "worker-removed", address: w.address, reason: "died" });
    stats.workerDeaths++;
  }

  function addWorker(address: Address, gpu = rnd() < 0.3): void {
    const old = workers.get(address);
    // The old connection's traffic belongs to the old process: the server would not attribute it to the new one.
    if (old) old.up.length = 0;
    const w: SimWorker = {
      address,
      incarnation: `inc-${nextIncarnation++}`,
      alive: true,
      hung: false,
      gpu,
      holds: new Set(),
      computing: new Map(),
      actorIncarnation: new Map(),
      waiting: new Map(),
      up: [],
      down: [],
      lastHeartbeat: now,
    };
    workers.set(address, w);
    feed({
      type: "worker-added",
      address,
      name: address,
      nthreads: 1 + int(3),
      actorThreads: 1 + int(2),
      resources: w.gpu ? { GPU: 1 } : {},
      incarnation: w.incarnation,
    });
  }

  function addClient(id: ClientId): void {
    clients.set(id, { registered: true, wants: new Set(), seen: new Map(), specs: new Map(), actors: new Map() });
    feed({ type: "client-added", client: id });
  }

  // ---------------------------------------------------------------- worker behaviour

  function workerReceive(w: SimWorker): void {
    const msg = w.down.shift()!;
    trace(`recv ${w.address}`, msg);
    if (msg.op === "retired") {
      // It leaves for good, with no worker-removed: the scheduler forgot it already.
      stop(w);
      stats.retired++;
    } else if (msg.op === "acquire-replicas") {
      // Copies of what a retiring worker holds; a holder gone (or a failed fetch) gives none, and its deadline settles it.
      const holder = workers.get(msg.holder);
      const got = msg.keys.filter((k) => holder?.alive && holder.holds.has(k) && rnd() < 0.9);
      for (const k of got) w.holds.add(k);
      stats.replicated += got.length;
      if (got.length > 0) w.up.push({ type: "add-keys", worker: w.address, keys: got, nbytes: Object.fromEntries(got.map((k) => [k, 100])) });
    } else if (msg.op === "free-keys") {
      for (const k of msg.keys) {
        w.holds.delete(k);
        w.computing.delete(k);
        w.waiting.delete(k);
      }
    } else if (msg.op === "steal-request") {
      // A task not started yet is given up (it never runs here); one that started is kept.
      const released: Key[] = [];
      const kept: Key[] = [];
      for (const k of msg.keys) {
        if (w.computing.has(k) && !w.computing.get(k) && rnd() < 0.6) {
          w.computing.delete(k);
          released.push(k);
          stats.stolen++;
        } else kept.push(k);
      }
      w.up.push({ type: "steal-response", worker: w.address, released, kept });
    } else if (msg.op === "compute-task") {
      if (w.holds.has(msg.key)) {
        w.up.push(finishedEvent(w, msg.key, msg.actor));
        return;
      }
      if (w.computing.has(msg.key)) return; // a duplicate: the one running keeps its incarnation
      if (msg.actor) w.actorIncarnation.set(msg.key, msg.incarnation ?? 0);
      let ok = true;
      const local = new Set<Key>();
      for (const dep in msg.whoHas) {
        if (w.holds.has(dep)) continue;
        if (msg.whoHas[dep]!.length === 0) {
          local.add(dep); // computing here: wait for it
          continue;
        }
        let got = false;
        for (const h of msg.whoHas[dep]!) {
          const hw = workers.get(h);
          if (hw && hw.alive && hw.holds.has(dep)) {
            got = true;
            break;
          }
          w.up.push({ type: "missing-data", worker: w.address, key: dep, holder: h });
        }
        if (!got) ok = false;
      }
      w.waiting.delete(msg.key);
      if (!ok) return;
      if (local.size === 0) w.computing.set(msg.key, msg.actor);
      else w.waiting.set(msg.key, { actor: msg.actor, deps: local });
    }
  }

  function finishedEvent(w: SimWorker, key: Key, actor: boolean): SchedulerEvent {
    return {
      type: "task-finished",
      worker: w.address,
      key,
      nbytes: 1 + int(1000),
      startMs: now,
      stopMs: now + int(5),
      ...(actor ? { actor: { key, className: "Sim", workerAddress: w.address, methods: ["m"], attributes: ["n"], incarnation: w.actorIncarnation.get(key) ?? 0 } } : {}),
    };
  }

  function workerCompute(w: SimWorker): void {
    const keys = [...w.computing.keys()];
    const key = pick(keys)!;
    const actor = w.computing.get(key)!;
    w.computing.delete(key);
    if (rnd() < 0.08) {
      w.up.push({ type: "task-erred", worker: w.address, key, error: { name: "Error", message: `sim failure of ${key}`, stack: "Error: sim" } });
    } else {
      w.holds.add(key);
      w.up.push(finishedEvent(w, key, actor));
      for (const [k, rec] of w.waiting) {
        if (rec.deps.delete(key) && rec.deps.size === 0) {
          w.waiting.delete(k);
          w.computing.set(k, rec.actor);
        }
      }
    }
  }

  function deliverUp(w: SimWorker): void {
    const e = w.up.shift()!;
    // Sometimes a message arrives twice, the copy later.
    if ((e.type === "task-finished" || e.type === "add-keys") && rnd() < 0.03) w.up.push(e);
    if (e.type === "task-finished") stats.finished++;
    feed(e);
  }

  // ---------------------------------------------------------------- client behaviour

  function randomSpec(client: SimClient, earlier: Key[]): TaskSpec {
    const r = rnd();
    const actor = r < 0.08;
    const key = r > 0.9 ? `pure-${int(30)}` : `${actor ? "Actor" : "t"}-${nextKey++}`;
    const deps = new Set<Key>();
    if (!key.startsWith("pure-")) {
      const pool = [...earlier, ...client.wants];
      const n = int(4);
      for (let i = 0; i < n; i++) {
        const d = pick(pool);
        if (d !== undefined && d !== key) deps.add(d);
      }
    }
    const options: TaskOptions = {};
    if (actor) {
      options.actor = true;
      options.restarts = int(2);
      actorRestarts.set(key, options.restarts);
    }
    if (!key.startsWith("pure-")) {
      if (rnd() < 0.05) options.resources = { GPU: 1 };
      if (rnd() < 0.05) {
        options.workers = [pick([...workers.keys()]) ?? "tcp://nowhere:1"];
        options.allowOtherWorkers = rnd() < 0.5;
      }
      if (rnd() < 0.2) options.retries = int(3);
      if (rnd() < 0.1) options.allowReconstruction = false;
    }
    options.priority = int(3);
    return { key, fn: { kind: "source", source: "", name: "f", isClass: actor }, args: ARGS, deps: [...deps], options, group: actor ? "Actor" : "t" };
  }

  function clientAct(id: ClientId, c: SimClient): void {
    const r = rnd();
    const wants = [...c.wants];
    if (r < 0.45) {
      const n = 1 + int(6);
      const specs: TaskSpec[] = [];
      for (let i = 0; i < n; i++) specs.push(randomSpec(c, specs.map((t) => t.key)));
      const wanted = rnd() < 0.5 ? specs.map((t) => t.key) : [specs[specs.length - 1]!.key];
      for (const t of specs) {
        everKeys.push(t.key);
        c.specs.set(t.key, t);
      }
      for (const k of wanted) c.wants.add(k);
      feed({ type: "update-graph", client: id, tasks: specs, wanted });
    } else if (r < 0.65) {
      const k = pick(wants);
      if (k === undefined) return;
      c.wants.delete(k);
      c.seen.delete(k);
      c.specs.delete(k);
      feed({ type: "release-keys", client: id, keys: [k] });
    } else if (r < 0.72) {
      const k = pick(wants);
      if (k !== undefined) feed({ type: "cancel-keys", client: id, keys: [k] });
    } else if (r < 0.8) {
      const k = pick(everKeys);
      if (k === undefined || c.wants.has(k)) return;
      c.wants.add(k);
      feed({ type: "want-keys", client: id, keys: [k] });
    } else if (r < 0.9) {
      const targets = s.chooseWorkers(1 + int(2));
      if (targets.length === 0) return;
      const key = `data-${nextKey++}`;
      for (const a of targets) workers.get(a)?.holds.add(key);
      everKeys.push(key);
      c.wants.add(key);
      feed({ type: "update-data", client: id, who: { [key]: [...new Set(targets)] }, nbytes: { [key]: 100 } });
    } else if (r < 0.92) {
      c.registered = false;
      c.wants.clear();
      c.seen.clear();
      c.specs.clear();
      feed({ type: "client-removed", client: id });
      addClient(id);
    } else if (r < 0.95) {
      // The scheduler holds it until it is done, whatever the client does next.
      const k = pick(wants);
      if (k !== undefined) feed({ type: "fire-and-forget", keys: [k] });
    }
  }

  // ---------------------------------------------------------------- checks

  function checkWorld(): void {
    const awaiting = s.tables.awaiting;
    for (const [id, c] of clients) {
      for (const k of c.wants) {
        const st = s.taskState(k);
        // A restarted scheduler waits for a worker to report a key before calling it lost.
        if (st === undefined && awaiting.get(k)?.has(id)) continue;
        if (st === undefined || st === "released") fail(`client ${id} wants ${k} but it is ${st ?? "forgotten"}`);
        const expected = FINAL_STATUS[st!];
        const seen = c.seen.get(k);
        if (expected !== undefined) {
          if (seen !== expected) fail(`${k} is ${st} but client ${id} was told ${seen ?? "nothing"}`);
        } else if (seen !== undefined && seen !== "pending") fail(`${k} is ${st} but client ${id} was told ${seen}`);
      }
    }
    stats.maxTasks = Math.max(stats.maxTasks, s.size);
  }

  // ---------------------------------------------------------------- main loop

  for (let i = 0; i < 3; i++) addWorker(`tcp://w${nextWorker++}:1`);
  for (let i = 0; i < 3; i++) addClient(`c${i}`);

  /**
   * The scheduler dies; another starts in its place. What was in flight to or
   * from it is lost; workers keep what they hold and the tasks they are
   * running (the rest they drop), and rejoin with them; clients rejoin with
   * what they hold and the specs of their tasks not done.
   */
  function restartScheduler(): void {
    stats.schedulerRestarts++;
    s = new SchedulerState({ heartbeatTimeoutMs: 5000, maxWorkerDeaths: 3 });
    actorAlive.clear();
    for (const w of workers.values()) {
      w.up.length = 0;
      w.down.length = 0;
      w.waiting.clear();
      if (w.hung) kill(w); // it never answers the new scheduler either
      if (!w.alive) {
        w.up.length = 0;
        continue;
      }
      // Tasks not started yet go; some were running and carry on.
      for (const k of [...w.computing.keys()]) if (rnd() < 0.5) w.computing.delete(k);
    }
    for (const w of workers.values()) {
      if (!w.alive) continue;
      const held: Record<Key, number> = {};
      const actors = [];
      for (const k of w.holds) {
        if (k.startsWith("Actor")) actors.push({ key: k, className: "Sim", workerAddress: w.address, methods: ["m"], attributes: ["n"], incarnation: w.actorIncarnation.get(k) ?? 0 });
        else held[k] = 100;
      }
      for (const a of actors) actorAlive.set(a.key, w.address);
      feed({
        type: "worker-added",
        address: w.address,
        name: w.address,
        nthreads: 1 + int(3),
        actorThreads: 1 + int(2),
        resources: w.gpu ? { GPU: 1 } : {},
        incarnation: w.incarnation,
        rejoin: { schedulerId: "previous", held, actors, running: [...w.computing.keys()] },
      });
    }
    for (const [id, c] of clients) {
      c.seen.clear();
      const actors: Record<Key, number> = {};
      for (const [k, inc] of c.actors) if (c.wants.has(k)) actors[k] = inc;
      feed({ type: "client-rejoined", client: id, tasks: [...c.specs.values()], wanted: [...c.wants], actors });
    }
  }

  const chaos = (): void => {
    const r = rnd();
    const live = [...workers.values()].filter((w) => w.alive);
    if (r < 0.005) {
      restartScheduler();
    } else if (r < 0.3) {
      const w = pick(live);
      if (w && live.length > 1) kill(w);
    } else if (r < 0.4) {
      const w = pick(live);
      if (w && live.length > 1) w.hung = true;
    } else if (r < 0.5) {
      const w = pick(live);
      if (w && live.length > 1) feed({ type: "retire-workers", workers: [w.address], timeoutMs: 500 + int(5000) });
    } else if (live.length < 6) {
      // Half the time at a previous address: a restarted worker is a new worker.
      const dead = [...workers.values()].filter((w) => !w.alive);
      const again = rnd() < 0.5 ? pick(dead) : undefined;
      addWorker(again ? again.address : `tcp://w${nextWorker++}:1`);
    }
  };

  const stepOnce = (allowChaos: boolean): boolean => {
    now += 1 + int(20);
    const all = [...workers.values()];
    const r = rnd();
    if (r < 0.35) {
      const w = pick(all.filter((x) => x.up.length > 0 && !x.hung));
      if (w) deliverUp(w);
      else return false;
    } else if (r < 0.55) {
      const w = pick(all.filter((x) => x.alive && !x.hung && x.down.length > 0));
      if (w) workerReceive(w);
      else return false;
    } else if (r < 0.75) {
      const w = pick(all.filter((x) => x.alive && !x.hung && x.computing.size > 0));
      if (w) workerCompute(w);
      else return false;
    } else if (r < 0.93) {
      if (!allowChaos) return false;
      const id = `c${int(3)}`;
      clientAct(id, clients.get(id)!);
    } else if (r < 0.96) {
      if (allowChaos) chaos();
      else return false;
    } else {
      for (const w of all) {
        if (w.alive && !w.hung && now - w.lastHeartbeat > 1000) {
          w.lastHeartbeat = now;
          w.up.push({ type: "heartbeat", worker: w.address, memoryBytes: w.holds.size * 100, actors: {}, busyMs: w.computing.size > 0 && rnd() < 0.5 ? int(2000) : 0 });
        }
      }
      feed({ type: "tick" });
      return allowChaos;
    }
    return true;
  };

  for (step = 0; step < opts.steps; step++) {
    stepOnce(true);
    checkWorld();
    if (opts.report && step > 0 && step % opts.report === 0) {
      console.log(`step ${step}: ${s.size} keys, ${s.workerAddresses().length} workers, ${JSON.stringify(s.info().tasks)}`);
    }
  }
  stats.steps = opts.steps;

  // Drain: no more chaos; with a healthy GPU worker everything pending must settle.
  addWorker(`tcp://w${nextWorker++}:1`, true);
  // A scheduler still rebuilding after a restart places nothing until its quiet period ends.
  const busy = () =>
    s.tables.recovering ||
    [...workers.values()].some((w) => w.hung || w.up.length > 0 || (w.alive && (w.down.length > 0 || w.computing.size > 0)));
  for (let i = 0; i < 200_000 && busy(); i++) {
    step++;
    if (i % 200 === 0) {
      // Hung workers are found by the heartbeat timeout.
      now += 6000;
      for (const w of workers.values()) if (w.alive && !w.hung) w.up.push({ type: "heartbeat", worker: w.address, memoryBytes: 0, actors: {}, busyMs: w.computing.size > 0 && rnd() < 0.5 ? int(2000) : 0 });
      for (const w of workers.values()) while (w.alive && !w.hung && w.up.length > 0) deliverUp(w);
      feed({ type: "tick" });
    }
    stepOnce(false);
    checkWorld();
  }
  // After draining, only tasks that no worker may run (strict restrictions) and their dependents may wait.
  const tasks = s.tables.tasks;
  const stuckOk = (k: Key, depth = 0): boolean => {
    const t = tasks.get(k);
    if (!t || depth > 1000) return false;
    if (t.state === "no-worker") {
      if (t.spec?.options.workers && !t.spec.options.allowOtherWorkers) return true;
      // Resources held by living actors stay held.
      const ws = s.tables.workerList;
      const res = t.spec?.options.resources;
      return !!res && ws.every((w) => Object.keys(res).some((n) => (w.resources[n] ?? 0) - (w.used[n] ?? 0) < res[n]!));
    }
    if (t.state !== "waiting") return false;
    return (t.spec?.deps ?? []).every((d) => tasks.get(d)?.state === "memory" || stuckOk(d, depth + 1));
  };
  // A fired-and-forgotten key is let go of once done: only one that cannot run may still be held.
  for (const [k, t] of tasks) if (t.wantedBy.has("fire-and-forget") && !stuckOk(k)) fail(`${k} is still held for fireAndForget after draining (${t.state})`);
  for (const c of clients.values()) {
    for (const k of c.wants) {
      const t = tasks.get(k)!;
      if ((t.state === "waiting" || t.state === "processing" || t.state === "no-worker") && !stuckOk(k)) {
        const deps = (t.spec?.deps ?? []).map((d) => `${d}:${tasks.get(d)?.state}`);
        const at = t.processingOn ? workers.get(t.processingOn) : undefined;
        fail(`${k} still ${t.state} after draining (recovering=${s.tables.recovering} unrunnable=${s.tables.unrunnable.has(k)} workers=${s.tables.workerList.length} waitingOn ${t.waitingOn}, deps ${deps.join(" ")}, on ${t.processingOn} alive=${at?.alive} computing=${at?.computing.has(k)} holds=${at?.holds.has(k)}, options ${JSON.stringify(t.spec?.options)})`);
      }
    }
  }
  return stats;
}

function main(): void {
  const argv = process.argv.slice(2);
  const arg = (name: string, dflt: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const steps = arg("--steps", 1_000_000);
  const seed = arg("--seed", 1);
  const t0 = performance.now();
  const stats = runSimulation({ steps, seed, report: Math.max(1, Math.floor(steps / 10)) });
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ seed, ...stats, ms: Math.round(ms), stepsPerSec: Math.round((steps / ms) * 1000) }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
