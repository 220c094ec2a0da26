// npm run bench:memory [calls|slow-peer|pre-auth]: what a flood of calls, a slow peer and a stranger's
// flood cost in memory (docs/performance.md, "Memory bounds"). One JSON line
// per figure. Takes about two minutes; not part of npm test.
//
//   calls      200,000 actor calls of 10 KiB from one client process to one
//              actor (test/fixtures/call-flood.ts): its peak RSS, all answered
//   slow-peer  200 MiB sent over TCP to a receiver that stopped reading: what
//              the sending connection holds at most, and the sender's RSS growth
//   pre-auth   1,100 connections to a scheduler process, each sending 60 KiB
//              without a hello: how many it keeps, and its RSS growth

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import { BatchDecoder, connect, encodeBatch, Payload, type Connection } from "../src/comm/index.js";
import { LocalCluster } from "../src/index.js";
import type { Message } from "../src/protocol/messages.js";

const MiB = 1024 * 1024;
const which = new Set(process.argv.slice(2));
const wanted = (name: string) => which.size === 0 || which.has(name);
const report = (figure: string, values: Record<string, unknown>) => console.log(JSON.stringify({ figure, ...values }));
const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident memory of a process, from /proc. */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

async function calls(): Promise<void> {
  const n = 200_000;
  const cluster = await LocalCluster.start({ workers: 1 });
  try {
    const child = spawn(process.execPath, ["--import", "tsx", "test/fixtures/call-flood.ts", String(n)], {
      env: { ...process.env, TROUPE_SCHEDULER: cluster.schedulerAddress, TROUPE_TOKEN: cluster.token, TROUPE_LOG: "error" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    if (code !== 0) throw new Error(`call-flood.ts exited with ${code}`);
    const r = JSON.parse(out.trim().split("\n").at(-1)!) as { answered: number; peakRss: number; seconds: number };
    report("200,000 x 10 KiB actor calls from one client", { calls: n, answered: r.answered, clientPeakRssMiB: mib(r.peakRss), seconds: r.seconds });
  } finally {
    await cluster.close();
  }
}

/** A receiver that speaks just enough of the protocol (hello, welcome) and counts what arrives. */
function rawReceiver(): Promise<{ address: string; socket: () => net.Socket; received: () => number; close: () => void }> {
  let socket: net.Socket | undefined;
  let received = 0;
  const server = net.createServer((s) => {
    socket = s;
    const d = new BatchDecoder();
    s.on("data", (chunk) => {
      d.push(chunk);
      for (let batch = d.next(); batch !== null; batch = d.next()) {
        for (const e of batch) {
          const op = (e as { op: string }).op;
          if (op === "hello") for (const c of encodeBatch([{ op: "welcome" } as Message])) s.write(c);
          else received++;
        }
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        address: `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
        socket: () => socket!,
        received: () => received,
        close: () => {
          socket?.destroy();
          server.close();
        },
      }),
    ),
  );
}

async function slowPeer(): Promise<void> {
  const messages = 200;
  const r = await rawReceiver();
  const conn: Connection = await connect(r.address, { token: "", role: "client" });
  while (!r.socket()) await sleep(10);
  r.socket().pause();
  const rss0 = process.memoryUsage().rss;
  let maxBuffered = 0;
  let maxRss = rss0;
  let paused = true;
  let sent = 0;
  const sending = (async () => {
    for (; sent < messages; sent++) {
      if (conn.needsDrain) await conn.drained();
      // A buffer of its own each: what waits is held for real.
      conn.send({ op: "put-data", data: { k: new Payload([new Uint8Array(MiB).fill(sent)]) }, report: false } as Message);
      await new Promise((res) => setImmediate(res));
      maxBuffered = Math.max(maxBuffered, conn.bufferedBytes);
      // Once it reads again, this process decodes what arrives too: not the sender's cost.
      if (paused) maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }
  })();
  // The receiver reads nothing for 3 s: the sender waits once its socket holds the mark.
  await sleep(3000);
  const sentWhilePaused = sent;
  maxRss = Math.max(maxRss, process.memoryUsage().rss);
  paused = false;
  r.socket().resume();
  await sending;
  while (r.received() < messages) await sleep(20);
  report("a peer that stops reading", {
    offeredMiB: messages,
    sentWhilePausedMiB: sentWhilePaused,
    maxHeldByConnectionMiB: mib(maxBuffered),
    senderRssGrowthWhilePausedMiB: mib(maxRss - rss0),
    allArrived: r.received() === messages,
  });
  conn.close();
  r.close();
}

async function preAuth(): Promise<void> {
  const connections = 1100;
  const child = spawn(process.execPath, ["dist/cli/main.js", "scheduler", "--port", "0", "--dashboard-port", "0"], {
    env: { ...process.env, TROUPE_TOKEN: "memory-bounds", TROUPE_LOG: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  try {
    while (!/troupe scheduler at tcp:\/\/([^\s]+):(\d+)/.test(out)) {
      if (child.exitCode !== null) throw new Error(`the scheduler exited: ${err}`);
      await sleep(50);
    }
    const [, host, port] = /troupe scheduler at tcp:\/\/([^\s]+):(\d+)/.exec(out)!;
    await sleep(500);
    // Each sends all but the last KiB of a batch of 60 KiB (within what a
    // stranger may send), so the scheduler buffers it and waits for the rest.
    const batch = Buffer.concat(encodeBatch([{ op: "put-data", data: { k: new Payload([new Uint8Array(60 * 1024).fill(1)]) }, report: false } as Message]));
    const partial = batch.subarray(0, batch.length - 1024);
    for (let round = 1; round <= 2; round++) {
      const sockets: net.Socket[] = [];
      const closedAfter: number[] = [];
      const t0 = Date.now();
      for (let i = 0; i < connections; i++) {
        const s = net.connect({ host, port: Number(port) });
        s.on("error", () => {});
        s.once("connect", () => s.write(partial));
        s.once("close", () => closedAfter.push(Date.now() - t0));
        sockets.push(s);
      }
      const before = rssOf(child.pid!);
      let maxRss = before;
      while (closedAfter.length < connections && Date.now() - t0 < 30_000) {
        await sleep(100);
        maxRss = Math.max(maxRss, rssOf(child.pid!));
      }
      await sleep(1500);
      // The scheduler's own counts, from its throttled log lines.
      const warnings = err.split("\n").filter((l) => /"level":"warn"/.test(l));
      err = "";
      const counted = (re: RegExp) => warnings.reduce((n, l) => n + Number(re.exec(l)?.[1] ?? 0), 0);
      report("a stranger's flood before the hello", {
        round,
        connections,
        refusedAtOnce: counted(/Refused (\d+) connections? .*have not completed their handshake/),
        closedAtHelloTimeout: counted(/Closed (\d+) connections? .*sent no hello/),
        lastClosedAfterS: Math.max(...closedAfter) / 1000,
        batchBytesEach: partial.length,
        schedulerRssBeforeMiB: mib(before),
        schedulerRssPeakMiB: mib(maxRss),
        schedulerRssAfterMiB: mib(rssOf(child.pid!)),
        logLines: warnings.length,
      });
      for (const s of sockets) s.destroy();
    }
  } finally {
    child.kill("SIGTERM");
  }
}

if (wanted("slow-peer")) await slowPeer();
if (wanted("pre-auth")) await preAuth();
if (wanted("calls")) await calls();
process.exit(0);
