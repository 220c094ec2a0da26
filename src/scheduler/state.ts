// The scheduler's state machine: which keys exist, who wants them, where they
// live, which worker runs what. Sans-I/O: `handle(event, now)` returns the
// messages to send. No timers, no clock: time only arrives as `now`.
//
// Task states:
//   waiting     some dependency is not in memory yet
//   no-worker   ready, but no worker can run it now (restrictions, resources)
//   processing  sent to one worker
//   memory      held by one or more workers (an actor: alive on one worker)
//   released    not needed, no data, but its spec is kept as lineage for dependents
//   erred / lost / cancelled   final; kept while some client wants the key
// A key nobody needs any more is forgotten (or kept as `released` lineage).

import type {
  ActorMeta,
  ActorStats,
  Address,
  ErrorInfo,
  Key,
  KeyState,
  KeyStatus,
  SchedulerInfo,
  TaskSpec,
  WhereIsActorReply,
  WorkerInfo,
} from "../protocol/messages.js";
import { NO_HOLDERS } from "../protocol/messages.js";
import { errorInfoOf } from "../serialize/errors.js";
import type { ClientId, Instruction, SchedulerEvent } from "./events.js";
import { Few } from "./few.js";
import { isFinal, isPending, StateCounts, TASK_STATES, TaskGroup, type TaskStateName } from "./groups.js";
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from "./options.js";
import { hasResources, Placer, resourcesFree } from "./placement.js";
import { busyWorkers, idleWorkers, planSteals, type StealCandidate, type StealWorker } from "./stealing.js";

export type { ClientId, Instruction, SchedulerEvent } from "./events.js";
export type { TaskStateName } from "./groups.js";

export interface SchedulerStateOptions {
  /** A worker silent for this long is closed (default DEFAULT_HEARTBEAT_TIMEOUT_MS). */
  heartbeatTimeoutMs?: number;
  /** A task running on this many workers that died fails with KilledWorkerError (default 3). */
  maxWorkerDeaths?: number;
}

interface Task {
  key: Key;
  /** Undefined for scattered data: it has no lineage. */
  spec: TaskSpec | undefined;
  actor: boolean;
  state: TaskStateName;
  /** Its function's group (counted there by state). */
  group: TaskGroup;
  /** Set when the scheduler forgets it: a new task may come under the same key later. */
  forgotten: boolean;
  /** Keys of tasks listing this one among their deps. */
  dependents: Set<Key>;
  /** How many dependents are waiting, no-worker or processing: kept so "is it needed?" is O(1). */
  pendingDependents: number;
  /** While waiting: how many deps are not in memory. */
  waitingOn: number;
  wantedBy: Few;
  who: Few;
  processingOn: Address | undefined;
  /** While processing: asked back from its worker, to go to this one (work stealing). */
  stealTo: Address | undefined;
  nbytes: number;
  retriesLeft: number;
  deaths: number;
  /** Of its deaths, those of workers restarted because their memory passed the limit. */
  memoryDeaths: number;
  restartsLeft: number;
  /** For actors: bumped each time the actor is re-created after its worker died. */
  incarnation: number;
  meta: ActorMeta | undefined;
  error: ErrorInfo | undefined;
}

interface WorkerRec extends StealWorker {
  name: string;
  incarnation: string;
  /** Keys it holds (counted, not listed: losing a worker is rare, so it scans the tasks then). */
  nheld: number;
  lastSeen: number;
  memoryBytes: number;
  memoryLimit: number;
  spilledBytes: number;
  pauses: number;
  restarts: number;
  /** It said it is about to restart because its memory passed the limit: its running tasks die of that. */
  restartingForMemory: boolean;
  actorStats: Record<Key, ActorStats>;
}

/**
 * The empty set every task starts with: most tasks never get dependents, and
 * many never a holder or a client, so each set is made on its first add.
 * Nothing is ever added to this one.
 */
const NONE: Set<never> = new Set();
/** The same for holders and wanting clients. */
const NO_ONE = new Few();
/** Bytes of deps held per worker, for a task without deps. */
const NO_DEP_BYTES: ReadonlyMap<Address, number> = new Map();

const DEFAULT_DURATION_MS = 10;


const ACTOR_LOST_MESSAGE = "Worker holding Actor was lost";

/** The wanter of keys given to fireAndForget: the scheduler itself, until each is done. */
const FIRE_AND_FORGET: ClientId = "fire-and-forget";

/** Collects one event's output and merges it per destination. */
class Outbox {
  readonly compute = new Map<Address, Map<Key, Instruction>>();
  readonly free = new Map<Address, Set<Key>>();
  readonly clients = new Map<ClientId, Map<Key, KeyState>>();
  /** Steal requests, after the computes. */
  steals: Instruction[] = [];
  closes: Instruction[] = [];

  freeKey(address: Address, key: Key): void {
    this.compute.get(address)?.delete(key);
    let s = this.free.get(address);
    if (!s) this.free.set(address, (s = new Set()));
    s.add(key);
  }

  computeTask(address: Address, key: Key, ins: Instruction): void {
    let m = this.compute.get(address);
    if (!m) this.compute.set(address, (m = new Map()));
    m.set(key, ins);
  }

  /** Drops anything queued for a worker that just went away. */
  dropWorker(address: Address): void {
    this.compute.delete(address);
    this.free.delete(address);
    this.steals = this.steals.filter((i) => i.to !== "worker" || i.address !== address);
  }

  keyState(client: ClientId, msg: KeyState): void {
    let m = this.clients.get(client);
    if (!m) this.clients.set(client, (m = new Map()));
    // Only the latest state of a key matters to the client; re-insert to keep order of arrival.
    m.delete(msg.key);
    m.set(msg.key, msg);
  }

  flush(): Instruction[] {
    const out: Instruction[] = [];
    // Frees before computes: a key freed then recomputed on the same worker in one event must end up computed.
    for (const [address, keys] of this.free) out.push({ to: "worker", address, msg: { op: "free-keys", keys: [...keys] } });
    for (const m of this.compute.values()) for (const ins of m.values()) out.push(ins);
    for (const [client, m] of this.clients) for (const msg of m.values()) out.push({ to: "client", client, msg });
    out.push(...this.steals);
    out.push(...this.closes);
    return out;
  }

  /** One outbox serves every event: clearing is cheaper than four new collections per message. */
  reset(): void {
    // (Clearing a Map allocates a new table even when it is empty.)
    if (this.compute.size > 0) this.compute.clear();
    if (this.free.size > 0) this.free.clear();
    if (this.clients.size > 0) this.clients.clear();
    if (this.steals.length > 0) this.steals = [];
    if (this.closes.length > 0) this.closes = [];
  }
}

export class SchedulerState {
  private readonly tasks = new Map<Key, Task>();
  private readonly workers = new Map<Address, WorkerRec>();
  private workerList: WorkerRec[] = [];
  /** Known clients (the keys each wants are on the tasks: a client leaving is rare, it scans them then). */
  private readonly clients = new Set<ClientId>();
  private readonly unrunnable = new Set<Key>();
  private readonly counts = new StateCounts();
  /** Tasks by group (the function's name): progress and mean duration per group. Kept when empty, for the durations. */
  private readonly groups = new Map<string, TaskGroup>();
  private readonly placer = new Placer();
  private readonly heartbeatTimeoutMs: number;
  private readonly maxWorkerDeaths: number;
  private readonly out = new Outbox();

  /** Fired-and-forgotten keys that reached a final state in this event: the scheduler lets go of them after it. */
  private fired: Task[] = [];

