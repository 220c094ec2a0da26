// The wire's own bounds. A peer that stops reading costs the sender a bounded
// number of bytes (R-FLOW-1); a connection that has not proved the token can
// make the listener hold at most 64 KiB, and a listener holds a bounded number
// of such connections (R-SEC-5); a connect whose caller blocked its event loop
// past the listener's handshake timeout still succeeds (R-FLOW-4).

import assert from "node:assert/strict";
import * as net from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { BatchDecoder, connect, encodeBatch, listen, parseAddress, Payload, type Connection, type Listener, type TlsOptions } from "../../src/comm/index.js";
import { WireConnection } from "../../src/comm/connection.js";
import { MAX_UNAUTHENTICATED_BYTES } from "../../src/comm/handshake.js";
import { WorkerPool } from "../../src/comm/pool.js";
import { memoryTransportPair, WRITE_HIGH_WATER_BYTES } from "../../src/comm/transport.js";
import { ProtocolError } from "../../src/errors.js";
import { PROTOCOL_VERSION, type Message } from "../../src/protocol/messages.js";
import { makePki, NO_OPENSSL } from "../helpers/pki.js";
import { waitFor } from "../helpers/cluster.js";

const listeners: Listener[] = [];
after(async () => {
  await Promise.all(listeners.map((l) => l.close()));
});

const MiB = 1024 * 1024;
const turn = () => new Promise((r) => setImmediate(r));

/** A one-way message carrying `bytes` (any op the decoder knows will do: nobody handles it here). */
function bulk(bytes: Uint8Array): Message {
  return { op: "put-data", data: { k: new Payload([bytes]) }, report: false } as Message;
}

function rawSocket(address: string): Promise<net.Socket> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => resolve(s));
    s.once("error", reject);
  });
}

/** Resolves when the socket closes; records when. */
function whenClosed(s: net.Socket): Promise<number> {
  s.on("error", () => {});
  return new Promise((resolve) => (s.destroyed ? resolve(Date.now()) : s.once("close", () => resolve(Date.now()))));
}

/** Block this thread's event loop, as user code busy on the caller's thread does. */
function blockFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // busy
  }
}

/** A little-endian u32 prefix: header length, out-of-band count, then each out-of-band length. */
function prefix(headerLen: number, oobLens: number[]): Buffer {
  const b = Buffer.alloc(8 + 4 * oobLens.length);
  b.writeUInt32LE(headerLen, 0);
  b.writeUInt32LE(oobLens.length, 4);
  oobLens.forEach((n, i) => b.writeUInt32LE(n, 8 + 4 * i));
  return b;
}

