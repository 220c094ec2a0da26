// The in-process connection a LocalCluster's own client uses.

import assert from "node:assert/strict";
import { test } from "node:test";
import { localConnection } from "../../src/comm/index.js";
import { CommError, TimeoutError } from "../../src/errors.js";
import type { Message } from "../../src/protocol/messages.js";
import { checkRequestGroups } from "../helpers/request-groups.js";

test("messages and requests arrive in order; replies and errors come back", async () => {
  const [client, server] = localConnection("client");
  assert.equal(server.role, "client");
  const seen: string[] = [];
  server.onMessage = (m) => seen.push(m.op === "release-keys" ? m.keys[0]! : m.op);
  server.onRequest = (m) => {
    if (m.op === "who-has") return Promise.resolve({ [m.keys[0]!]: ["tcp://w:1"] });
    throw new RangeError("no such thing");
  };
  for (let i = 0; i < 100; i++) client.send({ op: "release-keys", keys: [`k${i}`] });
  const who = await client.request({ op: "who-has", keys: ["x"] });
  assert.deepEqual(who, { x: ["tcp://w:1"] });
  assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => `k${i}`));
  await assert.rejects(client.request({ op: "scheduler-info" }), RangeError);
  client.close();
  await server.closed;
});

test("closing rejects pending requests; requests may time out", async () => {
  const [client, server] = localConnection("client");
  server.onRequest = () => new Promise(() => undefined); // never answers
  await assert.rejects(client.request({ op: "scheduler-info" }, { timeoutMs: 20 }), TimeoutError);
  const pending = client.request({ op: "scheduler-info" });
  server.close("going away");
  await assert.rejects(pending, CommError);
  await client.closed;
  assert.equal(client.isOpen, false);
  await assert.rejects(client.request({ op: "scheduler-info" } as Message), CommError);
});

test("a request group: each outcome reaches its own handler, a slow one holds up no other", async () => {
  const [client, server] = localConnection("client");
  await checkRequestGroups(client, server);
});
