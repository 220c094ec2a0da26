// Results held by this worker, as the bytes they travel as: serialized once
// where produced, then sent to any number of peers without re-encoding.
// Large parts stay in their shared segments, unmapped here. Under memory
// pressure the largest values move to disk and come back when read.

import { Payload } from "../protocol/payload.js";
import { releaseShared } from "../transfer/shared.js";
import type { Key } from "../protocol/messages.js";
import type { Part } from "../shm/index.js";
import { SpillDirectory, type SpilledValue } from "./spill.js";

/** Values smaller than this are never spilled: the bookkeeping would cost more than the memory. */
export const SPILL_MIN_BYTES = 64 * 1024;

export class Store {
  readonly #data = new Map<Key, Payload<Part>>();
  readonly #spilled = new Map<Key, SpilledValue>();
  /** Values being written to disk: still readable from memory meanwhile. */
  readonly #spilling = new Set<Key>();
  readonly #disk: SpillDirectory;
  #bytes = 0;
  #sharedBytes = 0;
  #spilledBytes = 0;

  constructor(spillParent?: string) {
    this.#disk = new SpillDirectory(spillParent);
  }

  /** Bytes of values held in memory (heap or shared segments). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes of values held in shared segments: memory of this host, though not mapped by this process. */
  get sharedBytes(): number {
    return this.#sharedBytes;
  }

  /** Bytes of values on disk. */
  get spilledBytes(): number {
    return this.#spilledBytes;
  }

  /** How many values are held, in memory or on disk. */
  get count(): number {
    return this.#data.size + this.#spilled.size;
  }

  /** Every key held, in memory or on disk, with its size. */
  *sizes(): IterableIterator<[Key, number]> {
    for (const [key, v] of this.#data) yield [key, v.byteLength];
    for (const [key, s] of this.#spilled) yield [key, s.byteLength];
  }

  has(key: Key): boolean {
    return this.#data.has(key) || this.#spilled.has(key);
  }

  /** A value; one on disk is read back (it stays on disk: reading does not bring memory pressure back). */
  get(key: Key): Payload<Part> | undefined {
    const v = this.#data.get(key);
    if (v !== undefined) return v;
    const s = this.#spilled.get(key);
    return s === undefined ? undefined : new Payload(this.#disk.read(s));
  }

  set(key: Key, value: Payload<Part>): void {
    this.delete(key);
    this.#data.set(key, value);
    this.#count(value, 1);
  }

  delete(key: Key): boolean {
    this.#spilling.delete(key);
    const s = this.#spilled.get(key);
    if (s !== undefined) {
      this.#spilled.delete(key);
      this.#spilledBytes -= s.byteLength;
      this.#disk.remove(s);
      return true;
    }
    const old = this.#data.get(key);
    if (!old) return false;
    this.#count(old, -1);
    // Shared segments this worker owns go with the value (mappings already made elsewhere stay valid).
    releaseShared(old);
    return this.#data.delete(key);
  }

  #count(value: Payload<Part>, sign: 1 | -1): void {
    for (const p of value.parts) {
      this.#bytes += sign * p.byteLength;
      if (!(p instanceof Uint8Array)) this.#sharedBytes += sign * p.byteLength;
    }
  }

  /** The largest values in memory, largest first, skipping `except` (e.g. actors' handles) and those being spilled. */
  largest(except: (key: Key) => boolean): Key[] {
    const out: Array<[Key, number]> = [];
    for (const [key, v] of this.#data) {
      const n = v.byteLength;
      if (n >= SPILL_MIN_BYTES && !this.#spilling.has(key) && !except(key)) out.push([key, n]);
    }
    return out.sort((a, b) => b[1] - a[1]).map(([k]) => k);
  }

  /**
   * Moves a value to disk; its memory is given back once it is written. Resolves
   * to the bytes moved (0 when the value changed or went meanwhile).
   */
  async spill(key: Key): Promise<number> {
    const v = this.#data.get(key);
    if (!v || this.#spilling.has(key)) return 0;
    this.#spilling.add(key);
    let s: SpilledValue;
    try {
      s = await this.#disk.write(v.parts);
    } catch (err) {
      this.#spilling.delete(key);
      throw err;
    }
    // delete() and set() clear the mark: the value went, or changed, while it was written.
    if (this.#data.get(key) !== v || !this.#spilling.delete(key)) {
      this.#disk.remove(s); // freed or replaced while it was written
      return 0;
    }
    this.#data.delete(key);
    this.#count(v, -1);
    releaseShared(v);
    this.#spilled.set(key, s);
    this.#spilledBytes += s.byteLength;
    return s.byteLength;
  }

  clear(): void {
    for (const key of [...this.#data.keys(), ...this.#spilled.keys()]) this.delete(key);
    this.#disk.close();
  }
}