describe("write backpressure", () => {
  test("backpressure - a peer that stops reading: batches wait in the connection, the socket holds at most its mark, and all arrive in order", async () => {
    const [ta, tb] = memoryTransportPair(MiB);
    const a = new WireConnection(ta);
    const b = new WireConnection(tb);
    a.open("peer");
    b.open("peer");
    const got: number[] = [];
    b.onMessage = (m) => got.push((m as unknown as { data: { k: Payload } }).data.k.parts[0]![0]!);
    tb.pause();
    let maxInSocket = 0;
    for (let i = 0; i < 40; i++) {
      a.send(bulk(new Uint8Array(256 * 1024).fill(i)));
      await turn(); // one batch per turn
      maxInSocket = Math.max(maxInSocket, ta.bufferedBytes);
    }
    assert.equal(a.needsDrain, true);
    assert.ok(maxInSocket < MiB + 256 * 1024 + 1024, `the transport held ${maxInSocket} bytes, above its mark plus one batch`);
    assert.ok(a.bufferedBytes >= 39 * 256 * 1024, "the rest waits in the connection, counted");
    let drained = false;
    void a.drained().then(() => (drained = true));
    await turn();
    assert.equal(drained, false);
    tb.resume();
    await waitFor(() => got.length === 40, "every message to arrive");
    assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => i), "in the order sent");
    assert.equal(drained, true);
    assert.equal(a.needsDrain, false);
    assert.equal(a.bufferedBytes, 0);
    a.close();
  });

  test("backpressure - close() sends what waited before ending", async () => {
    const [ta, tb] = memoryTransportPair(64 * 1024);
    const a = new WireConnection(ta);
    const b = new WireConnection(tb);
    a.open("peer");
    b.open("peer");
    let got = 0;
    b.onMessage = () => got++;
    tb.pause();
    for (let i = 0; i < 10; i++) {
      a.send(bulk(new Uint8Array(64 * 1024)));
      await turn();
    }
    assert.equal(a.needsDrain, true);
    a.close();
    await a.drained(); // a closed connection has nothing to wait for
    tb.resume();
    await b.closed;
    assert.equal(got, 10);
  });

  test("backpressure - over TCP, 200 MB to a receiver that paused its socket: the sender holds at most its mark plus one batch, and all arrive once it reads", { timeout: 120_000 }, async () => {
    // The receiver speaks the protocol by hand, so that the test owns its socket.
    let receiver!: net.Socket;
    let received = 0;
    let receivedBytes = 0;
    const ready = new Promise<void>((resolve) => {
      const server = net.createServer((s) => {
        receiver = s;
        const d = new BatchDecoder();
        s.on("data", (chunk) => {
          d.push(chunk);
          for (let batch = d.next(); batch !== null; batch = d.next()) {
            for (const e of batch) {
              const m = e as { op: string; data?: { k: Payload } };
              if (m.op === "hello") {
                for (const c of encodeBatch([{ op: "welcome" }])) s.write(c);
                resolve();
              } else if (m.op === "put-data") {
                received++;
                receivedBytes += m.data!.k.byteLength;
              }
            }
          }
        });
      });
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port;
        listeners.push({ address: "", close: () => new Promise((r) => server.close(() => r())) });
        void connect(`tcp://127.0.0.1:${port}`, { token: "", role: "client" }).then((c) => (conn = c));
      });
    });
    let conn!: Connection;
    await ready;
    await waitFor(() => conn, "the sender's connection");
    receiver.pause();

    const MESSAGES = 200;
    let maxBuffered = 0;
    let waits = 0;
    let sent = 0;
    const sending = (async () => {
      for (let i = 0; i < MESSAGES; i++, sent++) {
        if (conn.needsDrain) {
          waits++;
          await conn.drained();
        }
        conn.send(bulk(new Uint8Array(MiB).fill(i)));
        await turn();
        maxBuffered = Math.max(maxBuffered, conn.bufferedBytes);
      }
    })();
    // The receiver reads nothing until the sender has had to wait, and a while after.
    await waitFor(() => waits > 0 || sent === MESSAGES, "the sender to be told to wait", 30_000);
    assert.ok(waits > 0, "the sender was never told to wait: all 200 MB went to the socket");
    await new Promise((r) => setTimeout(r, 300));
    const whilePaused = received;
    assert.ok(whilePaused < MESSAGES / 4, `${whilePaused} messages arrived while the receiver read nothing`);
    receiver.resume();
    await sending;
    await waitFor(() => received === MESSAGES, "all 200 MB to arrive", 60_000);
    assert.equal(receivedBytes, MESSAGES * MiB);
    assert.ok(maxBuffered <= WRITE_HIGH_WATER_BYTES + MiB + 4096, `the sender held ${(maxBuffered / MiB).toFixed(1)} MiB for the receiver`);
    conn.close();
    receiver.destroy();
  });
});

