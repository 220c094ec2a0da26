// A worker's task bookkeeping as a pure state machine: which tasks wait for
// dependencies, which are ready, which run, and what to fetch from whom. It
// does no I/O: worker.ts feeds it events and carries out what it returns.

import type { Address, ComputeTask, Key, WorkerToScheduler } from "../protocol/messages.js";
import { ReadyQueue } from "./ready-queue.js";
import { StoryLog, storyNow } from "../story.js";

export type WorkerInstruction =
  /** Ask `holder` for these keys, of these sizes (bytes, 0 when not known). */
  | { do: "fetch"; holder: Address; keys: Key[]; sizes: number[] }
  /** Create an actor now, on an actor thread (actors never wait behind tasks). */
  | { do: "create-actor"; msg: ComputeTask }
  | { do: "send"; msg: WorkerToScheduler };

interface TaskRecord {
  msg: ComputeTask;
  state: "fetching" | "ready" | "running";
  /** Dependencies not yet held here. */
  missing: Set<Key>;
}

/** The missing deps of most tasks (none): shared, never added to. */
const NOTHING_MISSING: Set<Key> = new Set();

export class WorkerState {
  readonly #self: Address;
  readonly #random: () => number;
  readonly #tasks = new Map<Key, TaskRecord>();
  readonly #ready = new ReadyQueue<Key>();
  /** Keys whose value (or actor handle) this worker holds. */
  readonly #held = new Set<Key>();
  readonly #fetching = new Set<Key>();
  /** Tasks waiting for a key, by that key: arrivals wake only their own waiters. */
  readonly #waiting = new Map<Key, Set<TaskRecord>>();

  readonly #clock: () => number;
  /** Every transition of a key here, with its cause (client.story). */
  readonly story: StoryLog;
  /** The stimulus being handled, as transitions name their cause (set by the worker before each). */
  cause = "";

  constructor(self: Address, random: () => number = Math.random, clock: () => number = storyNow) {
    this.#self = self;
    this.#random = random;
    this.#clock = clock;
    this.story = new StoryLog(self);
  }

  /** Records a transition of `key` caused by the current stimulus. */
  record(key: Key, from: string, to: string, worker?: Address): void {
    this.story.record(key, from, to, this.cause, this.#clock(), worker);
  }

  /** Tasks ready for a task thread. */
  get readyCount(): number {
    return this.#ready.size;
  }

  /** Tasks known here and not finished. */
  get taskCount(): number {
    return this.#tasks.size;
  }

