// The symbols an actor class defines to be checkpointed (R-ACT-19):
// `[checkpoint]()` returns its state, a static `[restore](value)` builds an
// instance from it. Registered symbols, so that every copy of troupe (a
// worker thread's and the one a user's module imports) sees the same ones.

/** An actor's method returning its state: taken after calls, and kept on another worker. */
export const checkpoint: unique symbol = Symbol.for("troupe.checkpoint");
/** An actor class's static method building an instance from a checkpoint, when the actor is restarted. */
export const restore: unique symbol = Symbol.for("troupe.restore");
