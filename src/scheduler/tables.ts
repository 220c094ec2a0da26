// What the scheduler knows: every task, worker and client, and the counts
// kept from them. One object, shared by the modules that each handle one
// concept of the state machine (graph.ts, chain.ts, workers.ts, ...) as
// functions over it. Its own methods only keep its bookkeeping consistent
// (state counts, groups, dependents, resources held); every decision is made
// in those modules.
//
// Task states:
//   waiting     some dependency is not in memory yet
//   no-worker   ready, but no worker can run it now (restrictions, resources)
//   processing  sent to one worker
//   memory      held by one or more workers (an actor: alive on one worker)
//   released    not needed, no data, but its spec is kept as lineage for dependents
//   erred / lost / cancelled   final; kept while some client wants the key
// A key nobody needs any more is forgotten (or kept as `released` lineage).
// The changes allowed between them are in transitions.ts.

import type { ActorMeta, ActorStats, Address, ErrorInfo, Key, TaskSpec } from "../protocol/messages.js";
import type { ClientId } from "./events.js";
import { ActorCallTotals } from "../metrics/actor-calls.js";
import { StoryLog } from "../story.js";
import { Few } from "./few.js";
import { isPending, StateCounts, TaskGroup, type TaskStateName } from "./groups.js";
import { RECOVERY } from "./key-state.js";
import { Outbox } from "./outbox.js";
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from "./options.js";
import { Placer } from "./placement.js";
import type { StealWorker } from "./stealing.js";
import { checkTransition } from "./transitions.js";

export interface SchedulerStateOptions {
  /** A worker silent for this long is closed (default DEFAULT_HEARTBEAT_TIMEOUT_MS). */
  heartbeatTimeoutMs?: number;
  /** A task running on this many workers that died fails with KilledWorkerError (default 3). */
  maxWorkerDeaths?: number;
}

export interface Task {
  key: Key;
  /** Undefined for scattered data: it has no lineage. */
  spec: TaskSpec | undefined;
  actor: boolean;
  /** Changed only by Tables.setState. */
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

export interface WorkerRec extends StealWorker {
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
  /** Where it serves its Prometheus metrics. */
  metricsUrl: string | undefined;
  /** It said it is about to restart because its memory passed the limit: its running tasks die of that. */
  restartingForMemory: boolean;
  /** While it retires (retire.ts): until when it may, and where each key it holds alone was asked to go. */
  retiring: { byMs: number; asked: Map<Key, Address> } | undefined;
  actorStats: Record<Key, ActorStats>;
}

/**
 * The empty set every task starts with: most tasks never get dependents, and
 * many never a holder or a client, so each set is made on its first add.
 * Nothing is ever added to this one.
 */
export const NONE: Set<never> = new Set();
/** The same for holders and wanting clients. */
export const NO_ONE = new Few();

/** Expected run time of a task whose group has not finished one yet. */
export const DEFAULT_DURATION_MS = 10;

export class Tables {
  readonly tasks = new Map<Key, Task>();
  readonly workers = new Map<Address, WorkerRec>();
  workerList: WorkerRec[] = [];
  /** Known clients (the keys each wants are on the tasks: a client leaving is rare, it scans them then). */
  readonly clients = new Set<ClientId>();
  /** Keys in no-worker, tried again when a worker joins or resources come free. */
  readonly unrunnable = new Set<Key>();
  readonly counts = new StateCounts();
  /** Tasks by group (the function's name): progress and mean duration per group. Kept when empty, for the durations. */
  readonly groups = new Map<string, TaskGroup>();
  readonly placer = new Placer();
  readonly out = new Outbox();
  readonly heartbeatTimeoutMs: number;
  readonly maxWorkerDeaths: number;
  /** Fired-and-forgotten keys that reached a final state in this event: the scheduler lets go of them after it. */
  fired: Task[] = [];
  /** Resources came free in this event: tasks waiting for resources are tried again after it. */
  resourcesFreed = false;
  /** Rebuilding from the reports of a previous scheduler's workers and clients (recovery.ts). */
  recovering = false;
  lastRejoinAt = 0;
  /** While recovering: keys clients want that no worker has reported yet, and who wants them. */
  readonly awaiting = new Map<Key, Set<ClientId>>();
  /** While recovering: tasks workers said they are still running, and where. */
  readonly reportedRunning = new Map<Key, Address>();
  /** While recovering: actors clients hold that no worker has reported alive yet. */
  readonly unreportedActors = new Set<Key>();
  /** Named actors: name → key (actor-names.ts). An entry whose actor is gone is stale until the name is claimed again. */
  readonly actorNames = new Map<string, Key>();
  /** Every transition of every key, with its cause (client.story). */
  readonly story = new StoryLog("scheduler");
  /** The event being handled, as transitions name their cause: its kind and number. */
  cause = "";
  /** The worker that event concerns, if any. */
  causeWorker: Address | undefined;
  /** When that event is handled, on the clock stories are ordered by. */
  causeAt = 0;
  /** Actor calls by class, from the workers' heartbeats (for /metrics). */
  readonly actorCalls = new ActorCallTotals();
  /** Workers retiring (retire.ts). */
  readonly retiring = new Set<WorkerRec>();
  /** The group of the last task made or resubmitted: tasks mostly arrive in runs of one function. */
  #lastGroup: TaskGroup | undefined;

