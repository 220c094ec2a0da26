// What the live dashboard shows beyond the scheduler's info: the task stream,
// workers' CPU, traffic and output, the last failures, and actors' states and
// call rates. Everything is held in bounded buffers, fed by heartbeats (once
// a second per worker) and failures; frames are built only while a browser
// watches (stream.ts).

import type { Address, ErrorInfo, Key, SchedulerInfo, WorkerInfo, WorkerObservations } from "../protocol/messages.js";

/** Task bars kept for the stream: enough for a few minutes of a busy cluster. */
const MAX_BARS = 20_000;
/** Output lines kept, all workers together. */
const MAX_LOG_LINES = 2_000;
const MAX_FAILURES = 50;
/** Actors remembered after they stopped being alive (lost, restarting, released). */
const MAX_ACTORS = 1_000;
/** A worker gone for this long leaves the table. */
const GONE_SHOWN_MS = 5 * 60_000;
/** Calls per second are measured over this window. */
const RATE_WINDOW_MS = 5_000;

/** Entries numbered in order, the oldest dropped past `max`: a browser asks for those after the last it saw. */
export class Journal<T> {
  #items: T[] = [];
  /** The number of the first item held. */
  #first = 0;
  constructor(private readonly max: number) {}

  push(item: T): void {
    this.#items.push(item);
    if (this.#items.length > this.max * 1.25) {
      const drop = this.#items.length - this.max;
      this.#items.splice(0, drop);
      this.#first += drop;
    }
  }

  /** The number the next item will get. */
  get end(): number {
    return this.#first + this.#items.length;
  }

  /** Items numbered `from` and after (those still held). */
  since(from: number): T[] {
    return this.#items.slice(Math.max(0, from - this.#first));
  }
}

export interface Bar {
  worker: Address;
  thread: number;
  key: Key;
  group: string;
  /** Scheduler's clock (ms since the epoch). */
  start: number;
  stop: number;
  erred: boolean;
}

export interface Failure {
  at: number;
  key: Key;
  group: string;
  worker: Address;
  /** "task" or "actor" (an actor lost with its thread or worker). */
  kind: "task" | "actor";
  error: { name: string; message: string; stack: string };
}

export interface LogLine {
  at: number;
  worker: Address;
  name: string;
  line: string;
}

/** An actor's state as the scheduler sees it (queries.ts). */
export interface LiveActorState {
  state: "starting" | "alive" | "restarting" | "lost" | "failed" | "released";
  restarts: number;
  error?: string;
}

/** What the page draws of one worker. */
export interface WorkerRow {
  address: Address;
  name: string;
  state: "running" | "paused" | "retiring" | "restarting" | "gone";
  /** Why it is gone. */
  reason?: string;
  nthreads: number;
  actorThreads: number;
  tasksProcessing: number;
  storedKeys: number;
  memoryBytes: number;
  memoryLimit: number;
  spilledBytes: number;
  /** Cores busy, over the last heartbeat. */
  cpu: number;
  /** Bytes per second over its connections. */
  netSentRate: number;
  netReceivedRate: number;
  restarts: number;
  pauses: number;
}

