// Entry of a task thread or an actor thread. User code only ever runs here,
// never on the thread that serves the worker's connections. A fault in user
// code fails the work that caused it (thread-faults.ts); a task thread that
// such a fault leaves unusable asks to be replaced.

import { parentPort, workerData } from "node:worker_threads";
import { closeThreadContext, getClient, initThreadContext, setLocalActorDispatcher } from "../client/thread-context.js";
import { createLogger } from "../log.js";
import type { CodeRef } from "../protocol/messages.js";
import { loadCode } from "../serialize/index.js";
import { ActorHost } from "./thread-actors.js";
import { containFaults } from "./thread-faults.js";
import type { FromThread, ThreadConfig, ToThread } from "./thread-protocol.js";
import { TaskRunner } from "./thread-tasks.js";
import { EndOfTurn, Replies } from "./thread-turn.js";

const config = workerData as ThreadConfig;
const port = parentPort!;
const log = createLogger(`${config.kind}-thread`);
const codeOpts = { codeRoot: config.codeRoot };

containFaults(log);
initThreadContext(config);

// Code loaded here, by the reference it arrived in: the tasks of one batch
// share one reference (see unpackRuns), so all but the first skip building
// the cache key and looking it up.
const loaded = new WeakMap<CodeRef, Function>();

function codeFor(ref: CodeRef): Function | Promise<Function> {
  const fn = loaded.get(ref);
  if (fn) return fn;
  return loadCode(ref, codeOpts).then((f) => {
    loaded.set(ref, f);
    return f;
  });
}

const turn = new EndOfTurn();
const replies = new Replies(port, turn);
const post = (batch: FromThread[]) => port.postMessage(batch);
const tasks = new TaskRunner(config, replies, codeFor, codeOpts);
const host = config.kind === "actor" ? new ActorHost(config, replies, turn, codeFor, codeOpts, log, post) : undefined;

if (host) {
  setLocalActorDispatcher((key, kind, name, args) => {
    if (!host.actors.has(key)) return undefined;
    // Same thread: no network, and queued behind the running method, never inside it.
    return Promise.resolve().then(() => host.actors.invoke(key, kind, name, args));
  });
}

function handle(msg: ToThread): void {
  switch (msg.t) {
    case "call":
      return host?.call(msg);
    case "run":
      // Creating an actor never waits behind tasks.
      if (msg.actor) return void host?.create(msg);
      return tasks.push(msg);
    case "runs":
      return tasks.pushRuns(msg);
    case "runfn":
      return void tasks.runFunction(msg);
    case "abort":
      return tasks.abort(msg.ids, msg.reason);
    case "free":
      return void host?.free(msg.keys);
    case "close":
      return void Promise.resolve(host?.close())
        .then(() => closeThreadContext())
        .catch((err) => log.warn("a thread did not close cleanly", { error: String(err) }))
        .finally(() => {
          replies.flush();
          post([{ t: "closed" }]);
          port.close();
        });
  }
}

// Values decoded here may hold Actor handles and Futures, which need this
// thread's client. A task thread takes work at once and connects on first
// need (a task whose arguments need the client waits for it); an actor
// thread first opens its endpoint and connects, so that calls keep their
// arrival order.
let backlog: ToThread[] | undefined = host ? [] : undefined;
port.on("message", (batch: ToThread[]) => {
  for (const msg of batch) {
    if (backlog) backlog.push(msg);
    else handle(msg);
  }
});
if (host) {
  void Promise.all([
    getClient().catch((err) => log.error("a worker thread could not connect to the scheduler", { error: String(err) })),
    host.openEndpoint().catch((err) => log.error("an actor thread could not open its endpoint; calls go through the worker", { error: String(err) })),
  ]).finally(() => {
    const queued = backlog!;
    backlog = undefined;
    for (const msg of queued) handle(msg);
  });
}
