// A scheduler in this process and workers as child processes (R-CONN-2),
// each under a Supervisor that restarts it (R-FAIL-5): the embedded cluster
// behind Client.connect(), tests and benchmarks.

import { randomBytes } from "node:crypto";
import type { Connection } from "../comm/index.js";
import { CommError, ConfigError } from "../errors.js";
import { Scheduler } from "../scheduler/server.js";
import { onWorkerThread } from "../client/thread-context.js";
import { parkIfEntry, prepareCodeLookup } from "../serialize/index.js";
import { defaultMemoryLimit, parseBytes } from "../worker/memory-limit.js";
import { defaultWorkerCount } from "../worker/worker.js";
import { Supervisor } from "./supervisor.js";

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
  /**
   * Memory each worker may use: bytes, or a size such as "4GiB" (default: the
   * machine's memory divided by `workers`). Above 95 % of it the worker is restarted.
   */
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
  /** Bytes, or a size such as "4GiB" (default: the cluster's `memoryLimit`). */
  memoryLimit?: number | string;
}

/** How often a worker of the cluster was started again, and how many of those restarts its memory caused. */
export interface WorkerRestarts {
  restarts: number;
  memoryRestarts: number;
}

export class LocalCluster {
  readonly token: string;
  readonly #scheduler: Scheduler;
  readonly #opts: LocalClusterOptions;
  readonly #memoryLimit: number;
  /** One per worker added and not stopped, by worker name; restarted workers keep theirs. */
  readonly #workers = new Map<string, Supervisor>();
  #count = 0;
  #closing?: Promise<void>;
  /** When this process exits, however it exits, its workers go too (R-PKG-6). */
  readonly #onProcessExit = () => {
    for (const s of this.#workers.values()) s.stopNow();
  };

  private constructor(scheduler: Scheduler, opts: LocalClusterOptions, token: string, memoryLimit: number) {
    this.#scheduler = scheduler;
    this.#opts = opts;
    this.token = token;
    this.#memoryLimit = memoryLimit;
    process.on("exit", this.#onProcessExit);
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
    const memoryLimit = opts.memoryLimit === undefined ? defaultMemoryLimit(n) : parseBytes(opts.memoryLimit);
    const token = opts.token ?? randomBytes(24).toString("hex");
    // Only what its user waits for keeps the process alive (R-PKG-6): not the cluster's listener, nor its workers.
    const scheduler = await Scheduler.start({ host: "127.0.0.1", port: 0, token, holdProcess: false });
    const cluster = new LocalCluster(scheduler, opts, token, memoryLimit);
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

  /** The addresses of the workers up now (a worker being restarted is not listed until it is back). */
  workerAddresses(): string[] {
    const out: string[] = [];
    for (const s of this.#workers.values()) if (s.address) out.push(s.address);
    return out;
  }

  /** Restarts of each worker so far, by worker name. */
  workerRestarts(): Record<string, WorkerRestarts> {
    const out: Record<string, WorkerRestarts> = {};
    for (const [name, s] of this.#workers) out[name] = { restarts: s.restarts, memoryRestarts: s.memoryRestarts };
    return out;
  }

  /**
   * Start one more worker process; resolves to its address once it has
   * joined. From then on the cluster restarts it whenever it exits without
   * being stopped (R-FAIL-5).
   */
  async addWorker(options: AddWorkerOptions = {}): Promise<string> {
    if (this.#closing) throw new CommError("the cluster is closed");
    const name = options.name ?? `worker-${this.#count++}`;
    if (this.#workers.has(name)) throw new ConfigError(`the cluster already has a worker named ${name}; give another name`);
    const supervisor = new Supervisor({
      config: {
        scheduler: this.#scheduler.address,
        token: this.token,
        nthreads: options.nthreads ?? this.#opts.threadsPerWorker ?? 1,
        actorThreads: options.actorThreads ?? this.#opts.actorThreads ?? 1,
        resources: options.resources ?? this.#opts.resources,
        name,
        port: options.port,
        codeRoot: this.#opts.codeRoot ?? process.cwd(),
        memoryLimit: options.memoryLimit === undefined ? this.#memoryLimit : parseBytes(options.memoryLimit),
        cancelGraceMs: this.#opts.cancelGraceMs,
      },
      startTimeoutMs: this.#opts.startTimeout,
      holdProcess: false,
      // A worker that exits 0 on its own was asked to stop by someone else: it is no longer the cluster's.
      onStopped: () => {
        if (this.#workers.get(name) === supervisor) this.#workers.delete(name);
      },
    });
    this.#workers.set(name, supervisor);
    try {
      return await supervisor.start();
    } catch (err) {
      this.#workers.delete(name);
      throw err;
    }
  }

  /** Stop one worker, for good: gracefully (SIGTERM, its actors disposed) or by SIGKILL to simulate a crash. */
  async stopWorker(address: string, options: { graceful?: boolean } = {}): Promise<void> {
    const entry = [...this.#workers].find(([, s]) => s.address === address);
    if (!entry) throw new ConfigError(`no worker of this cluster at ${address}; workerAddresses() lists them`);
    this.#workers.delete(entry[0]);
    await entry[1].stop(options.graceful ?? true);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const workers = [...this.#workers.values()];
      this.#workers.clear();
      await Promise.all(workers.map((s) => s.stop(true)));
      process.off("exit", this.#onProcessExit);
      await this.#scheduler.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
