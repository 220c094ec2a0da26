// Durations as Prometheus histograms: fixed buckets in seconds, so that
// histograms from many processes (and many actors) add up bucket by bucket.

/** Upper bounds of the duration buckets, seconds; a last bucket, +Inf, takes the rest. */
export const DURATION_BUCKETS_S: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** The bucket a duration falls in: an index into counts of DURATION_BUCKETS_S.length + 1. */
export function bucketOf(seconds: number): number {
  const b = DURATION_BUCKETS_S;
  for (let i = 0; i < b.length; i++) if (seconds <= b[i]!) return i;
  return b.length;
}

export class Histogram {
  /** Per bucket, not cumulative (the exposition sums them). */
  readonly counts: number[] = new Array<number>(DURATION_BUCKETS_S.length + 1).fill(0);
  sumSeconds = 0;
  count = 0;

  observe(seconds: number): void {
    this.counts[bucketOf(seconds)]!++;
    this.sumSeconds += seconds;
    this.count++;
  }

  /** Adds counts observed elsewhere (per bucket, not cumulative). */
  add(counts: readonly number[], sumSeconds: number): void {
    const n = Math.min(counts.length, this.counts.length);
    for (let i = 0; i < n; i++) {
      this.counts[i]! += counts[i]!;
      this.count += counts[i]!;
    }
    this.sumSeconds += sumSeconds;
  }
}
