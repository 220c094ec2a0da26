// One worker process under supervision (R-FAIL-5, R-FAIL-7), as Dask's nanny
// keeps one: started with fork, started again whenever it exits without being
// asked to stop, with backoff, and restarted when its memory passes
// RESTART_FRACTION of its limit. Used by LocalCluster (for each of its
// workers) and by `troupe worker` (the nanny process).

import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { CommError } from "../errors.js";
import { createLogger } from "../log.js";
import { RESTART_FRACTION } from "../worker/memory-limit.js";
import { DEFAULT_RETIRE_TIMEOUT_MS } from "../options.js";
import { EXIT_SCHEDULER_GONE, resolveWorkerOptions, type WorkerOptions } from "../worker/options.js";
import { DEFAULT_START_TIMEOUT_MS } from "./options.js";
import { withHugePages } from "./huge-pages.js";

const log = createLogger("supervisor");

const isSource = import.meta.url.endsWith(".ts");
const workerMain = fileURLToPath(new URL(isSource ? "../worker/process-main.ts" : "../worker/process-main.js", import.meta.url));

/** Two starts of one worker are at least this far apart (R-FAIL-5). */
export const MIN_RESTART_INTERVAL_MS = 1000;
/** The longest wait between starts of a worker that keeps failing to start. */
export const MAX_RESTART_INTERVAL_MS = 30_000;
/** How often the worker's resident memory is read. */
export const MEMORY_POLL_MS = 200;
/** After asking a worker over its memory limit to exit, how long before it is killed. */
export const MEMORY_KILL_AFTER_MS = 1000;
/** A requested stop waits this long for the worker to exit before SIGKILL. */
export const STOP_GRACE_MS = 5000;

export interface SupervisorOptions {
  /** The worker's options; `memoryLimit` in bytes. Every process started keeps the name. */
  config: WorkerOptions & { memoryLimit: number; name: string };
  /** How long one start may take before the process is killed (default 30000). */
  startTimeoutMs?: number;
  /**
   * Whether the worker process and the supervisor's timers keep this process
   * alive: yes for a nanny, whose only job this is; no for an embedded
   * cluster, which must let its user's script exit (R-PKG-6).
   */
  holdProcess: boolean;
  /** A worker process is up (the first one, or a restarted one) at `address`, with /health under `httpUrl`. */
  onUp?: (address: string, httpUrl: string) => void;
  /**
   * The worker stopped for good by itself: it exited 0 (someone asked it to
   * stop), or EXIT_SCHEDULER_GONE (no scheduler to serve); the supervisor
   * stops too. `code` is its exit status.
   */
  onStopped?: (code: number) => void;
}

/** Messages a worker process sends its supervisor over IPC. */
type FromWorker = { type: "ready"; address: string; name: string; httpUrl: string } | { type: "failed"; error: string };

/** The message asking a worker over its memory limit to exit (the worker says why to its scheduler first). */
export interface MemoryRestart {
  type: "memory-restart";
  rssBytes: number;
  limitBytes: number;
}

type State = "idle" | "starting" | "running" | "waiting" | "stopping" | "stopped";

export class Supervisor {
  readonly name: string;
  readonly #opts: SupervisorOptions;
  #state: State = "idle";
  #child?: ChildProcess;
  #address?: string;
  #lastStartMs = 0;
  /** Starts in a row that failed (exited or timed out before ready): the backoff grows with them. */
  #failedStarts = 0;
  /** Set once the first start succeeded: later starts are restarts, whose failures back off instead of rejecting a caller. */
  #restarting = false;
  #restartTimer?: NodeJS.Timeout;
  #memoryTimer?: NodeJS.Timeout;
  #stopping?: Promise<void>;
  /** Times the worker was started again, for any reason; and of those, because of memory. */
  restarts = 0;
  memoryRestarts = 0;

  constructor(opts: SupervisorOptions) {
    // Checked here, not only in the child: a bad option is then its caller's ConfigError, not a worker that fails to start.
    resolveWorkerOptions(opts.config);
    this.#opts = opts;
    this.name = opts.config.name;
  }

  /** Whether a worker process is being started (the first one, or another after a restart). */
  get starting(): boolean {
    return this.#state === "starting" || this.#state === "waiting";
  }

  /** The running worker's address; undefined while it is (re)starting or stopped. */
  get address(): string | undefined {
    return this.#state === "running" ? this.#address : undefined;
  }

