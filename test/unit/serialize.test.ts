import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Payload } from "../../src/protocol/payload.js";
import { ProtocolError } from "../../src/errors.js";
import type { ActorMeta } from "../../src/protocol/messages.js";
import { deserialize, LARGE_BINARY_BYTES, serialize, TO_REF, type Ref } from "../../src/serialize/index.js";

const roundTrip = <T>(v: T): T => deserialize(serialize(v).payload) as T;

class FakeFuture {
  constructor(readonly key: string) {}
  [TO_REF](): Ref {
    return { type: "future", key: this.key };
  }
}
const meta = (key: string): ActorMeta => ({ key, className: "Counter", workerAddress: "tcp://w:1", methods: ["inc"], attributes: ["n"], incarnation: 0 });
// Actor handles are Proxies whose get trap returns the TO_REF function.
function fakeHandle(key: string): object {
  return new Proxy(Object.create(null), {
    get: (_t, name) => (name === TO_REF ? () => ({ type: "actor", meta: meta(key) }) : undefined),
  });
}
class FakeActorFuture {
  constructor(
    readonly done: boolean,
    readonly value: unknown,
    readonly promise = Promise.resolve(value),
  ) {}
  [TO_REF](): Ref {
    return this.done ? { type: "inline", value: this.value } : { type: "pending", promise: this.promise };
  }
}

