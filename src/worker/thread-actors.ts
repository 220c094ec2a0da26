// An actor thread's actors and their calls (R-ACT-5): calls arrive on the
// thread's own endpoint (direct) or from the worker's main thread (through
// the worker or the scheduler's proxy), run as Works whose faults fail that
// call alone, and answer at the end of the turn. Call statistics go to the
// main thread, which reports them in heartbeats.

import { formatAddress, isThenable, listen, parseAddress, type Connection, type Listener } from "../comm/index.js";
import { Payload } from "../protocol/payload.js";
import { withThreadClient } from "../client/thread-context.js";
import { CancelledError, ProtocolError, TimeoutError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ActorCallReply, ActorCalls, ActorCancel, ActorStats, ActorStreamOpened, CodeRef, Key } from "../protocol/messages.js";
import { ClassesPending, errorInfoOf, errorToInfo, loadClasses, type CodeOptions } from "../serialize/index.js";
import { accepting } from "../protocol/schemas.js";
import { CallTurns } from "./call-turns.js";
import { isAsyncGenerator, StreamTable } from "./actor-streams.js";
import { ActorCheckpoints, takesCheckpoints } from "./actor-checkpoints.js";
import { restore } from "../client/checkpoint-symbols.js";
import { ActorTable, MissingActorError } from "./actor-table.js";
import { promiseCount, within, Work } from "./thread-faults.js";
import type { FromThread, RunTask, ThreadConfig, ToThread } from "./thread-protocol.js";
import type { EndOfTurn, Replies } from "./thread-turn.js";
import { decodeArgs, encodeResult, errorReply, isNoArgs, NO_ARGS } from "./thread-values.js";
import { NO_DEPS } from "./thread-protocol.js";
import { bucketOf, DURATION_BUCKETS_S } from "../metrics/histogram.js";

const STATS_EVERY_MS = 1000;

/** Call times kept per actor for its percentiles: the most recent ones. */
const RECENT_CALLS = 256;

interface CallStats {
  calls: number;
  inFlight: number;
  totalMs: number;
  finished: number;
  /** Finished calls per duration bucket (metrics/histogram.ts). */
  buckets: number[];
  /** The last RECENT_CALLS call times, a ring indexed by `finished`. */
  recent: Float64Array;
}

function newCallStats(): CallStats {
  return { calls: 0, inFlight: 0, totalMs: 0, finished: 0, buckets: new Array<number>(DURATION_BUCKETS_S.length + 1).fill(0), recent: new Float64Array(RECENT_CALLS) };
}

/** What the main thread reports of an actor's calls: counts, mean, duration buckets, and p50/p99 of the recent ones. */
function report(st: CallStats): ActorStats {
  const n = Math.min(st.finished, RECENT_CALLS);
  const sorted = st.recent.slice(0, n).sort();
  const at = (q: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(q * n))]!);
  return { calls: st.calls, inFlight: st.inFlight, meanCallMs: st.finished ? st.totalMs / st.finished : 0, buckets: [...st.buckets], totalMs: st.totalMs, p50Ms: at(0.5), p99Ms: at(0.99) };
}

/**
 * One actor call: the Work its code runs as, and the thenable its outcome
 * reaches the connection (or the main thread) through. A call whose method
 * returned at once, having made promises, is answered at the end of the
 * turn, so that a fault its code left behind (a promise rejection nobody
 * handles is reported only then) can still fail it; one that made none is
 * answered at once; one still running is answered when it ends, or at once
 * when a fault fails it.
 */
class CallWork extends Work implements PromiseLike<ActorCallReply> {
  #outcome: ActorCallReply | undefined;
  #answered = false;
  #ok: ((r: ActorCallReply) => void) | undefined;
  readonly #t0 = performance.now();
  #tracked: Map<number, CallWork> | undefined;
  #cid = 0;
  /** Wakes the cancellations waiting for it to end. */
  #ended: Array<() => void> | undefined;

  constructor(
    private readonly host: ActorHost,
    readonly key: Key,
    readonly name: string,
    private readonly stats: CallStats,
  ) {
    super();
  }

  get what(): string {
    return `${this.name}() on actor ${this.key}`;
  }