  constructor(opts: SchedulerStateOptions = {}) {
    this.heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
    this.maxWorkerDeaths = opts.maxWorkerDeaths ?? 3;
  }

  handle(event: SchedulerEvent, now: number): Instruction[] {
    this.out.reset(); // also drops what an event that threw half-way had queued
    if ("worker" in event) {
      const w = this.workers.get(event.worker);
      // Messages from a worker already removed are stale: its keys were already dealt with.
      if (!w) return [];
      w.lastSeen = now;
    }
    switch (event.type) {
      case "client-added":
        this.clients.add(event.client);
        break;
      case "client-removed":
        this.clientRemoved(event.client);
        break;
      case "update-graph":
        this.updateGraph(event.client, event.tasks, event.wanted);
        break;
      case "release-keys":
        for (const key of event.keys) this.unwant(event.client, key);
        break;
      case "want-keys":
        this.wantKeys(event.client, event.keys);
        break;
      case "cancel-keys":
        this.cancelKeys(event.keys);
        break;
      case "fire-and-forget":
        for (const key of event.keys) {
          const t = this.tasks.get(key);
          if (t && isPending(t.state)) this.want(FIRE_AND_FORGET, t);
        }
        break;
      case "restart":
        this.restart();
        break;
      case "update-data":
        this.updateData(event.client, event.who, event.nbytes);
        break;
      case "worker-added":
        this.workerAdded(event, now);
        break;
      case "worker-removed":
        this.workerRemoved(event.address);
        break;
      case "task-finished":
        this.taskFinished(event.worker, event.key, event.nbytes, event.actor, event.stopMs - event.startMs);
        this.balanceIfIdle(event.worker);
        break;
      case "tasks-finished":
        for (let i = 0; i < event.keys.length; i++) this.taskFinished(event.worker, event.keys[i]!, event.nbytes[i]!, undefined, event.durationMs[i]!);
        this.balanceIfIdle(event.worker);
        break;
      case "steal-response":
        this.stealResponse(event.worker, event.released, event.kept);
        break;
      case "task-erred":
        this.taskErred(event.worker, event.key, event.error);
        break;
      case "missing-data":
        this.missingData(event.worker, event.key, event.holder);
        break;
      case "add-keys":
        this.addKeys(event.worker, event.keys, event.nbytes);
        break;
      case "heartbeat": {
        const w = this.workers.get(event.worker)!;
        w.memoryBytes = event.memoryBytes;
        w.spilledBytes = event.spilledBytes ?? 0;
        w.busyMs = event.busyMs ?? 0;
        w.actorStats = event.actors;
        break;
      }
      case "worker-status":
        this.workerStatus(event.worker, event.status);
        break;
      case "actors-lost":
        this.actorsLost(event.worker, event.keys, event.error);
        break;
      case "tick":
        this.tick(now);
        this.balance();
        break;
    }
    this.afterResourcesFreed();
    if (this.fired.length > 0) this.releaseFired();
    return this.out.flush();
  }

  // ------------------------------------------------------------ queries

  info(): Omit<SchedulerInfo, "address"> {
    const workers: Record<Address, WorkerInfo> = {};
    for (const w of this.workerList) {
      const actors: WorkerInfo["actors"] = {};
      for (const key of w.actors) {
        const t = this.tasks.get(key);
        const s = w.actorStats[key];
        actors[key] = {
          className: t?.meta?.className ?? t?.spec?.fn.name ?? "",
          calls: s?.calls ?? 0,
          inFlight: s?.inFlight ?? 0,
          meanCallMs: s?.meanCallMs ?? 0,
        };
      }
      workers[w.address] = {
        name: w.name,
        nthreads: w.nthreads,
        actorThreads: w.actorThreads,
        resources: { ...w.resources },
        tasksProcessing: w.nprocessing,
        storedKeys: w.nheld,
        actors,
        memoryBytes: w.memoryBytes,
        memoryLimit: w.memoryLimit,
        spilledBytes: w.spilledBytes,
        status: w.paused ? "paused" : "running",
        pauses: w.pauses,
        restarts: w.restarts,
      };
    }
    const c = (s: TaskStateName) => this.counts.get(s);
    const groups: SchedulerInfo["groups"] = {};
    for (const [name, g] of this.groups) if (g.size > 0) groups[name] = g.toRecord();
    return {
      workers,
      groups,
      unrunnable: [...this.unrunnable],
      tasks: {
        waiting: c("waiting"),
        processing: c("processing"),
        memory: c("memory"),
        erred: c("erred"),
        lost: c("lost"),
        "no-worker": c("no-worker"),
        queued: 0,
      },
    };
  }

  whoHas(keys: Key[]): Record<Key, Address[]> {
    const r: Record<Key, Address[]> = {};
    for (const key of keys) {
      const t = this.tasks.get(key);
      r[key] = t && t.state === "memory" ? t.who.toArray() : [];
    }
    return r;
  }

  /**
   * Targets for scattering `count` values: least loaded first (processing per
   * thread, then stored keys), cycling when count exceeds the workers.
   * `broadcast`: every candidate worker.
   */
  chooseWorkers(count: number, opts: { workers?: Address[]; broadcast?: boolean } = {}): Address[] {
    let cands = this.workerList.filter((w) => !w.closing);
    if (opts.workers && opts.workers.length > 0) {
      const only = new Set(opts.workers);
      cands = cands.filter((w) => only.has(w.address));
    }
    if (opts.broadcast) return cands.map((w) => w.address);
    if (cands.length === 0 || count <= 0) return [];
    const sorted = cands
      .map((w, i) => ({ w, i }))
      .sort(
        (a, b) =>
          a.w.nprocessing / Math.max(1, a.w.nthreads) - b.w.nprocessing / Math.max(1, b.w.nthreads) ||
          a.w.nheld - b.w.nheld ||
          a.i - b.i,
      )
      .map((x) => x.w.address);
    const r: Address[] = [];
    for (let i = 0; i < count; i++) r.push(sorted[i % sorted.length]!);
    return r;
  }

  actorLocation(key: Key): WhereIsActorReply {
    const t = this.tasks.get(key);
    if (!t || !t.actor) {
      return {
        error: errorInfoOf(
          "ActorLostError",
          `Actor ${key} was released: no client holds a reference to it any more. Keep a reference (its Future or handle) for as long as you call it.`,
        ),
        released: true,
      };
    }
    switch (t.state) {
      case "memory":
        return { ...t.meta! };
      case "lost":
      case "erred":
      case "cancelled":
        return { error: t.error ?? errorInfoOf("ActorLostError", ACTOR_LOST_MESSAGE) };
      default:
        return { pending: true };
    }
  }

  workerAddresses(): Address[] {
    return this.workerList.map((w) => w.address);
  }

  /** The state of a key (for tests and diagnostics); undefined when forgotten. */
  taskState(key: Key): TaskStateName | undefined {
    return this.tasks.get(key)?.state;
  }

  /** Where a key is being computed (for tests and diagnostics). */
  processingOn(key: Key): Address | undefined {
    return this.tasks.get(key)?.processingOn;
  }

  /** Number of keys the scheduler knows (for tests: no leaks). */
  get size(): number {
    return this.tasks.size;
  }

  // ------------------------------------------------------------ clients

  private want(client: ClientId, t: Task): void {
    this.clients.add(client);
    if (t.wantedBy === NO_ONE) t.wantedBy = new Few();
    t.wantedBy.add(client);
  }

