// Task counts by state, for the whole graph and per group (tasks of one
// function). Every transition updates two of them, so they are arrays indexed
// by state and each task points at its group: no hash lookups per transition.

import { Histogram } from "../metrics/histogram.js";

export type TaskStateName =
  | "waiting"
  | "no-worker"
  | "processing"
  | "memory"
  | "released"
  | "erred"
  | "lost"
  | "cancelled";

export const TASK_STATES: readonly TaskStateName[] = ["waiting", "no-worker", "processing", "memory", "released", "erred", "lost", "cancelled"];

/** A state's index in TASK_STATES (comparisons of interned strings, cheaper than a lookup). */
export function stateIndex(s: TaskStateName): number {
  switch (s) {
    case "waiting":
      return 0;
    case "no-worker":
      return 1;
    case "processing":
      return 2;
    case "memory":
      return 3;
    case "released":
      return 4;
    case "erred":
      return 5;
    case "lost":
      return 6;
    case "cancelled":
      return 7;
  }
}

/** Waiting, no-worker or processing: the task will still run. */
export function isPending(s: TaskStateName): boolean {
  return s === "waiting" || s === "no-worker" || s === "processing";
}

/** Memory, erred, lost or cancelled: the client has its outcome. */
export function isFinal(s: TaskStateName): boolean {
  return s === "memory" || s === "erred" || s === "lost" || s === "cancelled";
}

/** How many tasks are in each state. */
export class StateCounts {
  readonly #n: number[] = TASK_STATES.map(() => 0);
  /** Tasks counted, in any state. */
  size = 0;

  add(s: TaskStateName, by: number): void {
    this.#n[stateIndex(s)] += by;
    this.size += by;
  }

  get(s: TaskStateName): number {
    return this.#n[stateIndex(s)]!;
  }

  /** The states with tasks in them. */
  toRecord(): Partial<Record<TaskStateName, number>> {
    const r: Partial<Record<TaskStateName, number>> = {};
    for (let i = 0; i < TASK_STATES.length; i++) if (this.#n[i] !== 0) r[TASK_STATES[i]!] = this.#n[i];
    return r;
  }
}

/** The tasks of one function: their counts by state and how long they took. */
export class TaskGroup extends StateCounts {
  #durationTotalMs = 0;
  #finished = 0;
  /** How long its finished tasks ran (for /metrics); its count is how many finished. */
  readonly durations = new Histogram();
  /** How many of its tasks failed for good (entered erred). */
  erred = 0;

  constructor(readonly name: string) {
    super();
  }

  /** One of its tasks finished after running this long. */
  finishedIn(durationMs: number): void {
    this.#durationTotalMs += durationMs;
    this.#finished++;
    this.durations.observe(durationMs / 1000);
  }

  /** Mean duration of finished tasks, or `fallback` before the first. */
  meanDurationMs(fallback: number): number {
    return this.#finished > 0 ? this.#durationTotalMs / this.#finished : fallback;
  }
}
