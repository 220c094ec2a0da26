// A worker's task threads as one pool: which thread runs which task, which
// thread to feed next (the least loaded with room, nothing queued behind a
// long task), taking back tasks a thread has not started, and stopping a
// thread whose task ignores the abort of its signal (R-TASK-13).

import type { Key } from "../protocol/messages.js";
import type { ThreadDone } from "./thread-protocol.js";
import type { RunnerThread } from "./threads.js";

interface Posted {
  thread: RunnerThread;
  id: number;
  /** Set once the task was asked to stop: the thread is stopped when it fires. */
  grace?: NodeJS.Timeout;
}

export class TaskThreads {
  readonly #posted = new Map<Key, Posted>();
  /** Callbacks waiting for some tasks to stop running. */
  #stopWaiters: Array<{ keys: Key[]; resolve: () => void }> = [];

  constructor(readonly threads: RunnerThread[]) {}

  /** The thread to post the next task to: the least loaded with room, or none. */
  pick(nowMs: number): RunnerThread | undefined {
    let best: RunnerThread | undefined;
    for (const t of this.threads) if ((best === undefined || t.load < best.load) && t.hasRoom(nowMs)) best = t;
    return best;
  }

  /** The thread a task is posted to, while it is. */
  threadOf(key: Key): RunnerThread | undefined {
    return this.#posted.get(key)?.thread;
  }

  /** Post a task's run; `onDone` gets the thread's answer (or why there is none). */
  post(key: Key, thread: RunnerThread, work: Parameters<RunnerThread["post"]>[0], onDone: (d: ThreadDone) => void): void {
    const entry: Posted = { thread, id: 0 };
    this.#posted.set(key, entry);
    entry.id = thread.post(work, (done) => {
      if (this.#posted.get(key) === entry) this.#ended(key, entry);
      onDone(done);
    });
  }

  #ended(key: Key, entry: Posted): void {
    clearTimeout(entry.grace);
    this.#posted.delete(key);
    if (this.#stopWaiters.length > 0) {
      this.#stopWaiters = this.#stopWaiters.filter((w) => {
        if (w.keys.some((k) => this.#posted.has(k))) return true;
        w.resolve();
        return false;
      });
    }
  }

  /**
   * The task is no longer wanted. If its thread has not started it, it is
   * taken back and never runs (true). If it runs, its signal aborts, and if
   * it is still running `graceMs` later its thread is stopped and replaced
   * (false: its answer, or its thread's end, comes later).
   */
  stop(key: Key, reason: string, graceMs: number): boolean {
    const entry = this.#posted.get(key);
    if (!entry) return true;
    if (entry.thread.retract(entry.id)) {
      this.#ended(key, entry);
      return true;
    }
    if (entry.grace) return false;
    entry.thread.abort([entry.id], reason);
    entry.thread.prepareReplacement();
    entry.grace = setTimeout(() => {
      if (this.#posted.get(key) === entry) entry.thread.stop(`task ${key} was still running ${graceMs} ms after ${reason}`, entry.id);
    }, graceMs);
    entry.grace.unref();
    return false;
  }

  /** Takes back a task its thread has not started: it never runs there (false when it has started, or is not posted). */
  retract(key: Key): boolean {
    const entry = this.#posted.get(key);
    if (!entry || !entry.thread.retract(entry.id)) return false;
    this.#ended(key, entry);
    return true;
  }

  /**
   * Tasks posted behind a task that has run long on its thread, taken back
   * so that another thread (or worker) can run them now.
   */
  retractBehindLongTasks(nowMs: number): Key[] {
    const stuck = new Set(this.threads.filter((t) => t.load > 1 && t.busyWithLongTask(nowMs)));
    if (stuck.size === 0) return [];
    const taken: Key[] = [];
    for (const [key, entry] of [...this.#posted]) {
      if (stuck.has(entry.thread) && entry.thread.retract(entry.id)) {
        this.#ended(key, entry);
        taken.push(key);
      }
    }
    return taken;
  }

  /** How long the least busy thread has run its current task (0 when one is free). */
  busyMs(nowMs: number): number {
    let least = Infinity;
    for (const t of this.threads) least = Math.min(least, t.runningFor(nowMs));
    return least === Infinity ? 0 : least;
  }

  /**
   * The task each busy thread runs now: its earliest posted task, since
   * threads start them in posting order (a seceded task aside).
   */
  runningNow(nowMs: number): Array<{ thread: number; key: Key; sinceMs: number }> {
    const out: Array<{ thread: number; key: Key; sinceMs: number }> = [];
    const seen = new Set<RunnerThread>();
    for (const [key, entry] of this.#posted) {
      const t = entry.thread;
      if (seen.has(t)) continue;
      seen.add(t);
      const ran = t.runningFor(nowMs);
      if (ran > 0) out.push({ thread: t.index, key, sinceMs: nowMs - ran });
      if (seen.size === this.threads.length) break;
    }
    return out;
  }

  /** Takes back every task no thread has started; returns their keys. */
  retractAll(): Key[] {
    const taken: Key[] = [];
    for (const [key, entry] of [...this.#posted]) {
      if (entry.thread.retract(entry.id)) {
        this.#ended(key, entry);
        taken.push(key);
      }
    }
    return taken;
  }

  /** Resolves once none of `keys` is posted to a thread any more. */
  whenStopped(keys: Key[]): Promise<void> {
    if (!keys.some((k) => this.#posted.has(k))) return Promise.resolve();
    return new Promise((resolve) => this.#stopWaiters.push({ keys, resolve }));
  }

  close(): Promise<void[]> {
    for (const entry of this.#posted.values()) clearTimeout(entry.grace);
    return Promise.all(this.threads.map((t) => t.close()));
  }
}
