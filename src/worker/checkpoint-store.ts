// Checkpoints of actors that live on other workers (R-ACT-19): kept here so
// that an actor whose worker dies can be rebuilt elsewhere from its latest
// state. One per actor, the latest (by incarnation, then sequence); bounded
// in count, the least recently written going first.

import type { Key, PutCheckpoint, SavedCheckpoint } from "../protocol/messages.js";

/** Most actors whose checkpoints one worker keeps. */
const MAX_CHECKPOINTS = 4096;

export class CheckpointStore {
  readonly #saved = new Map<Key, SavedCheckpoint>();

  put(msg: PutCheckpoint): null {
    const had = this.#saved.get(msg.key);
    if (had && (had.incarnation > msg.incarnation || (had.incarnation === msg.incarnation && had.seq >= msg.seq))) return null;
    this.#saved.delete(msg.key); // re-inserted last: the map's order is the order of writes
    this.#saved.set(msg.key, { incarnation: msg.incarnation, seq: msg.seq, value: msg.value });
    if (this.#saved.size > MAX_CHECKPOINTS) this.#saved.delete(this.#saved.keys().next().value!);
    return null;
  }

  get(key: Key): SavedCheckpoint | null {
    return this.#saved.get(key) ?? null;
  }
}
