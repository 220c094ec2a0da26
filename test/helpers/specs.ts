// Task specs for tests of the scheduler's state machine: the key's prefix is
// the function's name and the group, and every task shares one empty Payload.

import { Payload } from "../../src/protocol/payload.js";
import type { TaskOptions, TaskSpec } from "../../src/protocol/messages.js";

export const ARGS = new Payload([]);

export function spec(key: string, deps: string[] = [], options: TaskOptions = {}): TaskSpec {
  const name = key.split("-")[0]!;
  return { key, fn: { kind: "source", source: "x=>x", name, isClass: !!options.actor }, args: ARGS, deps, options, group: name };
}