  private unwant(client: ClientId, key: Key): void {
    const t = this.tasks.get(key);
    if (!t || !t.wantedBy.delete(client)) return;
    this.maybeRelease(t);
  }

  private clientRemoved(client: ClientId): void {
    if (!this.clients.delete(client)) return;
    const wanted: Task[] = [];
    for (const t of this.tasks.values()) if (t.wantedBy.delete(client)) wanted.push(t);
    for (const t of wanted) this.maybeRelease(t);
  }

  private wantKeys(client: ClientId, keys: Key[]): void {
    for (const key of keys) {
      const t = this.tasks.get(key);
      if (!t) {
        this.out.keyState(client, {
          op: "key-state",
          key,
          status: "lost",
          error: errorInfoOf(
            "LostError",
            `Key ${key} is not known to the scheduler: it was released after its last reference was dropped. Keep a Future to a result for as long as you need it.`,
          ),
        });
        continue;
      }
      this.want(client, t);
      if (t.state === "released") this.recompute(t);
      else if (isFinal(t.state)) this.out.keyState(client, this.keyState(t));
    }
  }

  private keyState(t: Task): KeyState {
    const status: KeyStatus =
      t.state === "memory"
        ? "finished"
        : t.state === "erred"
          ? "error"
          : t.state === "lost" || t.state === "cancelled"
            ? t.state
            : "pending";
    const msg: KeyState = { op: "key-state", key: t.key, status };
    if (status === "finished") {
      msg.workers = t.who.toArray();
      if (t.meta) msg.actor = { ...t.meta };
    } else if (t.error && status !== "pending") msg.error = t.error;
    return msg;
  }

  private notify(t: Task): void {
    if (t.wantedBy.size === 0) return;
    const msg = this.keyState(t);
    for (const c of t.wantedBy) {
      if (c !== FIRE_AND_FORGET) this.out.keyState(c, msg);
      else if (msg.status !== "pending") this.fired.push(t);
    }
  }

  /** Fired-and-forgotten keys that are done: nobody else may want them any more. */
  private releaseFired(): void {
    const done = this.fired;
    this.fired = [];
    for (const t of done) if (!t.forgotten && t.wantedBy.delete(FIRE_AND_FORGET)) this.maybeRelease(t);
  }

  // ------------------------------------------------------------ graph

  private newTask(key: Key, spec: TaskSpec | undefined): Task {
    const o = spec?.options;
    const t: Task = {
      key,
      spec,
      actor: o?.actor === true,
      state: "waiting",
      group: this.groupOf(spec),
      forgotten: false,
      dependents: NONE,
      pendingDependents: 0,
      waitingOn: 0,
      wantedBy: NO_ONE,
      who: NO_ONE,
      processingOn: undefined,
      stealTo: undefined,
      nbytes: 0,
      retriesLeft: o?.retries ?? 0,
      deaths: 0,
      memoryDeaths: 0,
      restartsLeft: o?.restarts ?? 0,
      incarnation: 0,
      meta: undefined,
      error: undefined,
    };
    this.tasks.set(key, t);
    this.bump(t, "waiting", 1);
    return t;
  }

  private lastGroup: TaskGroup | undefined;

  private groupOf(spec: TaskSpec | undefined): TaskGroup {
    const name = spec?.group ?? "data";
    // Tasks mostly arrive in runs of one function.
    if (this.lastGroup?.name === name) return this.lastGroup;
    let g = this.groups.get(name);
    if (!g) this.groups.set(name, (g = new TaskGroup(name)));
    return (this.lastGroup = g);
  }

  private updateGraph(client: ClientId, specs: TaskSpec[], wanted: Key[]): void {
    const fresh: Task[] = [];
    const restarted: Task[] = [];
    for (const spec of specs) {
      let t = this.tasks.get(spec.key);
      if (t && t.state !== "cancelled") continue; // a known key keeps its state
      if (t) {
        // Resubmitting a cancelled key starts it again.
        this.unlinkDeps(t);
        this.bump(t, t.state, -1); // it may join another group
        t.spec = spec;
        t.group = this.groupOf(spec);
        this.bump(t, t.state, 1);
        t.actor = spec.options.actor === true;
        t.retriesLeft = spec.options.retries ?? 0;
        t.restartsLeft = spec.options.restarts ?? 0;
        t.deaths = 0;
        t.memoryDeaths = 0;
        t.error = undefined;
        this.setState(t, "waiting");
        restarted.push(t);
      } else t = this.newTask(spec.key, spec);
      fresh.push(t);
    }
    for (const t of fresh) this.linkDeps(t);
    const wantedTasks: Array<Task | undefined> = new Array(wanted.length);
    for (let i = 0; i < wanted.length; i++) {
      const t = (wantedTasks[i] = this.tasks.get(wanted[i]!));
      if (t) this.want(client, t);
    }
    // Clients still holding a cancelled key that is submitted again see it pending again.
    for (const t of restarted) this.notify(t);
    for (const t of fresh) {
      // Skip tasks already failed by a dep's propagation, or forgotten because of it.
      if (!t.forgotten && t.state === "waiting" && t.waitingOn === 0) this.enterWaiting(t);
    }
    for (let i = 0; i < wanted.length; i++) {
      const t = wantedTasks[i];
      if (!t || t.forgotten) this.wantKeys(client, [wanted[i]!]);
      else if (t.state === "released") this.recompute(t);
      else if (isFinal(t.state)) this.out.keyState(client, this.keyState(t));
    }
    for (const t of fresh) if (!t.forgotten) this.maybeRelease(t);
  }

  private linkDeps(t: Task): void {
    const pending = isPending(t.state);
    for (const dk of t.spec!.deps) {
      const d = this.tasks.get(dk);
      if (!d || d.dependents.has(t.key)) continue;
      if (d.dependents === NONE) d.dependents = new Set();
      d.dependents.add(t.key);
      if (pending) d.pendingDependents++;
    }
  }

  private unlinkDeps(t: Task): void {
    if (!t.spec) return;
    const pending = isPending(t.state);
    for (const dk of t.spec.deps) {
      const d = this.tasks.get(dk);
      if (d && d.dependents.delete(t.key) && pending) d.pendingDependents--;
    }
  }

  /**
   * (Re)enters a task into the graph: checks its deps, recomputes released
   * ones, and places it when all are in memory.
   */
  private enterWaiting(t: Task): void {
    this.setState(t, "waiting");
    this.reviveReleasedDeps(t);
    // Bringing its lineage back may have failed it already (and forgotten it).
    if (t.forgotten || t.state !== "waiting") return;
    let missing = 0;
    for (const dk of t.spec!.deps) {
      const d = this.tasks.get(dk);
      if (!d) {
        this.fail(t, errorInfoOf("LostError", `dependency ${dk} was released before ${t.key} could use it: keep a Future to it until dependents are submitted`));
        return;
      }
      if (d.state === "erred" || d.state === "lost") {
        this.fail(t, d.error ?? errorInfoOf("LostError", `dependency ${dk} was lost`));
        return;
      }
      if (d.state === "cancelled") {
        this.cancel(t);
        return;
      }
      if (d.state === "released") {
        if (!this.recompute(d)) {
          // recompute() failed the dep, which failed us too.
          return;
        }
      }
      if (d.state !== "memory") missing++;
      // A dep already in memory that was freshly created within this batch counts as ready.
    }
    if (t.state !== "waiting") return; // a dep's failure reached us through propagation
    t.waitingOn = missing;
    if (missing === 0) {
      this.place(t);
      return;
    }
    const ahead = this.aheadTarget(t);
    if (ahead !== undefined) {
      this.assign(t, ahead);
      this.sendAhead(t);
    }
  }

