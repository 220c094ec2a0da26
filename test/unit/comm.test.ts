import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BatchDecoder,
  connect,
  connectionPair,
  encodeBatch,
  formatAddress,
  listen,
  OOB_THRESHOLD_BYTES,
  parseAddress,
  Payload,
  type Connection,
  type Listener,
  type ReplyHandler,
  type TlsOptions,
} from "../../src/comm/index.js";
import { AuthError, CancelledError, CommError, ConfigError, RemoteError, TimeoutError } from "../../src/errors.js";
import { PROTOCOL_VERSION, type Message } from "../../src/protocol/messages.js";
import { WireConnection } from "../../src/comm/connection.js";
import { directReads, socketTransport } from "../../src/comm/transport.js";
import { waitFor } from "../helpers/cluster.js";
import { PendingReplies } from "../../src/comm/pending.js";
import { makePki, NO_OPENSSL, type Pem } from "../helpers/pki.js";
import { unusedAddress } from "../helpers/ports.js";
import { checkRequestGroups } from "../helpers/request-groups.js";

/** A request to a test server whose replies are not troupe's: typed by what the test server answers. */
function ask<T>(conn: Connection, msg: Message): Promise<T> {
  return conn.request(msg) as Promise<unknown> as Promise<T>;
}

const listeners: Listener[] = [];
after(async () => {
  await Promise.all(listeners.map((l) => l.close()));
});

/** A listener whose connections answer requests with `handler` and record one-way messages. */
async function server(opts: { token?: string; handler?: (msg: Message, conn: Connection) => unknown; handshakeTimeoutMs?: number; tls?: TlsOptions } = {}) {
  const accepted: Connection[] = [];
  const messages: Message[] = [];
  const l = await listen({
    token: opts.token ?? "secret",
    handshakeTimeoutMs: opts.handshakeTimeoutMs,
    tls: opts.tls,
    onConnection: (conn) => {
      accepted.push(conn);
      conn.onRequest = (msg) => (opts.handler ? opts.handler(msg, conn) : msg);
      conn.onMessage = (msg) => messages.push(msg);
    },
  });
  listeners.push(l);
  return { listener: l, accepted, messages };
}

function rawSocket(address: string): Promise<net.Socket> {
  const { host, port } = parseAddress(address);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => resolve(s));
    s.once("error", reject);
  });
}

const socketClosed = (s: net.Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once("close", () => resolve())));

test("comm - parseAddress accepts tcp, tls, bare and IPv6 forms", () => {
  assert.deepEqual(parseAddress("tcp://10.0.0.5:8786"), { scheme: "tcp", host: "10.0.0.5", port: 8786 });
  assert.deepEqual(parseAddress("tls://sched.example:1"), { scheme: "tls", host: "sched.example", port: 1 });
  assert.deepEqual(parseAddress("localhost:0"), { scheme: "tcp", host: "localhost", port: 0 });
  assert.deepEqual(parseAddress("[::1]:8786"), { scheme: "tcp", host: "::1", port: 8786 });
  assert.deepEqual(parseAddress("tls://[fe80::1]:9"), { scheme: "tls", host: "fe80::1", port: 9 });
  for (const bad of ["", "nohost", "tcp://:80", "http://a:1", "a:65536", "a:-1", "a:x", "::1:80", "[::1]80", "tcp://a b:1"]) {
    assert.throws(() => parseAddress(bad), ConfigError, bad);
  }
  assert.match((() => { try { parseAddress("::1:80"); } catch (e) { return (e as Error).message; } return ""; })(), /brackets/);
  assert.equal(formatAddress("tcp", "::1", 5), "tcp://[::1]:5");
  assert.equal(formatAddress("tls", "h", 5), "tls://h:5");
});

