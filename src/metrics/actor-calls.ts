// Actor calls by class, from the per-actor stats their threads report: each
// report carries an actor's counts since it was created, so the totals add
// what changed since the previous one. Totals never fall, even as actors come
// and go (Prometheus counters).

import type { ActorStats, Key } from "../protocol/messages.js";
import { BoundedLabels } from "./labels.js";
import { Histogram } from "./histogram.js";

export interface ClassCalls {
  calls: number;
  duration: Histogram;
}

interface Seen {
  calls: number;
  buckets: readonly number[];
  totalMs: number;
}

const NOTHING: Seen = { calls: 0, buckets: [], totalMs: 0 };

export class ActorCallTotals {
  readonly #seen = new Map<Key, Seen>();
  readonly #labels = new BoundedLabels();
  /** By class label (bounded: see labels.ts). */
  readonly byClass = new Map<string, ClassCalls>();

  /** An actor's stats as its thread reported them. */
  update(key: Key, className: string, stats: ActorStats): void {
    let prev = this.#seen.get(key) ?? NOTHING;
    // Fewer calls than before: the actor was made again under its key, and counts from zero.
    if (stats.calls < prev.calls) prev = NOTHING;
    const label = this.label(className);
    let c = this.byClass.get(label);
    if (!c) this.byClass.set(label, (c = { calls: 0, duration: new Histogram() }));
    c.calls += stats.calls - prev.calls;
    const buckets = stats.buckets ?? [];
    const delta = buckets.map((n, i) => n - (prev.buckets[i] ?? 0));
    c.duration.add(delta, Math.max(0, (stats.totalMs ?? 0) - prev.totalMs) / 1000);
    this.#seen.set(key, { calls: stats.calls, buckets, totalMs: stats.totalMs ?? 0 });
  }

  /** The label a class's series carry. */
  label(className: string): string {
    return this.#labels.of(className);
  }

  /** The actor is gone: what it counted stays counted. */
  forget(key: Key): void {
    this.#seen.delete(key);
  }
}
