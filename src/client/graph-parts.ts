// A graph submitted in one turn leaves as update-graph messages small enough
// to encode: a message's header is bounded (64 MiB), and a map of 1,000,000
// tasks is several hundred MB of specs. Every part but the last says `more`;
// the scheduler takes the parts as one graph, so splitting changes nothing
// it decides (a task of an early part that only a later part depends on is
// not released in between).

import { OOB_THRESHOLD_BYTES } from "../comm/index.js";
import type { Key, TaskSpec, UpdateGraph } from "../protocol/messages.js";

/** Most tasks, and most wanted keys, in one part. */
const PART_ITEMS = 10_000;
/** Most estimated header bytes of one part: far below the header limit, so a batch of several parts still splits cleanly. */
const PART_BYTES = 8 * 1024 * 1024;
/** What a spec costs in a header besides its key, deps, inline arguments and code: field names, options, group. */
const SPEC_OVERHEAD = 256;

/** A spec's bytes in a message header, near enough: Payload parts this large go out of band. */
function specBytes(t: TaskSpec): number {
  let n = SPEC_OVERHEAD + t.key.length;
  for (const d of t.deps) n += d.length + 2;
  for (const p of t.args.parts) if (p.byteLength < OOB_THRESHOLD_BYTES) n += p.byteLength;
  n += t.fn.kind === "source" ? t.fn.source.length : t.fn.url.length + t.fn.module.length + t.fn.hash.length;
  return n;
}

export function graphParts(tasks: TaskSpec[], wanted: Key[]): UpdateGraph[] {
  if (tasks.length <= PART_ITEMS && wanted.length <= PART_ITEMS) {
    let bytes = 0;
    for (const t of tasks) bytes += specBytes(t);
    if (bytes <= PART_BYTES) return [{ op: "update-graph", tasks, wanted }];
  }
  const parts: UpdateGraph[] = [];
  let part: TaskSpec[] = [];
  let bytes = 0;
  for (const t of tasks) {
    const b = specBytes(t);
    if (part.length > 0 && (part.length >= PART_ITEMS || bytes + b > PART_BYTES)) {
      parts.push({ op: "update-graph", tasks: part, wanted: [], more: true });
      part = [];
      bytes = 0;
    }
    part.push(t);
    bytes += b;
  }
  if (part.length > 0) parts.push({ op: "update-graph", tasks: part, wanted: [], more: true });
  for (let i = 0; i < wanted.length; i += PART_ITEMS) {
    const keys = wanted.slice(i, i + PART_ITEMS);
    const at = i / PART_ITEMS;
    if (at < parts.length) parts[at]!.wanted = keys;
    else parts.push({ op: "update-graph", tasks: [], wanted: keys, more: true });
  }
  delete parts[parts.length - 1]!.more;
  return parts;
}
