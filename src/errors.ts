// Every error a troupe user can see. Each has a stable `code`, a `name` equal
// to its class name, and a message that says what happened and what to do.

export interface TroupeErrorOptions {
  cause?: unknown;
}

export class TroupeError extends Error {
  /** Stable machine-readable identifier, e.g. "ERR_TROUPE_COMM". */
  readonly code: string = "ERR_TROUPE";
  constructor(message: string, options?: TroupeErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A peer could not be reached, or the connection to it was lost. */
export class CommError extends TroupeError {
  override readonly code = "ERR_TROUPE_COMM";
}

/** The peer refused our token (or we refused theirs). */
export class AuthError extends TroupeError {
  override readonly code = "ERR_TROUPE_AUTH";
}

/** A peer sent bytes that are not a valid troupe frame or message. */
export class ProtocolError extends TroupeError {
  override readonly code = "ERR_TROUPE_PROTOCOL";
}

/** Waiting for a result took longer than the given timeout; the work goes on. */
export class TimeoutError extends TroupeError {
  override readonly code = "ERR_TROUPE_TIMEOUT";
}

/** The task was cancelled before it produced a result. */
export class CancelledError extends TroupeError {
  override readonly code = "ERR_TROUPE_CANCELLED";
}

/** A result is gone (its worker died, or its data was removed there) and it cannot be recomputed. */
export class LostError extends TroupeError {
  override readonly code = "ERR_TROUPE_LOST";
}

/** The worker holding an actor died; the actor and its state are gone. */
export class ActorLostError extends TroupeError {
  override readonly code = "ERR_TROUPE_ACTOR_LOST";
}

/** A task was running on too many workers that died while running it. */
export class KilledWorkerError extends TroupeError {
  override readonly code: string = "ERR_TROUPE_KILLED_WORKER";
}

/**
 * A task or actor ran out of the memory its worker allows (its thread's heap
 * bound, or the worker's memory limit). It is a KilledWorkerError: the thread
 * or worker running it was stopped because of it.
 */
export class WorkerMemoryError extends KilledWorkerError {
  override readonly code = "ERR_TROUPE_WORKER_MEMORY";
}

/** A function or class could not be resolved on the worker. */
export class CodeShippingError extends TroupeError {
  override readonly code = "ERR_TROUPE_CODE_SHIPPING";
}

/** A bad argument or option given to a troupe API. */
export class ConfigError extends TroupeError {
  override readonly code = "ERR_TROUPE_CONFIG";
}

/**
 * An error thrown by user code on a worker whose class the client cannot
 * import. `name`, `message` and `stack` mirror the original.
 */
export class RemoteError extends TroupeError {
  override readonly code = "ERR_TROUPE_REMOTE";
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
