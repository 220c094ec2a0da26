// Cluster-wide coordination primitives (R-TASK-14, Dask's Queue, Lock,
// Semaphore, Event and Variable). Each is a name: the state lives on the
// scheduler, so a client, a task and an actor that make one of the same name
// share it. Waits (get, acquire, wait) are answered by the scheduler when
// they can be; a task waiting gives its thread slot to other tasks meanwhile.

import { ConfigError, TimeoutError } from "../errors.js";
import { checkOptions, OBJECT_NAME, POSITIVE_INT, type Rule, type Rules } from "../options.js";
import type { LeaseReply } from "../protocol/messages.js";
import { infoToError } from "../serialize/index.js";
import { Client } from "./client.js";
import { defaultClient } from "./default-client.js";
import { randomHex } from "./keygen.js";
import { checkTimeoutOptions, type TimeoutOptions } from "./options.js";
import { waitingForResults } from "./thread-context.js";

export interface PrimitiveOptions {
  /** The client to reach the scheduler through (default: the task's or actor's own, else the last connected). */
  client?: Client;
}

export interface SemaphoreOptions extends PrimitiveOptions {
  /** How many leases may be held at once (default 1). Every Semaphore of one name must give the same. */
  maxLeases?: number;
}

const CLIENT: Rule = { what: "a Client", ok: (v) => v instanceof Client };
const PRIMITIVE_RULES: Rules<PrimitiveOptions> = { client: CLIENT };
const SEMAPHORE_RULES: Rules<SemaphoreOptions> = { client: CLIENT, maxLeases: POSITIVE_INT };

function checkName(name: unknown, what: string): string {
  if (!OBJECT_NAME.ok(name)) throw new ConfigError(`new ${what}(name): name must be ${OBJECT_NAME.what}, got ${typeof name === "string" ? JSON.stringify(name.slice(0, 80)) : typeof name}`);
  return name as string;
}

/** A wait's bound, ms (absent: as long as it takes), checked. */
function timeoutOf(options: TimeoutOptions | undefined, where: string): number | undefined {
  return checkTimeoutOptions(options, where).timeout;
}

/** The client a primitive talks through: the one given, else the default one, looked up at each use. */
function clientOf(given: Client | undefined, what: string): Promise<Client> {
  return given ? Promise.resolve(given) : defaultClient(what);
}

/** A first-in, first-out queue shared by name; items may hold Futures, which live while queued. */
export class Queue<T = unknown> {
  readonly name: string;
  readonly #client: Client | undefined;

  constructor(name?: string, options?: PrimitiveOptions) {
    this.name = name === undefined ? `queue-${randomHex()}` : checkName(name, "Queue");
    this.#client = checkOptions(options, PRIMITIVE_RULES, "new Queue").client;
  }