  /**
   * Start the first worker process; resolves to its address once it has
   * joined. A worker that cannot start the first time is not retried: the
   * error is the caller's (a wrong address, token or option).
   */
  async start(): Promise<string> {
    if (this.#state !== "idle") throw new CommError(`the supervisor of ${this.name} was already started`);
    try {
      return await this.#spawn();
    } catch (err) {
      this.#state = "stopped";
      throw err;
    }
  }

  /**
   * A requested stop, never followed by a restart: SIGINT (the worker
   * closes at once, disposing its actors) and SIGKILL if it lingers; or
   * SIGKILL at once when `graceful` is false, as a crash would. Resolves
   * once it is gone.
   */
  stop(graceful = true): Promise<void> {
    return this.#stop(graceful ? "SIGINT" : "SIGKILL", STOP_GRACE_MS);
  }

  /**
   * Retire the worker (R-OPS-2), never to restart it: SIGTERM, on which it
   * hands its data and actors over to other workers before it exits 0;
   * SIGKILL if it is still there well after its retire timeout.
   */
  retire(): Promise<void> {
    return this.#stop("SIGTERM", (this.#opts.config.retireTimeout ?? DEFAULT_RETIRE_TIMEOUT_MS) + STOP_GRACE_MS);
  }

  #stop(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state = "stopping";
      clearTimeout(this.#restartTimer);
      this.#stopMemoryWatch();
      const child = this.#child;
      if (child) await stopProcess(child, signal, graceMs, this.#opts.holdProcess);
      this.#state = "stopped";
    })();
    return this.#stopping;
  }

