// Random hex for task keys. Maps submit tens of thousands of tasks in one
// turn: draw random bytes in bulk rather than one system call per key.

import { randomFillSync } from "node:crypto";

const pool = Buffer.alloc(8 * 1024);
let offset = pool.length;

/** 16 random hex digits. */
export function randomHex(): string {
  if (offset + 8 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString("hex", offset, offset + 8);
  offset += 8;
  return hex;
}

/** A key for a new task running fn: `<name>-<random hex>`. */
export function randomKey(name: string): string {
  return `${name || "lambda"}-${randomHex()}`;
}