  async put(value: T): Promise<void> {
    const client = await clientOf(this.#client, `Queue ${this.name}`);
    const v = await client._encodeValue(value);
    await client._coordinate({ op: "queue-put", name: this.name, ...v });
  }

  /** The oldest item, waiting for one if the queue is empty; TimeoutError after `timeout` ms. */
  async get(options?: TimeoutOptions): Promise<T> {
    const timeoutMs = timeoutOf(options, `Queue ${this.name}: get`);
    const client = await clientOf(this.#client, `Queue ${this.name}`);
    waitingForResults();
    const reply = await client._coordinate({ op: "queue-get", name: this.name, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
    if ("timeout" in reply) throw new TimeoutError(`Queue ${this.name}: no item arrived within ${timeoutMs} ms`);
    return (await client._decodeValue(reply.value)) as T;
  }

  /** How many items it holds now. */
  async size(): Promise<number> {
    const client = await clientOf(this.#client, `Queue ${this.name}`);
    return client._coordinate({ op: "queue-size", name: this.name });
  }

  toString(): string {
    return `<Queue: ${this.name}>`;
  }
}

/**
 * Leases of a name, held by this object: the common part of Lock and
 * Semaphore. A lease is given back by release(), by leaving a `using` block,
 * or by the scheduler when the holder's client disconnects (its process died).
 */
abstract class Leased {
  readonly name: string;
  readonly #given: Client | undefined;
  readonly #kind: "lock" | "semaphore";
  readonly #maxLeases: number;
  /** This object, as the holder of its leases. */
  readonly #holder = randomHex();
  /** The client each lease held was taken through: it must give it back. */
  readonly #held: Client[] = [];

  protected constructor(kind: "lock" | "semaphore", name: string, maxLeases: number, client: Client | undefined) {
    this.#kind = kind;
    this.name = name;
    this.#maxLeases = maxLeases;
    this.#given = client;
  }

  protected abstract get what(): string;

  /** Takes a lease, waiting while none is free: true once taken, false if `timeout` ms passed first. */
  async acquire(options?: TimeoutOptions): Promise<boolean> {
    const timeoutMs = timeoutOf(options, `${this.what}: acquire`);
    const client = await clientOf(this.#given, this.what);
    waitingForResults();
    const reply: LeaseReply = await client._coordinate({
      op: "lease-acquire",
      kind: this.#kind,
      name: this.name,
      holder: this.#holder,
      maxLeases: this.#maxLeases,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
    if ("error" in reply) throw await infoToError(reply.error);
    if (reply.ok) this.#held.push(client);
    return reply.ok;
  }

  /** Gives back a lease this object holds. */
  async release(): Promise<void> {
    const client = this.#held.pop();
    if (!client) throw new ConfigError(`${this.what}: release() without a lease held by this object; acquire() first`);
    const reply = await client._coordinate({ op: "lease-release", kind: this.#kind, name: this.name, holder: this.#holder });
    if ("error" in reply) throw await infoToError(reply.error);
    if (!reply.ok) throw new ConfigError(`${this.what}: the lease was already freed (its client lost the scheduler, which frees the leases of clients that disconnect)`);
  }

  /** How many leases of this name are held now, by anyone. */
  protected async leasesHeld(): Promise<number> {
    const client = await clientOf(this.#given, this.what);
    return client._coordinate({ op: "lease-count", kind: this.#kind, name: this.name });
  }

  /** Leaving `await using`: the leases this object holds are given back. */
  async [Symbol.asyncDispose](): Promise<void> {
    while (this.#held.length > 0) await this.release();
  }

  /** Leaving `using`: the leases this object holds are given back, without waiting for the scheduler's answer. */
  [Symbol.dispose](): void {
    while (this.#held.length > 0) void this.release().catch(() => undefined);
  }
}

/** A cluster-wide mutual-exclusion lock, by name (not reentrant, as Dask's). */
export class Lock extends Leased {
  constructor(name: string, options?: PrimitiveOptions) {
    super("lock", checkName(name, "Lock"), 1, checkOptions(options, PRIMITIVE_RULES, "new Lock").client);
  }

  protected override get what(): string {
    return `Lock ${this.name}`;
  }

  /** Whether anyone holds it now. */
  async locked(): Promise<boolean> {
    return (await this.leasesHeld()) > 0;
  }

  override toString(): string {
    return `<Lock: ${this.name}>`;
  }
}

/** At most `maxLeases` holders at once, cluster-wide, by name. */
export class Semaphore extends Leased {
  readonly maxLeases: number;

  constructor(name: string, options?: SemaphoreOptions) {
    const o = checkOptions(options, SEMAPHORE_RULES, "new Semaphore");
    const maxLeases = o.maxLeases ?? 1;
    super("semaphore", checkName(name, "Semaphore"), maxLeases, o.client);
    this.maxLeases = maxLeases;
  }

  protected override get what(): string {
    return `Semaphore ${this.name}`;
  }

  /** How many leases are held now. */
  getValue(): Promise<number> {
    return this.leasesHeld();
  }

  override toString(): string {
    return `<Semaphore: ${this.name}, maxLeases=${this.maxLeases}>`;
  }
}

/** A flag shared by name: wait() returns once some client, task or actor has set it. */
export class Event {
  readonly name: string;
  readonly #client: Client | undefined;

  constructor(name: string, options?: PrimitiveOptions) {
    this.name = checkName(name, "Event");
    this.#client = checkOptions(options, PRIMITIVE_RULES, "new Event").client;
  }

  async set(): Promise<void> {
    await this.#event("set");
  }

  async clear(): Promise<void> {
    await this.#event("clear");
  }

  /** True once it is set; false if `timeout` ms passed first. */
  async wait(options?: TimeoutOptions): Promise<boolean> {
    const timeoutMs = timeoutOf(options, `Event ${this.name}: wait`);
    waitingForResults();
    return this.#event("wait", timeoutMs);
  }

  isSet(): Promise<boolean> {
    return this.#event("is-set");
  }

  async #event(action: "set" | "clear" | "wait" | "is-set", timeoutMs?: number): Promise<boolean> {
    const client = await clientOf(this.#client, `Event ${this.name}`);
    return client._coordinate({ op: "event", name: this.name, action, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
  }

  toString(): string {
    return `<Event: ${this.name}>`;
  }
}

/** One value shared by name; a Future set here lives while it is the value. */
export class Variable<T = unknown> {
  readonly name: string;
  readonly #client: Client | undefined;

  constructor(name: string, options?: PrimitiveOptions) {
    this.name = checkName(name, "Variable");
    this.#client = checkOptions(options, PRIMITIVE_RULES, "new Variable").client;
  }

  async set(value: T): Promise<void> {
    const client = await clientOf(this.#client, `Variable ${this.name}`);
    const v = await client._encodeValue(value);
    await client._coordinate({ op: "variable-set", name: this.name, ...v });
  }

  /** The value, waiting until one is set; TimeoutError after `timeout` ms. */
  async get(options?: TimeoutOptions): Promise<T> {
    const timeoutMs = timeoutOf(options, `Variable ${this.name}: get`);
    const client = await clientOf(this.#client, `Variable ${this.name}`);
    waitingForResults();
    const reply = await client._coordinate({ op: "variable-get", name: this.name, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
    if ("timeout" in reply) throw new TimeoutError(`Variable ${this.name}: no value was set within ${timeoutMs} ms`);
    return (await client._decodeValue(reply.value)) as T;
  }

  /** Drops the value (and its hold on the Futures in it). */
  async delete(): Promise<void> {
    const client = await clientOf(this.#client, `Variable ${this.name}`);
    await client._coordinate({ op: "variable-delete", name: this.name });
  }

  toString(): string {
    return `<Variable: ${this.name}>`;
  }
}