  /** Synchronous last resort when this process exits: ask the worker to stop (it still has its own grace). */
  stopNow(): void {
    this.#state = "stopped";
    clearTimeout(this.#restartTimer);
    this.#stopMemoryWatch();
    if (this.#child && isRunning(this.#child)) this.#child.kill("SIGINT");
  }

  /** Starts one process and resolves once it is ready; rejects if it exits or times out first. */
  #spawn(): Promise<string> {
    this.#state = "starting";
    this.#lastStartMs = Date.now();
    const config = this.#opts.config;
    const child = fork(workerMain, [], {
      env: withHugePages({ ...process.env, TROUPE_WORKER_CONFIG: JSON.stringify(childConfig({ ...config, restarts: this.restarts })) }),
      // TROUPE_WORKER_NODE_ARGS: extra node flags for worker processes (e.g. --cpu-prof when profiling).
      execArgv: [...(isSource ? ["--import", "tsx"] : []), ...(process.env.TROUPE_WORKER_NODE_ARGS?.split(" ").filter(Boolean) ?? [])],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.#child = child;
    // Nobody waits for a restart: it must not keep an embedding script alive.
    if (this.#restarting && !this.#opts.holdProcess) unrefChild(child);
    const timeoutMs = this.#opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    return new Promise<string>((resolve, reject) => {
      let failure = "";
      const timer = setTimeout(() => {
        failure = `did not start within ${timeoutMs} ms`;
        child.kill("SIGKILL");
      }, timeoutMs);
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(timer);
        child.off("message", onMessage);
        const why = failure || `exited during startup (${describeExit(code, signal)}); see its log above`;
        reject(new CommError(`worker ${this.name} ${why}`));
        if (this.#state === "starting" && this.#restarting) this.#startFailed(why);
      };
      const onMessage = (m: FromWorker) => {
        if (m?.type === "failed") {
          failure = `could not start: ${m.error}`;
          return; // the exit that follows rejects
        }
        if (m?.type !== "ready" || typeof m.address !== "string") return;
        clearTimeout(timer);
        child.off("exit", onExit);
        child.off("message", onMessage);
        this.#address = m.address;
        this.#failedStarts = 0;
        child.once("exit", (code, signal) => this.#exited(child, code, signal));
        if (!this.#opts.holdProcess) unrefChild(child);
        if (this.#state !== "starting") {
          // Stopped while starting: the stop takes care of the process.
          reject(new CommError(`worker ${this.name} was stopped while starting`));
          return;
        }
        this.#state = "running";
        this.#watchMemory(child);
        this.#opts.onUp?.(m.address, m.httpUrl);
        resolve(m.address);
      };
      child.once("exit", onExit);
      child.on("message", onMessage);
    });
  }

  #exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.#child) return;
    this.#stopMemoryWatch();
    const address = this.#address;
    if (this.#state === "stopping" || this.#state === "stopped") return;
    this.#state = "waiting";
    if (code === 0) {
      // A worker exits 0 only when asked to stop (a signal, or retirement): that request stands.
      log.info("worker stopped", { name: this.name, address });
      this.#state = "stopped";
      this.#opts.onStopped?.(code);
      return;
    }
    if (code === EXIT_SCHEDULER_GONE) {
      // No scheduler to serve: starting another worker would only fail the same way.
      log.warn("worker gave up on its scheduler; not starting another", { name: this.name, address });
      this.#state = "stopped";
      this.#opts.onStopped?.(code);
      return;
    }
    const delayMs = restartDelayMs(0, Date.now() - this.#lastStartMs);
    log.warn("worker exited; starting a new one", { name: this.name, address, exit: describeExit(code, signal), inMs: delayMs });
    this.#scheduleStart(delayMs);
  }

  /** A restart attempt failed before the worker was ready: try again, waiting longer each time. */
  #startFailed(why: string): void {
    this.#failedStarts++;
    const delayMs = restartDelayMs(this.#failedStarts, Date.now() - this.#lastStartMs);
    this.#state = "waiting";
    log.warn("a new worker could not start; trying again", { name: this.name, why, attempts: this.#failedStarts, inMs: delayMs });
    this.#scheduleStart(delayMs);
  }

  #scheduleStart(delayMs: number): void {
    this.#restarting = true;
    this.#restartTimer = setTimeout(() => {
      if (this.#state !== "waiting") return;
      this.restarts++;
      this.#spawn().then(
        (address) => log.info("worker started again", { name: this.name, address, restarts: this.restarts }),
        () => undefined, // #startFailed already scheduled the next attempt
      );
    }, delayMs);
    if (!this.#opts.holdProcess) this.#restartTimer.unref();
  }

  // ------------------------------------------------------------ memory

  #watchMemory(child: ChildProcess): void {
    const limitBytes = this.#opts.config.memoryLimit;
    const pid = child.pid;
    if (!pid || !(limitBytes > 0)) return;
    if (!HAS_PROC) {
      warnNoProcOnce();
      return;
    }
    let reading = false;
    this.#memoryTimer = setInterval(() => {
      if (reading) return;
      reading = true;
      residentBytes(pid).then(
        (rssBytes) => {
          reading = false;
          if (rssBytes === undefined || child !== this.#child || this.#state !== "running") return;
          if (rssBytes > RESTART_FRACTION * limitBytes) this.#memoryRestart(child, rssBytes, limitBytes);
        },
        () => {
          reading = false;
        },
      );
    }, MEMORY_POLL_MS);
    this.#memoryTimer.unref();
  }

  #stopMemoryWatch(): void {
    clearInterval(this.#memoryTimer);
    this.#memoryTimer = undefined;
  }

  /** Above 95 % of its limit (R-FAIL-7): ask the worker to go, kill it if it does not; the exit brings a new one. */
  #memoryRestart(child: ChildProcess, rssBytes: number, limitBytes: number): void {
    this.#stopMemoryWatch();
    this.memoryRestarts++;
    log.warn("worker is above 95% of its memory limit; restarting it", { name: this.name, address: this.#address, rssBytes, limitBytes });
    const msg: MemoryRestart = { type: "memory-restart", rssBytes, limitBytes };
    if (child.connected) child.send(msg, () => undefined); // a closed channel means it is exiting anyway
    setTimeout(() => {
      if (isRunning(child)) child.kill("SIGKILL");
    }, MEMORY_KILL_AFTER_MS).unref();
  }
}

/**
 * How long to wait before starting a worker again: its starts are at least
 * MIN_RESTART_INTERVAL_MS apart, and twice as far apart after each start in a
 * row that failed, up to MAX_RESTART_INTERVAL_MS.
 */
export function restartDelayMs(failedStarts: number, sinceLastStartMs: number): number {
  const intervalMs = Math.min(MAX_RESTART_INTERVAL_MS, MIN_RESTART_INTERVAL_MS * 2 ** failedStarts);
  return Math.max(0, intervalMs - sinceLastStartMs);
}

const HAS_PROC = existsSync("/proc/self/status");
let warnedNoProc = false;

function warnNoProcOnce(): void {
  if (warnedNoProc) return;
  warnedNoProc = true;
  log.warn("this system has no /proc: workers' memory is not watched, and none is restarted for exceeding its memory limit");
}

/** Resident memory of a process, from /proc (Linux); undefined once it has exited. */
async function residentBytes(pid: number): Promise<number | undefined> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** The process and its IPC channel no longer keep this process alive (R-PKG-6). */
function unrefChild(child: ChildProcess): void {
  child.channel?.unref();
  child.unref();
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

/** The options as the worker process reads them from its environment: TLS material as PEM text, not Buffers. */
function childConfig(config: WorkerOptions): WorkerOptions {
  if (!config.tls) return config;
  const { cert, key, ca } = config.tls;
  return { ...config, tls: { cert: String(cert), key: String(key), ca: String(ca) } };
}

/** `signal` then, if it lingers `graceMs`, SIGKILL; resolves once the process is gone. */
function stopProcess(child: ChildProcess, signal: NodeJS.Signals, graceMs: number, holdProcess: boolean): Promise<void> {
  if (!isRunning(child)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), signal === "SIGKILL" ? 0 : graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    // Someone waits for this stop: the process must stay alive until it is done.
    if (!holdProcess) child.ref();
    child.kill(signal);
  });
}
