// Entry of a worker process started by LocalCluster: options come in the
// TROUPE_WORKER_CONFIG environment variable, readiness goes back over IPC.

import { createLogger } from "../log.js";
import type { WorkerOptions } from "./options.js";
import { Worker } from "./worker.js";

const log = createLogger("worker");

async function main(): Promise<void> {
  const opts = JSON.parse(process.env.TROUPE_WORKER_CONFIG ?? "{}") as WorkerOptions;
  const worker = await Worker.start(opts);
  process.send?.({ type: "ready", address: worker.address, name: worker.name });
  const stop = () => void worker.close();
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // The parent went away: nothing will ever stop us otherwise.
  process.on("disconnect", stop);
  // The supervisor measured our memory past the limit: say why to the scheduler before it restarts us.
  process.on("message", (m: { type?: string; rssBytes?: number }) => {
    if (m?.type === "memory-restart") void worker.stopForMemory(m.rssBytes ?? 0);
  });
  await worker.closed;
  // Non-zero after a fault: a supervisor restarts the worker only then.
  process.exit(worker.fault === undefined ? 0 : 1);
}

main().catch((err) => {
  log.error("worker failed to start", { error: String(err?.stack ?? err) });
  process.send?.({ type: "failed", error: String(err?.message ?? err) });
  process.exit(1);
});