test("comm - handshake with the right token, then request/reply both ways", async () => {
  const { listener, accepted } = await server({ handler: (msg) => ({ got: msg.op }) });
  assert.match(listener.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  const conn = await connect(listener.address, { token: "secret", role: "worker" });
  conn.onRequest = (msg) => `client saw ${msg.op}`;
  assert.equal(conn.isOpen, true);
  assert.deepEqual(await conn.request({ op: "get-data", keys: ["a"] }), { got: "get-data" });
  assert.equal(accepted.length, 1);
  assert.equal(accepted[0].role, "worker");
  assert.equal(await accepted[0].request({ op: "free-keys", keys: [] }), "client saw free-keys");
  conn.close();
  await conn.closed;
  assert.equal(conn.isOpen, false);
});

test("comm - a reply's value comes back as it was, whatever it looks like; a failing handler rejects", async () => {
  const values: unknown[] = [0, -7, 3.5, null, "s", [1, [2]], { op: "free-keys", keys: ["looks like a message"] }, { op: "reply", rid: 1 }, new Uint8Array([1, 2])];
  const { listener } = await server({
    handler: (msg) => {
      const i = Number((msg as { keys: string[] }).keys[0]);
      if (i === -1) throw new RangeError("no such value");
      return values[i];
    },
  });
  const conn = await connect(listener.address, { token: "secret", role: "client" });
  const replies = await Promise.all(values.map((_, i) => conn.request({ op: "who-has", keys: [String(i)] })));
  assert.deepEqual(replies.slice(0, -1), values.slice(0, -1));
  assert.deepEqual([...(replies.at(-1) as unknown as Uint8Array)], [1, 2]);
  await assert.rejects(conn.request({ op: "who-has", keys: ["-1"] }), (err: Error) => err instanceof RemoteError && /no such value/.test(err.message));
  assert.equal(conn.isOpen, true);
  conn.close();
});

test("comm - a request group: each outcome reaches its own handler, a slow one holds up no other", async () => {
  const { listener, accepted } = await server();
  const conn = await connect(listener.address, { token: "secret", role: "client" });
  while (accepted.length === 0) await new Promise((r) => setTimeout(r, 2));
  await checkRequestGroups(conn, accepted[0]!);
});

test("comm - entries that encode alone but not together leave in separate batches", () => {
  const writes: number[] = [];
  // Like every transport, it reports its close once it has ended.
  const transport = {
    peer: "fake",
    write: (chunks: Uint8Array[]) => writes.push(chunks.length) > 0,
    bufferedBytes: 0,
    end: () => transport.onClose("ended"),
    destroy() {},
    onData(_chunk: Uint8Array) {},
    readTarget: () => null,
    onDataInto(_n: number) {},
    onDrain() {},
    onClose(_reason: string) {},
  };
  const conn = new WireConnection(transport);
  // Each message carries 40,000 out-of-band parts: one batch may carry 65,536.
  const block = new Uint8Array(OOB_THRESHOLD_BYTES);
  const parts = Array.from({ length: 40_000 }, () => block);
  conn.send({ op: "put-data", data: { a: new Payload(parts) }, report: false });
  conn.send({ op: "put-data", data: { b: new Payload(parts) }, report: false });
  conn.close(); // writes what is queued
  assert.deepEqual(writes, [40_001, 40_001]);
});

test("comm - wrong or missing token is refused with AuthError on the connecting side", async () => {
  const { listener, accepted } = await server();
  await assert.rejects(connect(listener.address, { token: "nope", role: "client" }), (err: Error) => {
    assert.ok(err instanceof AuthError);
    assert.match(err.message, /refused: wrong or missing token/);
    return true;
  });
  await assert.rejects(connect(listener.address, { token: "", role: "client" }), AuthError);
  assert.equal(accepted.length, 0);
});

test("comm - a peer that sends no hello is dropped after the handshake timeout", async () => {
  const { listener, accepted } = await server({ handshakeTimeoutMs: 100 });
  const s = await rawSocket(listener.address);
  s.on("data", () => {});
  const t0 = Date.now();
  await socketClosed(s);
  assert.ok(Date.now() - t0 >= 50);
  assert.equal(accepted.length, 0);
});

test("comm - a peer whose first message is not hello is dropped", async () => {
  const { listener, accepted } = await server();
  const s = await rawSocket(listener.address);
  s.on("data", () => {});
  for (const c of encodeBatch([{ op: "free-keys", keys: ["x"] }])) s.write(c);
  await socketClosed(s);
  assert.equal(accepted.length, 0);
});

test("comm - error replies map to troupe error classes, else RemoteError", async () => {
  const { listener } = await server({
    handler: (msg) => {
      const keys = (msg as { keys: string[] }).keys;
      if (keys[0] === "cancelled") throw new CancelledError("it was cancelled");
      if (keys[0] === "type") throw new TypeError("bad type");
      if (keys[0] === "async") return Promise.reject(new RangeError("too far"));
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- a thrown non-Error is the case under test
      if (keys[0] === "string") throw "just a string";
      return Promise.resolve("fine");
    },
  });
  const conn = await connect(listener.address, { token: "secret", role: "client" });
  const req = (k: string) => conn.request({ op: "get-data", keys: [k] });
  await assert.rejects(req("cancelled"), (err: Error) => {
    assert.ok(err instanceof CancelledError);
    assert.equal(err.message, "it was cancelled");
    assert.match(err.stack ?? "", /CancelledError: it was cancelled/);
    return true;
  });
  await assert.rejects(req("type"), (err: Error) => {
    assert.ok(err instanceof RemoteError);
    assert.equal(err.name, "TypeError");
    assert.equal((err as RemoteError).remoteName, "TypeError");
    assert.equal(err.message, "bad type");
    return true;
  });
  await assert.rejects(req("async"), (err: Error) => err instanceof RemoteError && err.name === "RangeError");
  await assert.rejects(req("string"), (err: Error) => err instanceof RemoteError && err.message === "just a string");
  assert.equal(await req("ok"), "fine");
  conn.close();
});

test("comm - 10,000 pipelined requests resolve in order, onRequest sees no internal fields", async () => {
  const seen: number[] = [];
  let leaked = false;
  const { listener } = await server({
    handler: (msg) => {
      const m = msg as { op: string; keys: string[] } & Record<string, unknown>;
      if (Object.keys(m).some((k) => k !== "op" && k !== "keys")) leaked = true;
      seen.push(Number(m.keys[0]));
      return Number(m.keys[0]) * 2;
    },
  });
  const conn = await connect(listener.address, { token: "secret", role: "client" });
  const order: number[] = [];
  const ps: Promise<unknown>[] = [];
  for (let i = 0; i < 10_000; i++) {
    ps.push(
      ask<number>(conn, { op: "get-data", keys: [String(i)] }).then((v) => {
        assert.equal(v, i * 2);
        order.push(i);
      }),
    );
  }
  await Promise.all(ps);
  assert.deepEqual(seen, Array.from({ length: 10_000 }, (_, i) => i));
  assert.deepEqual(order, seen);
  assert.equal(leaked, false);
  conn.close();
});

test("comm - a 10 MB Payload part round-trips byte-exact, out of band", async () => {
  const { listener } = await server({ handler: (msg) => ({ data: { k: (msg as { data: Record<string, Payload> }).data.k }, missing: [] }) });
  const conn = await connect(listener.address, { token: "secret", role: "client" });
  const big = new Uint8Array(10 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >>> 13)) & 0xff;
  const small = new Uint8Array([1, 2, 3]);
  const chunks = encodeBatch([{ op: "put-data", data: { k: new Payload([small, big]) }, report: false }]);
  assert.equal(chunks.length, 2, "the large part is its own frame");
  assert.equal(chunks[1], big, "the large part is not copied");
  assert.ok(chunks[0].byteLength < 1000);
  const reply = await ask<{ data: Record<string, Payload> }>(conn, { op: "put-data", data: { k: new Payload([small, big]) }, report: false });
  const p = reply.data.k;
  assert.ok(p instanceof Payload);
  assert.equal(p.parts.length, 2);
  assert.deepEqual([...p.parts[0]], [1, 2, 3]);
  assert.equal(p.parts[1].byteLength, big.byteLength);
  assert.ok(Buffer.from(p.parts[1].buffer, p.parts[1].byteOffset, p.parts[1].byteLength).equals(big));
  conn.close();
});