  compute(msg: ComputeTask): WorkerInstruction[] {
    const out: WorkerInstruction[] = [];
    const existing = this.#tasks.get(msg.key);
    if (existing) {
      // Re-sent with fresh holders after a missing-data report.
      if (existing.state === "fetching") {
        existing.msg = msg;
        this.#fetch([existing], out);
      }
      return out;
    }
    if (this.#held.has(msg.key)) return out; // a duplicate of a finished task
    const rec: TaskRecord = { msg, state: "fetching", missing: NOTHING_MISSING };
    for (const dep of Object.keys(msg.whoHas)) if (!this.#held.has(dep)) this.#wait(dep, rec);
    this.#tasks.set(msg.key, rec);
    if (rec.missing.size === 0) this.#makeReady(rec, out, "new");
    else {
      this.record(msg.key, "new", "fetching");
      this.#fetch([rec], out);
    }
    return out;
  }

  /** The deps a task still waits for, while it waits (undefined otherwise). */
  missingOf(key: Key): ReadonlySet<Key> | undefined {
    const rec = this.#tasks.get(key);
    return rec && rec.state === "fetching" ? rec.missing : undefined;
  }

  /**
   * Starts a waiting task now, chained behind the deps it misses: they are
   * being computed on the thread it will run on, just before it (the caller
   * checks). It is then running; `requeue` puts it back if that thread could
   * not run it.
   */
  startChained(key: Key): ComputeTask | undefined {
    const rec = this.#tasks.get(key);
    if (!rec || rec.state !== "fetching" || rec.msg.actor) return undefined;
    for (const dep of rec.missing) this.#unwait(dep, rec);
    rec.missing.clear();
    this.record(key, "fetching", "running");
    rec.state = "running";
    return rec.msg;
  }

  /** The message of a task handed to a thread (undefined otherwise). */
  runningMsg(key: Key): ComputeTask | undefined {
    const rec = this.#tasks.get(key);
    return rec && rec.state === "running" ? rec.msg : undefined;
  }

  /** A task handed to a thread did not run there (a dep chained before it failed, or it was taken back): it waits for its deps again. */
  requeue(key: Key, msg: ComputeTask): WorkerInstruction[] {
    const out: WorkerInstruction[] = [];
    const rec = this.#tasks.get(key);
    if (!rec || rec.msg !== msg || rec.state !== "running") return out;
    this.record(key, "running", "fetching");
    rec.state = "fetching";
    rec.missing = NOTHING_MISSING;
    for (const dep of Object.keys(msg.whoHas)) if (!this.#held.has(dep)) this.#wait(dep, rec);
    if (rec.missing.size === 0) this.#makeReady(rec, out);
    else this.#fetch([rec], out);
    return out;
  }

  /** The next task for a free task thread (it is then running), or undefined. */
  nextTask(): ComputeTask | undefined {
    for (;;) {
      const key = this.#ready.pop();
      if (key === undefined) return undefined;
      const rec = this.#tasks.get(key);
      if (!rec || rec.state !== "ready") continue; // freed while queued
      this.record(key, "ready", "running");
      rec.state = "running";
      return rec.msg;
    }
  }

  /**
   * A task ended. Returns false when it was released meanwhile: its result is
   * dropped. On success the caller stores the value and calls `stored`.
   */
  finished(key: Key, msg: ComputeTask): boolean {
    const rec = this.#tasks.get(key);
    if (!rec || rec.msg !== msg) return false;
    this.#tasks.delete(key);
    return true;
  }

  /** A value is now held here (a result, or data put by a client): wake its waiters. */
  stored(key: Key): WorkerInstruction[] {
    const out: WorkerInstruction[] = [];
    this.#held.add(key);
    this.#arrived(key, out);
    return out;
  }

  /**
   * A get-data request to `holder` came back. `got` were stored (and
   * `reported` of them are copies the scheduler should know of); `missing`
   * the holder did not have (all of `keys` when the request failed).
   */
  fetched(holder: Address, keys: Key[], got: Key[], reported: Record<Key, number>, missing: Key[]): WorkerInstruction[] {
    const out: WorkerInstruction[] = [];
    for (const key of keys) this.#fetching.delete(key);
    const added = Object.keys(reported);
    if (added.length > 0) out.push({ do: "send", msg: { op: "add-keys", keys: added, nbytes: reported } });
    for (const key of missing) {
      this.record(key, "fetching", "missing", holder);
      out.push({ do: "send", msg: { op: "missing-data", key, worker: holder } });
    }
    for (const key of got) {
      this.record(key, "fetching", "memory", holder);
      this.#held.add(key);
      this.#arrived(key, out);
    }
    return out;
  }

  /** Whether a task is known here and not yet handed to a thread (it can be given up at no cost). */
  notStarted(key: Key): boolean {
    const rec = this.#tasks.get(key);
    return rec !== undefined && !rec.msg.actor && rec.state !== "running";
  }

  /** Whether a task is known here and handed to a thread. */
  handedToThread(key: Key): boolean {
    const rec = this.#tasks.get(key);
    return rec !== undefined && !rec.msg.actor && rec.state === "running";
  }

  /** Tasks handed to a thread and not finished: actors being created among them. */
  runningKeys(): Key[] {
    const keys: Key[] = [];
    for (const [key, rec] of this.#tasks) if (rec.state === "running") keys.push(key);
    return keys;
  }

  /**
   * Forgets every task not handed to a thread (waiting for its deps, or
   * ready): its scheduler is gone, and the next one sends again what it wants.
   */
  forgetQueued(): void {
    const queued: Key[] = [];
    for (const [key, rec] of this.#tasks) if (rec.state !== "running") queued.push(key);
    this.free(queued);
  }

  /** Forget keys: drop their values and any queued or running work for them. */
  free(keys: Key[]): void {
    for (const key of keys) {
      const held = this.#held.delete(key);
      const rec = this.#tasks.get(key);
      if (!rec) {
        if (held) this.record(key, "memory", "forgotten");
        continue;
      }
      this.record(key, rec.state, "forgotten");
      this.#tasks.delete(key);
      if (rec.state === "fetching") for (const dep of rec.missing) this.#unwait(dep, rec);
    }
  }

  #wait(dep: Key, rec: TaskRecord): void {
    if (rec.missing === NOTHING_MISSING) rec.missing = new Set();
    rec.missing.add(dep);
    let waiters = this.#waiting.get(dep);
    if (!waiters) this.#waiting.set(dep, (waiters = new Set()));
    waiters.add(rec);
  }

  #unwait(dep: Key, rec: TaskRecord): void {
    const waiters = this.#waiting.get(dep);
    if (!waiters) return;
    waiters.delete(rec);
    if (waiters.size === 0) this.#waiting.delete(dep);
  }

  #arrived(key: Key, out: WorkerInstruction[]): void {
    const waiters = this.#waiting.get(key);
    if (!waiters) return;
    this.#waiting.delete(key);
    for (const rec of waiters) {
      rec.missing.delete(key);
      if (rec.missing.size === 0 && rec.state === "fetching" && this.#tasks.get(rec.msg.key) === rec) this.#makeReady(rec, out);
    }
  }

  #makeReady(rec: TaskRecord, out: WorkerInstruction[], from: string = rec.state): void {
    if (rec.msg.actor) {
      this.record(rec.msg.key, from, "running");
      rec.state = "running";
      out.push({ do: "create-actor", msg: rec.msg });
      return;
    }
    this.record(rec.msg.key, from, "ready");
    rec.state = "ready";
    this.#ready.push(rec.msg.key, rec.msg.priority);
  }

  /** Ask peers for what these tasks miss, one request per holder. */
  #fetch(recs: TaskRecord[], out: WorkerInstruction[]): void {
    const byHolder = new Map<Address, { keys: Key[]; sizes: number[] }>();
    for (const rec of recs) {
      for (const dep of rec.missing) {
        if (this.#fetching.has(dep)) continue;
        const holders = (rec.msg.whoHas[dep] ?? []).filter((a) => a !== this.#self);
        if (holders.length === 0) continue; // the scheduler will say where it is
        const holder = holders[Math.floor(this.#random() * holders.length)]!;
        this.#fetching.add(dep);
        this.record(dep, "new", "fetching", holder);
        let list = byHolder.get(holder);
        if (!list) byHolder.set(holder, (list = { keys: [], sizes: [] }));
        list.keys.push(dep);
        list.sizes.push(rec.msg.nbytes?.[dep] ?? 0);
      }
    }
    for (const [holder, { keys, sizes }] of byHolder) out.push({ do: "fetch", holder, keys, sizes });
  }
}
