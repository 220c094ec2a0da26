// What every Connection must do with a request group, checked on any pair of ends.

import assert from "node:assert/strict";
import { ProtocolError } from "../../src/errors.js";
import type { Connection, ReplyHandler } from "../../src/comm/index.js";
import type { Message } from "../../src/protocol/messages.js";

interface Outcome {
  ok?: unknown;
  fail?: Error;
  at: number;
}

function collect(n: number): { handlers: ReplyHandler[]; outcomes: Outcome[]; all: Promise<void> } {
  const outcomes: Outcome[] = new Array(n);
  let left = n;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  let order = 0;
  const settle = (i: number, o: Omit<Outcome, "at">) => {
    assert.equal(outcomes[i], undefined, `request ${i} of the group was answered twice`);
    outcomes[i] = { ...o, at: order++ };
    if (--left === 0) done();
  };
  const handlers = Array.from({ length: n }, (_, i) => ({ ok: (v: unknown) => settle(i, { ok: v }), fail: (e: Error) => settle(i, { fail: e }) }));
  return { handlers, outcomes, all };
}

const group = (names: string[]): Message => ({ op: "actor-calls", key: "k", names, gets: [], args: names.map(() => 0 as const) });

/** `client` sends groups to `server`; every outcome reaches its own handler, a slow one holds up no other. */
export async function checkRequestGroups(client: Connection, server: Connection): Promise<void> {
  let release!: (v: string) => void;
  const slow = new Promise<string>((r) => (release = r));
  server.onRequest = (msg) => {
    if (msg.op !== "actor-calls") throw new TypeError(`unexpected ${msg.op}`);
    if (msg.names[0] === "short") return ["only one"]; // the wrong number of outcomes
    if (msg.names[0] === "throw") throw new RangeError("refused the whole group");
    return msg.names.map((name) => (name === "slow" ? slow : name === "bad" ? Promise.reject(new RangeError(`${name} failed`)) : `${name}!`));
  };

  const a = collect(4);
  client.callGroup(group(["slow", "x", "bad", "y"]), a.handlers);
  // The quick answers come while the slow one still waits.
  while (a.outcomes.filter(Boolean).length < 3) await new Promise((r) => setTimeout(r, 2));
  assert.equal(a.outcomes[0], undefined);
  assert.equal(a.outcomes[1]!.ok, "x!");
  assert.equal(a.outcomes[3]!.ok, "y!");
  assert.match(String(a.outcomes[2]!.fail), /bad failed/);
  release("late");
  await a.all;
  assert.equal((a.outcomes as Outcome[])[0]!.ok, "late");

  const b = collect(2);
  client.callGroup(group(["short", "x"]), b.handlers);
  const c = collect(3);
  client.callGroup(group(["throw", "x", "y"]), c.handlers);
  const single = client.request({ op: "actor-calls", key: "k", names: ["z"], gets: [], args: [0] }).catch((e: unknown) => e);
  await Promise.all([b.all, c.all]);
  for (const o of b.outcomes) assert.ok(o.fail instanceof Error && /group of 2 requests was answered with 1 outcomes/.test(o.fail.message), String(o.fail));
  for (const o of c.outcomes) assert.match(String(o.fail), /refused the whole group/);
  // A group message sent as an ordinary request gets the array as its one answer.
  assert.deepEqual(await single, ["z!"]);
  assert.ok(client.isOpen && server.isOpen, "failed groups leave the connection open");

  // Closing fails what is still unanswered.
  server.onRequest = () => [new Promise(() => undefined), new Promise(() => undefined)];
  const d = collect(2);
  client.callGroup(group(["never", "never"]), d.handlers);
  await new Promise((r) => setTimeout(r, 20));
  client.close();
  await d.all;
  for (const o of d.outcomes) assert.ok(o.fail instanceof Error && !(o.fail instanceof ProtocolError), String(o.fail));
  const e = collect(1);
  client.callGroup(group(["after close"]), e.handlers);
  await e.all;
  assert.match(String(e.outcomes[0]!.fail), /closed/);
}