describe("before the handshake", () => {
  test("frames - a decoder with a limit refuses a batch announced beyond it before buffering any of its body", () => {
    const huge = new BatchDecoder();
    huge.setLimit(MAX_UNAUTHENTICATED_BYTES, "before the handshake");
    huge.push(prefix(16, [2 ** 30, 2 ** 30]));
    assert.throws(() => huge.next(), (e: Error) => e instanceof ProtocolError && /a batch of \d+ bytes where at most 65536 more are accepted before the handshake/.test(e.message));
    assert.equal(huge.pendingBytes, 0);

    const bigHeader = new BatchDecoder();
    bigHeader.setLimit(MAX_UNAUTHENTICATED_BYTES);
    bigHeader.push(prefix(100 * 1024, []));
    assert.throws(() => bigHeader.next(), ProtocolError);

    // The limit counts every batch: two that fit alone may not fit together.
    const msg = { op: "free-keys", keys: ["x".repeat(40 * 1024)] } as Message;
    const one = Buffer.concat(encodeBatch([msg]));
    const twice = new BatchDecoder();
    twice.setLimit(MAX_UNAUTHENTICATED_BYTES);
    twice.push(one);
    assert.ok(twice.next());
    twice.push(one);
    assert.throws(() => twice.next(), ProtocolError);

    const lifted = new BatchDecoder();
    lifted.setLimit(MAX_UNAUTHENTICATED_BYTES);
    lifted.push(one);
    assert.ok(lifted.next());
    lifted.setLimit(Infinity);
    lifted.push(one);
    lifted.push(one);
    assert.ok(lifted.next());
    assert.ok(lifted.next());
  });

  test("listen - a stranger announcing two 1 GiB frames before its hello is closed at once", async () => {
    const l = await listen({ token: "secret", onConnection: () => assert.fail("nothing is accepted") });
    listeners.push(l);
    const s = await rawSocket(l.address);
    const closed = whenClosed(s);
    const t0 = Date.now();
    s.write(prefix(16, [2 ** 30, 2 ** 30]));
    // It would take a 2 GiB body; it is dropped on the announcement alone.
    await closed;
    assert.ok(Date.now() - t0 < 5_000);
  });

  test("listen - a hello followed by more is fine: the limit ends with the handshake", async () => {
    let got = 0;
    const l = await listen({ token: "secret", onConnection: (c) => (c.onMessage = () => got++) });
    listeners.push(l);
    const s = await rawSocket(l.address);
    s.on("data", () => {});
    const hello = encodeBatch([{ op: "hello", token: "secret", role: "client", version: PROTOCOL_VERSION }]);
    // One write: the hello and 1 MiB right behind it.
    s.write(Buffer.concat([...hello, ...encodeBatch([bulk(new Uint8Array(MiB))])]));
    await waitFor(() => got === 1, "the message after the hello");
    s.destroy();
  });

  test("listen - beyond maxUnauthenticated, connections are closed at once; the others wait for their timeout; then a client gets in", async () => {
    const l = await listen({ token: "secret", maxUnauthenticated: 3, handshakeTimeoutMs: 1500, onConnection: (c) => (c.onRequest = () => "ok") });
    listeners.push(l);
    const sockets = await Promise.all(Array.from({ length: 5 }, () => rawSocket(l.address)));
    const t0 = Date.now();
    const closedAt = sockets.map(whenClosed);
    const early = await Promise.all(closedAt.map((p) => Promise.race([p, new Promise<null>((r) => setTimeout(() => r(null), 700))])));
    assert.equal(early.filter((t) => t !== null).length, 2, "the 4th and 5th are closed at once");
    // Meanwhile a client's connection is refused too; it tries again until the strangers' time is up.
    const client = await connect(l.address, { token: "secret", role: "client", timeoutMs: 10_000 });
    assert.ok(Date.now() - t0 >= 1000, "it got in only once the strangers were dropped");
    assert.equal(await client.request({ op: "get-data", keys: [] }), "ok");
    for (const t of await Promise.all(closedAt)) assert.ok(t - t0 < 5_000);
    client.close();
  });

  test("listen - the cap holds for TLS listeners too, counting connections still in their TLS handshake", { skip: NO_OPENSSL }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "troupe-tls-"));
    try {
      const pem = makePki(dir, "ours", ["127.0.0.1"]);
      const tls: TlsOptions = { cert: pem.cert, key: pem.key, ca: pem.ca };
      const l = await listen({ token: "secret", tls, maxUnauthenticated: 2, handshakeTimeoutMs: 1000, onConnection: (c) => (c.onRequest = () => "ok") });
      listeners.push(l);
      // Plain TCP sockets that never start TLS.
      const sockets = await Promise.all(Array.from({ length: 4 }, () => rawSocket(l.address)));
      const t0 = Date.now();
      const closedAt = await Promise.all(sockets.map(whenClosed));
      assert.equal(closedAt.filter((t) => t - t0 < 500).length, 2, "two refused at once");
      assert.ok(closedAt.every((t) => t - t0 < 4_000), "the others dropped at the handshake timeout");
      const client = await connect(l.address, { token: "secret", role: "client", tls });
      assert.equal(await client.request({ op: "get-data", keys: [] }), "ok");
      client.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a busy caller", () => {
  test("connect - a caller that blocks its event loop past the listener's handshake timeout still connects, even without retries", async () => {
    const l = await listen({ token: "secret", handshakeTimeoutMs: 200, onConnection: (c) => (c.onRequest = () => "ok") });
    listeners.push(l);
    const connecting = connect(l.address, { token: "secret", role: "client", timeoutMs: 1000, retry: false });
    blockFor(1500); // past both the listener's 200 ms and this side's own 1 s
    const conn = await connecting;
    assert.equal(await conn.request({ op: "get-data", keys: [] }), "ok");
    conn.close();
  });

  test("pool - requests made just before the caller blocks are all answered, in order", async () => {
    const l = await listen({ token: "secret", handshakeTimeoutMs: 200, onConnection: (c) => (c.onRequest = (m) => (m as unknown as { keys: string[] }).keys[0]) });
    listeners.push(l);
    const pool = new WorkerPool({ token: "secret", connectTimeoutMs: 1000, role: "client" });
    try {
      const replies = Array.from({ length: 100 }, (_, i) => pool.request(l.address, { op: "get-data", keys: [String(i)] }));
      blockFor(1500);
      assert.deepEqual(await Promise.all(replies), Array.from({ length: 100 }, (_, i) => String(i)));
    } finally {
      await pool.close();
    }
  });
});