  constructor(opts: SchedulerStateOptions) {
    this.heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
    this.maxWorkerDeaths = opts.maxWorkerDeaths ?? 3;
  }

  /** A task in waiting, known from now on; its deps are linked by the caller. */
  newTask(key: Key, spec: TaskSpec | undefined): Task {
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
    this.story.record(key, "new", "waiting", this.cause, this.causeAt, this.causeWorker);
    return t;
  }

  groupOf(spec: TaskSpec | undefined): TaskGroup {
    const name = spec?.group ?? "data";
    if (this.#lastGroup?.name === name) return this.#lastGroup;
    let g = this.groups.get(name);
    if (!g) this.groups.set(name, (g = new TaskGroup(name)));
    return (this.#lastGroup = g);
  }

  /** Moves a task to state `s` (throwing InvalidTransition if the table forbids it) and keeps the counts. */
  setState(t: Task, s: TaskStateName): void {
    if (t.state === s) return;
    checkTransition(t.key, t.state, s);
    const was = isPending(t.state);
    if (t.spec && was !== isPending(s)) {
      for (const dk of t.spec.deps) {
        const d = this.tasks.get(dk);
        if (d && d.dependents.has(t.key)) d.pendingDependents += was ? -1 : 1;
      }
    }
    this.bump(t, t.state, -1);
    this.bump(t, s, 1);
    if (s === "erred") t.group.erred++;
    this.story.record(t.key, t.state, s, this.cause, this.causeAt, s === "processing" ? t.processingOn : this.causeWorker);
    t.state = s;
  }

  bump(t: Task, s: TaskStateName, by: number): void {
    this.counts.add(s, by);
    t.group.add(s, by);
  }

  /** A line for the log, carried out by the server with the event's other output. */
  note(level: "debug" | "info" | "warn", msg: string, fields: Record<string, unknown>): void {
    this.out.logs.push({ to: "log", level, msg, fields });
  }

  /** Lists the task among its known deps' dependents. */
  linkDeps(t: Task): void {
    const pending = isPending(t.state);
    for (const dk of t.spec!.deps) {
      const d = this.tasks.get(dk);
      if (!d || d.dependents.has(t.key)) continue;
      if (d.dependents === NONE) d.dependents = new Set();
      d.dependents.add(t.key);
      if (pending) d.pendingDependents++;
    }
  }

  unlinkDeps(t: Task): void {
    if (!t.spec) return;
    const pending = isPending(t.state);
    for (const dk of t.spec.deps) {
      const d = this.tasks.get(dk);
      if (d && d.dependents.delete(t.key) && pending) d.pendingDependents--;
    }
  }

  missingDeps(t: Task): number {
    let n = 0;
    for (const dk of t.spec!.deps) if (this.tasks.get(dk)?.state !== "memory") n++;
    return n;
  }

  /** Wanted by a client, or by a dependent that will still run. */
  needed(t: Task): boolean {
    return t.wantedBy.size > 0 || t.pendingDependents > 0;
  }

  want(client: ClientId, t: Task): void {
    this.clients.add(client);
    if (t.wantedBy === NO_ONE) t.wantedBy = new Few();
    t.wantedBy.add(client);
  }

  /**
   * An actor is known to have been created `incarnation` times over (told by
   * the worker hosting it, or a client holding it): its restarts left count
   * them, whichever scheduler made them.
   */
  learnIncarnation(t: Task, incarnation: number): void {
    t.incarnation = Math.max(t.incarnation, incarnation);
    if (t.spec) t.restartsLeft = Math.max(0, (t.spec.options.restarts ?? 0) - t.incarnation);
  }

  /** While recovering, a key nobody has reported yet may still be: the client waits for it (recovery.ts). */
  awaitReport(client: ClientId, key: Key): void {
    let set = this.awaiting.get(key);
    if (!set) this.awaiting.set(key, (set = new Set()));
    set.add(client);
  }

  /** While recovering: kept, and handed to the clients that asked for it before it was reported (recovery.ts). */
  holdForRecovery(t: Task): void {
    this.want(RECOVERY, t);
    this.handAwaited(t);
  }

  /** While recovering: the clients that asked for a key before anyone reported or submitted it want it now. */
  handAwaited(t: Task): void {
    const waiting = this.awaiting.get(t.key);
    if (!waiting) return;
    this.awaiting.delete(t.key);
    for (const c of waiting) this.want(c, t);
  }

  /** Counts resources taken (1) or given back (-1) on a worker. */
  hold(w: WorkerRec, res: Record<string, number> | undefined, sign: 1 | -1): void {
    if (!res) return;
    for (const name in res) w.used[name] = (w.used[name] ?? 0) + sign * res[name]!;
  }
}
