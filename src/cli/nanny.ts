// `troupe worker` without --no-nanny: this process only supervises the real
// worker, a child process it restarts whenever that exits without being asked
// to (R-FAIL-5), or grows past its memory limit (R-FAIL-7). SIGTERM or SIGINT
// here stop the worker, and this process exits 0.

import { hostname } from "node:os";
import { Supervisor } from "../cluster/supervisor.js";
import type { WorkerOptions } from "../worker/options.js";

export async function runNanny(config: WorkerOptions & { memoryLimit: number }): Promise<void> {
  const supervisor = new Supervisor({
    // One name for every process this nanny starts, as if it were one worker restarting.
    config: { ...config, name: config.name ?? `${hostname()}-${process.pid}` },
    holdProcess: true,
    onUp: (address, httpUrl) => console.log(`troupe worker ${supervisor.name} at ${address}\nhealth at ${httpUrl}health`),
    // The worker was stopped from outside (SIGTERM to it), or gave up on its scheduler: so does its nanny.
    onStopped: (code) => process.exit(code),
  });
  let stopping = false;
  const stop = () => {
    stopping = true;
    void supervisor.stop(true).then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await supervisor.start();
  } catch (err) {
    if (!stopping) throw err; // stopped while starting: the stop exits 0
  }
}
