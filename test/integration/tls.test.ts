// Mutual TLS between every cluster member (R-SEC-3): a scheduler and workers
// started from the command line with --tls-cert/--tls-key/--tls-ca, a client
// with the same CA, and strangers without a certificate from it.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { after, before, describe, test } from "node:test";
import { AuthError, Client, CommError, ConfigError, type Actor } from "../../src/index.js";
import { Counter } from "../fixtures/actors.js";
import { add } from "../fixtures/tasks.js";
import { waitFor } from "../helpers/cluster.js";
import { makePki, NO_OPENSSL, type Pem } from "../helpers/pki.js";
import { ProcGroup, requireBuilt } from "../helpers/procs.js";

const T = { timeout: 60_000 };

const SCHEDULER_LINE = /troupe scheduler at (\S+)/;
const WORKER_LINE = /troupe worker (\S+) at (\S+)/;

describe("mutual TLS cluster from the command line", { skip: NO_OPENSSL }, () => {
  const procs = new ProcGroup();
  let dir = "";
  let pki: Pem;
  let other: Pem;
  const token = "tls-test-token-" + process.pid;
  let address = "";
  const workers: string[] = [];
  let client: Client | undefined;

  before(async () => {
    requireBuilt();
    dir = mkdtempSync(join(tmpdir(), "troupe-tls-"));
    pki = makePki(dir, "cluster", ["127.0.0.1"]);
    other = makePki(dir, "stranger", ["127.0.0.1"]);
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, token, { mode: 0o600 });
    const tlsFlags = ["--tls-cert", pki.files.cert, "--tls-key", pki.files.key, "--tls-ca", pki.files.ca];
    const s = procs.cli("scheduler", ["scheduler", "--port", "0", "--token-file", tokenFile, ...tlsFlags]);
    address = (await s.line(SCHEDULER_LINE))[1]!;
    const ws = [1, 2].map((i) => procs.cli(`worker ${i}`, ["worker", address, "--token-file", tokenFile, ...tlsFlags]));
    for (const w of ws) workers.push((await w.line(WORKER_LINE))[2]!);
    client = await Client.connect(address, { token, tls: { cert: pki.cert, key: pki.key, ca: pki.ca } });
  });
  after(async () => {
    try {
      await client?.close();
    } finally {
      await procs.killAll();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  test("scheduler and workers listen on tls:// addresses", T, async () => {
    assert.match(address, /^tls:\/\/127\.0\.0\.1:\d+$/);
    for (const w of workers) assert.match(w, /^tls:\/\//);
    await waitFor(async () => Object.keys((await client!.schedulerInfo()).workers).length === 2, "two workers in schedulerInfo");
  });

  test("a task whose dependency lives on the other worker", T, async () => {
    const x = client!.submit(add, [1, 2], { workers: workers[0]! });
    const y = client!.submit(add, [x, 10], { workers: workers[1]! });
    assert.equal(await y.result(20_000), 13);
    // x was made on the first worker and copied to the second, worker to worker, over TLS.
    assert.ok((await client!.whoHas(x))[x.key]!.includes(workers[0]!));
    assert.ok((await client!.whoHas(y))[y.key]!.includes(workers[1]!));
    assert.equal(await x.result(), 3);
  });

  test("an actor call, direct and through the scheduler's proxy", T, async () => {
    const counter: Actor<Counter> = await client!.submit(Counter, [], { actor: true, workers: workers[1]! });
    assert.equal(await counter.increment().result(20_000), 1);
    assert.equal(await counter.add(4).result(20_000), 5);
    const proxied = await Client.connect(address, { token, tls: { cert: pki.cert, key: pki.key, ca: pki.ca }, directToWorkers: false });
    try {
      const c2: Actor<Counter> = await proxied.submit(Counter, [], { actor: true });
      assert.equal(await c2.add(7).result(20_000), 7);
    } finally {
      await proxied.close();
    }
  });

  test("a client with a certificate from another CA is refused, within the timeout", T, async (t) => {
    const t0 = Date.now();
    const err = await Client.connect(address, { token, tls: { cert: other.cert, key: other.key, ca: other.ca }, timeout: 3_000 }).then(
      (c) => (void c.close(), null),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CommError, `expected CommError, got ${String(err)}`);
    t.diagnostic(`${(err as Error).message} (after ${Date.now() - t0} ms)`);
    assert.match((err as Error).message, /certificate|tls|ssl|verify|alert/i);
    assert.ok(Date.now() - t0 < 8_000, `took ${Date.now() - t0} ms`);
  });

  /** Connect with our CA trusted but a stranger's certificate presented; the server rejects it. */
  async function strangerClient(): Promise<{ err: unknown; ms: number }> {
    const t0 = Date.now();
    const err = await Client.connect(address, { token, tls: { cert: other.cert, key: other.key, ca: pki.ca }, timeout: 3_000 }).then(
      (c) => (void c.close(), null),
      (e: unknown) => e,
    );
    return { err, ms: Date.now() - t0 };
  }

  test("a client trusting our CA but presenting a stranger's certificate is refused within the timeout", T, async (t) => {
    const { err, ms } = await strangerClient();
    assert.ok(err instanceof AuthError, `expected AuthError, got ${String(err)}`);
    t.diagnostic(`${(err as Error).message} (after ${ms} ms)`);
    assert.ok(ms < 8_000, `took ${ms} ms`);
  });

  test(
    "a client whose certificate the server rejects is told so at once, not after a timeout",
    T,
    async () => {
      const { err, ms } = await strangerClient();
      assert.ok(err instanceof AuthError, `expected AuthError, got ${String(err)}`);
      assert.doesNotMatch((err as Error).message, /timed out/);
      assert.match((err as Error).message, /certificate|closed|handshake|TLS/i);
      assert.ok(ms < 2_000, `took ${ms} ms`);
    },
  );

  test("a client without TLS options is told a tls:// address needs them", T, async () => {
    await assert.rejects(Client.connect(address, { token, timeout: 3_000 }), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
      assert.match((e as Error).message, /tls/i);
      return true;
    });
  });

  test("a raw TLS connection without a client certificate is closed by the server", T, async () => {
    const port = Number(address.split(":").at(-1));
    const outcome = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: "127.0.0.1", port, ca: pki.ca, checkServerIdentity: () => undefined });
      const timer = setTimeout(() => (s.destroy(), resolve("still open after 5 s")), 5_000);
      const done = (what: string) => (clearTimeout(timer), s.destroy(), resolve(what));
      s.on("error", (e) => done(`error: ${e.message}`));
      s.on("close", () => done("closed"));
      // TLS 1.3 reports the refusal after the handshake: a write gets the alert.
      s.on("secureConnect", () => s.write(Buffer.alloc(16)));
    });
    assert.match(outcome, /^(error|closed)/, outcome);
  });

  test("a plain TCP connection to the TLS port gets nowhere", T, async () => {
    const port = Number(address.split(":").at(-1));
    const err = await Client.connect(`tcp://127.0.0.1:${port}`, { token, timeout: 2_000 }).then(
      (c) => (void c.close(), null),
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error, "connecting in clear text to a TLS port must fail");
    // The raw socket is dropped too, and the scheduler keeps serving.
    await new Promise<void>((resolve) => {
      const s = netConnect({ host: "127.0.0.1", port }, () => s.write("hello, not TLS\r\n\r\n"));
      s.on("error", () => resolve());
      s.on("close", () => resolve());
      setTimeout(() => (s.destroy(), resolve()), 5_000);
    });
    assert.equal(await client!.submit(add, [2, 2]).result(20_000), 4);
  });
});