export interface ActorRow {
  key: Key;
  className: string;
  worker: Address | undefined;
  state: LiveActorState["state"];
  restarts: number;
  error?: string;
  calls: number;
  inFlight: number;
  callsPerSecond: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** The part of a frame every browser gets alike. */
export interface LiveState {
  now: number;
  address: Address;
  tasks: SchedulerInfo["tasks"];
  unrunnable: number;
  groups: SchedulerInfo["groups"];
  workers: WorkerRow[];
  actors: ActorRow[];
  /** What each busy task thread runs now. */
  running: Array<{ worker: Address; thread: number; key: Key; group: string; since: number }>;
}

/** What the scheduler answers the live view with. */
export interface LiveSource {
  info(): SchedulerInfo;
  actorStates(keys: Iterable<Key>): Record<Key, LiveActorState>;
  groupOf(key: Key): string | undefined;
}

interface WorkerSeen {
  name: string;
  cpu: number;
  netSent: number;
  netReceived: number;
  netSentRate: number;
  netReceivedRate: number;
  /** When its last observations arrived (scheduler's clock). */
  at: number;
  running: WorkerObservations["running"];
  /** Its clock minus the scheduler's. */
  skew: number;
  restarting: boolean;
}

interface ActorSeen {
  className: string;
  worker: Address | undefined;
  calls: number;
  inFlight: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  /** (time, calls) samples over the rate window. */
  samples: Array<[number, number]>;
}

/** A task's group when the scheduler has forgotten it: its key without the trailing index or hash. */
export function groupFromKey(key: Key): string {
  return key.replace(/-[0-9a-f]+$/i, "") || key;
}

export class LiveData {
  readonly bars = new Journal<Bar>(MAX_BARS);
  readonly logs = new Journal<LogLine>(MAX_LOG_LINES);
  readonly failures = new Journal<Failure>(MAX_FAILURES);
  readonly #workers = new Map<Address, WorkerSeen>();
  /** Workers that left, by name: shown until one of that name joins, or for GONE_SHOWN_MS. */
  readonly #gone = new Map<string, { at: number; row: WorkerRow }>();
  readonly #actors = new Map<Key, ActorSeen>();
  /** The actors of the worker leaving now, to see which of them its departure lost. */
  #orphans: { worker: Address; keys: Key[] } | undefined;

  constructor(private readonly source: LiveSource) {}

