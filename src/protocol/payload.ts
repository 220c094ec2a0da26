// Opaque user data as it travels: produced and read by serialize/, carried by
// comm/ without looking inside. parts[0] is the encoded value; later parts are
// large binary buffers kept out of band so they are never copied into a
// message header (they go to the socket as their own writes).

import type { Part } from "../shm/index.js";

/** Marks payloads of every copy of troupe a process loads (see Payload[Symbol.hasInstance]). */
const BRAND = Symbol.for("troupe.Payload");

/** `P`: a worker's main thread holds large parts as segments it has not mapped (shm/). */
export class Payload<P extends Part = Uint8Array> {
  constructor(readonly parts: P[]) {}

  /**
   * `instanceof Payload` holds for a payload made by another copy of troupe
   * in the same thread: a worker runs from one install while the user's code
   * may import another, and both decode messages.
   */
  static [Symbol.hasInstance](v: unknown): boolean {
    return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[BRAND] === true;
  }

  get byteLength(): number {
    let n = 0;
    for (const p of this.parts) n += p.byteLength;
    return n;
  }
}

/**
 * A copy of `view` in memory of its own. Not `view.slice()`: bytes read off a
 * socket are Buffers, whose slice() is another view on the same memory.
 */
export function copyBytes(view: Uint8Array): Uint8Array {
  return new Uint8Array(view);
}

Object.defineProperty(Payload.prototype, BRAND, { value: true });
