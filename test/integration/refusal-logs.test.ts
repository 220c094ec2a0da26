// Connections refused before their handshake are logged at most once a second
// per kind, with a count, however many there are (R-SEC-5): a stranger cannot
// flood the log. The listener runs in a process of its own, logging warnings.

import assert from "node:assert/strict";
import * as net from "node:net";
import { after, test } from "node:test";
import { encodeBatch, parseAddress } from "../../src/comm/index.js";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import { waitFor } from "../helpers/cluster.js";
import { ProcGroup } from "../helpers/procs.js";

const procs = new ProcGroup();
after(() => procs.killAll());

/** Connect, send `bytes`, and resolve once the listener closed the connection. */
function sendAndWaitClose(address: string, bytes: Buffer): Promise<void> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => s.write(bytes));
    s.on("data", () => {});
    s.on("error", () => {});
    s.once("close", () => resolve());
  });
}

test("listen - 100 wrong tokens and 100 malformed batches before the hello make at most two log lines a second each, with their counts", { timeout: 60_000 }, async () => {
  const listener = procs.node("listener", ["--import", "tsx", "test/fixtures/link-end.ts", "listen", "127.0.0.1"], { env: { TROUPE_LOG: "warn" } });
  const ready = await waitFor(() => /"event":"ready".*"address":"([^"]+)"/.exec(listener.stdout), "the listener to be ready", 20_000);
  const address = ready[1]!;
  const wrongToken = Buffer.concat(encodeBatch([{ op: "hello", token: "not-the-token", role: "client", version: PROTOCOL_VERSION }]));
  const garbage = Buffer.alloc(16, 0); // a batch header of 0 bytes: not troupe's protocol
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 100 }, () => sendAndWaitClose(address, wrongToken)));
  await Promise.all(Array.from({ length: 100 }, () => sendAndWaitClose(address, garbage)));
  const seconds = (Date.now() - t0) / 1000;
  const count = (re: RegExp) => {
    const lines = listener.stderr.split("\n").filter((l) => re.test(l));
    return { lines: lines.length, total: lines.reduce((n, l) => n + Number(/(?:Refused|Closed) (\d+) connection/.exec(l)?.[1] ?? 0), 0) };
  };
  // The last count is written when its second is up.
  await waitFor(() => count(/for a bad hello/).total === 100 && count(/broke the protocol before the handshake/).total === 100, "every refusal counted in the log", 10_000);
  const bad = count(/for a bad hello/);
  const broken = count(/broke the protocol before the handshake/);
  const most = 2 * (Math.ceil(seconds) + 1);
  assert.ok(bad.lines <= most, `${bad.lines} lines for 100 bad hellos in ${seconds} s`);
  assert.ok(broken.lines <= most, `${broken.lines} lines for 100 malformed batches in ${seconds} s`);
  assert.ok(!/Refused a connection|Closing connection/.test(listener.stderr), "no line per connection");
});
