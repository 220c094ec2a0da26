// Named and detached actors (R-ACT-14). A name is claimed when its actor is
// submitted, so two submissions racing for one name cannot both win, and is
// free again once that actor is gone (released, lost, failed, killed). A
// detached actor is wanted by the scheduler itself (DETACHED) until
// killActor: it outlives the client that made it.

import type { ActorMeta, Key } from "../protocol/messages.js";
import { errorInfoOf } from "../serialize/errors.js";
import { fail, lose } from "./final-states.js";
import { isPending } from "./groups.js";
import { DETACHED } from "./key-state.js";
import { leave } from "./leaving.js";
import type { Task, Tables } from "./tables.js";

/** The live actor holding `name`, if any (a stale entry is dropped). */
export function namedActor(tb: Tables, name: string): Task | undefined {
  const key = tb.actorNames.get(name);
  if (key === undefined) return undefined;
  const t = tb.tasks.get(key);
  if (t && t.actor && (isPending(t.state) || t.state === "memory")) return t;
  tb.actorNames.delete(name);
  return undefined;
}

/**
 * A new actor takes its name, or fails when a live actor holds it already; a
 * detached one is kept by the scheduler from now on. Returns false when it failed.
 */
export function claimName(tb: Tables, t: Task): boolean {
  const o = t.spec!.options;
  if (o.name !== undefined) {
    const holder = namedActor(tb, o.name);
    if (holder && holder !== t) {
      fail(
        tb,
        t,
        errorInfoOf(
          "ConfigError",
          `an actor named ${JSON.stringify(o.name)} already exists (${holder.key}): names are unique among live actors; reach it with client.getActor(${JSON.stringify(o.name)}), or pick another name`,
        ),
      );
      return false;
    }
    tb.actorNames.set(o.name, t.key);
  }
  if (o.lifetime === "detached") tb.want(DETACHED, t);
  return true;
}

/** An actor a worker reported after a scheduler restart: its name and lifetime come back with it. */
export function reclaimName(tb: Tables, t: Task, meta: ActorMeta): void {
  if (meta.name !== undefined && !namedActor(tb, meta.name)) tb.actorNames.set(meta.name, t.key);
  if (meta.lifetime === "detached") tb.want(DETACHED, t);
}

/**
 * killActor: the actor is deleted on its worker now, whoever holds it, and
 * becomes lost for them (their calls reject with ActorLostError); pending
 * tasks depending on it fail. Its name is free from now on.
 */
export function killActor(tb: Tables, key: Key): void {
  const t = tb.tasks.get(key);
  if (!t || !t.actor || t.forgotten) return;
  t.wantedBy.delete(DETACHED);
  const error = errorInfoOf("ActorLostError", `Actor ${key} was killed (killActor); create a new one to go on`);
  if (t.state === "memory") {
    // Deleted on its worker now; "released" first, as for an actor whose worker died.
    leave(tb, t, true);
    tb.setState(t, "released");
  }
  if (t.state === "released" || isPending(t.state)) lose(tb, t, error);
}