test("comm - a connecting socket's reads: each chunk keeps its bytes as later reads arrive, and a frame's rest is read in place", async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const reads = directReads();
  const socket = net.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, onread: reads.onread });
  try {
    await new Promise((r) => socket.once("connect", r));
    const t = socketTransport(socket, reads);
    const peer = await accepted;
    const chunks: string[] = [];
    const views: Uint8Array[] = [];
    t.onData = (c) => {
      views.push(c);
      chunks.push(Buffer.from(c).toString());
    };
    peer.write("first");
    await waitFor(() => chunks.length === 1, "the first chunk");
    // From the read after next on, bytes go into the frame (the socket asks for a target after each read).
    const frame = new Uint8Array(3_000_000);
    let into = 0;
    let direct = 0;
    t.readTarget = () => (into < frame.length ? frame.subarray(into) : null);
    t.onDataInto = (n) => {
      into += n;
      direct++;
    };
    peer.write("later");
    await waitFor(() => chunks.length === 2, "the second chunk");
    assert.deepEqual(views.map((v) => Buffer.from(v).toString()), ["first", "later"], "a chunk is not overwritten by the next read");
    const sent = Buffer.from(Array.from({ length: frame.length }, (_, i) => (i * 13 + (i >>> 9)) & 0xff));
    // Many writes: the frame arrives in many reads, each into its rest.
    for (let at = 0; at < sent.length; at += 100_000) peer.write(sent.subarray(at, at + 100_000));
    peer.write("after");
    await waitFor(() => chunks.slice(2).join("") === "after", "the bytes after the frame");
    assert.equal(into, frame.length);
    assert.ok(direct > 1, "the frame came in more than one read");
    assert.ok(Buffer.from(frame).equals(sent), "the frame holds exactly the bytes sent");
    assert.deepEqual(views.slice(0, 2).map((v) => Buffer.from(v).toString()), ["first", "later"]);
    peer.destroy();
  } finally {
    socket.destroy();
    server.close();
  }
});

