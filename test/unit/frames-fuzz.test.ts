import { test } from "node:test";
import assert from "node:assert/strict";
import { BatchDecoder, decodeBatches, encodeBatch, MAX_HEADER_BYTES, Payload, type WireEntry } from "../../src/comm/index.js";
import { ProtocolError } from "../../src/errors.js";
import type { Message } from "../../src/protocol/messages.js";
import { mulberry32 } from "../helpers/prng.js";

function concat(chunks: Uint8Array[]): Uint8Array {
  return Buffer.concat(chunks);
}

function sampleBatch(rnd: () => number): WireEntry[] {
  const n = 1 + Math.floor(rnd() * 5);
  const out: WireEntry[] = [];
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.3) out.push({ op: "release-keys", keys: [`k${Math.floor(rnd() * 100)}`] });
    else if (r < 0.5) out.push(1 + Math.floor(rnd() * 1000), { op: "get-data", keys: ["a", "b"] });
    else if (r < 0.7) {
      const big = new Uint8Array(rnd() < 0.3 ? 70_000 : 10).fill(Math.floor(rnd() * 256));
      out.push({ op: "put-data", data: { x: new Payload([new Uint8Array([1, 2]), big]) }, report: true });
    } else if (r < 0.78) out.push(-(1 + Math.floor(rnd() * 50)), { v: rnd() });
    else if (r < 0.82) out.push(-3, rnd() < 0.5 ? 42 : { op: "get-data", keys: [] }); // a reply's value may look like anything
    else if (r < 0.85) out.push([1 + Math.floor(rnd() * 1000), 2], { op: "actor-calls", key: "a", names: ["m", "n"], gets: [1], args: [0, 0] });
    else out.push({ op: "reply", rid: 7, ok: false, error: { name: "CommError", message: "x", stack: "" } });
  }
  return out;
}

/** Feed bytes in random-sized chunks; return batches decoded or the ProtocolError. Any other throw fails the test. */
function drive(bytes: Uint8Array, rnd: () => number): { batches: WireEntry[][]; error: ProtocolError | null } {
  const d = new BatchDecoder();
  const batches: WireEntry[][] = [];
  let at = 0;
  try {
    while (at < bytes.length) {
      const n = 1 + Math.floor(rnd() * Math.min(bytes.length - at, rnd() < 0.5 ? 16 : 4096));
      d.push(bytes.subarray(at, at + n));
      at += n;
      for (let b = d.next(); b !== null; b = d.next()) batches.push(b);
    }
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw new Error(`decoder threw a non-protocol error: ${String(err)}`, { cause: err });
    return { batches, error: err };
  }
  return { batches, error: null };
}

test("frames - encode/decode round trip, split across chunks at every size", () => {
  const rnd = mulberry32(1);
  for (let i = 0; i < 200; i++) {
    const entries = [sampleBatch(rnd), sampleBatch(rnd), sampleBatch(rnd)];
    const bytes = concat(entries.flatMap((e) => encodeBatch(e)));
    const { batches, error } = drive(bytes, rnd);
    assert.equal(error, null);
    assert.equal(batches.length, 3);
    for (let k = 0; k < 3; k++) assert.deepEqual(normalize(batches[k]), normalize(entries[k]));
  }
  // One byte at a time.
  const one = concat(encodeBatch([{ op: "free-keys", keys: ["a"] }, 3, { op: "get-data", keys: [] }]));
  const d = new BatchDecoder();
  const got: WireEntry[][] = [];
  for (const byte of one) {
    d.push(Uint8Array.of(byte));
    for (let b = d.next(); b !== null; b = d.next()) got.push(b);
  }
  assert.deepEqual(got, [[{ op: "free-keys", keys: ["a"] }, 3, { op: "get-data", keys: [] }]]);
});

