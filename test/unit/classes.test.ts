import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runInNewContext } from "node:vm";
import { Worker } from "node:worker_threads";
import { Account, Point } from "../fixtures/shapes.js";

// The warning for plain arrivals is logged at "warn"; the test runner sets a quieter level.
process.env.TROUPE_LOG = "warn";
const { deserialize, serialize } = await import("../../src/serialize/index.js");

const roundTrip = <T>(v: T): T => deserialize(serialize(v).payload) as T;

/** Warnings the serializer logs while a test runs. */
function captureWarnings(): { lines: string[]; stop: () => void } {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = String(chunk);
    if (text.includes('"component":"serialize"')) lines.push(text);
    else return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    return true;
  }) as typeof process.stderr.write;
  return { lines, stop: () => (process.stderr.write = write) };
}

describe("classes - instances of exported classes", () => {
  it("come back on their class's prototype, without a constructor call", () => {
    const p = new Point(3, 4);
    const before = Point.constructed;
    const back = roundTrip(p);
    assert.ok(back instanceof Point);
    assert.notEqual(back, p);
    assert.equal(back.norm(), 5);
    assert.deepEqual({ ...back }, { x: 3, y: 4 });
    assert.equal(Point.constructed, before, "the constructor did not run");
  });

  it("keep their class nested in arrays, Maps, Sets and objects, shared and circular", () => {
    const p = new Point(1, 2);
    const cyclic = new Point(0, 0) as Point & { self?: unknown };
    cyclic.self = cyclic;
    const back = roundTrip({ list: [p, p], map: new Map([["p", p]]), set: new Set([new Point(5, 5)]), cyclic });
    assert.ok(back.list[0] instanceof Point);
    assert.equal(back.list[0], back.list[1], "a shared instance stays shared");
    assert.equal(back.map.get("p"), back.list[0]);
    assert.ok([...back.set][0] instanceof Point);
    assert.ok(back.cyclic instanceof Point);
    assert.equal(back.cyclic.self, back.cyclic);
  });

  it("restore a field named like an accessor as the object's own, and leave #private fields behind", () => {
    const back = roundTrip(new Account("ada"));
    assert.ok(back instanceof Account);
    assert.equal(back.owner, "ada");
    assert.equal(back.label, "account of ada", "the own field, not the prototype's getter");
    assert.throws(() => back.pin(), TypeError, "#pin did not travel");
  });
});

describe("classes - what stays plain", () => {
  let warnings: ReturnType<typeof captureWarnings>;
  before(() => (warnings = captureWarnings()));
  after(() => warnings.stop());

  it("an instance of an unexported class arrives as a plain object, with one warning per class", () => {
    class Local {
      v = 1;
      get twice(): number {
        return this.v * 2;
      }
    }
    const back = roundTrip([new Local(), new Local()]);
    assert.deepEqual(back, [{ v: 1 }, { v: 1 }]);
    assert.equal(Object.getPrototypeOf(back[0]), Object.prototype);
    roundTrip(new Local());
    assert.equal(warnings.lines.length, 1, warnings.lines.join(""));
    assert.match(warnings.lines[0]!, /instances of class Local arrive as plain objects.*Local is not exported from a module/);
  });

  it("objects of another realm, or made from a plain prototype, stay plain and silent", () => {
    warnings.lines.length = 0;
    const foreign = runInNewContext("({ a: 1 })") as object;
    const derived = Object.create({ inherited: true }) as Record<string, unknown>;
    derived.own = 2;
    assert.deepEqual(roundTrip({ foreign, derived }), { foreign: { a: 1 }, derived: { own: 2 } });
    assert.equal(warnings.lines.length, 0, warnings.lines.join(""));
  });
});

describe("classes - a receiver that has not loaded the class", () => {
  it("loads its module and decodes again", async () => {
    const parts = serialize(new Point(6, 8)).payload.parts;
    const res = await new Promise<{ ok: boolean; message?: string; pending: boolean; isPoint: boolean; norm: number; constructed: number }>(
      (resolve, reject) => {
        const w = new Worker(new URL("../fixtures/serialize/class-decode.mjs", import.meta.url), {
          workerData: {
            parts,
            serializeUrl: new URL("../../src/serialize/index.ts", import.meta.url).href,
            payloadUrl: new URL("../../src/protocol/payload.ts", import.meta.url).href,
            shapesUrl: new URL("../fixtures/shapes.ts", import.meta.url).href,
          },
        });
        w.once("message", (m) => {
          resolve(m);
          void w.terminate();
        });
        w.once("error", reject);
      },
    );
    assert.ok(res.ok, res.message);
    assert.deepEqual(res, { ok: true, pending: true, isPoint: true, norm: 10, constructed: 0 });
  });
});
