// A scheduler in this process and workers as child processes (R-CONN-2),
// each under a Supervisor that restarts it (R-FAIL-5): the embedded cluster
// behind Client.connect(), tests and benchmarks.

import { waitAtMost } from "../bounded-wait.js";
import type { Connection } from "../comm/index.js";
import { CommError, ConfigError } from "../errors.js";
import { DEFAULT_DASHBOARD_PORT } from "../scheduler/options.js";
import { Scheduler } from "../scheduler/server.js";
import { onWorkerThread } from "../client/thread-context.js";
import { parkIfEntry, prepareCodeLookup } from "../serialize/index.js";
import { Adaptive } from "./adaptive.js";
import {
  resolveAdaptOptions,
  resolveAddWorkerOptions,
  resolveLocalClusterOptions,
  type AdaptOptions,
  type AddWorkerOptions,
  type LocalClusterOptions,
  type ResolvedLocalClusterOptions,
} from "./options.js";
import { Supervisor } from "./supervisor.js";

/** How often a worker of the cluster was started again, and how many of those restarts its memory caused. */
export interface WorkerRestarts {
  restarts: number;
  memoryRestarts: number;
}

/** How long stopWorker waits for the scheduler to see a stopped worker's connection close. */
const STOPPED_WORKER_NOTICE_MS = 5_000;

/** Whether an embedded cluster of this process printed its dashboard's link already. */
let linkPrinted = false;

export class LocalCluster {
  readonly token: string;
  readonly #scheduler: Scheduler;
  readonly #opts: ResolvedLocalClusterOptions;
  /** One per worker added and not stopped, by worker name; restarted workers keep theirs. */
  readonly #workers = new Map<string, Supervisor>();
  #count = 0;
  #adaptive?: Adaptive;
  #closing?: Promise<void>;
  /** When this process exits, however it exits, its workers go too (R-PKG-6). */
  readonly #onProcessExit = () => {
    for (const s of this.#workers.values()) s.stopNow();
  };

  private constructor(scheduler: Scheduler, opts: ResolvedLocalClusterOptions) {
    this.#scheduler = scheduler;
    this.#opts = opts;
    this.token = opts.token;
    process.on("exit", this.#onProcessExit);
  }

  static async start(options?: LocalClusterOptions): Promise<LocalCluster> {
    // A worker importing the script a client runs: the script's work stops here (R-CODE-6).
    const parked = parkIfEntry<LocalCluster>();
    if (parked !== undefined) return parked;
    if (onWorkerThread()) {
      throw new ConfigError(
        "LocalCluster.start() was called on a troupe worker; a worker never starts a cluster of its own: " +
          "use getClient() (or Client.connect() with no address) to reach the cluster it belongs to",
      );
    }
    const opts = resolveLocalClusterOptions(options);
    // Only what its user waits for keeps the process alive (R-PKG-6): not the cluster's listener, nor its workers.
    const scheduler = await Scheduler.start({
      token: opts.token,
      holdProcess: false,
      dashboardPort: opts.dashboard ? DEFAULT_DASHBOARD_PORT : undefined,
      dashboardFallback: true,
    });
    const cluster = new LocalCluster(scheduler, opts);
    try {
      const started = Promise.all(Array.from({ length: opts.workers }, () => cluster.addWorker()));
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
    const link = cluster.dashboardLink;
    // Once per process (a script starts one cluster, a test suite many), on stderr: stdout is the script's own output.
    if (link !== undefined && !linkPrinted) {
      linkPrinted = true;
      process.stderr.write(`troupe dashboard at ${link}\n`);
    }
    return cluster;
  }

  get schedulerAddress(): string {
    return this.#scheduler.address;
  }

  /** Where the dashboard is opened; undefined with `dashboard: false`. */
  get dashboardLink(): string | undefined {
    return this.#scheduler.dashboardLink;
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
  async addWorker(options?: AddWorkerOptions): Promise<string> {
    if (this.#closing) throw new CommError("the cluster is closed");
    const o = resolveAddWorkerOptions(options, this.#opts);
    const name = o.name ?? `worker-${this.#count++}`;
    if (this.#workers.has(name)) throw new ConfigError(`the cluster already has a worker named ${name}; give another name`);
    const supervisor = new Supervisor({
      config: {
        scheduler: this.#scheduler.address,
        token: this.token,
        nthreads: o.nthreads,
        actorThreads: o.actorThreads,
        resources: o.resources,
        name,
        port: o.port,
        codeRoot: this.#opts.codeRoot,
        memoryLimit: o.memoryLimit,
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

  /**
   * Scale with the work (R-OPS-3), as Dask's adapt(): workers are added
   * while tasks queue (one thread per task running or waiting for a worker),
   * up to `maximum`, and idle ones retired (their data moved first, as
   * client.retireWorkers does) down to `minimum` once fewer would do for
   * `waitCount` looks in a row. A later adapt() replaces this one; `stop()`
   * on the result ends it, keeping the workers there are.
   */
  adapt(options?: AdaptOptions): Adaptive {
    if (this.#closing) throw new CommError("the cluster is closed");
    const opts = resolveAdaptOptions(options);
    this.#adaptive?.stop();
    this.#adaptive = new Adaptive(
      {
        info: () => this.#scheduler.info(),
        workerCount: () => this.#adaptableCount(),
        threadsPerWorker: this.#opts.threadsPerWorker,
        addWorker: () => this.addWorker(),
        retireWorkers: (addresses, timeoutMs) => this.#scheduler.retireWorkers(addresses, timeoutMs),
      },
      opts,
    );
    return this.#adaptive;
  }

  /** Workers starting or serving, not retiring nor retired: what adapting counts. */
  #adaptableCount(): number {
    const known = this.#scheduler.info().workers;
    let n = 0;
    for (const s of this.#workers.values()) {
      const address = s.address;
      // Starting (no address yet) counts; one the scheduler no longer lists, or lists as retiring, is on its way out.
      if (address === undefined ? s.starting : known[address] !== undefined && known[address].status !== "retiring") n++;
    }
    return n;
  }

  /** Stop one worker, for good: gracefully (SIGINT: it closes, its actors disposed) or by SIGKILL to simulate a crash. */
  async stopWorker(address: string, options: { graceful?: boolean } = {}): Promise<void> {
    const entry = [...this.#workers].find(([, s]) => s.address === address);
    if (!entry) throw new ConfigError(`no worker of this cluster at ${address}; workerAddresses() lists them`);
    this.#workers.delete(entry[0]);
    const gone = this.#scheduler.untilWorkerGone(address);
    await entry[1].stop(options.graceful ?? true);
    // Its connection closed with the process; once the scheduler has seen that, no call is routed to it.
    await waitAtMost(gone, STOPPED_WORKER_NOTICE_MS);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#adaptive?.stop();
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