test("frames - a large body is read straight into its own memory, whatever mix of chunks and direct reads brings it", () => {
  const rnd = mulberry32(3);
  for (let round = 0; round < 50; round++) {
    const big = new Uint8Array(200_000 + Math.floor(rnd() * 100_000)).map((_, i) => (i * 7 + round) & 0xff);
    const keys = Array.from({ length: 3000 }, (_, i) => `key-${round}-${i}`); // a header above the threshold too
    const batches: WireEntry[][] = [
      [{ op: "free-keys", keys: ["before"] }],
      [{ op: "release-keys", keys }, { op: "put-data", data: { x: new Payload([Uint8Array.of(1), big, big.subarray(7, 70_007)]) }, report: true }],
      [{ op: "free-keys", keys: ["after"] }],
      [{ op: "put-data", data: { y: new Payload([Uint8Array.of(2), big.subarray(1)]) }, report: false }],
    ];
    const bytes = concat(batches.flatMap((b) => encodeBatch(b)));
    const d = new BatchDecoder();
    const got: WireEntry[][] = [];
    const targets: Uint8Array[] = [];
    let direct = 0;
    for (let at = 0; at < bytes.length; ) {
      const target = d.readTarget();
      const n = Math.min(bytes.length - at, 1 + Math.floor(rnd() * (rnd() < 0.5 ? 100 : 70_000)));
      if (target !== null && rnd() < 0.8) {
        // A read never goes past the body: the socket reads at most the target's length.
        const k = Math.min(n, target.byteLength);
        target.set(bytes.subarray(at, at + k));
        targets.push(target);
        d.wrote(k);
        direct += k;
        at += k;
      } else {
        d.push(bytes.subarray(at, at + n));
        at += n;
      }
      for (let b = d.next(); b !== null; b = d.next()) got.push(b);
    }
    assert.equal(d.pendingBytes, 0);
    assert.equal(d.readTarget(), null, "nothing to read into between batches");
    assert.deepEqual(normalize(got), normalize(batches));
    assert.ok(direct > 0, "some bytes went straight into a body");
    // Bytes read directly are the decoded part itself, not a copy of it.
    const part = (got[1]![1] as { data: { x: Payload } }).data.x.parts[1]!;
    assert.ok(targets.some((t) => t.buffer === part.buffer), "the large part was filled in place");
  }
  assert.equal(new BatchDecoder().readTarget(), null);
  assert.throws(() => new BatchDecoder().wrote(1), /without a matching readTarget/);
});

test("frames - a peer under a limit is never read into memory of this side's choosing; once lifted, it is", () => {
  const big = new Uint8Array(300_000).fill(9);
  const bytes = concat(encodeBatch([{ op: "put-data", data: { x: new Payload([Uint8Array.of(1), big]) }, report: true }]));
  const d = new BatchDecoder();
  d.setLimit(1024 * 1024, "before the handshake");
  for (let at = 0; at < bytes.length - 1000; at += 1000) {
    d.push(bytes.subarray(at, at + 1000));
    assert.equal(d.next(), null);
    assert.equal(d.readTarget(), null, `a read target at byte ${at}`);
  }
  d.setLimit(Infinity);
  const target = d.readTarget();
  assert.ok(target !== null && target.byteLength > 0 && target.byteLength < 1000, "the rest of the body, and no more");
  target.set(bytes.subarray(bytes.length - target.byteLength));
  d.wrote(target.byteLength);
  const [msg] = d.next()!;
  assert.deepEqual(normalize((msg as { data: { x: Payload } }).data.x), normalize(new Payload([Uint8Array.of(1), big])));
});

test("frames - a decoder dropped mid-body offers nothing more to read into", () => {
  const bytes = concat(encodeBatch([{ op: "put-data", data: { x: new Payload([Uint8Array.of(1), new Uint8Array(500_000)]) }, report: true }]));
  const d = new BatchDecoder();
  d.push(bytes.subarray(0, 100_000));
  assert.equal(d.next(), null);
  const target = d.readTarget();
  assert.ok(target !== null);
  d.wrote(target.byteLength >> 1);
  d.discard();
  assert.equal(d.readTarget(), null);
  assert.throws(() => d.wrote(1), /without a matching readTarget/);
  assert.throws(() => d.next(), ProtocolError);
});