  then<A = ActorCallReply, B = never>(ok?: ((r: ActorCallReply) => A | PromiseLike<A>) | null): PromiseLike<A | B> {
    this.#ok = ok as (r: ActorCallReply) => void;
    if (this.#answered) this.#ok(this.#outcome!);
    return undefined as never; // callers only need their callback (whenSettled)
  }

  /** The outcome, to be answered at the end of the turn (see settleHeld). */
  hold(outcome: ActorCallReply): this {
    this.#outcome = outcome;
    return this;
  }

  /** Answer now with what is held (a fault may have replaced it). */
  settleHeld(): void {
    this.settle(this.#outcome!);
  }

  /** Whether its answer has gone (or is held for the end of the turn). */
  get answered(): boolean {
    return this.#answered;
  }

  /** Where it is listed for cancellation while it runs: its connection's calls, by the caller's number. */
  track(calls: Map<number, CallWork>, cid: number): void {
    this.#tracked = calls;
    this.#cid = cid;
    calls.set(cid, this);
  }

  /** Its caller cancelled it: its signal aborts (a call still waiting for its turn never starts); resolves once it no longer runs. */
  cancel(why: ActorCancel["why"]): Promise<void> {
    const ended = new Promise<void>((wake) => (this.#ended ??= []).push(wake));
    const reason =
      why === "timeout"
        ? new TimeoutError(`${this.what} ran past its timeout and was cancelled`)
        : new CancelledError(`${this.what} was cancelled by its caller`);
    this.controller.abort(reason);
    return ended;
  }

  settle(outcome: ActorCallReply): boolean {
    if (this.#answered) return false;
    this.#answered = true;
    this.#outcome = outcome;
    if (this.#tracked) {
      this.#tracked.delete(this.#cid);
      this.#tracked = undefined;
    }
    if (this.#ended) for (const wake of this.#ended.splice(0)) wake();
    const st = this.stats;
    const ms = performance.now() - this.#t0;
    st.inFlight--;
    st.recent[st.finished % RECENT_CALLS] = ms;
    st.finished++;
    st.totalMs += ms;
    st.buckets[bucketOf(ms / 1000)]!++;
    this.#ok?.(outcome);
    return true;
  }

  fault(err: Error): boolean {
    if (this.#answered) return false;
    const failure: ActorCallReply = { ok: false, error: errorToInfo(err, this.host.codeOpts) };
    // Held for the end of the turn: it fails instead. Still running: it fails now.
    if (this.#outcome !== undefined) this.#outcome = failure;
    else this.settle(failure);
    return true;
  }
}

class ConstructorWork extends Work {
  constructor(
    readonly what: string,
    readonly fault: (err: Error) => boolean,
  ) {
    super();
  }
}

type CodeLoader = (ref: CodeRef) => Function | Promise<Function>;

export class ActorHost {
  readonly actors = new ActorTable();
  readonly #streams: StreamTable;
  readonly #checkpoints: ActorCheckpoints;
  /** Calls start in arrival order, even when one waits for its arguments' classes to load. */
  readonly #turns = new CallTurns();
  readonly #stats = new Map<Key, CallStats>();
  #statsChanged = false;
  #held: CallWork[] = [];
  /** Direct-call connections that answered this turn: written at its end, with the held outcomes. */
  readonly #touched = new Set<Connection>();
  #endpoint: Listener | undefined;
  /** Where this thread serves direct calls, once its endpoint is open. */
  callAddress: string | undefined;
  readonly #settleHeld = () => {
    const held = this.#held;
    this.#held = [];
    for (const h of held) h.settleHeld();
    for (const conn of this.#touched) conn.flush();
    this.#touched.clear();
  };

  constructor(
    private readonly config: ThreadConfig,
    private readonly replies: Replies,
    private readonly turn: EndOfTurn,
    private readonly codeFor: CodeLoader,
    readonly codeOpts: CodeOptions,
    private readonly log: Logger,
    post: (batch: FromThread[]) => void,
  ) {
    this.#streams = new StreamTable(turn, codeOpts);
    this.#checkpoints = new ActorCheckpoints(config.worker.address, codeOpts, log);
    setInterval(() => {
      if (!this.#statsChanged) return;
      this.#statsChanged = false;
      const out: Record<Key, ActorStats> = {};
      for (const [key, st] of this.#stats) {
        if (this.actors.has(key)) out[key] = report(st);
        else this.#stats.delete(key);
      }
      post([{ t: "stats", actors: out }]);
    }, STATS_EVERY_MS).unref();
  }

  /** Create an actor (its constructor is a Work like any call). */
  async create(msg: RunTask): Promise<void> {
    let answered = false;
    const answer = (r: FromThread) => {
      if (answered) return false;
      answered = true;
      this.replies.add(r);
      return true;
    };
    const work = new ConstructorWork(`the constructor of actor ${msg.key}`, (err) => answer({ t: "done", id: msg.id, ok: false, error: errorToInfo(err, this.codeOpts) }));
    try {
      const fn = await this.codeFor(msg.fn);
      const args = await withThreadClient(() => decodeArgs(msg.args, msg.deps));
      const checkpointed = takesCheckpoints(fn);
      // Re-created after its worker died: from its latest checkpoint, if one was kept (else from its constructor).
      const saved = checkpointed && msg.incarnation ? await this.#checkpoints.latest(msg.key) : undefined;
      const build = saved ? () => (fn as unknown as Record<symbol, (value: unknown) => unknown>)[restore]!(saved.value) : undefined;
      const shape = await within(work, () => this.actors.create(msg.key, fn, args, msg.maxConcurrency, build));
      if (saved) this.log.info("actor restored from its checkpoint", { key: msg.key, incarnation: msg.incarnation });
      if (checkpointed) this.#checkpoints.watch(msg.key, msg.checkpointEvery ?? 1, msg.incarnation ?? 0);
      if (!answer({ t: "done", id: msg.id, ok: true, value: [], actor: { ...shape, callAddress: this.callAddress } })) {
        // A fault failed it first: the instance must not live on unseen.
        await this.actors.free([msg.key], () => undefined);
      }
    } catch (err) {
      if (!answered) answer({ t: "done", id: msg.id, ok: false, error: (await errorReply(err, this.codeOpts)).error });
    }
  }

  /**
   * Run one call on its actor. Both ways in end here: calls forwarded by the
   * worker's main thread, and calls arriving on this thread's own endpoint.
   */
  invoke(key: Key, kind: "call" | "get", name: string, args: Uint8Array[] | null, inTurn = false): ActorCallReply | PromiseLike<ActorCallReply> {
    if (this.#turns.held && !inTurn) return this.#turns.later(() => this.invoke(key, kind, name, args, true));
    let st = this.#stats.get(key);
    if (!st) this.#stats.set(key, (st = newCallStats()));
    st.calls++;
    st.inFlight++;
    this.#statsChanged = true;
    const work = new CallWork(this, key, name, st);
    const made = promiseCount();
    let out: unknown;
    try {
      out = within(work, () => this.actors.invoke(key, kind, name, decodeCallArgs(args), work));
      if (kind === "call" && this.#checkpoints.has(key) && !isAsyncGenerator(out)) {
        // Answered once the checkpoint it is due is kept elsewhere.
        out = Promise.resolve(out).then((v) => within(work, () => this.#checkpoints.after(key, v, () => this.actors.instanceOf(key))));
      }
    } catch (err) {
      if (err instanceof ClassesPending) {
        // Counted when it runs, once its classes are loaded; the calls behind it wait their turn.
        st.calls--;
        st.inFlight--;
        return this.#turns.later(() => this.invoke(key, kind, name, args, true), loadClasses(err.refs, this.codeOpts));
      }
      if (err instanceof MissingActorError) this.#stats.delete(key);
      void errorReply(err, this.codeOpts, err instanceof MissingActorError).then((r) => work.settle(r));
      return work;
    }
    let encoded: Promise<Uint8Array[] | ActorStreamOpened>;
    if (isThenable(out)) encoded = Promise.resolve(out).then((v) => (isAsyncGenerator(v) ? this.#streams.open(v, key, work.what) : encodeResult(v, this.codeOpts)));
    else if (isAsyncGenerator(out)) {
      // Its code runs as the caller pulls (flow control): the call is answered with the stream at once.
      work.settle(this.#streams.open(out, key, work.what));
      return work;
    } else {
      // Fast path: a sync method's result is encoded now and answered at the end of the turn.
      let parts: Uint8Array[] | Promise<Uint8Array[]>;
      try {
        parts = encodeResult(out, this.codeOpts);
      } catch (err) {
        void errorReply(err, this.codeOpts).then((r) => work.settle(r));
        return work;
      }
      if (!(parts instanceof Promise)) {
        // A method that made no promise left none rejected: its answer goes at once.
        if (promiseCount() === made) work.settle(new Payload(parts));
        else {
          if (this.#held.length === 0) this.turn.queue(this.#settleHeld);
          this.#held.push(work.hold(new Payload(parts)));
        }
        return work;
      }
      encoded = parts; // holds unfinished ActorFutures: answered once they are values
    }
    void encoded
      .then(
        (p): ActorCallReply => (Array.isArray(p) ? new Payload(p) : p),
        (err) => errorReply(err, this.codeOpts),
      )
      .then((r) => work.settle(r));
    return work;
  }

  /** Calls sent as one request group: one outcome per call, in call order (each starts before the next). */
  invokeGroup(msg: ActorCalls): Array<ActorCallReply | PromiseLike<ActorCallReply>> {
    const { key, names, gets, args } = msg;
    if (!Array.isArray(names) || !Array.isArray(gets) || !Array.isArray(args) || args.length !== names.length) {
      throw new ProtocolError("a malformed actor-calls message: names, gets and args must be arrays, args as long as names");
    }
    const out: Array<ActorCallReply | PromiseLike<ActorCallReply>> = new Array(names.length);
    let g = 0;
    for (let i = 0; i < names.length; i++) {
      const get = gets[g] === i;
      if (get) g++;
      const name = names[i];
      const a = args[i];
      out[i] =
        typeof name === "string" && (a === 0 || a instanceof Payload)
          ? this.invoke(key, get ? "get" : "call", name, a === 0 ? null : a.parts)
          : errorReply(new ProtocolError(`actor-calls entry ${i} is malformed (a name and a Payload or 0 were expected)`), this.codeOpts);
    }
    return out;
  }

  /** A call forwarded by the worker's main thread. */
  call(msg: Extract<ToThread, { t: "call" }>): void {
    const send = (r: ActorCallReply) => {
      if ("stream" in r) {
        // Pulling goes to the actor thread's own endpoint, which calls through the worker cannot reach.
        this.#streams.close(r.stream);
        const error = errorInfoOf("ConfigError", `${msg.name}() on actor ${msg.key} returns a stream, which only direct callers can read: connect with directToWorkers: true`);
        return this.replies.add({ t: "done", id: msg.id, ok: false, error });
      }
      this.replies.add(r instanceof Payload ? { t: "done", id: msg.id, ok: true, value: r.parts } : { t: "done", id: msg.id, ok: false, error: r.error, missing: r.missing });
    };
    const r = this.invoke(msg.key, msg.kind, msg.name, msg.args);
    if (isThenable(r)) r.then(send);
    else send(r);
  }

  free(keys: Key[]): Promise<void> {
    for (const key of keys) this.#stats.delete(key);
    void this.#streams.closeFor(keys);
    this.#checkpoints.forget(keys);
    return this.actors.free(keys, (err, key) => this.log.warn("actor dispose hook failed", { key, error: String(err) }));
  }

  /** Dispose of every actor now (the thread is stopping) and stop serving. */
  async close(): Promise<void> {
    await this.actors.freeAll((err, key) => this.log.warn("actor dispose hook failed", { key, error: String(err) }));
    await this.#endpoint?.close();
  }

  /** Serve direct calls on this thread's own endpoint: a call then never waits for the worker's main thread, and costs one hop less. */
  async openEndpoint(): Promise<void> {
    const config = this.config;
    this.#endpoint = await listen({
      host: config.listenHost,
      port: 0,
      token: config.token,
      tls: config.tls,
      insecure: config.insecure,
      onConnection: (conn) => {
        conn.schema = accepting("actor-endpoint");
        // Calls of this connection still running, by the caller's number: what its cancellations reach.
        const running = new Map<number, CallWork>();
        const track = (out: ActorCallReply | PromiseLike<ActorCallReply>, cid: number | undefined) => {
          if (cid !== undefined && out instanceof CallWork && !out.answered) out.track(running, cid);
        };
        conn.onRequest = (msg) => {
          this.#touched.add(conn);
          if (msg.op === "actor-calls") {
            const outs = this.invokeGroup(msg);
            if (msg.cid !== undefined) for (let i = 0; i < outs.length; i++) track(outs[i]!, msg.cid + i);
            return outs;
          }
          if (msg.op === "actor-cancel") return running.get(msg.cid)?.cancel(msg.why).then(() => null) ?? null;
          if (msg.op === "actor-stream") return this.#streams.serve(msg, conn);
          if (msg.op !== "actor-call") throw new ProtocolError(`an actor thread serves only actor calls, not "${msg.op}"`);
          const out = this.invoke(msg.key, msg.kind, msg.name, msg.args.parts);
          track(out, msg.cid);
          return out;
        };
        conn.onMessage = (msg) => this.log.warn("unexpected message on an actor endpoint", { op: msg.op });
      },
    });
    const { scheme, port } = parseAddress(this.#endpoint.address);
    this.callAddress = formatAddress(scheme, config.contactHost, port);
  }
}

/** A call's arguments (null: none). The shared encoding of none (the common case) decodes to nothing at all. */
function decodeCallArgs(parts: Uint8Array[] | null): unknown[] {
  if (parts === null) return NO_ARGS;
  const head = parts[0];
  if (parts.length === 1 && head !== undefined && isNoArgs(head)) return NO_ARGS;
  return decodeArgs(parts, NO_DEPS);
}
