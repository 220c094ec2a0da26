// A cluster of `troupe` commands (dist/cli/main.js), as users start one: a
// scheduler process and worker processes, reached over TCP. The scale parts
// of the bench use it to measure the scheduler's own process and to kill and
// start it again at its address.

import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
export const TOKEN = "bench-scale";
const ENV = { ...process.env, TROUPE_TOKEN: TOKEN, TROUPE_LOG: "warn" };
/** Flags for node in every process started here, e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (a profile is written when the process stops). */
const NODE_ARGS = process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];

/** Processes being stopped or killed on purpose. */
const stopping = new WeakSet<ChildProcess>();

export interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
  /** Rejects if the process ends before it is stopped or killed from here. */
  lost: Promise<never>;
}

function start(args: string[], ready: RegExp): Promise<{ proc: Proc; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, [...NODE_ARGS, CLI, ...args], { env: ENV, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  let out = "";
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err = (err + d).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`printed nothing matching ${ready} within 30 s`), 30_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`troupe ${args[0]} ${why}: ${err.trim()}`));
    };
    const early = (code: number | null, signal: string | null) => fail(`exited (${code ?? signal})`);
    child.once("exit", early);
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const match = ready.exec(out);
      if (!match) return;
      clearTimeout(timer);
      child.off("exit", early);
      // A process that ends before it is stopped fails what waits on `lost`, saying why.
      const lost = new Promise<never>((_, rejectLost) =>
        child.once("exit", (code, signal) => {
          if (!stopping.has(child)) rejectLost(new Error(`troupe ${args[0]} exited (${code ?? signal}) while in use: ${err.trim().split("\n").slice(-3).join("\n")}`));
        }),
      );
      lost.catch(() => undefined); // a failure only to whoever races it
      child.stdout!.removeAllListeners("data").resume();
      resolve({ proc: { child, exited, lost }, match });
    });
  });
}

export async function startScheduler(port = 0): Promise<{ proc: Proc; address: string }> {
  const { proc, match } = await start(["scheduler", "--port", String(port), "--dashboard-port", "0"], /troupe scheduler at (tcp:\/\/\S+)/);
  return { proc, address: match[1]! };
}

export async function startWorker(address: string, name: string): Promise<Proc> {
  return (await start(["worker", address, "--name", name, "--no-nanny"], /troupe worker \S+ at tcp:\/\/\S+/)).proc;
}

/** Stops the process: SIGTERM, then SIGKILL if it is still there after 5 s. */
export async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  stopping.add(p.child);
  p.child.kill("SIGTERM");
  const timer = setTimeout(() => p.child.kill("SIGKILL"), 5000);
  await p.exited;
  clearTimeout(timer);
}

/** Kills the process at once, as a crash would, and waits for it to be gone. */
export async function kill(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  stopping.add(p.child);
  p.child.kill("SIGKILL");
  await p.exited;
}

/** Resident memory of the process, bytes, from /proc. */
export function rss(p: Proc): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.child.pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** CPU time the process has used, user and system, in seconds, from /proc (clock ticks of 1/100 s). */
export function cpuSeconds(p: Proc): number {
  const stat = readFileSync(`/proc/${p.child.pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}