describe("serialize - values", () => {
  it("round trips primitives", () => {
    for (const v of [undefined, null, true, false, 0, 1, -1, 127, -128, 128, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 1.5, Infinity, -Infinity, 2 ** 60, "", "x", "héllo ✓ 😀", "a".repeat(100), "é".repeat(300), 0n, -12345678901234567890n]) {
      assert.equal(roundTrip(v), v);
    }
    assert.ok(Object.is(roundTrip(-0), -0));
    assert.ok(Number.isNaN(roundTrip(NaN)));
  });

  it("round trips containers and built-ins", () => {
    const v = {
      arr: [1, "two", [3, { four: 4 }]],
      map: new Map<unknown, unknown>([["a", 1], [{ k: 1 }, new Set([1, 2])]]),
      set: new Set(["x", 2]),
      date: new Date(1_700_000_000_000),
      re: /ab+c/gimsuy,
      nested: { deep: { deeper: [null, undefined] } },
      "weird key": 1,
      __proto__key: { ["__proto__"]: 5 },
    };
    assert.deepEqual(roundTrip(v), v);
  });

  it("densifies sparse arrays", () => {
    // eslint-disable-next-line no-sparse-arrays
    assert.deepEqual(roundTrip([1, , 3]), [1, undefined, 3]);
  });

  it("keeps null prototypes and flattens class instances to own enumerable props", () => {
    const n = Object.assign(Object.create(null), { a: 1 });
    const back = roundTrip(n);
    assert.equal(Object.getPrototypeOf(back), null);
    assert.equal(back.a, 1);
    class P {
      x = 1;
      get y() {
        return 2;
      }
    }
    const p = roundTrip(new P());
    assert.equal(Object.getPrototypeOf(p), Object.prototype);
    assert.deepEqual(p, { x: 1 });
  });

  it("keeps shared and circular references", () => {
    const shared = { s: 1 };
    const o: Record<string, unknown> = { a: shared, b: shared };
    o.self = o;
    const m = new Map<unknown, unknown>();
    m.set("m", m);
    o.m = m;
    const back = roundTrip(o) as typeof o & { a: object; b: object; m: Map<unknown, unknown> };
    assert.equal(back.a, back.b);
    assert.equal(back.self, back);
    assert.equal(back.m.get("m"), back.m);
  });

  it("round trips binary of every kind", () => {
    const buf = Buffer.from("hello");
    const back = roundTrip(buf);
    assert.ok(Buffer.isBuffer(back));
    assert.deepEqual([...back], [...buf]);
    const kinds = [new Uint8Array([1, 2]), new Int8Array([-1]), new Uint8ClampedArray([255]), new Int16Array([-2]), new Uint16Array([2]), new Int32Array([-3]), new Uint32Array([3]), new Float32Array([1.5]), new Float64Array([2.5]), new BigInt64Array([-4n]), new BigUint64Array([4n])];
    for (const k of kinds) {
      const b = roundTrip(k);
      assert.equal(b.constructor, k.constructor);
      assert.deepEqual([...(b as Iterable<unknown>)], [...(k as Iterable<unknown>)]);
    }
    const ab = new Uint8Array([9, 8]).buffer;
    const abBack = roundTrip(ab);
    assert.ok(abBack instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(abBack)], [9, 8]);
    const dv = roundTrip(new DataView(new Uint8Array([7, 6, 5]).buffer, 1, 2));
    assert.ok(dv instanceof DataView);
    assert.equal(dv.byteLength, 2);
    assert.equal(dv.getUint8(0), 6);
  });

  it("sends a 10 MB Uint8Array as its own part, without copying either way", () => {
    const big = new Uint8Array(10 * 1024 * 1024);
    big[0] = 1;
    big[big.length - 1] = 2;
    const { payload } = serialize({ big, small: 1 });
    assert.equal(payload.parts.length, 2);
    assert.ok(payload.parts[0]!.byteLength < 100);
    assert.equal(payload.parts[1]!.buffer, big.buffer, "the part is a view on the caller's memory");
    // As if received: the part arrives in some buffer, at some offset.
    const wire = new Uint8Array(big.byteLength + 16);
    wire.set(big, 16);
    const received = new Payload([payload.parts[0]!.slice(), wire.subarray(16)]);
    const back = deserialize(received) as { big: Uint8Array; small: number };
    assert.equal(back.big.buffer, wire.buffer, "decoded as a view on the received part");
    assert.equal(back.big.byteLength, big.byteLength);
    assert.equal(back.big[back.big.length - 1], 2);
  });

  it("decodes typed arrays from a Buffer at any offset into memory of their own", () => {
    // What arrives off a socket: a Buffer view into a larger chunk, at any alignment.
    const { payload } = serialize({ f: new Float64Array([1.5, -2.25]), i: new Int32Array([7, -8]), u: new Uint8Array([9]) });
    const head = payload.parts[0]!;
    for (let offset = 0; offset < 8; offset++) {
      const chunk = Buffer.alloc(head.byteLength + 16);
      chunk.set(head, offset);
      const back = deserialize(new Payload([chunk.subarray(offset, offset + head.byteLength)])) as { f: Float64Array; i: Int32Array; u: Uint8Array };
      chunk.fill(0); // the socket's memory is reused: decoded values must not change with it
      assert.deepEqual([...back.f], [1.5, -2.25], `offset ${offset}`);
      assert.deepEqual([...back.i], [7, -8]);
      assert.deepEqual([...back.u], [9]);
      assert.notEqual(back.f.buffer, chunk.buffer);
    }
  });

  it("copies a large part that is misaligned for its element type", () => {
    const f = new Float64Array(LARGE_BINARY_BYTES / 8);
    f[3] = 3.25;
    const { payload } = serialize(f);
    const wire = new Uint8Array(f.byteLength + 1);
    wire.set(new Uint8Array(f.buffer), 1);
    const back = deserialize(new Payload([payload.parts[0]!, wire.subarray(1)])) as Float64Array;
    assert.ok(back instanceof Float64Array);
    assert.equal(back[3], 3.25);
  });

  it("names the path of a function inside the arguments", () => {
    assert.throws(() => serialize([1, { fn: () => 1 }]), {
      name: "ConfigError",
      message: /^args\[1\]\.fn is a function: /,
    });
    assert.throws(() => serialize({ m: new Map([["k", Symbol("s")]]) }), { message: /^value\.m<map entry 0> is a symbol/ });
    assert.throws(() => serialize({ "a b": [Promise.resolve()] }, { root: "result" }), { message: /^result\["a b"\]\[0\] is a Promise/ });
  });

  it("rejects corrupt payloads clearly", () => {
    assert.throws(() => deserialize(new Payload([new Uint8Array([9, 1])])), ProtocolError);
    const { payload } = serialize({ a: "long string here" });
    assert.throws(() => deserialize(new Payload([payload.parts[0]!.subarray(0, 5)])), ProtocolError);
  });
});

