// Code the scheduler sent a worker, kept by the number later compute messages
// name it with, and those messages turned into plain compute-tasks.

import type { Address, CodeRef, ComputeTask, ComputeTaskById, ComputeTasks, Key, TaskErred } from "../protocol/messages.js";
import { NO_HOLDERS } from "../protocol/messages.js";
import { errorInfoOf } from "../serialize/index.js";

export class SentCode {
  readonly #code = new Map<number, CodeRef>();

  /**
   * Each task `msg` asks for, in order, as a compute-task for `compute`, or,
   * when it names code this connection never sent, as the error to report.
   */
  expand(msg: ComputeTask | ComputeTaskById | ComputeTasks, compute: (task: ComputeTask) => void, erred: (msg: TaskErred) => void): void {
    switch (msg.op) {
      case "compute-task":
        if (msg.fnId !== undefined) this.#code.set(msg.fnId, msg.fn);
        return compute(msg);
      case "compute-task-by-id": {
        const fn = this.#code.get(msg.fnId);
        const { fnId: _id, ...rest } = msg;
        return fn ? compute({ ...rest, op: "compute-task", fn }) : erred(codeNotSent(msg.fnId, msg.key));
      }
      case "compute-tasks": {
        // Plain tasks sent together: each becomes a compute-task of its own here.
        const fn = this.#code.get(msg.fn);
        for (let i = 0; i < msg.keys.length; i++) {
          const key = msg.keys[i]!;
          if (fn) compute({ op: "compute-task", key, fn, args: msg.args[i]!, whoHas: NO_HOLDERS as Record<Key, Address[]>, actor: false, priority: msg.priority[i]! });
          else erred(codeNotSent(msg.fn, key));
        }
      }
    }
  }
}

/** A task named code by a number this connection never gave it: it cannot run. */
function codeNotSent(fn: number, key: Key): TaskErred {
  const error = errorInfoOf("ProtocolError", `the scheduler named code ${fn} for ${key} without sending it first`);
  return { op: "task-erred", key, error };
}
