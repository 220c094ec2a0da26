// A worker's link to its scheduler: registering, heartbeats and the lease
// they renew, finished tasks reported in batches, and reaching a scheduler
// again after losing it (R-FAIL-9), until `schedulerTimeout` runs out.

import { randomBytes } from "node:crypto";
import { waitAtMost } from "../bounded-wait.js";
import { connect, type Connection } from "../comm/index.js";
import { createLogger } from "../log.js";
import { accepting, messageWeight } from "../protocol/schemas.js";
import type { AwaitStopped, Heartbeat, Key, RegisterWorker, SchedulerToWorker, Story, TasksFinished, WorkerRejoin, WorkerRequest, WorkerToScheduler } from "../protocol/messages.js";
import type { ResolvedWorkerOptions } from "./options.js";

const log = createLogger("worker");

/** Most finished tasks reported in one message. */
const MAX_REPORTED = 1024;
/** A retiring worker not told `retired` this long after its retire timeout (a scheduler gone quiet) leaves anyway. */
const RETIRE_MARGIN_MS = 5000;

/** What the link needs of its worker. */
export interface LinkHost {
  /** It is shutting down: nothing to rejoin for. */
  closing(): boolean;
  /** Who this worker is, as it registers. */
  registration(): Omit<RegisterWorker, "op" | "incarnation" | "restarts" | "rejoin">;
  /** What it holds, for a scheduler started in place of `schedulerId`. */
  rejoinReport(schedulerId: string): WorkerRejoin;
  /** What a heartbeat sent at `sentAt` carries; asked only when it will be sent. */
  heartbeat(sentAt: number): Omit<Heartbeat, "op">;
  fromScheduler(msg: SchedulerToWorker): void;
  request(msg: WorkerRequest | AwaitStopped | Story): unknown;
  /** The connection to the scheduler closed (it was the current one, and the worker is not closing). */
  lost(conn: Connection): void;
  /** Registered again after a loss. */
  rejoined(): void;
  /** The lease holds again: start queued tasks. */
  dispatch(): void;
  close(fault?: string): Promise<void>;
}

export class SchedulerLink {
  readonly #opts: ResolvedWorkerOptions;
  readonly #host: LinkHost;
  #conn?: Connection;
  /** Names this process to the scheduler: a restart at the same address is another worker (R-FAIL-3). */
  readonly #incarnation = randomBytes(8).toString("hex");
  /** The scheduler process this worker registered with, for a rejoin (R-FAIL-9). */
  #schedulerId: string | undefined;
  #heartbeatTimeoutMs = 0;
  /**
   * Until when (Date.now()) the scheduler surely still counts this worker in:
   * the time a heartbeat that it answered was sent, plus its heartbeat
   * timeout. Shared with the threads, which start no queued task past it: a
   * worker the scheduler removed (it stopped answering, e.g. a stopped
   * process that resumes) never runs tasks the scheduler gave to others.
   */
  readonly #lease = new Float64Array(new SharedArrayBuffer(8));
  #heartbeat?: NodeJS.Timeout;
  #gone = false;
  /** Plain tasks finished and not reported yet: they leave together, at the end of the current job at the latest. */
  #finished: TasksFinished | undefined;

  constructor(opts: ResolvedWorkerOptions, host: LinkHost) {
    this.#opts = opts;
    this.#host = host;
  }

  /** The lease's memory, for the threads to read. */
  get leaseBuffer(): SharedArrayBuffer {
    return this.#lease.buffer as SharedArrayBuffer;
  }

  get isOpen(): boolean {
    return this.#conn?.isOpen ?? false;
  }

  /** It stopped because it could not reach its scheduler again for `schedulerTimeout`. */
  get gone(): boolean {
    return this.#gone;
  }

