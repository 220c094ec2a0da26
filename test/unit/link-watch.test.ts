// The link watch reads a socket's descriptor from Node's private handle. When
// that handle does not show one, or shows something that is not a socket, a
// connection still gets Node's own keepalive and nothing throws (R-FLOW-4).

import assert from "node:assert/strict";
import { closeSync, openSync } from "node:fs";
import type { Socket } from "node:net";
import { test } from "node:test";
import { watchLink } from "../../src/comm/link-watch.js";

/** Just what watchLink touches of a socket, recording the keepalive asked for. */
function fakeSocket(handle: unknown): { socket: Socket; keepAlive: unknown[][] } {
  const keepAlive: unknown[][] = [];
  const socket = {
    _handle: handle,
    destroyed: false,
    bytesWritten: 0,
    setKeepAlive: (...args: unknown[]) => keepAlive.push(args),
    once: () => socket,
    destroy: () => assert.fail("an untuned socket is never judged"),
  };
  return { socket: socket as unknown as Socket, keepAlive };
}

test("link watch - a handle without a descriptor falls back to Node's keepalive", () => {
  for (const handle of [null, undefined, {}, { fd: -1 }, { fd: "3" }, { _parent: null }]) {
    const { socket, keepAlive } = fakeSocket(handle);
    watchLink(socket);
    assert.deepEqual(keepAlive, [[true, 1000]], `handle ${JSON.stringify(handle)}`);
  }
});

test("link watch - a descriptor that is not a socket falls back to Node's keepalive", () => {
  const fd = openSync(process.execPath, "r");
  try {
    const { socket, keepAlive } = fakeSocket({ fd });
    watchLink(socket);
    assert.deepEqual(keepAlive, [[true, 1000]]);
  } finally {
    closeSync(fd);
  }
});
