// The scheduler's state machine: which keys exist, who wants them, where they
// live, which worker runs what. Sans-I/O: `handle(event, now)` returns the
// messages to send. No timers, no clock: time only arrives as `now`.
//
// This file routes each event to the module of its concept; what the
// scheduler knows is in tables.ts, the task states and the changes allowed
// between them in transitions.ts. docs/architecture.md maps every concept
// to its file.

import type { Address, Key, SchedulerInfo, StoryEntry, WhereIsActorReply } from "../protocol/messages.js";
import { killActor, namedActor } from "./actor-names.js";
import { cancelKeys, clientRemoved, fireAndForget, releaseFired, restart, unwant, updateData } from "./clients.js";
import type { Instruction, SchedulerEvent } from "./events.js";
import { updateGraph, wantKeys } from "./graph.js";
import { isPending, type TaskStateName } from "./groups.js";
import { checkInvariants } from "./invariants.js";
import { afterResourcesFreed } from "./place-task.js";
import type { SchedulerMetrics } from "../dashboard/metrics.js";
import { BoundedLabels } from "../metrics/labels.js";
import { actorLocation, actorStates, chooseWorkers, groupMetrics, groupOf, info, whoHas, type ActorState } from "./queries.js";
import { addKeys, missingData, taskErred, taskFinished } from "./results.js";
import { clientRejoined, endRecovery, workerRejoined } from "./recovery.js";
import { progressRetirements, retireWorkers } from "./retire.js";
import { balance, balanceIfIdle, stealResponse } from "./steal-tasks.js";
import { Tables, type SchedulerStateOptions } from "./tables.js";
import { actorsLost, closeSilentWorkers, heartbeat, workerAdded, workerRemoved, workerStatus } from "./workers.js";

export type { ClientId, Instruction, SchedulerEvent } from "./events.js";
export type { TaskStateName } from "./groups.js";
export type { SchedulerStateOptions } from "./tables.js";
export { InvalidTransition, TRANSITIONS } from "./transitions.js";
export { COORDINATION } from "./key-state.js";

export class SchedulerState {
  readonly #tb: Tables;
  readonly #groupLabels = new BoundedLabels();
  /** Events handled: each one's number is part of its cause id. */
  #events = 0;

  constructor(opts: SchedulerStateOptions = {}) {
    this.#tb = new Tables(opts);
  }

  /** `at`: `now` on the clock stories are ordered by across processes (default: `now`). */
  handle(event: SchedulerEvent, now: number, at = now): Instruction[] {
    const tb = this.#tb;
    tb.out.reset(); // also drops what an event that threw half-way had queued
    tb.cause = `${event.type}#${++this.#events}`;
    tb.causeAt = at;
    tb.causeWorker = "worker" in event ? event.worker : "address" in event ? event.address : undefined;
    if ("worker" in event) {
      const w = tb.workers.get(event.worker);
      // Messages from a worker already removed are stale: its keys were already dealt with.
      if (!w) return [];
      w.lastSeen = now;
    }
    switch (event.type) {
      case "client-added":
        tb.clients.add(event.client);
        break;
      case "client-rejoined":
        clientRejoined(tb, event.client, event.tasks, event.wanted, event.actors, now);
        break;
      case "client-removed":
        clientRemoved(tb, event.client);
        break;
      case "update-graph":
        updateGraph(tb, event.client, event.tasks, event.wanted);
        break;
      case "release-keys":
        for (const key of event.keys) unwant(tb, event.client, key);
        break;
      case "want-keys":
        wantKeys(tb, event.client, event.keys);
        break;
      case "cancel-keys":
        cancelKeys(tb, event.keys);
        break;
      case "fire-and-forget":
        fireAndForget(tb, event.keys);
        break;
      case "restart":
        restart(tb);
        break;
      case "kill-actor":
        killActor(tb, event.key);
        break;
      case "update-data":
        updateData(tb, event.client, event.who, event.nbytes);
        break;
      case "worker-added":
        workerAdded(tb, event, now);
        if (event.rejoin) workerRejoined(tb, event.address, event.rejoin, now);
        break;
      case "worker-removed":
        workerRemoved(tb, event.address);
        break;
      case "task-finished":
        taskFinished(tb, event.worker, event.key, event.nbytes, event.actor, event.stopMs - event.startMs);
        balanceIfIdle(tb, event.worker);
        break;
      case "tasks-finished":
        for (let i = 0; i < event.keys.length; i++) taskFinished(tb, event.worker, event.keys[i]!, event.nbytes[i]!, undefined, event.durationMs[i]!);
        balanceIfIdle(tb, event.worker);
        break;
      case "steal-response":
        stealResponse(tb, event.worker, event.released, event.kept);
        break;
      case "task-erred":
        taskErred(tb, event.worker, event.key, event.error);
        break;
      case "missing-data":
        missingData(tb, event.worker, event.key, event.holder);
        break;
      case "add-keys":
        addKeys(tb, event.worker, event.keys, event.nbytes);
        break;
      case "heartbeat":
        heartbeat(tb, event);
        break;
      case "worker-status":
        workerStatus(tb, event.worker, event.status);
        break;
      case "actors-lost":
        actorsLost(tb, event.worker, event.keys, event.error);
        break;
      case "retire-workers":
        retireWorkers(tb, event.workers, event.timeoutMs, now);
        break;
      case "tick":
        closeSilentWorkers(tb, now);
        endRecovery(tb, now);
        balance(tb);
        break;
    }
    if (tb.retiring.size > 0) progressRetirements(tb, now);
    afterResourcesFreed(tb);
    if (tb.fired.length > 0) releaseFired(tb);
    return tb.out.flush();
  }

