// Results held by this worker, as the bytes they travel as: serialized once
// where produced, then sent to any number of peers without re-encoding.
// Large parts stay in their shared segments, unmapped here.

import { releaseShared, type Payload } from "../comm/payload.js";
import type { Key } from "../protocol/messages.js";
import type { Part } from "../shm/index.js";

export class Store {
  readonly #data = new Map<Key, Payload<Part>>();
  #bytes = 0;

  get size(): number {
    return this.#data.size;
  }

  /** Bytes of user data held. */
  get bytes(): number {
    return this.#bytes;
  }

  has(key: Key): boolean {
    return this.#data.has(key);
  }

  get(key: Key): Payload<Part> | undefined {
    return this.#data.get(key);
  }

  set(key: Key, value: Payload<Part>): void {
    this.delete(key);
    this.#data.set(key, value);
    this.#bytes += value.byteLength;
  }

  delete(key: Key): boolean {
    const old = this.#data.get(key);
    if (!old) return false;
    this.#bytes -= old.byteLength;
    // Shared segments this worker owns go with the value (mappings already made elsewhere stay valid).
    releaseShared(old);
    return this.#data.delete(key);
  }

  clear(): void {
    for (const key of [...this.#data.keys()]) this.delete(key);
  }
}
