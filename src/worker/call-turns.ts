// Actor calls start in the order they arrive. A call that cannot start at
// once (its arguments hold instances of a class whose module is still
// loading) holds the calls that arrive after it until it has started.

export class CallTurns {
  #held: Promise<void> | undefined;

  /** Whether calls arriving now must wait their turn. */
  get held(): boolean {
    return this.#held !== undefined;
  }

  /** Runs `start` once `ready` has settled and every call held before it has started. */
  later<R>(start: () => R, ready?: Promise<unknown>): Promise<Awaited<R>> {
    let result!: R;
    const started = Promise.all([this.#held, ready]).then(() => {
      result = start();
    });
    this.#held = started;
    void started.then(() => {
      if (this.#held === started) this.#held = undefined;
    });
    return started.then(() => result) as Promise<Awaited<R>>;
  }
}
