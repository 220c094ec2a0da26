// Processes started from the built `troupe` command (dist/cli/main.js). Every
// process goes into a group the test kills in `after`, pass or fail.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

/** Fail early, with the fix, when the command has not been built. */
export function requireBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does it)`);
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the command to completion (for --help and bad flags). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, TROUPE_LOG: "error", ...env },
    encoding: "utf8",
    timeout: timeoutMs,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export class Proc {
  stdout = "";
  stderr = "";
  exitCode: number | null = null;
  signal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;

  constructor(readonly child: ChildProcess, readonly label: string) {
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (this.stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.exitCode = code;
        this.signal = signal;
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === null && this.signal === null;
  }

  /** Wait for a stdout line matching re; returns the match. Fails early if the process exits. */
  async line(re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.stdout.match(re);
      if (m) return m;
      if (!this.running) {
        await new Promise((r) => setTimeout(r, 50)); // let the pipes drain
        throw new Error(`${this.label} exited (code ${this.exitCode}, signal ${this.signal}) before printing ${re}; stdout: ${this.stdout.trim()} stderr: ${this.stderr.trim()}`);
      }
      if (Date.now() > deadline) throw new Error(`${this.label} did not print ${re} within ${timeoutMs} ms; stdout: ${this.stdout.trim()} stderr: ${this.stderr.trim()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Wait for exit, bounded. */
  async waitExit(timeoutMs = 15_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.label} still running after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL by pid and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    try {
      process.kill(this.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await this.waitExit(5_000).catch(() => undefined);
  }
}

/** The processes one test file started; kill them all in `after`/`finally`. */
export class ProcGroup {
  readonly procs: Proc[] = [];

  /** Start `node dist/cli/main.js ...args`, optionally behind a prefix (e.g. ["ip", "netns", "exec", "ns"]). */
  cli(label: string, args: string[], opts: { env?: NodeJS.ProcessEnv; prefix?: string[] } = {}): Proc {
    const argv = [...(opts.prefix ?? []), process.execPath, CLI, ...args];
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: ROOT,
      // TROUPE_CHILD_LOG raises the children's log level when debugging a test.
      env: { ...process.env, TROUPE_LOG: process.env.TROUPE_CHILD_LOG ?? "error", ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const p = new Proc(child, label);
    this.procs.push(p);
    return p;
  }

  /** Start `node ...args` (a script run directly, not through the command), optionally behind a prefix as for cli(). */
  node(label: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; prefix?: string[] } = {}): Proc {
    const argv = [...(opts.prefix ?? []), process.execPath, ...args];
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, TROUPE_LOG: process.env.TROUPE_CHILD_LOG ?? "error", ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const p = new Proc(child, label);
    this.procs.push(p);
    return p;
  }

  async killAll(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.kill()));
    if (process.env.TROUPE_CHILD_LOG) {
      for (const p of this.procs) process.stderr.write(`----- ${p.label} (pid ${p.pid})\n${p.stdout}${p.stderr}\n`);
    }
  }
}

/** Pids of the processes descending from `root` (Linux /proc), with their command lines. */
export function descendants(root: number): Map<number, string> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // The command name may hold spaces and parentheses: the parent pid is the 2nd field after its last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const out = new Map<number, string>();
  const todo = [...(children.get(root) ?? [])];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
    } catch {
      // gone meanwhile
    }
    out.set(pid, cmd);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}
