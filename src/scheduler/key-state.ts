// What clients hear about the keys they want: a key-state message whenever
// a key becomes pending again or reaches an outcome.

import type { KeyState, KeyStatus } from "../protocol/messages.js";
import type { ClientId } from "./events.js";
import type { Task, Tables } from "./tables.js";

/** The wanter of keys given to fireAndForget: the scheduler itself, until each is done (clients.ts). */
export const FIRE_AND_FORGET: ClientId = "fire-and-forget";
/** The wanter of detached actors: the scheduler itself, until killActor (actor-names.ts). */
export const DETACHED: ClientId = "detached";
/** The wanter of keys inside values that queues and variables keep (coordination/). */
export const COORDINATION: ClientId = "coordination";
/** The wanter of every key a worker reports after a scheduler restart, until recovery ends (recovery.ts). */
export const RECOVERY: ClientId = "recovery";

export function keyState(t: Task): KeyState {
  const status: KeyStatus =
    t.state === "memory"
      ? "finished"
      : t.state === "erred"
        ? "error"
        : t.state === "lost" || t.state === "cancelled"
          ? t.state
          : "pending";
  const msg: KeyState = { op: "key-state", key: t.key, status };
  if (status === "finished") {
    msg.workers = t.who.toArray();
    if (t.meta) msg.actor = { ...t.meta };
  } else if (t.error && status !== "pending") msg.error = t.error;
  return msg;
}

/** Tells every client wanting the key its state now. */
export function notify(tb: Tables, t: Task): void {
  if (t.wantedBy.size === 0) return;
  const msg = keyState(t);
  for (const c of t.wantedBy) {
    if (c === RECOVERY || c === DETACHED || c === COORDINATION) continue;
    if (c !== FIRE_AND_FORGET) tb.out.keyState(c, msg);
    else if (msg.status !== "pending") tb.fired.push(t);
  }
}
