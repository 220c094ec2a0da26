// Every change of state a task may make, in one table, as Dask's
// `_TRANSITIONS_TABLE`. `Tables.setState` checks each change against it, in
// production too: a path that breaks the task model stops at once, naming the
// key and both states, instead of leaving a task where no other path expects it.

import type { Key } from "../protocol/messages.js";
import { stateIndex, TASK_STATES, type TaskStateName } from "./groups.js";

type Table = { readonly [From in TaskStateName]: { readonly [To in TaskStateName]?: string } };

/**
 * The allowed changes, from → to, each with the paths that make it. A task is
 * born waiting; staying in a state is no change.
 */
export const TRANSITIONS: Table = {
  waiting: {
    "no-worker": "its deps are in memory but no worker can run it now (restrictions, resources)",
    processing: "placed on a worker, or chained there behind the deps it misses (chain.ts)",
    memory: "its data turned up before it ran (add-keys, scattered data)",
    released: "nobody needs it any more",
    erred: "a dep failed, or it died on too many workers",
    lost: "scattered onto workers that are all gone",
    cancelled: "cancelled, or a dep was; the cluster restarted",
  },
  "no-worker": {
    waiting: "a dep it counted on left memory",
    processing: "a worker able to run it joined, or resources came free",
    memory: "its data turned up before it ran",
    released: "nobody needs it any more",
    lost: "scattered onto workers that are all gone",
    cancelled: "cancelled, or a dep was; the cluster restarted",
  },
  processing: {
    waiting: "its worker died, erred with retries left, missed a dep, or gave it up to stealing; or a dep chained before it left without a result",
    memory: "finished, or its data turned up elsewhere",
    released: "nobody needs it any more",
    erred: "it failed, or a dep did",
    lost: "scattered onto workers that are all gone",
    cancelled: "cancelled, or a dep was; the cluster restarted",
  },
  memory: {
    released: "its last copy is gone, nobody needs it any more, or the actor was killed",
    cancelled: "the cluster restarted",
  },
  released: {
    waiting: "recomputed from its lineage, or an actor re-created",
    memory: "its data turned up again (add-keys, scattered data)",
    lost: "it cannot be recomputed (no lineage, an actor, allowReconstruction false), or the actor was killed",
    cancelled: "the cluster restarted",
  },
  erred: {
    memory: "its data turned up (add-keys, scattered data)",
    released: "nobody needs it any more",
    lost: "scattered onto workers that are all gone",
    cancelled: "the cluster restarted",
  },
  lost: {
    memory: "its data turned up (add-keys, scattered data)",
    released: "nobody needs it any more",
    cancelled: "the cluster restarted",
  },
  cancelled: {
    waiting: "submitted again",
    memory: "its data turned up (add-keys, scattered data)",
    released: "nobody needs it any more",
    lost: "scattered onto workers that are all gone",
  },
};

const N = TASK_STATES.length;
/** TRANSITIONS as flags by from * N + to: the check costs two switches and a load. */
const ALLOWED = new Uint8Array(N * N);
for (const from of TASK_STATES) for (const to of TASK_STATES) if (TRANSITIONS[from][to] !== undefined) ALLOWED[stateIndex(from) * N + stateIndex(to)] = 1;

/** A task was about to change state in a way TRANSITIONS does not allow: a bug in the state machine. */
export class InvalidTransition extends Error {
  override readonly name = "InvalidTransition";

  constructor(
    readonly key: Key,
    readonly from: TaskStateName,
    readonly to: TaskStateName,
  ) {
    const allowed = Object.keys(TRANSITIONS[from]).join(", ");
    super(`invalid transition of task ${key} from ${from} to ${to} (from ${from} it may go to ${allowed}): the scheduler's state machine took a path its transition table does not allow; this is a bug, report it with the scheduler's log`);
  }
}

/** Throws InvalidTransition unless a task may go from `from` to `to`. */
export function checkTransition(key: Key, from: TaskStateName, to: TaskStateName): void {
  if (ALLOWED[stateIndex(from) * N + stateIndex(to)] !== 1) throw new InvalidTransition(key, from, to);
}