  /**
   * Connects to the scheduler and registers; `rejoin`: after losing it, with
   * what this worker holds, for a scheduler started in its place to rebuild
   * from (R-FAIL-9). Throws WorkerRemoved when the scheduler itself removed this
   * worker: it gave the work away, and this worker must start afresh.
   */
  async join(rejoin: boolean): Promise<void> {
    const opts = this.#opts;
    const host = this.#host;
    const conn = await connect(opts.scheduler, {
      token: opts.token,
      role: "worker",
      timeoutMs: opts.connectTimeoutMs,
      tls: opts.tls,
    });
    conn.schema = accepting("worker-from-scheduler");
    conn.weigh = messageWeight;
    conn.onMessage = (msg) => {
      try {
        host.fromScheduler(msg as SchedulerToWorker);
      } catch (err) {
        // Checked against its schema already: a throw is a bug here, and this worker's state can no longer be trusted.
        // It stops with a fault; its supervisor starts a new one, and the scheduler treats its keys as any dead worker's.
        log.error("the worker failed to handle a message from the scheduler; stopping", { op: msg.op, key: (msg as { key?: unknown }).key, error: String((err as Error)?.stack ?? err) });
        void host.close(`failed to handle a "${msg.op}" message: ${(err as Error)?.message ?? err}`);
      }
    };
    conn.onRequest = (msg) => host.request(msg as WorkerRequest | AwaitStopped | Story);
    void conn.closed.then(() => {
      if (host.closing() || conn !== this.#conn) return;
      this.#conn = undefined;
      host.lost(conn);
    });
    const sentAt = Date.now();
    const { address, name, nthreads, actorThreads, resources, memoryLimit, metricsUrl } = host.registration();
    const reply = await conn.request({
      op: "register-worker",
      address,
      name,
      nthreads,
      actorThreads,
      resources,
      incarnation: this.#incarnation,
      memoryLimit,
      ...(opts.restarts ? { restarts: opts.restarts } : {}),
      metricsUrl,
      ...(rejoin && this.#schedulerId !== undefined ? { rejoin: host.rejoinReport(this.#schedulerId) } : {}),
    });
    if (reply.removed) {
      conn.close("removed by the scheduler");
      throw new WorkerRemoved();
    }
    this.#schedulerId = reply.schedulerId;
    this.#conn = conn;
    this.#heartbeatTimeoutMs = reply.heartbeatTimeoutMs;
    this.#renewLease(sentAt);
  }

  /** Tries to reach a scheduler again after losing it, for `schedulerTimeout`; the worker closes if none answers. */
  async rejoin(): Promise<void> {
    const deadline = Date.now() + this.#opts.schedulerTimeout;
    for (let delayMs = 100; !this.#host.closing(); delayMs = Math.min(2 * delayMs, 1000)) {
      try {
        await this.join(true);
        log.info("rejoined the scheduler", { scheduler: this.#opts.scheduler });
        this.#host.rejoined();
        return;
      } catch (err) {
        if (err instanceof WorkerRemoved) {
          void this.#host.close("removed by the scheduler (it stopped hearing from this worker): starting afresh as a new worker");
          return;
        }
        if (Date.now() + delayMs >= deadline) {
          this.#gone = true;
          void this.#host.close(`lost the connection to the scheduler at ${this.#opts.scheduler} and could not reach it again within ${this.#opts.schedulerTimeout} ms`);
          return;
        }
        log.debug("the scheduler is not back yet", { error: String(err) });
      }
      await new Promise((r) => setTimeout(r, delayMs).unref());
    }
  }

  /**
   * Asks the scheduler to retire this worker (R-OPS-2); settles once `closed`
   * does (the scheduler said `retired`), or `retireTimeout` and a margin passed.
   */
  async retire(closed: Promise<unknown>): Promise<void> {
    const timeoutMs = this.#opts.retireTimeout;
    log.info("retiring: handing data and actors over to other workers", { timeoutMs });
    this.send({ op: "retire-worker", timeoutMs });
    await waitAtMost(closed, timeoutMs + RETIRE_MARGIN_MS);
  }

  /** Heartbeats from now on, every `heartbeatIntervalMs`. */
  startHeartbeats(): void {
    this.#heartbeat = setInterval(() => this.#sendHeartbeat(), this.#opts.heartbeatIntervalMs);
    this.#heartbeat.unref();
  }

  /** The scheduler answered something sent at `sentAt`: it counts this worker in until then plus its timeout. */
  #renewLease(sentAt: number): void {
    if (this.#heartbeatTimeoutMs <= 0) return;
    const until = sentAt + this.#heartbeatTimeoutMs;
    if (until <= this.#lease[0]!) return;
    const lapsed = !this.leaseHolds();
    this.#lease[0] = until;
    if (lapsed) this.#host.dispatch();
  }

  leaseHolds(): boolean {
    const until = this.#lease[0]!;
    return until === 0 || Date.now() <= until;
  }

  send(msg: WorkerToScheduler): void {
    // Finished tasks reported earlier go first: the scheduler hears of things in the order they happened.
    this.#reportFinished();
    // The connection writes everything sent in one turn together.
    if (this.#conn?.isOpen) this.#conn.send(msg);
  }

  /** Writes what was sent so far now, before the process exits. */
  flush(): void {
    this.#conn?.flush();
  }

  taskFinished(key: Key, nbytes: number, durationMs: number): void {
    let f = this.#finished;
    if (!f) {
      f = this.#finished = { op: "tasks-finished", keys: [], nbytes: [], durationMs: [] };
      queueMicrotask(() => {
        if (this.#finished === f) this.#reportFinished();
      });
    }
    f.keys.push(key);
    f.nbytes.push(nbytes);
    f.durationMs.push(durationMs);
    if (f.keys.length >= MAX_REPORTED) this.#reportFinished();
  }

  #reportFinished(): void {
    const f = this.#finished;
    if (!f) return;
    this.#finished = undefined;
    if (this.#conn?.isOpen) this.#conn.send(f);
  }

  #sendHeartbeat(): void {
    this.#reportFinished();
    const conn = this.#conn;
    if (!conn?.isOpen) return;
    const sentAt = Date.now();
    conn.request({ op: "heartbeat", ...this.#host.heartbeat(sentAt) }).then(
      () => this.#renewLease(sentAt),
      () => undefined, // the connection's close says what happened
    );
  }

  close(): void {
    clearInterval(this.#heartbeat);
    this.#conn?.close("worker closing");
  }
}

/** The scheduler refused a rejoin: it removed this worker. */
class WorkerRemoved extends Error {}