  /** A heartbeat's observations from `worker`, received at `now`. */
  observe(worker: Address, name: string, o: WorkerObservations, now: number): void {
    const skew = o.now - now;
    const prev = this.#workers.get(worker);
    const dt = prev ? (now - prev.at) / 1000 : 0;
    const rate = (bytes: number, before: number | undefined) => (dt > 0 && before !== undefined ? Math.max(0, bytes - before) / dt : 0);
    this.#workers.set(worker, {
      name,
      cpu: o.cpu,
      netSent: o.netSent,
      netReceived: o.netReceived,
      netSentRate: rate(o.netSent, prev?.netSent),
      netReceivedRate: rate(o.netReceived, prev?.netReceived),
      at: now,
      running: o.running,
      skew,
      restarting: prev?.restarting ?? false,
    });
    this.#gone.delete(name);
    const t = o.tasks;
    for (let i = 0; i < t.keys.length; i++) {
      const key = t.keys[i]!;
      this.bars.push({
        worker,
        thread: t.thread[i]!,
        key,
        group: this.source.groupOf(key) ?? groupFromKey(key),
        start: t.startMs[i]! - skew,
        stop: t.stopMs[i]! - skew,
        erred: t.erred[i] === 1,
      });
    }
    for (const line of o.logs) this.logs.push({ at: now, worker, name, line });
  }

  /** The worker said it is about to restart (its memory passed the limit). */
  restarting(worker: Address): void {
    const w = this.#workers.get(worker);
    if (w) w.restarting = true;
  }

  failed(worker: Address, key: Key, error: ErrorInfo, now: number, kind: Failure["kind"] = "task"): void {
    const group = this.source.groupOf(key) ?? groupFromKey(key);
    this.failures.push({ at: now, key, group, worker, kind, error: { name: error.name, message: error.message, stack: error.stack } });
  }

  /** A worker left (told before the scheduler forgets it): it stays in the table a while, as restarting or gone, until a worker of its name joins. */
  workerLeft(worker: Address, reason: string, now: number): void {
    const w = this.source.info().workers[worker];
    const seen = this.#workers.get(worker);
    this.#workers.delete(worker);
    if (!w) return;
    this.#orphans = { worker, keys: Object.keys(w.actors) };
    const row = this.#row(worker, w, seen);
    this.#gone.set(w.name, { at: now, row: { ...row, state: seen?.restarting ? "restarting" : "gone", reason, tasksProcessing: 0, cpu: 0, netSentRate: 0, netReceivedRate: 0 } });
  }

  /** After the scheduler handled a worker's departure: its actors that are lost now are failures too. */
  afterWorkerLeft(now: number): void {
    const orphans = this.#orphans;
    this.#orphans = undefined;
    if (!orphans || orphans.keys.length === 0) return;
    for (const [key, st] of Object.entries(this.source.actorStates(orphans.keys))) {
      if (st.state !== "lost") continue;
      const [name, ...rest] = (st.error ?? "ActorLostError: its worker was lost").split(": ");
      const message = rest.join(": ");
      this.failures.push({ at: now, key, group: this.source.groupOf(key) ?? groupFromKey(key), worker: orphans.worker, kind: "actor", error: { name: name!, message, stack: `${name}: ${message}` } });
    }
  }

  #row(address: Address, w: WorkerInfo, seen: WorkerSeen | undefined): WorkerRow {
    return {
      address,
      name: w.name,
      state: seen?.restarting ? "restarting" : w.status,
      nthreads: w.nthreads,
      actorThreads: w.actorThreads,
      tasksProcessing: w.tasksProcessing,
      storedKeys: w.storedKeys,
      memoryBytes: w.memoryBytes,
      memoryLimit: w.memoryLimit,
      spilledBytes: w.spilledBytes,
      cpu: seen?.cpu ?? 0,
      netSentRate: seen?.netSentRate ?? 0,
      netReceivedRate: seen?.netReceivedRate ?? 0,
      restarts: w.restarts,
      pauses: w.pauses,
    };
  }

  /** The state every browser is sent now. */
  state(now: number): LiveState {
    const info = this.source.info();
    const workers: WorkerRow[] = [];
    const names = new Set<string>();
    const running: LiveState["running"] = [];
    const alive = new Set<Key>();
    for (const [address, w] of Object.entries(info.workers)) {
      const seen = this.#workers.get(address);
      const row = this.#row(address, w, seen);
      workers.push(row);
      names.add(w.name);
      for (const r of seen?.running ?? []) {
        running.push({ worker: address, thread: r.thread, key: r.key, group: this.source.groupOf(r.key) ?? groupFromKey(r.key), since: r.sinceMs - seen!.skew });
      }
      for (const [key, s] of Object.entries(w.actors)) {
        alive.add(key);
        const a = this.#actors.get(key) ?? { className: s.className, worker: address, calls: 0, inFlight: 0, meanMs: 0, p50Ms: 0, p99Ms: 0, samples: [] };
        a.className = s.className;
        a.worker = address;
        a.calls = s.calls;
        a.inFlight = s.inFlight;
        a.meanMs = s.meanCallMs;
        a.p50Ms = s.p50Ms ?? 0;
        a.p99Ms = s.p99Ms ?? 0;
        a.samples.push([now, s.calls]);
        while (a.samples.length > 2 && now - a.samples[1]![0] >= RATE_WINDOW_MS) a.samples.shift();
        this.#actors.delete(key); // re-inserted: the map's order is by last seen alive
        this.#actors.set(key, a);
      }
    }
    // Workers forgotten without a departure of their own (the whole cluster restarted).
    for (const address of this.#workers.keys()) if (!(address in info.workers)) this.#workers.delete(address);
    for (const [name, g] of this.#gone) {
      if (now - g.at > GONE_SHOWN_MS) this.#gone.delete(name);
      else if (!names.has(name)) workers.push(g.row);
    }
    while (this.#actors.size > MAX_ACTORS) this.#actors.delete(this.#actors.keys().next().value!);
    const states = this.source.actorStates(this.#actors.keys());
    const actors: ActorRow[] = [];
    for (const [key, a] of this.#actors) {
      const st = states[key]!;
      // Released by every client: nothing left to watch.
      if (st.state === "released") {
        this.#actors.delete(key);
        continue;
      }
      if (!alive.has(key)) {
        a.inFlight = 0;
        a.samples.length = 0;
      }
      const [t0, c0] = a.samples[0] ?? [now, a.calls];
      actors.push({
        key,
        className: a.className,
        worker: st.state === "alive" ? a.worker : undefined,
        state: st.state,
        restarts: st.restarts,
        error: st.error,
        calls: a.calls,
        inFlight: a.inFlight,
        callsPerSecond: now > t0 ? ((a.calls - c0) * 1000) / (now - t0) : 0,
        meanMs: a.meanMs,
        p50Ms: a.p50Ms,
        p99Ms: a.p99Ms,
      });
    }
    return { now, address: info.address, tasks: info.tasks, unrunnable: info.unrunnable.length, groups: info.groups, workers, actors, running };
  }
}
