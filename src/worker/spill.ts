// Values spilled to disk (R-FAIL-7): one file per part in the worker's own
// directory, read back when the value is needed. Writing happens off the
// main thread's way (asynchronously); reading back is synchronous, because a
// value is wanted right now when it is read.

import { copyFile, writeFile } from "node:fs/promises";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlink } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Part } from "../shm/index.js";

/** Where one spilled value lives: a file per part, in order. */
export interface SpilledValue {
  readonly files: string[];
  readonly byteLength: number;
}

export class SpillDirectory {
  #dir: string | undefined;
  #seq = 0;

  /** `parent`: where the worker's directory goes (default: the system's temporary directory). */
  constructor(private readonly parent: string = tmpdir()) {}

  #ensure(): string {
    if (this.#dir === undefined) {
      mkdirSync(this.parent, { recursive: true });
      this.#dir = mkdtempSync(join(this.parent, `troupe-spill-${process.pid}-`));
    }
    return this.#dir;
  }

  /** Writes a value's parts; a shared segment is copied by the kernel, never read into this thread. */
  async write(parts: readonly Part[]): Promise<SpilledValue> {
    const dir = this.#ensure();
    const id = this.#seq++;
    const files: string[] = [];
    let byteLength = 0;
    try {
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        const file = join(dir, `${id}.${i}`);
        files.push(file);
        if (part instanceof Uint8Array) await writeFile(file, part);
        else await copyFile(part.shm, file);
        byteLength += part.byteLength;
      }
    } catch (err) {
      this.remove({ files, byteLength });
      throw err;
    }
    return { files, byteLength };
  }

  /** The value's parts, read back into memory. */
  read(v: SpilledValue): Uint8Array[] {
    return v.files.map((f) => {
      const b = readFileSync(f);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    });
  }

  remove(v: SpilledValue): void {
    for (const f of v.files) unlink(f, () => {});
  }

  /** Removes the directory and everything in it (the worker is stopping). */
  close(): void {
    if (this.#dir !== undefined) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }
}
