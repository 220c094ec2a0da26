// The Prometheus text exposition format (version 0.0.4): HELP and TYPE once
// per metric, then its samples. Names follow Prometheus' conventions: base
// units in the name (_seconds, _bytes), counters ending in _total.

import { DURATION_BUCKETS_S, type Histogram } from "./histogram.js";

export type Labels = Record<string, string>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labelText(labels: Labels, extra?: string): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length > 0 ? `{${parts.join(",")}}` : "";
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

export class MetricsText {
  readonly #lines: string[] = [];

  gauge(name: string, help: string, samples: Array<[Labels, number]>): void {
    this.#head(name, help, "gauge");
    for (const [labels, v] of samples) this.#lines.push(`${name}${labelText(labels)} ${num(v)}`);
  }

  /** `name` ends in _total. */
  counter(name: string, help: string, samples: Array<[Labels, number]>): void {
    this.#head(name, help, "counter");
    for (const [labels, v] of samples) this.#lines.push(`${name}${labelText(labels)} ${num(v)}`);
  }

  histogram(name: string, help: string, series: Array<[Labels, Histogram]>): void {
    this.#head(name, help, "histogram");
    for (const [labels, h] of series) {
      let cumulative = 0;
      for (let i = 0; i < DURATION_BUCKETS_S.length; i++) {
        cumulative += h.counts[i]!;
        this.#lines.push(`${name}_bucket${labelText(labels, `le="${DURATION_BUCKETS_S[i]}"`)} ${cumulative}`);
      }
      this.#lines.push(`${name}_bucket${labelText(labels, 'le="+Inf"')} ${h.count}`);
      this.#lines.push(`${name}_sum${labelText(labels)} ${num(h.sumSeconds)}`);
      this.#lines.push(`${name}_count${labelText(labels)} ${h.count}`);
    }
  }

  toString(): string {
    return this.#lines.join("\n") + "\n";
  }

  #head(name: string, help: string, type: string): void {
    this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
  }
}
