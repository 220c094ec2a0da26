// Every error a troupe user can see. Each has a stable `code`, a `name` equal
// to its class name, and a message that says what happened and what to do.
// docs/errors.md lists them; a test keeps that table and this file in step.
//
// A process may load troupe twice (a worker runs one copy, user code imports
// another; or two versions), so `instanceof` cannot rely on class identity:
// every troupe error carries a brand shared by all copies, and each class
// recognizes a branded error of another copy by its `code`.

/** The brand every troupe error carries, whichever copy of troupe made it. */
const BRAND = Symbol.for("troupe.error");

export interface TroupeErrorOptions {
  cause?: unknown;
}

export class TroupeError extends Error {
  /** The `code` of this class's errors. */
  static readonly code: string = "ERR_TROUPE";
  /** Stable machine-readable identifier, e.g. "ERR_TROUPE_COMM". */
  readonly code: string;

  constructor(message: string, options?: TroupeErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = (new.target as typeof TroupeError).code;
  }

  /**
   * An error of this copy's class or a subclass; or a troupe error of another
   * copy whose code is this class's or a subclass's (one with a code this
   * copy does not know is only a TroupeError).
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (typeof value !== "object" || value === null || (value as { [BRAND]?: unknown })[BRAND] !== true) return false;
    const code = (value as { code?: unknown }).code;
    if (typeof code !== "string") return false;
    const own = BY_CODE.get(code) ?? TroupeError;
    return own === this || Object.prototype.isPrototypeOf.call(this.prototype, own.prototype);
  }
}

/** A peer could not be reached, or the connection to it was lost. */
export class CommError extends TroupeError {
  static override readonly code = "ERR_TROUPE_COMM";
}

/** The peer refused our token (or we refused theirs). */
export class AuthError extends TroupeError {
  static override readonly code = "ERR_TROUPE_AUTH";
}

/** A peer sent bytes that are not a valid troupe frame or message. */
export class ProtocolError extends TroupeError {
  static override readonly code = "ERR_TROUPE_PROTOCOL";
}

/** Waiting for a result took longer than the given timeout; the work goes on. */
export class TimeoutError extends TroupeError {
  static override readonly code = "ERR_TROUPE_TIMEOUT";
}

/** The task was cancelled before it produced a result. */
export class CancelledError extends TroupeError {
  static override readonly code = "ERR_TROUPE_CANCELLED";
}

/** A result is gone (its worker died, or its data was removed there) and it cannot be recomputed. */
export class LostError extends TroupeError {
  static override readonly code = "ERR_TROUPE_LOST";
}

/** The worker holding an actor died; the actor and its state are gone. */
export class ActorLostError extends TroupeError {
  static override readonly code = "ERR_TROUPE_ACTOR_LOST";
}

/** A task was running on too many workers that died while running it. */
export class KilledWorkerError extends TroupeError {
  static override readonly code: string = "ERR_TROUPE_KILLED_WORKER";
}

/**
 * A task or actor ran out of the memory its worker allows (its thread's heap
 * bound, or the worker's memory limit). It is a KilledWorkerError: the thread
 * or worker running it was stopped because of it.
 */
export class WorkerMemoryError extends KilledWorkerError {
  static override readonly code = "ERR_TROUPE_WORKER_MEMORY";
}

/** A function or class could not be resolved on the worker. */
export class CodeShippingError extends TroupeError {
  static override readonly code = "ERR_TROUPE_CODE_SHIPPING";
}

/** A bad argument or option given to a troupe API. */
export class ConfigError extends TroupeError {
  static override readonly code = "ERR_TROUPE_CONFIG";
}

/**
 * An error thrown by user code on a worker whose class the client cannot
 * import. `name`, `message` and `stack` mirror the original.
 */
export class RemoteError extends TroupeError {
  static override readonly code = "ERR_TROUPE_REMOTE";
  /** The `name` of the original error. */
  readonly remoteName: string;
  constructor(remoteName: string, message: string, options?: TroupeErrorOptions) {
    super(message, options);
    this.remoteName = remoteName;
    this.name = remoteName;
  }
}

/** Public error classes by name, for decoding errors that crossed the wire. */
export const TROUPE_ERRORS: Record<string, new (message: string) => TroupeError> = {
  TroupeError,
  CommError,
  AuthError,
  ProtocolError,
  TimeoutError,
  CancelledError,
  LostError,
  ActorLostError,
  KilledWorkerError,
  WorkerMemoryError,
  CodeShippingError,
  ConfigError,
};

// On the prototype, not each instance: it stays out of an error's own properties (what travels with it).
Object.defineProperty(TroupeError.prototype, BRAND, { value: true });

/** This copy's public error classes by code, to recognize errors made by another copy. */
const BY_CODE = new Map<string, typeof TroupeError>(
  [...Object.values(TROUPE_ERRORS), RemoteError].map((cls) => [(cls as typeof TroupeError).code, cls as typeof TroupeError]),
);
