// Entry of a worker process started by a supervisor (LocalCluster, or the
// `troupe worker` nanny): options come in the TROUPE_WORKER_CONFIG
// environment variable, readiness goes back over IPC. Exit status: 0 when
// asked to stop, 1 after a fault (the supervisor then starts a new worker).
// SIGTERM retires the worker (its data and actors move to other workers
// first, R-OPS-2); SIGINT, or the parent going away, stops it at once.

import { createLogger } from "../log.js";
import { DEFAULT_RETIRE_TIMEOUT_MS } from "../options.js";
import { captureOutput } from "./output-tail.js";
import { EXIT_SCHEDULER_GONE, type WorkerOptions } from "./options.js";
import { Worker } from "./worker.js";

const log = createLogger("worker");

/** A stop that takes longer than this (a stuck actor's dispose hook) ends the process anyway. */
const STOP_DEADLINE_MS = 10_000;

async function main(): Promise<void> {
  const opts = JSON.parse(process.env.TROUPE_WORKER_CONFIG ?? "{}") as WorkerOptions;
  // This process is the worker: what it prints is its log, shown on the dashboard.
  captureOutput();
  const worker = await Worker.start(opts);
  process.send?.({ type: "ready", address: worker.address, name: worker.name, httpUrl: worker.httpUrl });
  const stop = () => {
    // Nobody may be left to SIGKILL us if this hangs (the parent is gone).
    setTimeout(() => process.exit(0), STOP_DEADLINE_MS).unref();
    void worker.close();
  };
  const retire = () => {
    setTimeout(() => process.exit(0), (opts.retireTimeout ?? DEFAULT_RETIRE_TIMEOUT_MS) + STOP_DEADLINE_MS).unref();
    void worker.retire();
  };
  process.on("SIGTERM", retire);
  process.on("SIGINT", stop);
  // The parent went away: nothing will ever stop us otherwise.
  process.on("disconnect", stop);
  // The supervisor measured our memory past the limit: say why to the scheduler before it restarts us.
  process.on("message", (m: { type?: string; rssBytes?: number }) => {
    if (m?.type === "memory-restart") void worker.stopForMemory(m.rssBytes ?? 0);
  });
  const { fault } = await worker.closed;
  if (fault) log.warn("worker stopped because of a fault", { fault });
  process.exit(worker.schedulerGone ? EXIT_SCHEDULER_GONE : fault ? 1 : 0);
}

main().catch((err) => {
  // A supervisor reports the error itself, on one line; the stack is for debugging.
  if (process.send) log.debug("worker failed to start", { error: String(err?.stack ?? err) });
  else log.error("worker failed to start", { error: String(err?.stack ?? err) });
  process.send?.({ type: "failed", error: String(err?.message ?? err) });
  process.exit(1);
});