describe("serialize - refs", () => {
  it("replaces refs anywhere and collects unique keys", () => {
    const f1 = new FakeFuture("f1");
    const f2 = new FakeFuture("f2");
    const h = fakeHandle("actor-1");
    const value = [f1, { nested: [f1, f2] }, new Map<unknown, unknown>([[f2, h], ["k", f1]]), new Set([h, f2])];
    const enc = serialize(value);
    assert.deepEqual(enc.futureKeys, ["f1", "f2"]);
    assert.deepEqual(enc.actorKeys, ["actor-1"]);
    assert.deepEqual(enc.pending, []);
    const back = deserialize(enc.payload, {
      future: (key) => `value-of-${key}`,
      actor: (m) => `handle-of-${m.key}`,
    }) as [string, { nested: string[] }, Map<unknown, unknown>, Set<unknown>];
    assert.equal(back[0], "value-of-f1");
    assert.deepEqual(back[1].nested, ["value-of-f1", "value-of-f2"]);
    assert.equal(back[2].get("value-of-f2"), "handle-of-actor-1");
    assert.equal(back[2].get("k"), "value-of-f1");
    assert.deepEqual([...back[3]], ["handle-of-actor-1", "value-of-f2"]);
  });

  it("decodes actor refs as their meta by default and refuses unresolvable futures", () => {
    assert.deepEqual(roundTrip({ h: fakeHandle("a") }), { h: meta("a") });
    assert.throws(() => roundTrip([new FakeFuture("k")]), { name: "ProtocolError", message: /Future k/ });
  });

  it("inlines finished ActorFutures and collects unfinished ones", () => {
    const inner = new FakeFuture("inner");
    const done = new FakeActorFuture(true, { got: inner });
    const waiting = new FakeActorFuture(false, 5);
    const enc = serialize([done, waiting]);
    assert.deepEqual(enc.pending, [waiting.promise]);
    assert.deepEqual(enc.futureKeys, ["inner"]);
    assert.deepEqual(deserialize(enc.payload, { future: () => 42 }), [{ got: 42 }, undefined]);
  });
});

describe("serialize - errors inside values", () => {
  it("keeps name, message, stack, code and extra props", () => {
    const e = Object.assign(new RangeError("too big"), { code: "E_BIG", limit: 3 });
    const back = roundTrip({ e }).e as RangeError & { code: string; limit: number };
    assert.ok(back instanceof RangeError);
    assert.equal(back.message, "too big");
    assert.equal(back.code, "E_BIG");
    assert.equal(back.limit, 3);
    assert.equal(back.stack, e.stack);
  });

  it("unknown classes come back as RemoteError with the original name", () => {
    class Weird extends Error {
      override name = "Weird";
    }
    const back = roundTrip(new Weird("w")) as Error & { remoteName: string };
    assert.equal(back.name, "Weird");
    assert.equal(back.remoteName, "Weird");
    assert.equal(back.message, "w");
  });
});

describe("serialize - speed", () => {
  it("prints the cost of an actor-call-sized value (not asserted)", () => {
    const args = [3, 4.5, "inc"];
    const n = 50_000;
    for (let i = 0; i < 1000; i++) deserialize(serialize(args).payload);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) deserialize(serialize(args).payload);
    const ns = Number(process.hrtime.bigint() - t0) / n;
    const obj = { id: 12, tags: ["a", "b"], at: new Date(0), nested: { x: 1.5 } };
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) deserialize(serialize(obj).payload);
    const ns2 = Number(process.hrtime.bigint() - t1) / n;
    console.log(`serialize+deserialize: [3, 4.5, "inc"] ${ns.toFixed(0)} ns; small object ${ns2.toFixed(0)} ns`);
  });
});