  info(): Omit<SchedulerInfo, "address"> {
    return info(this.#tb);
  }

  /** What /metrics shows beyond info(): counts and durations by group and by actor class. */
  metrics(): Omit<SchedulerMetrics, "info"> {
    return { groups: groupMetrics(this.#tb, this.#groupLabels), actorCalls: this.#tb.actorCalls };
  }

  /** One key's transitions here, oldest first (client.story). */
  story(key: Key): StoryEntry[] {
    return this.#tb.story.of(key);
  }

  whoHas(keys: Key[]): Record<Key, Address[]> {
    return whoHas(this.#tb, keys);
  }

  /**
   * Targets for scattering `count` values: least loaded first (processing per
   * thread, then stored keys), cycling when count exceeds the workers.
   * `broadcast`: every candidate worker.
   */
  chooseWorkers(count: number, opts: { workers?: Address[]; broadcast?: boolean } = {}): Address[] {
    return chooseWorkers(this.#tb, count, opts);
  }

  actorLocation(key: Key): WhereIsActorReply {
    return actorLocation(this.#tb, key);
  }

  /** The key of the live actor named `name` (R-ACT-14), if any. */
  namedActor(name: string): Key | undefined {
    return namedActor(this.#tb, name)?.key;
  }

  /** Whether `key` is an actor the scheduler knows, alive or being created. */
  isLiveActor(key: Key): boolean {
    const t = this.#tb.tasks.get(key);
    return t !== undefined && t.actor && (t.state === "memory" || isPending(t.state));
  }

  /** For the dashboard: where these actors stand. */
  actorStates(keys: Iterable<Key>): Record<Key, ActorState> {
    return actorStates(this.#tb, keys);
  }

  /** For the dashboard: the group of a known task. */
  groupOf(key: Key): string | undefined {
    return groupOf(this.#tb, key);
  }

  /** Whether this worker process is a member (not removed): a rejoin from it is a reconnect, not a recovery. */
  knowsWorker(address: Address, incarnation: string): boolean {
    return this.#tb.workers.get(address)?.incarnation === incarnation;
  }

  workerAddresses(): Address[] {
    return this.#tb.workerList.map((w) => w.address);
  }

  /** The state of a key (for tests and diagnostics); undefined when forgotten. */
  taskState(key: Key): TaskStateName | undefined {
    return this.#tb.tasks.get(key)?.state;
  }

  /** Where a key is being computed (for tests and diagnostics). */
  processingOn(key: Key): Address | undefined {
    return this.#tb.tasks.get(key)?.processingOn;
  }

  /** Number of keys the scheduler knows (for tests: no leaks). */
  get size(): number {
    return this.#tb.tasks.size;
  }

  /** What the scheduler knows, for the simulation's checks: read it, never change it. */
  get tables(): Tables {
    return this.#tb;
  }

  /** Throws naming the first broken invariant (invariants.ts); for tests and the simulation. */
  checkInvariants(): void {
    checkInvariants(this.#tb);
  }
}
