// `troupe worker` without --no-nanny: this process only supervises the real
// worker, a child process it restarts whenever that exits without being asked
// to (R-FAIL-5), or grows past its memory limit (R-FAIL-7). SIGTERM here
// retires the worker (its data and actors move to other workers, R-OPS-2),
// SIGINT stops it at once; either way this process then exits 0.

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
  const stopWith = (how: () => Promise<void>) => () => {
    stopping = true;
    void how().then(() => process.exit(0));
  };
  process.once("SIGINT", stopWith(() => supervisor.stop(true)));
  process.once("SIGTERM", stopWith(() => supervisor.retire()));
  try {
    await supervisor.start();
  } catch (err) {
    if (!stopping) throw err; // stopped while starting: the stop exits 0
  }
}
