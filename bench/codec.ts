// npm run bench:codec: the codec that carries troupe's message batches, against
// the alternatives, on batches shaped like the ones a map and pipelined actor
// calls send. Candidates that are not installed are skipped; to compare them:
//   npm install --no-save @msgpack/msgpack notepack.io cbor-x
// Prints one JSON line per codec and batch, then a table (µs per batch, bytes).

import { deserialize as v8Decode, serialize as v8Encode } from "node:v8";
import { Packr } from "msgpackr";

interface Codec {
  name: string;
  encode(v: unknown): Uint8Array;
  decode(b: Uint8Array): unknown;
  /** False when it cannot carry bytes (the batch is skipped). */
  binary: boolean;
}

const hex = (i: number) => i.toString(16).padStart(16, "0");
const N = 256;
const keys = Array.from({ length: N }, (_, i) => `noop-${hex(i * 7919)}`);
const smallArgs = Array.from({ length: N }, (_, i) => new Uint8Array([0x91, 0xcd, i & 0xff]));

/** Batches as the connection layer hands them to the codec (an array of entries). */
const BATCHES: Array<{ name: string; entries: unknown[]; binary: boolean }> = [
  {
    name: "compute-tasks, 256 tasks",
    binary: true,
    entries: [{ op: "compute-tasks", fn: 8, keys, args: smallArgs, priority: keys.map(() => 0) }],
  },
  {
    name: "tasks-finished, 256 tasks",
    binary: false,
    entries: [{ op: "tasks-finished", keys, nbytes: keys.map((_, i) => 8 + (i % 5)), durationMs: keys.map((_, i) => 0.013 + i / 1e5) }],
  },
  {
    name: "actor-calls group, 256 calls",
    binary: false,
    entries: [[1001, N], { op: "actor-calls", key: "Counter-0123456789abcdef", names: keys.map(() => "increment"), gets: [], args: keys.map(() => 0) }],
  },
  {
    name: "256 replies",
    binary: true,
    entries: keys.flatMap((_, i) => [-(1001 + i), new Uint8Array([0xcd, i, 1])]),
  },
  {
    name: "256 key-state messages",
    binary: false,
    entries: keys.map((key) => ({ op: "key-state", key, status: "finished", workers: ["tcp://127.0.0.1:40123"], nbytes: 9 })),
  },
];

async function codecs(): Promise<Codec[]> {
  const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
  const out: Codec[] = [
    { name: "msgpackr (troupe's)", encode: (v) => packr.pack(v), decode: (b) => packr.unpack(b), binary: true },
    { name: "v8.serialize", encode: (v) => v8Encode(v), decode: (b) => v8Decode(b), binary: true },
    { name: "JSON", encode: (v) => Buffer.from(JSON.stringify(v)), decode: (b) => JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString()), binary: false },
  ];
  const optional: Array<[string, (m: any) => Codec]> = [
    ["@msgpack/msgpack", (m) => ({ name: "@msgpack/msgpack", encode: (v) => m.encode(v), decode: (b) => m.decode(b), binary: true })],
    ["notepack.io", (m) => ({ name: "notepack.io", encode: (v) => (m.default ?? m).encode(v), decode: (b) => (m.default ?? m).decode(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), binary: true })],
    [
      "cbor-x",
      (m) => {
        const enc = new m.Encoder({ useRecords: false, mapsAsObjects: true });
        return { name: "cbor-x", encode: (v) => enc.encode(v), decode: (b) => enc.decode(b), binary: true };
      },
    ],
  ];
  for (const [pkg, make] of optional) {
    try {
      out.push(make(await import(pkg)));
    } catch {
      console.error(`${pkg}: not installed, skipped (npm install --no-save ${pkg})`);
    }
  }
  return out;
}

/** Bytes as plain arrays (Buffer or Uint8Array alike), for comparing what came back with what went in. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Median over 5 runs of the µs one call of `fn` takes, each run long enough to time. */
function time(fn: () => unknown): number {
  for (let i = 0; i < 2000; i++) fn();
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const n = 2000;
    const t = performance.now();
    for (let i = 0; i < n; i++) fn();
    runs.push(((performance.now() - t) * 1000) / n);
  }
  return runs.sort((a, b) => a - b)[2]!;
}

const rows: string[][] = [];
for (const codec of await codecs()) {
  for (const batch of BATCHES) {
    if (batch.binary && !codec.binary) continue;
    const bytes = codec.encode(batch.entries);
    // Check the round trip before timing it.
    if (JSON.stringify(plain(codec.decode(bytes))) !== JSON.stringify(plain(batch.entries))) throw new Error(`${codec.name} does not round-trip "${batch.name}"`);
    const enc = time(() => codec.encode(batch.entries));
    const dec = time(() => codec.decode(bytes));
    console.log(JSON.stringify({ codec: codec.name, batch: batch.name, encodeUs: +enc.toFixed(2), decodeUs: +dec.toFixed(2), bytes: bytes.byteLength }));
    rows.push([codec.name, batch.name, enc.toFixed(1), dec.toFixed(1), String(bytes.byteLength)]);
  }
}

console.log();
const head = ["codec", "batch", "encode µs", "decode µs", "bytes"];
const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
for (const r of [head, ...rows]) console.log(r.map((c, i) => (i < 2 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join("  "));