/** Payload parts become Buffers on decode; compare bytes only. */
function normalize(v: unknown): unknown {
  if (v instanceof Payload) return { payload: v.parts.map((p) => Buffer.from(p).toString("hex")) };
  if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

test("frames - hand-written frames: limits and malformed headers are protocol errors", () => {
  const u32 = (...xs: number[]) => {
    const b = Buffer.alloc(4 * xs.length);
    xs.forEach((x, i) => b.writeUInt32LE(x, 4 * i));
    return b;
  };
  const cases: [string, Uint8Array][] = [
    ["empty header", u32(0, 0)],
    ["header over the limit", u32(MAX_HEADER_BYTES + 1, 0)],
    ["too many out-of-band frames", u32(10, 1_000_000)],
    ["oob frame over the limit", u32(1, 1, 0xffffffff)],
    ["header not an array", Buffer.concat([u32(1, 0), Buffer.from([0x2a])])],
    ["entry not an object", Buffer.concat([u32(2, 0), Buffer.from([0x91, 0xc0])])],
    ["unknown op", concat(encodeBatch([{ op: "launch-missiles" } as unknown as Message]))],
    ["reply without rid", concat(encodeBatch([{ op: "reply", ok: true } as unknown as Message]))],
    ["request id without message", concat(encodeBatch([5]))],
    ["request group without message", concat(encodeBatch([[4, 2]]))],
    ["request group of zero", concat(encodeBatch([[4, 0], { op: "actor-calls", key: "a", names: [], gets: [], args: [] }]))],
    ["request group too large", concat(encodeBatch([[4, 1e6], { op: "actor-calls", key: "a", names: [], gets: [], args: [] }]))],
    ["request group of an unknown op", concat(encodeBatch([[4, 2], { op: "no-such-op", keys: [] }]))],
    ["request group of three numbers", concat(encodeBatch([[4, 2, 1], { op: "actor-calls", key: "a", names: [], gets: [], args: [] }]))],
    ["request group followed by a reply", concat(encodeBatch([[4, 2], { op: "reply", rid: 1, ok: false, error: { name: "E", message: "m", stack: "" } }]))],
    ["reply id without value", concat(encodeBatch([{ op: "free-keys", keys: [] }, -5]))],
    ["request id zero", concat(encodeBatch([0, { op: "get-data", keys: [] }]))],
    ["successful reply as an object", concat(encodeBatch([{ op: "reply", rid: 2, ok: true, value: 1 } as unknown as Message]))],
    ["nesting deep enough to overflow the stack", Buffer.concat([u32(200_000, 0), Buffer.alloc(200_000, 0x91)])],
    ["array claiming 4 billion entries", Buffer.concat([u32(5, 0), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])])],
    ["bad payload index", (() => {
      // A Payload ext whose part is index 3, with no out-of-band frames.
      const ok = Buffer.from(concat(encodeBatch([{ op: "put-data", data: { k: new Payload([new Uint8Array(70_000)]) }, report: false }])));
      ok.writeUInt32LE(0, 4); // claim no oob frames: the index now points nowhere
      const headerLen = ok.readUInt32LE(0);
      return Buffer.concat([ok.subarray(0, 8), ok.subarray(12, 12 + headerLen)]);
    })()],
  ];
  for (const [name, bytes] of cases) {
    assert.throws(() => decodeBatches(bytes), ProtocolError, name);
  }
  // After a failure the decoder stays failed.
  const d = new BatchDecoder();
  d.push(u32(0, 0));
  assert.throws(() => d.next(), ProtocolError);
  assert.throws(() => d.next(), ProtocolError);
});

test("frames - seeded fuzz: random, truncated and corrupted frames never throw anything but ProtocolError", () => {
  const rnd = mulberry32(0xc0ffee);
  let decoded = 0;
  let rejected = 0;
  let incomplete = 0;
  const valid = Array.from({ length: 50 }, () => concat(encodeBatch(sampleBatch(rnd))));
  for (let i = 0; i < 6000; i++) {
    let bytes: Uint8Array;
    const kind = i % 4;
    if (kind === 0) {
      // Pure noise, sometimes behind a plausible small prefix.
      const n = Math.floor(rnd() * 200);
      const b = Buffer.alloc(8 + n);
      for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
      if (rnd() < 0.7) {
        b.writeUInt32LE(n, 0);
        b.writeUInt32LE(0, 4);
      }
      bytes = b;
    } else if (kind === 1) {
      // A valid batch cut short.
      const v = valid[Math.floor(rnd() * valid.length)];
      bytes = v.subarray(0, Math.floor(rnd() * v.length));
    } else if (kind === 2) {
      // A valid batch with a few bytes flipped.
      const v = Buffer.from(valid[Math.floor(rnd() * valid.length)]);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let f = 0; f < flips; f++) v[Math.floor(rnd() * v.length)] = Math.floor(rnd() * 256);
      bytes = v;
    } else {
      // A valid batch followed by noise.
      const v = valid[Math.floor(rnd() * valid.length)];
      const noise = Buffer.alloc(Math.floor(rnd() * 64));
      for (let k = 0; k < noise.length; k++) noise[k] = Math.floor(rnd() * 256);
      bytes = Buffer.concat([v, noise]);
    }
    const { batches, error } = drive(bytes, rnd);
    for (const b of batches) assert.ok(Array.isArray(b));
    if (error) rejected++;
    else if (batches.length > 0) decoded++;
    else incomplete++;
  }
  // Failed decodes leave no state behind in the shared codec.
  const again = sampleBatch(rnd);
  assert.deepEqual(normalize(decodeBatches(concat(encodeBatch(again))).batches[0]), normalize(again));
  // The corpus exercises every outcome.
  assert.ok(decoded > 100, `decoded ${decoded}`);
  assert.ok(rejected > 100, `rejected ${rejected}`);
  assert.ok(incomplete > 100, `incomplete ${incomplete}`);
});
