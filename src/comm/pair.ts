// Two connected Connections in memory: the same batching, encoding and
// request/reply semantics as a socket, for tests that need no network.

import { WireConnection, type Connection } from "./connection.js";
import { memoryTransportPair } from "./transport.js";

export function connectionPair(): [Connection, Connection] {
  const [ta, tb] = memoryTransportPair();
  const a = new WireConnection(ta);
  const b = new WireConnection(tb);
  a.open("peer");
  b.open("peer");
  return [a, b];
}
