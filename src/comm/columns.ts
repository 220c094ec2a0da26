// Messages that carry many tasks as parallel arrays (compute-tasks,
// tasks-finished). A peer's bug must not reach a state machine as a
// half-formed task, so their shape is checked on arrival.

import { Payload } from "./payload.js";

/** "number": finite; "size": finite and not negative. */
type Column = "string" | "number" | "size" | "payload";

function fits(v: unknown, kind: Column): boolean {
  switch (kind) {
    case "string":
      return typeof v === "string";
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "size":
      return typeof v === "number" && Number.isFinite(v) && v >= 0;
    case "payload":
      return v instanceof Payload;
  }
}

/**
 * Why `msg`'s parallel arrays are malformed (not arrays, lengths that differ,
 * an element of the wrong kind), or undefined when they are well formed.
 */
export function malformedColumns(msg: object, columns: Record<string, Column>): string | undefined {
  const fields = msg as Record<string, unknown>;
  const op = String(fields.op);
  let length: number | undefined;
  for (const name in columns) {
    const col = fields[name];
    if (!Array.isArray(col)) return `${op}: "${name}" is not an array`;
    if (length === undefined) length = col.length;
    else if (col.length !== length) return `${op}: "${name}" has ${col.length} entries, expected ${length}`;
    const kind = columns[name]!;
    for (let i = 0; i < col.length; i++) {
      if (!fits(col[i], kind)) return `${op}: "${name}"[${i}] is not a ${kind}`;
    }
  }
  return undefined;
}
