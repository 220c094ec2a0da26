// What happened to each key, for `client.story(key)`: every transition of a
// key in a process's state machine, with the event that caused it, in a
// bounded ring of small records. Recording is a few array writes; reading
// scans the ring, which only a person asking "why?" does.

import type { Address, Key, StoryEntry } from "./protocol/messages.js";

/** Transitions a process remembers: older ones are overwritten. */
export const STORY_CAPACITY = 100_000;

export class StoryLog {
  // Parallel columns, grown to the capacity as records come (a state machine that sees little costs little).
  readonly #keys: Key[] = [];
  readonly #from: string[] = [];
  readonly #to: string[] = [];
  readonly #cause: string[] = [];
  readonly #worker: Array<Address | undefined> = [];
  readonly #at: number[] = [];
  #next = 0;
  #size = 0;

  /** `where`: "scheduler", or the worker's address. */
  constructor(
    public where: string,
    readonly capacity = STORY_CAPACITY,
  ) {}

  record(key: Key, from: string, to: string, cause: string, at: number, worker?: Address): void {
    const i = this.#next;
    this.#keys[i] = key;
    this.#from[i] = from;
    this.#to[i] = to;
    this.#cause[i] = cause;
    this.#worker[i] = worker;
    this.#at[i] = at;
    this.#next = i + 1 === this.capacity ? 0 : i + 1;
    if (this.#size < this.capacity) this.#size++;
  }

  /** One key's transitions still remembered, oldest first. */
  of(key: Key): StoryEntry[] {
    const out: StoryEntry[] = [];
    const start = this.#size < this.capacity ? 0 : this.#next;
    for (let n = 0; n < this.#size; n++) {
      const i = (start + n) % this.capacity;
      if (this.#keys[i] !== key) continue;
      const e: StoryEntry = { key, at: this.#at[i]!, where: this.where, from: this.#from[i]!, to: this.#to[i]!, cause: this.#cause[i]! };
      const w = this.#worker[i];
      if (w !== undefined) e.worker = w;
      out.push(e);
    }
    return out;
  }
}

/** A clock fine enough to order the transitions of one key across processes of a host. */
export function storyNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Stories from several processes as one, in time order (each process's own order kept on ties). */
export function mergeStories(parts: StoryEntry[][]): StoryEntry[] {
  return parts.flat().sort((a, b) => a.at - b.at);
}
