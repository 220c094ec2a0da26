// What a thread's answer becomes on the main thread: a payload held here, the
// reply to the request that caused it, or the error of a task whose thread
// ended without answering.

import type { ErrorInfo, Key, RunFunctionReply } from "../protocol/messages.js";
import { Payload } from "../protocol/payload.js";
import { errorInfoOf } from "../serialize/index.js";
import type { Part } from "../shm/index.js";
import { mappedPayload } from "../transfer/shared.js";
import { partsFromThread, type ThreadDone } from "./thread-protocol.js";
import type { ThreadDeath } from "./threads.js";

/** A thread's successful answer as a payload held here (segments the thread made become this thread's, unmapped). */
export function resultOf(done: Extract<ThreadDone, { ok: true }>): Payload<Part> {
  return new Payload(partsFromThread(done.value));
}

/** A thread's answer, as the reply to the request that caused it. */
export function replyOf(done: ThreadDone): RunFunctionReply {
  return done.ok ? { ok: true, value: mappedPayload(resultOf(done)) } : { ok: false, error: done.error };
}

/** Why a task failed when the thread running it ended without an answer. */
export function deathError(key: Key, died: ThreadDeath, detail: string, memoryLimit: number): ErrorInfo {
  if (died === "memory") {
    return errorInfoOf(
      "WorkerMemoryError",
      `task ${key} ran out of memory: ${detail} (half of this worker's memory limit of ${formatBytes(memoryLimit)}); ` +
        "its thread was replaced and the worker carries on. Keep less in memory at once, or give workers a larger memoryLimit.",
    );
  }
  if (died === "stopped") return errorInfoOf("CancelledError", `task ${key} was stopped: ${detail}`);
  return errorInfoOf("Error", `task ${key} did not finish: ${detail}`);
}

export function formatBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.round(n / 2 ** 20)} MiB`;
}
