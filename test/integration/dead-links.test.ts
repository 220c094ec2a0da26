// Dead and half-open links are noticed within 10 s on both ends, idle or
// while one end writes, and a peer that merely stops reading (a process
// stopped, as one busy in user code is to the network) is never taken for a
// dead one (R-FLOW-4). Each end is a process holding one troupe connection
// (test/fixtures/link-end.ts); the link between two network namespaces is cut
// by dropping every packet one way. The namespace tests need root
// (CAP_NET_ADMIN) and skip with a message otherwise.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ip, ipQuiet, NetLock, netnsUnavailable } from "../helpers/netns.js";
import { ProcGroup, type Proc } from "../helpers/procs.js";

const FIXTURE = "test/fixtures/link-end.ts";
const DETECT_WITHIN_MS = 10_000;

/** The namespace of each end, its address, and its side of the veth pair between them. */
const A = { ns: "tr-dl-a", ip: "10.78.0.1", dev: "tdl-a" };
const B = { ns: "tr-dl-b", ip: "10.78.0.2", dev: "tdl-b" };

interface EndEvent {
  event: string;
  at: number;
  address?: string;
  tuning?: string;
  reason?: string;
  n?: number;
}

/** The JSON lines an end printed so far. */
function events(p: Proc): EndEvent[] {
  return p.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as EndEvent);
}

async function waitEvent(p: Proc, event: string, timeoutMs: number, also: (e: EndEvent) => boolean = () => true): Promise<EndEvent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const e = events(p).find((x) => x.event === event && also(x));
    if (e) return e;
    if (!p.running) throw new Error(`${p.label} exited before "${event}": ${p.stderr}`);
    if (Date.now() > deadline) throw new Error(`${p.label}: no "${event}" within ${timeoutMs} ms; stdout: ${p.stdout}; stderr: ${p.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function endIn(procs: ProcGroup, label: string, args: string[], ns?: string): Proc {
  return procs.node(label, ["--import", "tsx", FIXTURE, ...args], { prefix: ns ? ["ip", "netns", "exec", ns] : [] });
}

/** Start a listening end and a connecting end (sending `send` messages), and wait until both hold the connection. */
async function pair(procs: ProcGroup, opts: { listenNs?: string; host: string; connectNs?: string; send?: number }) {
  const listener = endIn(procs, "listener", ["listen", opts.host], opts.listenNs);
  const { address } = await waitEvent(listener, "ready", 20_000);
  const connector = endIn(procs, "connector", ["connect", address!, ...(opts.send !== undefined ? [String(opts.send)] : [])], opts.connectNs);
  const [open] = await Promise.all([waitEvent(listener, "open", 20_000), waitEvent(connector, "open", 20_000)]);
  return { listener, connector, tuning: open.tuning };
}

describe("a peer that only stops reading is not dead", () => {
  const procs = new ProcGroup();
  after(() => procs.killAll());

  test("link - stopped for 15 s, a receiver whose window is closed and an idle peer both keep their connections; all data arrives after", { timeout: 90_000 }, async () => {
    const MESSAGES = 3000; // 192 MiB: far more than the socket buffers hold
    const idle = await pair(procs, { host: "127.0.0.1" });
    process.kill(idle.connector.pid, "SIGSTOP");
    const busy = await pair(procs, { host: "127.0.0.1", send: MESSAGES });
    process.kill(busy.listener.pid, "SIGSTOP");
    try {
      await new Promise((r) => setTimeout(r, 15_000));
      for (const p of [busy.connector, idle.listener]) {
        assert.equal(events(p).find((e) => e.event === "closed"), undefined, `${p.label} closed a connection to a stopped peer: ${p.stdout}`);
      }
      assert.equal(events(busy.connector).find((e) => e.event === "sent"), undefined, "the sender was held back meanwhile");
    } finally {
      process.kill(busy.listener.pid, "SIGCONT");
      process.kill(idle.connector.pid, "SIGCONT");
    }
    await waitEvent(busy.listener, "count", 60_000, (e) => e.n === MESSAGES);
    await waitEvent(busy.connector, "sent", 10_000);
  });
});

const SKIP = netnsUnavailable();

describe("a half-open link between two hosts", { skip: SKIP }, () => {
  const lock = new NetLock("dead-links");
  let locked = false;
  const teardown = () => {
    ipQuiet("netns", "del", A.ns); // takes its veth, and with it the peer
    ipQuiet("netns", "del", B.ns);
  };
  const onExit = () => {
    if (locked) teardown();
    lock.release();
  };

  before(async () => {
    process.once("exit", onExit);
    await lock.acquire(100_000);
    locked = true;
    teardown(); // leftovers of a crashed run
    ip("netns", "add", A.ns);
    ip("netns", "add", B.ns);
    ip("link", "add", A.dev, "netns", A.ns, "type", "veth", "peer", "name", B.dev, "netns", B.ns);
    for (const h of [A, B]) {
      ip("-n", h.ns, "addr", "add", `${h.ip}/24`, "dev", h.dev);
      ip("-n", h.ns, "link", "set", h.dev, "up");
      ip("-n", h.ns, "link", "set", "lo", "up");
    }
  }, { timeout: 120_000 });

  after(() => {
    if (locked) teardown();
    lock.release();
    process.off("exit", onExit);
  });

  /**
   * Drop every packet `from` sends to `to`, silently (a blackhole route: netem
   * and packet filters are not always built into the kernel): the link is
   * half-open, as when a router or a firewall on the way starts dropping.
   */
  const cut = (from: typeof A, to: typeof A) => ip("-n", from.ns, "route", "add", "blackhole", `${to.ip}/32`);
  const mend = (from: typeof A, to: typeof A) => ipQuiet("-n", from.ns, "route", "del", "blackhole", `${to.ip}/32`);

  for (const busy of [false, true]) {
    for (const [from, to] of [[A, B], [B, A]] as const) {
      const what = `${busy ? "busy (the connecting end writing)" : "idle"}, packets from ${from === A ? "the listening" : "the connecting"} end dropped`;
      test(`link - ${what}: both ends close within 10 s`, { timeout: 60_000 }, async (t) => {
        const procs = new ProcGroup();
        try {
          const { listener, connector, tuning } = await pair(procs, { listenNs: A.ns, host: A.ip, connectNs: B.ns, send: busy ? Infinity : undefined });
          if (tuning !== "native") return t.skip(`the native addon is not built: links are watched by Node's keepalive alone (~11 s when idle)`);
          if (busy) await waitEvent(listener, "count", 20_000);
          else await new Promise((r) => setTimeout(r, 3000)); // past the keepalive's idle time: probes have been answered
          cut(from, to);
          const cutAt = Date.now();
          try {
            const closed = await Promise.all([listener, connector].map((p) => waitEvent(p, "closed", 25_000)));
            const [l, c] = closed.map((e) => e.at - cutAt);
            t.diagnostic(`${what} (${to === A ? "to" : "from"} the listener): listener closed after ${l} ms (${closed[0]!.reason}), connector after ${c} ms (${closed[1]!.reason})`);
            assert.ok(l! < DETECT_WITHIN_MS, `the listening end noticed after ${l} ms`);
            assert.ok(c! < DETECT_WITHIN_MS, `the connecting end noticed after ${c} ms`);
          } finally {
            mend(from, to);
          }
        } finally {
          await procs.killAll();
        }
      });
    }
  }
});
