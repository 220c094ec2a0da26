// A scheduler in this process and workers as child processes (R-CONN-2):
// the embedded cluster behind Client.connect(), tests and benchmarks.

import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { Connection } from "../comm/index.js";
import { CommError, ConfigError } from "../errors.js";
import { Scheduler } from "../scheduler/server.js";
import { onWorkerThread } from "../client/thread-context.js";
import { parkIfEntry, prepareCodeLookup } from "../serialize/index.js";
import type { WorkerOptions } from "../worker/options.js";
import { defaultMemoryLimit, parseBytes } from "../worker/memory-limit.js";
import { defaultWorkerCount } from "../worker/worker.js";

export interface LocalClusterOptions {
  workers?: number;
  threadsPerWorker?: number;
  actorThreads?: number;
  resources?: Record<string, number>;
  token?: string;
  /** Directory workers resolve shipped module paths against (default: cwd). */
  codeRoot?: string;
  /** How long a worker may take to start, ms (default 30000). */
  startTimeout?: number;
  /** Bytes (or a size such as "4GiB") each worker may use; default: the machine's memory divided by the workers. */
  memoryLimit?: number | string;
  /** How long a cancelled task may run on after its signal aborted before its thread is stopped, ms (default 1000). */
  cancelGraceMs?: number;
}

export interface AddWorkerOptions {
  nthreads?: number;
  actorThreads?: number;
  resources?: Record<string, number>;
  name?: string;
  /** Port to listen on (default: any free one); a crashed worker can come back at its old address. */
  port?: number;
}

const isSource = import.meta.url.endsWith(".ts");
const workerMain = fileURLToPath(new URL(isSource ? "../worker/process-main.ts" : "../worker/process-main.js", import.meta.url));

export class LocalCluster {
  readonly token: string;
  readonly #scheduler: Scheduler;
  readonly #opts: LocalClusterOptions;
  readonly #procs = new Map<string, ChildProcess>();
  #count = 0;
  #closing?: Promise<void>;

  private constructor(scheduler: Scheduler, opts: LocalClusterOptions, token: string) {
    this.#scheduler = scheduler;
    this.#opts = opts;
    this.token = token;
  }

  static async start(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
    // A worker importing the script a client runs: the script's work stops here (R-CODE-6).
    const parked = parkIfEntry<LocalCluster>();
    if (parked !== undefined) return parked;
    if (onWorkerThread()) {
      throw new ConfigError(
        "LocalCluster.start() was called on a troupe worker; a worker never starts a cluster of its own: " +
          "use getClient() (or Client.connect() with no address) to reach the cluster it belongs to",
      );
    }
    const n = opts.workers ?? defaultWorkerCount();
    if (!Number.isInteger(n) || n < 0) throw new ConfigError(`workers must be a non-negative integer, got ${String(n)}`);
    const token = opts.token ?? randomBytes(24).toString("hex");
    const scheduler = await Scheduler.start({ host: "127.0.0.1", port: 0, token });
    const cluster = new LocalCluster(scheduler, opts, token);
    try {
      const started = Promise.all(Array.from({ length: n }, () => cluster.addWorker()));
      // This process has little to do while the workers boot: get the first submit's code lookup out of the way.
      setImmediate(() => {
        try {
          prepareCodeLookup();
        } catch {
          // no inspector here: the first lookup will say so
        }
      });
      await started;
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  get schedulerAddress(): string {
    return this.#scheduler.address;
  }

  /** @internal A connection to the scheduler from this process, without a socket. */
  _connectLocal(): Connection {
    return this.#scheduler.connectLocal();
  }

  workerAddresses(): string[] {
    return [...this.#procs.keys()];
  }

  /** Start one more worker process; resolves to its address once it has joined. */
  addWorker(options: AddWorkerOptions = {}): Promise<string> {
    if (this.#closing) return Promise.reject(new CommError("the cluster is closed"));
    const config: WorkerOptions = {
      scheduler: this.#scheduler.address,
      token: this.token,
      nthreads: options.nthreads ?? this.#opts.threadsPerWorker ?? 1,
      actorThreads: options.actorThreads ?? this.#opts.actorThreads ?? 1,
      resources: options.resources ?? this.#opts.resources,
      name: options.name ?? `worker-${this.#count++}`,
      port: options.port,
      codeRoot: this.#opts.codeRoot ?? process.cwd(),
      memoryLimit: parseBytes(this.#opts.memoryLimit ?? defaultMemoryLimit(this.#opts.workers ?? defaultWorkerCount())),
      cancelGraceMs: this.#opts.cancelGraceMs,
    };
    const child = fork(workerMain, [], {
      env: { ...process.env, TROUPE_WORKER_CONFIG: JSON.stringify(config) },
      // TROUPE_WORKER_NODE_ARGS: extra node flags for worker processes (e.g. --cpu-prof when profiling).
      execArgv: [...(isSource ? ["--import", "tsx"] : []), ...(process.env.TROUPE_WORKER_NODE_ARGS?.split(" ").filter(Boolean) ?? [])],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const timeoutMs = this.#opts.startTimeout ?? 30_000;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new CommError(`worker ${config.name} did not start within ${timeoutMs} ms`));
      }, timeoutMs);
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new CommError(`worker ${config.name} exited during startup (code ${code}); see its log above`));
      };
      child.once("exit", onExit);
      child.on("message", (m: { type: string; address?: string; error?: string }) => {
        if (m.type === "failed") return; // the exit that follows rejects
        if (m.type !== "ready" || !m.address) return;
        clearTimeout(timer);
        child.off("exit", onExit);
        const address = m.address;
        this.#procs.set(address, child);
        child.once("exit", () => {
          if (this.#procs.get(address) === child) this.#procs.delete(address);
        });
        // The IPC channel must not keep the parent alive.
        child.channel?.unref();
        resolve(address);
      });
    });
  }

  /** Stop one worker: gracefully (SIGTERM, its actors disposed) or by SIGKILL to simulate a crash. */
  async stopWorker(address: string, options: { graceful?: boolean } = {}): Promise<void> {
    const child = this.#procs.get(address);
    if (!child) throw new ConfigError(`no worker of this cluster at ${address}; workerAddresses() lists them`);
    this.#procs.delete(address);
    await stopProcess(child, options.graceful ?? true);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const procs = [...this.#procs.values()];
      this.#procs.clear();
      await Promise.all(procs.map((p) => stopProcess(p, true)));
      await this.#scheduler.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

const GRACE_MS = 5000;

/** SIGTERM then, if it lingers, SIGKILL; resolves once the process is gone. */
function stopProcess(child: ChildProcess, graceful: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), graceful ? GRACE_MS : 0);
    if (graceful) child.kill("SIGTERM");
    else child.kill("SIGKILL");
  });
}