  /**
   * Brings back the released lineage behind `root`, deepest first, so that
   * each task re-enters waiting after its own deps did. Iterative: a lineage
   * can be as long as the longest chain a client ever computed.
   */
  private reviveReleasedDeps(root: Task): void {
    let any = false;
    for (const key of root.spec!.deps) if (this.tasks.get(key)?.state === "released") any = true;
    if (!any) return;
    const order: Task[] = [];
    const seen = new Set<Task>();
    const stack: Array<{ t: Task; next: number }> = [{ t: root, next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const deps = top.t.spec?.deps ?? [];
      if (top.next < deps.length) {
        const d = this.tasks.get(deps[top.next++]!);
        if (d && d.state === "released" && !seen.has(d)) {
          seen.add(d);
          stack.push({ t: d, next: 0 });
        }
        continue;
      }
      stack.pop();
      if (top.t !== root) order.push(top.t);
    }
    // Each one's released deps are back by its turn: recompute() goes no deeper.
    // Recomputing one may fail another (and forget it), or the root itself: then the rest stay released.
    for (const d of order) if (isPending(root.state) && !d.forgotten && d.state === "released") this.recompute(d);
    // If the root failed half-way, what came back for it is not needed any more.
    for (let i = order.length - 1; i >= 0; i--) if (!order[i]!.forgotten) this.maybeRelease(order[i]!);
  }

  /**
   * Brings a released or lost key back by recomputing it from its spec.
   * Returns false when it cannot (no lineage): it is then lost.
   */
  private recompute(t: Task): boolean {
    if (isPending(t.state)) return true;
    if (!t.spec || t.actor || t.spec.options.allowReconstruction === false) {
      this.lose(t, errorInfoOf("LostError", `the last copy of ${t.key} is gone (its worker died, or its data was removed there) and it cannot be recomputed (${!t.spec ? "scattered data has no lineage" : t.actor ? "actors are not recomputed" : "allowReconstruction is false"})`));
      return false;
    }
    this.setState(t, "waiting");
    t.waitingOn = 0;
    this.notify(t);
    this.enterWaiting(t);
    return isPending(t.state);
  }

  // ------------------------------------------------------------ placement

  private place(t: Task): void {
    const spec = t.spec!;
    const o = spec.options;
    // Most tasks have no deps: they share one empty map.
    const depBytes = spec.deps.length === 0 ? (NO_DEP_BYTES as Map<Address, number>) : new Map<Address, number>();
    let total = 0;
    for (const dk of spec.deps) {
      const d = this.tasks.get(dk)!;
      if (d.actor) {
        // An actor is not copied, but placing next to it keeps calls local.
        if (t.actor) for (const a of d.who) depBytes.set(a, (depBytes.get(a) ?? 0) + 1);
        continue;
      }
      total += d.nbytes;
      for (const a of d.who) depBytes.set(a, (depBytes.get(a) ?? 0) + d.nbytes);
    }
    const address = this.placer.choose(
      {
        actor: t.actor,
        workers: o.workers,
        allowOtherWorkers: o.allowOtherWorkers,
        resources: o.resources,
        depBytes,
        totalDepBytes: total,
        durationMs: t.group.meanDurationMs(DEFAULT_DURATION_MS),
      },
      this.workerList,
    );
    if (address === undefined) {
      this.setState(t, "no-worker");
      this.unrunnable.add(t.key);
      return;
    }
    if (t.state === "no-worker") this.unrunnable.delete(t.key);
    this.assign(t, address);
    this.sendAhead(t);
  }

  private assign(t: Task, address: Address): void {
    const w = this.workers.get(address)!;
    this.setState(t, "processing");
    t.processingOn = address;
    t.waitingOn = 0;
    w.nprocessing++;
    this.hold(w, t.spec!.options.resources, 1);
    this.sendCompute(t);
  }

  /** (Re)sends a processing task to its worker with the current holders of its deps. */
  private sendCompute(t: Task): void {
    const spec = t.spec!;
    const o = spec.options;
    const address = t.processingOn!;
    const whoHas: Record<Key, Address[]> = spec.deps.length === 0 ? (NO_HOLDERS as Record<Key, Address[]>) : {};
    for (const dk of spec.deps) {
      // Actors too: the value of an actor's key is a live handle, fetched from its worker.
      // A dep still processing on the same worker has no holder yet: the worker waits for it.
      whoHas[dk] = this.tasks.get(dk)!.who.toArray();
    }
    this.out.computeTask(address, t.key, {
      to: "worker",
      address,
      msg: {
        op: "compute-task",
        key: t.key,
        fn: spec.fn,
        args: spec.args,
        whoHas,
        actor: t.actor,
        priority: o.priority ?? 0,
        ...(o.resources ? { resources: o.resources } : {}),
      },
    });
  }

  /**
   * Sends waiting dependents of a task just assigned to a worker ahead to that
   * worker when every dep they miss is processing there: the worker starts
   * them the moment those deps finish, with no round trip through the
   * scheduler, so a chain runs at the worker's pace. Iterative: chains are long.
   */
  private sendAhead(root: Task): void {
    const stack = [root];
    while (stack.length > 0) {
      const t = stack.pop()!;
      for (const dk of t.dependents) {
        const d = this.tasks.get(dk);
        if (!d || d.state !== "waiting" || this.aheadTarget(d) !== t.processingOn) continue;
        this.assign(d, t.processingOn!);
        stack.push(d);
      }
    }
  }

  /**
   * The worker a waiting task can be sent ahead to: the one where every dep it
   * misses is processing, each with this task as its only dependent (a chain,
   * or a tree reducing into one node). Only unrestricted plain tasks over plain
   * deps go ahead; the rest are placed once their data exists.
   */
  private aheadTarget(t: Task): Address | undefined {
    const spec = t.spec!;
    const o = spec.options;
    if (t.actor || o.resources || (o.workers && o.workers.length > 0)) return undefined;
    let target: Address | undefined;
    for (const dk of spec.deps) {
      const d = this.tasks.get(dk);
      if (!d) return undefined;
      if (d.state === "memory") continue;
      // (A dep whose worker was just removed is processing nowhere until it is placed again.)
      if (d.state !== "processing" || d.actor || d.processingOn === undefined) return undefined;
      // Only a dep's sole dependent goes ahead: the dependents of a fan-out are spread by placement.
      if (d.dependents.size !== 1) return undefined;
      if (target === undefined) target = d.processingOn;
      else if (target !== d.processingOn) return undefined;
    }
    if (target === undefined || this.workers.get(target)?.closing !== false) return undefined;
    return target;
  }

  /**
   * A task leaves its worker without a result: the tasks sent ahead to wait
   * for it there go back to waiting (and from them, theirs).
   */
  private recall(root: Task, freeOnWorker: boolean): void {
    const a = root.processingOn;
    this.unassign(root, freeOnWorker);
    const stack = [root];
    while (stack.length > 0) {
      const t = stack.pop()!;
      for (const dk of t.dependents) {
        const d = this.tasks.get(dk);
        if (!d || d.state !== "processing" || d.processingOn !== a) continue;
        this.unassign(d, true);
        this.setState(d, "waiting");
        d.waitingOn = this.missingDeps(d);
        stack.push(d);
      }
    }
  }

  private missingDeps(t: Task): number {
    let n = 0;
    for (const dk of t.spec!.deps) if (this.tasks.get(dk)?.state !== "memory") n++;
    return n;
  }

  private hold(w: WorkerRec, res: Record<string, number> | undefined, sign: 1 | -1): void {
    if (!res) return;
    for (const name in res) w.used[name] = (w.used[name] ?? 0) + sign * res[name]!;
  }

  /** Tries the unrunnable tasks again (a worker joined or resources came free). */
  private retryUnrunnable(resourcesOnly: boolean): void {
    if (this.unrunnable.size === 0) return;
    // Tasks with the same restrictions that failed once this round would fail again: skip them.
    const failed = new Set<string>();
    for (const key of [...this.unrunnable]) {
      const t = this.tasks.get(key);
      if (!t || t.state !== "no-worker") {
        this.unrunnable.delete(key);
        continue;
      }
      const o = t.spec!.options;
      if (resourcesOnly && !o.resources) continue;
      const sig = JSON.stringify([t.actor, o.resources ?? null, o.workers ?? null, o.allowOtherWorkers ?? false]);
      if (failed.has(sig)) continue;
      this.place(t);
      if (t.state === "no-worker") failed.add(sig);
    }
  }

  // ------------------------------------------------------------ leaving states

  /** Takes a task off its worker (processing → something else). Returns resources. */
  private unassign(t: Task, freeOnWorker: boolean): void {
    const a = t.processingOn;
    if (a === undefined) return;
    t.processingOn = undefined;
    t.stealTo = undefined;
    const w = this.workers.get(a);
    if (!w) return;
    w.nprocessing--;
    this.hold(w, t.spec!.options.resources, -1);
    if (freeOnWorker) this.out.freeKey(a, t.key);
    if (t.spec!.options.resources) this.resourcesFreed = true;
  }

  private resourcesFreed = false;

  /** Drops every holder of the key (memory → something else). */
  private dropHolders(t: Task, freeOnWorkers: boolean): void {
    for (const a of t.who) {
      const w = this.workers.get(a);
      if (!w) continue;
      w.nheld--;
      if (t.actor) {
        w.actors.delete(t.key);
        delete w.actorStats[t.key];
        this.hold(w, t.spec?.options.resources, -1);
        if (t.spec?.options.resources) this.resourcesFreed = true;
      }
      if (freeOnWorkers) this.out.freeKey(a, t.key);
    }
    t.who.clear();
  }

  private leave(t: Task, freeOnWorkers: boolean): void {
    if (t.state === "processing") this.unassign(t, freeOnWorkers);
    else if (t.state === "memory") this.dropHolders(t, freeOnWorkers);
    else if (t.state === "no-worker") this.unrunnable.delete(t.key);
    if (t.state === "memory") this.depLeftMemory(t);
  }

  /** Dependents that counted on this key being in memory wait for it again. */
  private depLeftMemory(t: Task): void {
    for (const dk of t.dependents) {
      const d = this.tasks.get(dk);
      if (!d) continue;
      if (d.state === "waiting") d.waitingOn++;
      else if (d.state === "no-worker") {
        // Ready only because all deps were in memory; now this one is not.
        this.unrunnable.delete(d.key);
        this.setState(d, "waiting");
        d.waitingOn = 1;
      }
    }
  }

  private setState(t: Task, s: TaskStateName): void {
    if (t.state === s) return;
    const was = isPending(t.state);
    if (t.spec && was !== isPending(s)) {
      for (const dk of t.spec.deps) {
        const d = this.tasks.get(dk);
        if (d && d.dependents.has(t.key)) d.pendingDependents += was ? -1 : 1;
      }
    }
    this.bump(t, t.state, -1);
    this.bump(t, s, 1);
    t.state = s;
  }

  private bump(t: Task, s: TaskStateName, by: number): void {
    this.counts.add(s, by);
    t.group.add(s, by);
  }

  // ------------------------------------------------------------ final states

  private toMemory(t: Task, address: Address, nbytes: number): void {
    const w = this.workers.get(address)!;
    const wasMemory = t.state === "memory";
    let computedOn: Address | undefined;
    if (!wasMemory) {
      if (t.state === "processing") {
        computedOn = t.processingOn;
        this.unassign(t, false);
      }
      else if (t.state === "no-worker") this.unrunnable.delete(t.key);
      this.setState(t, "memory");
    }
    t.nbytes = nbytes;
    if (t.who === NO_ONE) t.who = new Few();
    if (!t.who.has(address)) {
      t.who.add(address);
      w.nheld++;
    }
    t.error = undefined;
    if (wasMemory) return;
    if (computedOn !== undefined && computedOn !== address) {
      // A copy turned up elsewhere first: tasks sent ahead to wait for it on `computedOn` fetch it instead.
      for (const dk of t.dependents) {
        const d = this.tasks.get(dk);
        if (d && d.state === "processing" && d.processingOn === computedOn) this.sendCompute(d);
      }
    }
    if (t.actor) {
      w.actors.add(t.key);
      this.hold(w, t.spec?.options.resources, 1);
    }
    this.notify(t);
    for (const dk of t.dependents) {
      const d = this.tasks.get(dk);
      if (d && d.state === "waiting" && --d.waitingOn === 0) this.place(d);
    }
  }

  /** Fails a task and, recursively, its pending dependents with the same error. */
  private fail(t: Task, error: ErrorInfo): void {
    this.finalize(t, "erred", error);
  }

  private lose(t: Task, error: ErrorInfo): void {
    this.finalize(t, "lost", error);
  }

  private cancel(t: Task): void {
    this.finalize(t, "cancelled", errorInfoOf("CancelledError", `task ${t.key} was cancelled before it produced a result`));
  }

  private finalize(root: Task, state: "erred" | "lost" | "cancelled", rootError: ErrorInfo): void {
    // Dependents of a lost key fail (they cannot run), of a cancelled key are cancelled too.
    const depState = state === "cancelled" ? "cancelled" : "erred";
    const stack: [Task, TaskStateName, ErrorInfo][] = [[root, state, rootError]];
    const touched: Task[] = [];
    while (stack.length > 0) {
      const [t, s, err] = stack.pop()!;
      if (t.state === s) continue;
      this.leave(t, true);
      this.setState(t, s);
      t.error = err;
      t.waitingOn = 0;
      this.notify(t);
      touched.push(t);
      for (const dk of t.dependents) {
        const d = this.tasks.get(dk);
        if (d && isPending(d.state)) stack.push([d, depState, s === "cancelled" ? errorInfoOf("CancelledError", `task ${d.key} was cancelled because its dependency ${t.key} was cancelled`) : err]);
      }
    }
    // Their deps may not be needed any more; they themselves may not be wanted.
    for (const t of touched) {
      if (t.spec) for (const dk of t.spec.deps) {
        const d = this.tasks.get(dk);
        if (d) this.maybeRelease(d);
      }
    }
    for (const t of touched) if (!t.forgotten) this.maybeRelease(t);
  }

  // ------------------------------------------------------------ lifetime

  private needed(t: Task): boolean {
    return t.wantedBy.size > 0 || t.pendingDependents > 0;
  }

  /** Releases keys nobody needs, and then their deps that became unneeded. */
  private maybeRelease(start: Task): void {
    const stack = [start];
    while (stack.length > 0) {
      const t = stack.pop()!;
      if (t.forgotten || this.needed(t)) continue;
      const wasPending = isPending(t.state);
      if (t.state === "released" && this.keepAsLineage(t)) continue;
      this.leave(t, true);
      if (this.keepAsLineage(t)) {
        this.setState(t, "released");
        t.waitingOn = 0;
      } else {
        this.forget(t);
      }
      // A pending task held its deps; a forgotten task may have been their last lineage reason.
      if ((wasPending || t.forgotten) && t.spec) {
        for (const dk of t.spec.deps) {
          const d = this.tasks.get(dk);
          if (d) stack.push(d);
        }
      }
    }
  }

  /** Keeps a spec as lineage while some dependent holds data that may need recomputing. */
  private keepAsLineage(t: Task): boolean {
    if (!t.spec || t.actor || t.spec.options.allowReconstruction === false) return false;
    for (const dk of t.dependents) {
      const d = this.tasks.get(dk);
      if (d && (d.state === "memory" || d.state === "released")) return true;
    }
    return false;
  }

  private forget(t: Task): void {
    this.bump(t, t.state, -1);
    t.forgotten = true;
    this.tasks.delete(t.key);
    this.unlinkDeps(t);
  }

  // ------------------------------------------------------------ client events

  private cancelKeys(keys: Key[]): void {
    for (const key of keys) {
      const t = this.tasks.get(key);
      if (t && isPending(t.state)) this.cancel(t);
    }
  }

  private updateData(client: ClientId, who: Record<Key, Address[]>, nbytes: Record<Key, number>): void {
    for (const key in who) {
      let t = this.tasks.get(key);
      if (!t) t = this.newTask(key, undefined);
      this.want(client, t);
      const live = who[key]!.filter((a) => this.workers.has(a));
      if (live.length === 0) {
        if (t.state !== "memory") {
          this.lose(t, errorInfoOf("LostError", `scattered data ${key} was put on workers that are gone; scatter it again`));
        }
        continue;
      }
      if (t.actor) continue;
      for (const a of live) this.toMemory(t, a, nbytes[key] ?? t.nbytes);
    }
  }

  /**
   * client.restart(): every task is cancelled (clients holding one see it so)
   * and every worker forgotten; the server tells them to restart.
   */
  private restart(): void {
    const error = errorInfoOf("CancelledError", "the cluster was restarted (client.restart()), dropping every task, result and actor; submit it again");
    for (const t of [...this.tasks.values()]) if (!t.forgotten && t.state !== "cancelled") this.finalize(t, "cancelled", error);
    for (const w of [...this.workerList]) this.workerRemoved(w.address);
  }

  // ------------------------------------------------------------ worker events

  private workerAdded(e: Extract<SchedulerEvent, { type: "worker-added" }>, now: number): void {
    const old = this.workers.get(e.address);
    if (old) {
      if (old.incarnation === e.incarnation) return;
      // Same address, new process: the old one is gone with everything it held.
      this.workerRemoved(e.address);
    }
    const w: WorkerRec = {
      address: e.address,
      name: e.name,
      nthreads: e.nthreads,
      actorThreads: e.actorThreads,
      resources: { ...e.resources },
      used: {},
      nprocessing: 0,
      actors: new Set(),
      closing: false,
      paused: false,
      incarnation: e.incarnation,
      nheld: 0,
      lastSeen: now,
      memoryBytes: 0,
      memoryLimit: e.memoryLimit ?? 0,
      spilledBytes: 0,
      pauses: 0,
      restarts: e.restarts ?? 0,
      restartingForMemory: false,
      stealsPending: 0,
      busyMs: 0,
      actorStats: {},
    };
    this.workers.set(e.address, w);
    this.workerList.push(w);
    this.retryUnrunnable(false);
  }

  private workerRemoved(address: Address): void {
    const w = this.workers.get(address);
    if (!w) return;
    this.workers.delete(address);
    this.workerList = this.workerList.filter((x) => x !== w);
    this.out.dropWorker(address);
    // Data first: tasks rescheduled below must see which of their deps are gone.
    const lostData: Task[] = [];
    const running: Task[] = [];
    for (const t of this.tasks.values()) {
      if (t.state === "processing" && t.processingOn === address) running.push(t);
      if (!t.who.delete(address)) continue;
      if (t.actor) {
        w.actors.delete(t.key);
        t.who.clear();
        lostData.push(t);
      } else if (t.who.size === 0) lostData.push(t);
    }
    w.nheld = 0;
    w.actors.clear();
    // Tasks sent ahead were still waiting for deps there: they never ran, so their deaths do not count.
    const ahead = new Set(running.filter((t) => this.missingDeps(t) > 0));
    w.nprocessing = 0;
    for (const t of running) {
      t.processingOn = undefined;
      t.stealTo = undefined;
    }
    // The keys lost their last copy. All leave "memory" before any is recomputed, so that
    // nothing is placed counting on a copy that no longer exists; actors first, so that a
    // recomputed dependent finds them restarting rather than gone.
    for (const t of lostData) this.markGone(t);
    for (const t of lostData) if (t.actor) this.handleGone(t);
    for (const t of lostData) if (!t.actor) this.handleGone(t);
    for (const t of running) {
      // Skip tasks released, or already re-placed, while lost keys were handled above.
      if (t.forgotten || t.state !== "processing" || t.processingOn !== undefined) continue;
      if (!ahead.has(t)) {
        t.deaths++;
        if (w.restartingForMemory) t.memoryDeaths++;
      }
      if (t.deaths >= this.maxWorkerDeaths) {
        this.setState(t, "waiting"); // not processing any more; fail() propagates from here
        this.fail(
          t,
          t.memoryDeaths > 0
            ? errorInfoOf(
                "WorkerMemoryError",
                `task ${t.key} was running on ${t.deaths} workers that died, ${t.memoryDeaths} of them restarted because their memory passed the limit (${w.memoryLimit} bytes); it is not retried again. Keep less in memory at once, or give workers a larger memoryLimit.`,
              )
            : errorInfoOf(
                "KilledWorkerError",
                `task ${t.key} was running on ${t.deaths} workers that died; it is not retried again. Check the workers' logs: the task may crash or exhaust its worker.`,
              ),
        );
      } else {
        this.enterWaiting(t);
      }
    }
    this.retryUnrunnable(true);
  }

  /** A key's last copy is gone (its worker died, or no holder had it): it leaves memory. */
  private markGone(t: Task): void {
    // Its holders are already gone from t.who: nothing to free.
    this.setState(t, "released");
    this.depLeftMemory(t);
  }

  private workerStatus(address: Address, status: "running" | "paused" | "restarting"): void {
    const w = this.workers.get(address)!;
    if (status === "restarting") {
      // Its supervisor stops it in a moment: nothing new goes to it, and its running tasks die of its memory.
      w.restartingForMemory = true;
      w.closing = true;
      return;
    }
    const paused = status === "paused";
    if (paused === w.paused) return;
    w.paused = paused;
    if (paused) w.pauses++;
    else this.retryUnrunnable(false);
  }

  /** Actors that lived on a thread of `address` that died: each is re-created (restarts) or lost. */
  private actorsLost(address: Address, keys: Key[], error: ErrorInfo): void {
    const gone: Task[] = [];
    for (const key of keys) {
      const t = this.tasks.get(key);
      if (!t || !t.actor || t.state !== "memory" || !t.who.has(address)) continue;
      this.dropHolders(t, false);
      this.markGone(t);
      gone.push(t);
    }
    for (const t of gone) this.handleGone(t, error);
  }

  /** After markGone: restart, recompute, lose or release the key. */
  private handleGone(t: Task, actorError?: ErrorInfo): void {
    // Handling an earlier lost key may already have recomputed or forgotten this one.
    if (t.forgotten || t.state !== "released") return;
    if (!this.needed(t)) {
      this.maybeRelease(t);
      return;
    }
    if (t.actor) {
      if (t.restartsLeft > 0) {
        t.restartsLeft--;
        t.incarnation++;
        t.meta = undefined;
        t.deaths = 0;
        this.notify(t); // pending
        this.enterWaiting(t);
      } else {
        this.lose(t, actorError ?? errorInfoOf("ActorLostError", ACTOR_LOST_MESSAGE));
      }
      return;
    }
    this.recompute(t);
  }

  private taskFinished(
    worker: Address,
    key: Key,
    nbytes: number,
    actor: Omit<ActorMeta, "incarnation"> | undefined,
    durationMs: number,
  ): void {
    const t = this.tasks.get(key);
    if (!t || t.state !== "processing" || t.processingOn !== worker) {
      // Late or duplicate: keep what we know, tell the worker to drop what nobody asked for.
      if (t && t.state === "memory" && t.who.has(worker)) return;
      if (t && t.state === "memory" && !t.actor) {
        this.workers.get(worker)!.nheld++;
        if (t.who === NO_ONE) t.who = new Few();
        t.who.add(worker);
        return;
      }
      this.out.freeKey(worker, key);
      return;
    }
    if (t.spec && durationMs >= 0) t.group.finishedIn(durationMs);
    if (t.actor) {
      t.meta = {
        key,
        className: actor?.className ?? t.spec?.fn.name ?? "",
        workerAddress: worker,
        methods: actor?.methods ?? [],
        attributes: actor?.attributes ?? [],
        incarnation: t.incarnation,
        ...(actor?.callAddress ? { callAddress: actor.callAddress } : {}),
      };
    }
    const res = t.spec?.options.resources;
    this.toMemory(t, worker, nbytes);
    // A finished plain task gave back its resources; an actor keeps them while it lives.
    if (res && !t.actor) this.resourcesFreed = true;
    if (t.spec) for (const dk of t.spec.deps) {
      const d = this.tasks.get(dk);
      if (d) this.maybeRelease(d);
    }
    this.maybeRelease(t);
  }

  private afterResourcesFreed(): void {
    if (!this.resourcesFreed) return;
    this.resourcesFreed = false;
    this.retryUnrunnable(true);
  }

  private taskErred(worker: Address, key: Key, error: ErrorInfo): void {
    const t = this.tasks.get(key);
    if (!t || t.state !== "processing" || t.processingOn !== worker) return;
    if (t.retriesLeft > 0) {
      t.retriesLeft--;
      this.recall(t, false);
      this.enterWaiting(t);
    } else {
      this.fail(t, error);
    }
  }

  private missingData(worker: Address, key: Key, holder: Address): void {
    const t = this.tasks.get(key);
    if (!t) return;
    // An actor lives where it lives (its loss is the holder's death): only plain copies are struck off.
    if (!t.actor && t.state === "memory" && t.who.delete(holder)) {
      const w = this.workers.get(holder);
      if (w) w.nheld--;
      if (t.who.size === 0) {
        this.markGone(t);
        this.handleGone(t);
      }
    }
    // The dependents running on `worker` gave up on this key: send them again, or back to waiting.
    for (const dk of [...t.dependents]) {
      const d = this.tasks.get(dk);
      if (!d || d.state !== "processing" || d.processingOn !== worker) continue;
      this.recall(d, true); // the worker forgets it too: it may be placed elsewhere, and must not run twice
      this.enterWaiting(d);
    }
  }

  private addKeys(worker: Address, keys: Key[], nbytes: Record<Key, number>): void {
    for (const key of keys) {
      const t = this.tasks.get(key);
      if (t && !t.actor) {
        // Whatever state we had, the data now exists there.
        this.toMemory(t, worker, nbytes[key] ?? t.nbytes);
        this.maybeRelease(t);
      } else if (!t || !t.who.has(worker)) {
        // Nobody asked for it here: let the worker drop it rather than hold it forever.
        this.out.freeKey(worker, key);
      }
    }
  }

  // ------------------------------------------------------------ work stealing

  /** A worker that just finished work and has a free thread takes queued work from busy ones. */
  private balanceIfIdle(address: Address): void {
    const w = this.workers.get(address);
    if (w && w.nprocessing < w.nthreads) this.balance();
  }

  /** Asks busy workers for tasks they have not started, for idle workers to run (R-FAIL-8). */
  private balance(): void {
    const idle = idleWorkers(this.workerList);
    if (idle.length === 0) return;
    const busy = busyWorkers(this.workerList);
    if (busy.length === 0) return;
    const victims = new Set(busy.map((w) => w.address));
    const byVictim = new Map<Address, StealCandidate[]>();
    for (const t of this.tasks.values()) {
      if (t.state !== "processing" || !victims.has(t.processingOn!) || !this.stealable(t)) continue;
      let list = byVictim.get(t.processingOn!);
      if (!list) byVictim.set(t.processingOn!, (list = []));
      list.push(this.stealCandidate(t));
    }
    for (const [victim, moves] of planSteals(idle, byVictim, this.workers)) {
      for (const { key, to } of moves) this.tasks.get(key)!.stealTo = to;
      this.workers.get(victim)!.stealsPending++;
      this.out.steals.push({ to: "worker", address: victim, msg: { op: "steal-request", keys: moves.map((m) => m.key) } });
    }
  }

  /** Plain tasks placed with their deps in memory, restricted to no single worker, and with nothing sent ahead behind them. */
  private stealable(t: Task): boolean {
    if (t.actor || !t.spec || t.stealTo !== undefined) return false;
    const o = t.spec.options;
    if (o.workers && o.workers.length > 0 && !o.allowOtherWorkers) return false;
    if (this.missingDeps(t) > 0) return false;
    for (const dk of t.dependents) {
      const d = this.tasks.get(dk);
      if (d && d.state === "processing" && d.processingOn === t.processingOn) return false;
    }
    return true;
  }

  private stealCandidate(t: Task): StealCandidate {
    const o = t.spec!.options;
    const depBytes = new Map<Address, number>();
    let total = 0;
    for (const dk of t.spec!.deps) {
      const d = this.tasks.get(dk)!;
      if (d.actor) continue;
      total += d.nbytes;
      for (const a of d.who) depBytes.set(a, (depBytes.get(a) ?? 0) + d.nbytes);
    }
    return {
      key: t.key,
      on: t.processingOn!,
      durationMs: t.group.meanDurationMs(DEFAULT_DURATION_MS),
      resources: o.resources,
      allowed: o.workers && o.workers.length > 0 && !o.allowOtherWorkers ? new Set(o.workers) : undefined,
      depBytes,
      totalDepBytes: total,
    };
  }

  /** The busy worker gave up `released` (they never run there): each goes to the worker that asked for it. */
  private stealResponse(victim: Address, released: Key[], kept: Key[]): void {
    const v = this.workers.get(victim)!;
    v.stealsPending = Math.max(0, v.stealsPending - 1);
    for (const key of kept) {
      const t = this.tasks.get(key);
      if (t && t.processingOn === victim) t.stealTo = undefined;
    }
    for (const key of released) {
      const t = this.tasks.get(key);
      // Finished, cancelled or moved meanwhile: the worker's answer is stale for it.
      if (!t || t.state !== "processing" || t.processingOn !== victim) continue;
      const to = t.stealTo;
      this.unassign(t, false); // the victim has dropped it already
      const thief = to === undefined ? undefined : this.workers.get(to);
      if (thief && !thief.closing && !thief.paused && resourcesFree(thief, t.spec!.options.resources) && this.missingDeps(t) === 0) this.assign(t, thief.address);
      else {
        this.setState(t, "waiting");
        t.waitingOn = 0;
        this.enterWaiting(t);
      }
    }
  }

  private tick(now: number): void {
    for (const w of this.workerList) {
      if (!w.closing && now - w.lastSeen > this.heartbeatTimeoutMs) {
        w.closing = true;
        this.out.closes.push({
          to: "close-worker",
          address: w.address,
          reason: `no message from worker for ${now - w.lastSeen} ms (heartbeat timeout ${this.heartbeatTimeoutMs} ms)`,
        });
      }
    }
  }

  // ------------------------------------------------------------ invariants

  checkInvariants(): void {
    const fail = (msg: string): never => {
      throw new Error(`scheduler invariant violated: ${msg}`);
    };
    if (NONE.size !== 0 || NO_ONE.size !== 0) fail("a shared empty set was added to");
    const counts = new Map<TaskStateName, number>();
    for (const [key, t] of this.tasks) {
      if (t.key !== key) fail(`task under ${key} has key ${t.key}`);
      if (t.forgotten) fail(`${key} is known but marked forgotten`);
      if (t.group !== this.groups.get(t.spec?.group ?? "data")) fail(`${key} counted in the wrong group`);
      counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
      if (t.state === "processing") {
        const w = t.processingOn === undefined ? undefined : this.workers.get(t.processingOn);
        if (!w) fail(`${key} processing on unknown worker ${t.processingOn}`);
      } else if (t.processingOn !== undefined) fail(`${key} is ${t.state} but has processingOn`);
      if (t.stealTo !== undefined && t.state !== "processing") fail(`${key} is ${t.state} but is being stolen`);
      if (t.state === "memory") {
        if (t.who.size === 0) fail(`${key} in memory with no holders`);
        if (t.actor && t.who.size !== 1) fail(`actor ${key} held by ${t.who.size} workers`);
        if (t.actor && !t.meta) fail(`actor ${key} in memory without meta`);
        for (const a of t.who) {
          const w = this.workers.get(a);
          if (!w) fail(`${key} held by unknown worker ${a}`);
          if (t.actor && !w!.actors.has(key)) fail(`actor ${key} on ${a} but not in its actors`);
        }
      } else if (t.who.size > 0) fail(`${key} is ${t.state} but has holders`);
      if (isPending(t.state) || t.state === "released") {
        if (!t.spec) fail(`${key} is ${t.state} without a spec`);
      }
      if (t.state === "waiting" || t.state === "no-worker" || t.state === "processing") {
        let missing = 0;
        for (const dk of t.spec!.deps) {
          const d = this.tasks.get(dk);
          if (!d) fail(`pending ${key} depends on forgotten ${dk}`);
          if (!d!.dependents.has(key)) fail(`${dk} does not list dependent ${key}`);
          if (d!.state === "erred" || d!.state === "lost" || d!.state === "cancelled") fail(`pending ${key} depends on ${d!.state} ${dk}`);
          if (d!.state !== "memory") missing++;
        }
        if (t.state === "waiting") {
          if (t.waitingOn !== missing) fail(`${key} waitingOn=${t.waitingOn} but ${missing} deps are not in memory`);
          if (missing === 0) fail(`${key} waiting with all deps in memory`);
        }
        if (t.state === "no-worker" && !this.unrunnable.has(key)) fail(`${key} no-worker but not unrunnable`);
        if (t.state === "no-worker" && missing > 0) fail(`${key} no-worker with deps not in memory`);
      }
      let pendingDeps = 0;
      for (const dk of t.dependents) if (isPending(this.tasks.get(dk)?.state ?? "released")) pendingDeps++;
      if (pendingDeps !== t.pendingDependents) fail(`${key} pendingDependents=${t.pendingDependents} but ${pendingDeps} dependents are pending`);
      for (const dk of t.dependents) {
        const d = this.tasks.get(dk);
        if (!d) fail(`${key} lists forgotten dependent ${dk}`);
        if (!d!.spec || !d!.spec.deps.includes(key)) fail(`${key} lists ${dk} as dependent but it does not depend on it`);
      }
      for (const c of t.wantedBy) if (!this.clients.has(c)) fail(`${key} wanted by unknown client ${c}`);
      if (!this.needed(t)) {
        if (t.state !== "released") fail(`${key} is ${t.state} but nobody needs it`);
        else if (!this.keepAsLineage(t)) fail(`${key} released without a lineage reason`);
      }
    }
    for (const s of TASK_STATES) {
      if (this.counts.get(s) !== (counts.get(s) ?? 0)) fail(`count of ${s} is ${this.counts.get(s)} but ${counts.get(s) ?? 0} tasks are`);
    }
    const byGroup = new Map<string, number>();
    for (const t of this.tasks.values()) {
      const g = `${t.spec?.group ?? "data"}\0${t.state}`;
      byGroup.set(g, (byGroup.get(g) ?? 0) + 1);
    }
    let groupEntries = 0;
    for (const [group, g] of this.groups) {
      for (const [st, n] of Object.entries(g.toRecord())) {
        groupEntries++;
        if (byGroup.get(`${group}\0${st}`) !== n) fail(`group ${group} counts ${n} ${st} tasks but ${byGroup.get(`${group}\0${st}`) ?? 0} are`);
      }
    }
    if (groupEntries !== byGroup.size) fail(`group counts cover ${groupEntries} group/state pairs but tasks have ${byGroup.size}`);
    for (const key of this.unrunnable) if (this.tasks.get(key)?.state !== "no-worker") fail(`unrunnable ${key} is not no-worker`);
    if (this.workerList.length !== this.workers.size) fail("worker list and map differ");
    for (const w of this.workerList) {
      if (this.workers.get(w.address) !== w) fail(`worker ${w.address} not in the map`);
      const used: Record<string, number> = {};
      const add = (r: Record<string, number> | undefined) => {
        if (r) for (const n in r) used[n] = (used[n] ?? 0) + r[n]!;
      };
      let processing = 0;
      let held = 0;
      for (const t of this.tasks.values()) {
        if (t.state === "processing" && t.processingOn === w.address) {
          processing++;
          add(t.spec!.options.resources);
        }
        if (t.who.has(w.address)) held++;
      }
      if (processing !== w.nprocessing) fail(`${w.address} counts ${w.nprocessing} tasks processing but ${processing} are`);
      if (held !== w.nheld) fail(`${w.address} counts ${w.nheld} keys held but it holds ${held}`);
      for (const key of w.actors) {
        const t = this.tasks.get(key);
        if (!t || !t.actor || t.state !== "memory") fail(`${w.address} lists actor ${key} but it is not alive`);
        add(t!.spec?.options.resources);
      }
      const names = new Set([...Object.keys(used), ...Object.keys(w.used)]);
      for (const n of names) {
        if (Math.abs((used[n] ?? 0) - (w.used[n] ?? 0)) > 1e-9) fail(`${w.address} resource ${n} used=${w.used[n]} but holders sum to ${used[n] ?? 0}`);
        if (!hasResources(w, { [n]: used[n] ?? 0 })) fail(`${w.address} overcommits resource ${n}`);
      }
    }
  }
}