test("comm - a peer that closes in the middle of a large reply fails the request with CommError, and the connection closes", async () => {
  // A listener speaking the wire format by hand: it welcomes, then sends 3 MB of a 10 MB reply and hangs up.
  const server = net.createServer((s) => {
    const d = new BatchDecoder();
    s.on("error", () => {});
    s.on("data", (chunk: Buffer) => {
      d.push(chunk);
      for (let b = d.next(); b !== null; b = d.next()) {
        const rid = b.find((e) => typeof e === "number");
        if ((b[0] as Message).op === "hello") s.write(Buffer.concat(encodeBatch([{ op: "welcome" }])));
        else if (typeof rid === "number") {
          const [head, body] = encodeBatch([-rid, { data: { k: new Payload([Uint8Array.of(1), new Uint8Array(10_000_000).fill(7)]) }, missing: [] }]);
          s.write(head!);
          s.end(body!.subarray(0, 3_000_000));
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const conn = await connect(formatAddress("tcp", "127.0.0.1", (server.address() as net.AddressInfo).port), { token: "t", role: "client" });
    await assert.rejects(ask(conn, { op: "get-data", keys: ["k"] }), (e: Error) => e instanceof CommError && /closed before the reply/.test(e.message));
    await conn.closed;
    assert.equal(conn.closeKind, "remote");
  } finally {
    server.close();
  }
});

test("comm - sends in one event-loop turn go out as one batch", async () => {
  const { listener, accepted, messages } = await server();
  const conn = (await connect(listener.address, { token: "secret", role: "client" })) as WireConnection;
  await new Promise((r) => setTimeout(r, 20));
  const before = conn.batchesSent;
  const serverSide = accepted[0] as WireConnection;
  const receivedBefore = serverSide.batchesReceived;
  for (let i = 0; i < 1000; i++) conn.send({ op: "release-keys", keys: [String(i)] });
  while (messages.length < 1000) await new Promise((r) => setTimeout(r, 5));
  assert.equal(conn.batchesSent - before, 1);
  assert.equal(serverSide.batchesReceived - receivedBefore, 1);
  assert.deepEqual(
    messages.map((m) => (m as { keys: string[] }).keys[0]),
    Array.from({ length: 1000 }, (_, i) => String(i)),
  );
  conn.close();
});

test("comm - a long turn writes as it goes, in order, without waiting for its end", async () => {
  const { listener } = await server();
  const conn = (await connect(listener.address, { token: "secret", role: "client" })) as WireConnection;
  await new Promise((r) => setTimeout(r, 20));
  const before = conn.batchesSent;
  const replies: Promise<unknown>[] = [];
  for (let i = 0; i < 2500; i++) replies.push(conn.request({ op: "who-has", keys: [String(i)] }));
  // Full batches left while this turn still ran (the peer could start on them); the rest goes at its end.
  const duringTurn = conn.batchesSent - before;
  assert.ok(duringTurn >= 2, `only ${duringTurn} batches were written during the turn`);
  const echoed = (await Promise.all(replies)) as Array<{ keys: string[] }>;
  assert.equal(conn.batchesSent - before, duringTurn + 1);
  assert.deepEqual(echoed.map((m) => m.keys[0]), Array.from({ length: 2500 }, (_, i) => String(i)));
  conn.close();
});

test("comm - closing rejects pending requests with CommError and resolves closed", async () => {
  const { listener, accepted } = await server({ handler: () => new Promise(() => {}) });
  const conn = await connect(listener.address, { token: "secret", role: "client" });
  const reasons: string[] = [];
  conn.onClose = (r) => reasons.push(r);
  const pending = conn.request({ op: "get-data", keys: [] });
  await new Promise((r) => setTimeout(r, 20));
  // The far side closes: our pending request fails, saying so.
  accepted[0].close("test");
  await assert.rejects(pending, (err: Error) => err instanceof CommError && /closed before the reply to "get-data"/.test(err.message));
  await conn.closed;
  assert.equal(reasons.length, 1);
  await assert.rejects(conn.request({ op: "get-data", keys: [] }), CommError);
  conn.close(); // idempotent
  // Local close rejects too.
  const conn2 = await connect(listener.address, { token: "secret", role: "client" });
  const p2 = conn2.request({ op: "get-data", keys: [] });
  conn2.close("bye");
  await assert.rejects(p2, CommError);
  await conn2.closed;
});

test("comm - request timeout rejects with TimeoutError", async () => {
  const { listener } = await server({ handler: () => new Promise(() => {}) });
  const conn = await connect(listener.address, { token: "secret", role: "client" });
  await assert.rejects(conn.request({ op: "get-data", keys: [] }, { timeoutMs: 30 }), TimeoutError);
  assert.equal(conn.isOpen, true);
  conn.close();
});

test("comm - garbage, oversized frames and unknown ops close only that connection", async () => {
  const { listener } = await server();
  const good = await connect(listener.address, { token: "secret", role: "client" });
  const inputs: Uint8Array[][] = [
    [Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
    [Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0])], // header length far above the limit
    [Buffer.from([5, 0, 0, 0, 0, 0, 0, 0, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1])], // undecodable msgpack
  ];
  // An unknown op after a valid handshake.
  const hello = encodeBatch([{ op: "hello", token: "secret", role: "client", version: PROTOCOL_VERSION }]);
  inputs.push([...hello, ...encodeBatch([{ op: "no-such-op" } as unknown as Message])]);
  inputs.push([...hello, ...encodeBatch([42 as unknown as Message])]);
  for (const chunks of inputs) {
    const s = await rawSocket(listener.address);
    s.on("data", () => {});
    for (const c of chunks) s.write(c);
    await socketClosed(s);
  }
  assert.equal(await good.request({ op: "get-data", keys: ["still"] }).then(() => "ok"), "ok");
  good.close();
});

test("comm - connect to a closed port fails with CommError within the timeout", async () => {
  const l = await listen({ token: "", onConnection: () => {} });
  const address = l.address;
  await l.close();
  const t0 = Date.now();
  await assert.rejects(connect(address, { token: "", role: "client", timeoutMs: 200 }), (err: Error) => {
    assert.ok(err instanceof CommError);
    assert.match(err.message, new RegExp(`Could not connect to ${address.replace(/[/.]/g, "\\$&")} within 200 ms`));
    return true;
  });
  assert.ok(Date.now() - t0 < 2000);
});

test("comm - with awaitListener: false a refused connection fails at once, naming the address and ECONNREFUSED", async () => {
  const address = await unusedAddress();
  const t0 = Date.now();
  await assert.rejects(connect(address, { token: "", role: "client", timeoutMs: 20_000, awaitListener: false }), (err: Error) => {
    assert.ok(err instanceof CommError);
    assert.ok(err.message.includes(address), err.message);
    assert.match(err.message, /ECONNREFUSED/);
    return true;
  });
  assert.ok(Date.now() - t0 < 10_000, "it waited for the connect timeout");
});

test("comm - by default a refused connection is retried: a listener that starts later is reached", async () => {
  const address = await unusedAddress();
  const connecting = connect(address, { token: "t", role: "worker", timeoutMs: 20_000 });
  // Nothing listens yet: the attempt above, made first, was refused too.
  await assert.rejects(connect(address, { token: "t", role: "worker", awaitListener: false }), /ECONNREFUSED/);
  const l = await listen({ port: parseAddress(address).port, token: "t", onConnection: () => {} });
  listeners.push(l);
  const conn = await connecting;
  assert.ok(conn.isOpen);
  conn.close();
});

test("comm - listening on a non-loopback host without a token needs insecure", async () => {
  await assert.rejects(listen({ host: "0.0.0.0", token: "", onConnection: () => {} }), (err: Error) => err instanceof ConfigError && /--insecure/.test(err.message));
  const l = await listen({ host: "0.0.0.0", token: "", insecure: true, onConnection: () => {} });
  await l.close();
  await assert.rejects(connect("tls://127.0.0.1:1", { token: "", role: "client" }), ConfigError);
});

test("comm - listener close closes accepted connections", async () => {
  const l = await listen({ token: "t", onConnection: (c) => (c.onRequest = () => 1) });
  const conn = await connect(l.address, { token: "t", role: "peer" });
  assert.equal(await conn.request({ op: "get-data", keys: [] }), 1);
  await l.close();
  await conn.closed;
  assert.equal(conn.isOpen, false);
});

test("comm - connectionPair has the same request, batching and close semantics", async () => {
  const [a, b] = connectionPair();
  const got: Message[] = [];
  b.onMessage = (m) => got.push(m);
  b.onRequest = (m) => {
    if ((m as { keys: string[] }).keys[0] === "fail") throw new CancelledError("no");
    return { echo: m, p: new Payload([new Uint8Array(70_000).fill(9)]) };
  };
  a.send({ op: "release-keys", keys: ["1"] });
  const r = await ask<{ echo: Message; p: Payload }>(a, { op: "get-data", keys: ["x"] });
  assert.deepEqual(r.echo, { op: "get-data", keys: ["x"] });
  assert.equal(r.p.parts[0].byteLength, 70_000);
  assert.deepEqual(got, [{ op: "release-keys", keys: ["1"] }]);
  await assert.rejects(a.request({ op: "get-data", keys: ["fail"] }), CancelledError);
  const pending = b.request({ op: "free-keys", keys: [] }); // a has no handler that answers in time
  a.onRequest = () => new Promise(() => {});
  await new Promise((r) => setTimeout(r, 5));
  a.close();
  await assert.rejects(pending, CommError);
  await Promise.all([a.closed, b.closed]);
  assert.equal(b.isOpen, false);
});

test("comm - mutual TLS: handshake and requests over tls://, untrusted client refused", { skip: NO_OPENSSL }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "troupe-tls-"));
  try {
    const ours = makePki(dir, "ours", ["127.0.0.1"]);
    const theirs = makePki(dir, "theirs", ["127.0.0.1"]);
    const opts = (pem: Pem, ca = ours.ca): TlsOptions => ({ cert: pem.cert, key: pem.key, ca });
    const { listener } = await server({ tls: opts(ours), handler: (m) => m.op });
    assert.match(listener.address, /^tls:\/\//);
    const conn = await connect(listener.address, { token: "secret", role: "client", tls: opts(ours) });
    assert.equal(await conn.request({ op: "get-data", keys: [] }), "get-data");
    conn.close();
    // A certificate from another CA is refused by the server; a client not trusting the server's CA gives up.
    await assert.rejects(connect(listener.address, { token: "secret", role: "client", tls: opts(theirs), timeoutMs: 500 }), AuthError);
    await assert.rejects(connect(listener.address, { token: "secret", role: "client", tls: opts(ours, theirs.ca), timeoutMs: 500 }), CommError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("comm - hello checks: version, role and token", async () => {
  const { checkHello, tokensMatch } = await import("../../src/comm/handshake.js");
  const hello = (o: Record<string, unknown>) => ({ op: "hello", token: "t", role: "client", version: PROTOCOL_VERSION, ...o }) as Message;
  assert.equal(checkHello(hello({}), "t"), null);
  assert.match(checkHello(hello({ version: 1 }), "t") ?? "", /protocol version 1 is not supported/);
  assert.match(checkHello(hello({ role: "admin" }), "t") ?? "", /unknown role/);
  assert.match(checkHello(hello({ token: "x" }), "t") ?? "", /wrong or missing token/);
  assert.match(checkHello(hello({ token: undefined }), "t") ?? "", /wrong or missing token/);
  assert.equal(tokensMatch("", ""), true);
  assert.equal(tokensMatch("a", "ab"), false);
});

test("comm - listening on a port already in use fails with CommError", async () => {
  const { listener } = await server();
  const { port } = parseAddress(listener.address);
  await assert.rejects(listen({ port, token: "x", onConnection: () => {} }), (err: Error) => err instanceof CommError && /Could not listen on 127\.0\.0\.1:\d+/.test(err.message));
});

test("pending replies: each request's handler is taken once, groups in any order; closing fails the rest in send order", async () => {
  const table = new PendingReplies();
  const seen: string[] = [];
  const handler = (name: string): ReplyHandler => ({ ok: () => seen.push(`ok ${name}`), fail: (e) => seen.push(`fail ${name}: ${e.message}`) });
  table.add(1, "one", handler("1"));
  table.addGroup(2, "many", [handler("2"), handler("3"), handler("4")]);
  table.add(5, "five", handler("5"));
  table.addGroup(6, "more", [handler("6"), handler("7")]);
  table.add(8, "eight", handler("8"));

  table.take(3)!.ok(undefined);
  assert.equal(table.lastOp, "many");
  table.take(7)!.ok(undefined);
  assert.equal(table.lastOp, "more");
  assert.equal(table.take(3), undefined, "a request is answered once");
  assert.equal(table.take(9), undefined, "an unknown id has no handler");
  assert.equal(table.take(0), undefined);
  table.take(5)!.ok(undefined);
  assert.equal(table.lastOp, "five");

  let expired = false;
  table.add(9, "late", handler("9"));
  table.expire(9, 1, () => (expired = true));
  for (let i = 0; i < 200 && !expired; i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(expired);
  assert.equal(table.take(9), undefined, "an expired request is gone");

  table.failAll((op) => new Error(op));
  assert.deepEqual(seen, ["ok 3", "ok 7", "ok 5", "fail 1: one", "fail 2: many", "fail 4: many", "fail 6: more", "fail 8: eight"]);
  assert.equal(table.take(1), undefined, "nothing waits after closing");
});

test("pending replies: groups that finish out of order leave the others waiting; one throwing handler does not stop a close", () => {
  const table = new PendingReplies();
  const got: number[] = [];
  const group = (first: number, n: number) => Array.from({ length: n }, (_, i): ReplyHandler => ({ ok: () => got.push(first + i), fail: () => got.push(-(first + i)) }));
  // Ids 1-3, 4-5, 6-8, 9-10: finish the third group first, then the second, then the last.
  for (const [first, n] of [[1, 3], [4, 2], [6, 3], [9, 2]] as const) table.addGroup(first, `g${first}`, group(first, n));
  for (const rid of [7, 6, 8, 5, 4, 10, 9]) table.take(rid)!.ok(undefined);
  assert.equal(table.take(6), undefined);
  // The first group still finds its handlers after every later one is gone.
  table.take(2)!.ok(undefined);
  assert.equal(table.lastOp, "g1");
  assert.deepEqual(got, [7, 6, 8, 5, 4, 10, 9, 2]);

  table.addGroup(11, "g11", [{ ok() {}, fail: () => { throw new Error("a handler that throws"); } }, ...group(12, 1)]);
  table.failAll(() => new Error("closed"));
  assert.deepEqual(got.slice(8), [-1, -3, -12], "every handler still waiting learns of the close, in send order");
});
