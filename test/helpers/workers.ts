// What tests of supervision ask about worker processes.

import type { Client } from "../../src/index.js";
import { pid } from "../fixtures/failures.js";

/** Whether a process with this id exists. */
export function alive(p: number): boolean {
  try {
    process.kill(p, 0);
    return true;
  } catch {
    return false;
  }
}

/** Worker process ids by worker address, from the workers themselves; none while a dead one is still listed. */
export async function workerPids(client: Client): Promise<Record<string, number>> {
  return client.run(pid).catch(() => ({}));
}
