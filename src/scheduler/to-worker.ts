// What the scheduler sends a worker, made compact on the way out: code the
// worker was sent once travels as its number afterwards, and the plain tasks
// one event assigns to a worker leave together as compute-tasks messages
// (a map of 20,000 elements is a few dozen messages, not 20,000).

import type { Connection } from "../comm/index.js";
import type { CodeRef, ComputeTask, ComputeTaskById, ComputeTasks, SchedulerToWorker } from "../protocol/messages.js";

/** How many distinct functions a worker connection numbers; later ones always travel in full. */
const MAX_NUMBERED_CODE = 4096;
/** Most tasks in one compute-tasks message: the worker starts on the first while later ones travel. */
const MAX_TASKS = 256;
/** Most argument bytes in one compute-tasks message, far below a batch header's limit. */
const MAX_ARG_BYTES = 1024 * 1024;

/** What makes two code references the same code. */
function codeContent(ref: CodeRef): string {
  return ref.kind === "module" ? `m\0${ref.url}\0${ref.export}\0${ref.hash}\0${ref.module}\0${ref.entry === true}` : `s\0${ref.isClass}\0${ref.name}\0${ref.source}`;
}

interface Numbering {
  byRef: WeakMap<CodeRef, number>;
  byContent: Map<string, number>;
}

interface Collected extends ComputeTasks {
  argBytes: number;
}

export class WorkerSender {
  readonly #numbering = new WeakMap<Connection, Numbering>();
  /** Plain tasks collected for each worker since the last flush, in order. */
  readonly #collected = new Map<Connection, Collected>();

  send(conn: Connection, msg: SchedulerToWorker): void {
    if (msg.op !== "compute-task") return this.#sendNow(conn, msg);
    const task = msg;
    const numbering = this.#numberingOf(conn);
    const id = known(numbering, task.fn);
    if (id === undefined) return this.#sendNow(conn, numberNew(numbering, task));
    if (isPlain(task)) return this.#collect(conn, id, task);
    const { fn: _code, fnId: _id, ...rest } = task;
    this.#sendNow(conn, { ...rest, op: "compute-task-by-id", fnId: id } satisfies ComputeTaskById);
  }

  /** Sends what was collected: once per scheduler event. */
  flush(): void {
    if (this.#collected.size === 0) return;
    for (const [conn, c] of this.#collected) conn.send(toMessage(c));
    this.#collected.clear();
  }

  /** Anything else for a worker leaves after the tasks collected before it: order is kept. */
  #sendNow(conn: Connection, msg: SchedulerToWorker): void {
    const c = this.#collected.get(conn);
    if (c) {
      this.#collected.delete(conn);
      conn.send(toMessage(c));
    }
    conn.send(msg);
  }

  #collect(conn: Connection, fn: number, m: ComputeTask): void {
    let c = this.#collected.get(conn);
    if (c && (c.fn !== fn || c.keys.length >= MAX_TASKS || c.argBytes >= MAX_ARG_BYTES)) {
      conn.send(toMessage(c));
      c = undefined;
    }
    if (!c) this.#collected.set(conn, (c = { op: "compute-tasks", fn, keys: [], args: [], priority: [], argBytes: 0 }));
    c.keys.push(m.key);
    c.args.push(m.args);
    c.priority.push(m.priority);
    c.argBytes += m.args.byteLength;
  }

  #numberingOf(conn: Connection): Numbering {
    let n = this.#numbering.get(conn);
    if (!n) this.#numbering.set(conn, (n = { byRef: new WeakMap(), byContent: new Map() }));
    return n;
  }
}

/** The number a connection knows this code by: the same object again (an in-process client), else the same content (decoded per task). */
function known(n: Numbering, fn: CodeRef): number | undefined {
  let id = n.byRef.get(fn);
  if (id === undefined) {
    id = n.byContent.get(codeContent(fn));
    if (id !== undefined) n.byRef.set(fn, id);
  }
  return id;
}

/** Code a connection has not seen: in full, with the number it is known by from now on (while numbers last). */
function numberNew(n: Numbering, msg: ComputeTask): ComputeTask {
  // The worker keeps what it is sent under a number: bound that, send the rest in full.
  if (n.byContent.size >= MAX_NUMBERED_CODE) return msg;
  const id = n.byContent.size + 1;
  n.byContent.set(codeContent(msg.fn), id);
  n.byRef.set(msg.fn, id);
  return { ...msg, fnId: id };
}

/** No dependencies, resources or actor: all such a task needs is its code, arguments and priority. */
function isPlain(m: ComputeTask): boolean {
  if (m.actor || m.resources) return false;
  for (const _ in m.whoHas) return false;
  return true;
}

function toMessage(c: Collected): ComputeTasks {
  return { op: "compute-tasks", fn: c.fn, keys: c.keys, args: c.args, priority: c.priority };
}
