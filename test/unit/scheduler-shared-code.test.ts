import assert from "node:assert/strict";
import { test } from "node:test";
import { Payload } from "../../src/protocol/payload.js";
import type { CodeRef, TaskSpec } from "../../src/protocol/messages.js";
import { shareCode } from "../../src/scheduler/shared-code.js";

const mod = (hash: string, entry?: boolean): CodeRef => ({ kind: "module", module: "m.js", url: "file:///m.js", export: "f", hash, name: "f", ...(entry ? { entry } : {}) });
const spec = (i: number, fn: CodeRef): TaskSpec => ({ key: `k-${i}`, fn, args: new Payload([]), deps: [], options: {}, group: "f" });

test("shared code - specs naming the same code share one reference; different code keeps its own", () => {
  const specs = [spec(0, mod("a")), spec(1, mod("a")), spec(2, mod("b")), spec(3, mod("b")), spec(4, mod("b", true)), spec(5, { kind: "source", source: "x", name: "f", isClass: false })];
  const before = specs.map((s) => structuredClone(s.fn));
  shareCode(specs);
  assert.equal(specs[1]!.fn, specs[0]!.fn);
  assert.equal(specs[3]!.fn, specs[2]!.fn);
  assert.notEqual(specs[2]!.fn, specs[0]!.fn);
  assert.notEqual(specs[4]!.fn, specs[3]!.fn, "an extra field is different code");
  assert.deepEqual(specs.map((s) => s.fn), before, "every spec still names what it named");
});
