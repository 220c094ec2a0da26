// A strict reader of Prometheus' text exposition format, with the naming
// conventions troupe keeps (base units, _total counters), and `promtool check
// metrics` on top where Debian's prometheus package is installed.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/y;

function parseValue(v: string): number {
  if (v === "+Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  if (v === "NaN") return NaN;
  const n = Number(v);
  assert.ok(v !== "" && !Number.isNaN(n), `not a sample value: ${v}`);
  return n;
}

function parseSample(line: string): Sample {
  const m = /^([^{\s]+)(\{.*\})?\s+(\S+)(\s+-?\d+)?$/.exec(line);
  assert.ok(m, `not a sample line: ${line}`);
  const [, name, braces, value] = m;
  assert.match(name!, NAME, `bad metric name in: ${line}`);
  const labels: Record<string, string> = {};
  if (braces) {
    const inner = braces.slice(1, -1);
    let i = 0;
    while (i < inner.length) {
      LABEL.lastIndex = i;
      const l = LABEL.exec(inner);
      assert.ok(l, `bad labels in: ${line}`);
      assert.ok(!(l[1]! in labels), `label ${l[1]} twice in: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
      i = LABEL.lastIndex;
      if (inner[i] === ",") i++;
      else assert.equal(i, inner.length, `bad labels in: ${line}`);
    }
  }
  return { name: name!, labels, value: parseValue(value!) };
}

/** Parses an exposition and checks its structure and conventions; throws (assert) on anything amiss. */
export function parseMetrics(text: string): Map<string, Family> {
  assert.ok(text.endsWith("\n"), "the exposition ends with a newline");
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: { name: string; family: Family } | undefined;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) {
      const [, kind, name, ...rest] = line.split(" ");
      assert.match(name!, NAME);
      let f = families.get(name!);
      if (!f) {
        assert.ok(!seen.has(name!), `${name} appears in two places`);
        families.set(name!, (f = { type: "untyped", help: "", samples: [] }));
        current = { name: name!, family: f };
      }
      if (kind === "HELP") f.help = rest.join(" ");
      else {
        assert.equal(f.samples.length, 0, `TYPE of ${name} after its samples`);
        f.type = rest[0] as Family["type"];
        assert.ok(["counter", "gauge", "histogram", "summary", "untyped"].includes(f.type), `unknown type ${f.type}`);
      }
      continue;
    }
    if (line.startsWith("#")) continue;
    const s = parseSample(line);
    assert.ok(current, `sample before any TYPE: ${line}`);
    const base = current.family.type === "histogram" ? s.name.replace(/_(bucket|sum|count)$/, "") : s.name;
    assert.equal(base, current.name, `sample ${s.name} outside its family ${current.name}`);
    const id = s.name + JSON.stringify(Object.entries(s.labels).sort());
    assert.ok(!seen.has(id), `series twice: ${line}`);
    seen.add(id);
    seen.add(current.name);
    current.family.samples.push(s);
  }
  for (const [name, f] of families) checkConventions(name, f);
  return families;
}

function checkConventions(name: string, f: Family): void {
  assert.ok(f.help.length > 0, `${name} has no HELP`);
  assert.doesNotMatch(name, /_(ms|milliseconds|millis|us|kb|mb|mib|gb)(_|$)/i, `${name}: use base units (seconds, bytes)`);
  if (f.type === "counter") assert.match(name, /_total$/, `counter ${name} must end in _total`);
  else assert.doesNotMatch(name, /_total$/, `${name} ends in _total but is a ${f.type}`);
  if (f.type !== "histogram") return;
  const series = new Map<string, Sample[]>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const id = JSON.stringify(Object.entries(rest).sort());
    if (!series.has(id)) series.set(id, []);
    series.get(id)!.push(s);
    if (s.name.endsWith("_bucket")) assert.ok(le !== undefined, `${s.name} without le`);
  }
  for (const samples of series.values()) {
    const buckets = samples.filter((s) => s.name.endsWith("_bucket"));
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(parseValue(buckets[i]!.labels.le!) > parseValue(buckets[i - 1]!.labels.le!), `${name}: buckets out of order`);
      assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${name}: buckets must be cumulative`);
    }
    const inf = buckets.at(-1);
    assert.equal(inf?.labels.le, "+Inf", `${name}: the last bucket is +Inf`);
    const count = samples.find((s) => s.name === `${name}_count`);
    assert.ok(count && samples.some((s) => s.name === `${name}_sum`), `${name}: _sum and _count`);
    assert.equal(inf.value, count.value, `${name}: the +Inf bucket equals _count`);
  }
}

/** The value of one series (labels given must match; others are free); undefined when absent. */
export function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}, sampleName = name): number | undefined {
  const f = families.get(name);
  const s = f?.samples.find((x) => x.name === sampleName && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

/** Problems `promtool check metrics` finds (empty when clean); undefined when promtool is not installed. */
export function promtoolProblems(text: string): string | undefined {
  const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
  return r.status === 0 ? "" : `${r.stdout}${r.stderr}`.trim() || `exit status ${r.status}`;
}
