// Task keys. Maps submit tens of thousands of tasks in one turn: random
// bytes are drawn in bulk rather than one system call per key, and each key
// is made as one flat string. (A key built by concatenation is a rope: every
// Map and Set it goes through, on the client and its scheduler, hashes and
// compares it piece by piece.)

import { randomFillSync } from "node:crypto";

const pool = Buffer.alloc(8 * 1024);
let offset = pool.length;
/** Where keys are assembled before becoming one string. */
const scratch = Buffer.alloc(1024);
const HEX = Buffer.from("0123456789abcdef", "latin1");

function randomBytes8(): number {
  if (offset + 8 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += 8;
  return at;
}

/** 16 random hex digits. */
export function randomHex(): string {
  const at = randomBytes8();
  return pool.toString("hex", at, at + 8);
}

/** Writes `s` at `at` if every character fits in a byte; returns where it ends, or -1. */
function writeLatin1(s: string, at: number): number {
  if (at + s.length > scratch.length) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) return -1;
    scratch[at++] = c;
  }
  return at;
}

/** A key for a new task running fn: `<name>-<16 random hex digits>`, as one flat string. */
export function randomKey(name: string): string {
  const prefix = name || "lambda";
  let end = writeLatin1(prefix, 0);
  if (end < 0 || end + 17 > scratch.length) return `${prefix}-${randomHex()}`;
  scratch[end++] = 0x2d; // "-"
  const at = randomBytes8();
  for (let i = at; i < at + 8; i++) {
    scratch[end++] = HEX[pool[i]! >> 4]!;
    scratch[end++] = HEX[pool[i]! & 15]!;
  }
  return scratch.toString("latin1", 0, end);
}

/** The same string as one flat sequence, for keys made by concatenation elsewhere. */
export function flatKey(s: string): string {
  const end = writeLatin1(s, 0);
  return end < 0 ? s : scratch.toString("latin1", 0, end);
}
