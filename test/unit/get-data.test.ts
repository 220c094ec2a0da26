// What a get-data requester makes of the reply: values by position, holes as
// missing keys, and a reply that does not match the request refused.

import assert from "node:assert/strict";
import { test } from "node:test";
import { receiveData } from "../../src/transfer/get-data.js";
import { Payload } from "../../src/protocol/payload.js";
import { ProtocolError } from "../../src/errors.js";

const p = (b: number) => new Payload([new Uint8Array([b])]);

test("values come back by the position of their key (one part as its bytes alone); null is a key the worker does not hold", () => {
  const r = receiveData(["a", "b", "c"], { values: [p(1), null, new Uint8Array([3])], actors: [2] }, false);
  assert.deepEqual(r.values.map(([k, v]) => [k, v.parts[0]![0]]), [["a", 1], ["c", 3]]);
  assert.deepEqual(r.missing, ["b"]);
  assert.deepEqual([...r.actors], ["c"]);
  assert.deepEqual(r.again, []);
});

test("a reply that does not answer the request is refused with ProtocolError", () => {
  assert.throws(() => receiveData(["a", "b"], { values: [p(1)] }, false), ProtocolError);
  assert.throws(() => receiveData(["a"], {} as never, false), ProtocolError);
  assert.throws(() => receiveData(["a"], { values: [{ parts: [] } as unknown as Payload] }, false), ProtocolError);
});
