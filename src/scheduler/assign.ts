// A task goes to a worker: it becomes processing there, takes a slot and its
// resources, and a compute-task carries it with where each of its deps lives.

import type { Address, Key } from "../protocol/messages.js";
import { NO_HOLDERS } from "../protocol/messages.js";
import type { Task, Tables } from "./tables.js";

export function assign(tb: Tables, t: Task, address: Address): void {
  const w = tb.workers.get(address)!;
  t.processingOn = address; // first: the story names the worker
  tb.setState(t, "processing");
  t.waitingOn = 0;
  w.nprocessing++;
  if (t.actor) w.actorsStarting++;
  tb.hold(w, t.spec!.options.resources, 1);
  sendCompute(tb, t);
}

/** (Re)sends a processing task to its worker with the current holders of its deps. */
export function sendCompute(tb: Tables, t: Task): void {
  const spec = t.spec!;
  const o = spec.options;
  const address = t.processingOn!;
  const whoHas: Record<Key, Address[]> = spec.deps.length === 0 ? (NO_HOLDERS as Record<Key, Address[]>) : {};
  const nbytes: Record<Key, number> = {};
  for (const dk of spec.deps) {
    // Actors too: the value of an actor's key is a live handle, fetched from its worker.
    // A dep still processing on the same worker has no holder yet: the worker waits for it (chain.ts).
    const d = tb.tasks.get(dk)!;
    whoHas[dk] = d.who.toArray();
    if (d.nbytes > 0) nbytes[dk] = d.nbytes;
  }
  tb.out.computeTask(address, t.key, {
    to: "worker",
    address,
    msg: {
      op: "compute-task",
      key: t.key,
      fn: spec.fn,
      args: spec.args,
      whoHas,
      ...(spec.deps.length > 0 ? { nbytes } : {}),
      actor: t.actor,
      priority: o.priority ?? 0,
      ...(o.resources ? { resources: o.resources } : {}),
      ...(t.actor && t.incarnation > 0 ? { incarnation: t.incarnation } : {}),
      ...(t.actor && o.name !== undefined ? { name: o.name } : {}),
      ...(t.actor && o.lifetime !== undefined ? { lifetime: o.lifetime } : {}),
      ...(t.actor && o.maxConcurrency !== undefined ? { maxConcurrency: o.maxConcurrency } : {}),
      ...(t.actor && o.checkpointEvery !== undefined ? { checkpointEvery: o.checkpointEvery } : {}),
    },
  });
}
