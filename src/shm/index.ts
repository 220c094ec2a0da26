// Large values shared between the processes of one host through files under
// /dev/shm, mapped rather than copied: a worker hands a peer (or a client, or
// its own threads) a path, and the reader maps the same pages. Readers map
// copy-on-write, so a task that modifies its argument changes only its copy.
// Only where the bytes are read is a segment mapped: a worker's main thread
// holds them by path (Segment) and hands the path on.
//
// Each process owns the segments it names or adopts and removes them when
// their value is released, and at exit; segments of processes that died
// without cleaning up are swept when a worker starts. Without the native
// addon, or without /dev/shm, nothing is shared and data travels by socket.

import { closeSync, existsSync, linkSync, lstatSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, unlink, unlinkSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { isMainThread, threadId } from "node:worker_threads";
import { randomBytes } from "node:crypto";
import { ProtocolError } from "../errors.js";

interface Native {
  /** An existing segment, mapped copy-on-write. */
  map(path: string): ArrayBuffer;
}

/**
 * A shared segment held by path, not mapped. A worker's main thread passes
 * large values on (to its threads, to peers on its host) without mapping
 * them: every mapping of a large buffer costs the mapping thread a full
 * garbage collection, because V8 counts its size as memory to reclaim.
 */
export interface Segment {
  readonly shm: string;
  readonly byteLength: number;
}

/** A payload part as a worker holds it: bytes, or a segment mapped only where its bytes are read. */
export type Part = Uint8Array | Segment;

/** Parts at least this large travel as shared segments between processes of one host. */
export const SHARE_MIN_BYTES = 1 << 20;

const DIR = "/dev/shm";
const PREFIX = "troupe-";

let native: Native | null | undefined;

function load(): Native | null {
  if (native !== undefined) return native;
  native = null;
  if (process.env.TROUPE_SHM === "0" || process.platform !== "linux" || !existsSync(DIR)) return native;
  try {
    // dist/shm/ and src/shm/ are both two levels below the package root.
    native = createRequire(import.meta.url)("../../build/Release/troupe_shm.node") as Native;
  } catch {
    native = null;
  }
  return native;
}

let domain: string | null | undefined;

/** This process's pid namespace: pids (in names, and when sweeping) mean something only within it. */
const pidNs = (() => {
  try {
    return readlinkSync("/proc/self/ns/pid").replace(/\D/g, "") || "0";
  } catch {
    return "0";
  }
})();

/**
 * Names this host's shared-memory namespace, as seen by this user in this pid
 * namespace; processes that report the same domain can map each other's
 * segments. Undefined when sharing is unavailable.
 */
export function shmDomain(): string | undefined {
  if (domain === undefined) {
    domain = null;
    if (load()) {
      try {
        const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
        const st = statSync(DIR);
        domain = `${boot}:${st.dev}:${st.ino}:${process.getuid?.() ?? 0}:${pidNs}`;
      } catch {
        domain = null;
      }
    }
  }
  return domain ?? undefined;
}

/** Stops sharing in this process (a segment could not be mapped for another reason than being gone). */
export function stopSharing(): void {
  domain = null;
}

/** True when a mapping failed because the segment was removed meanwhile (the value is simply gone there). */
export function isGone(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === "ENOENT";
}

const tag = randomBytes(4).toString("hex");
let seq = 0;

function newPath(): string {
  return `${DIR}/${PREFIX}${process.pid}-${pidNs}-${tag}-${threadId}-${seq++}`;
}

/** Paths of shared views, by their (whole) buffer. */
const pathOf = new WeakMap<ArrayBufferLike, string>();
/** Segments this process removes when released or at exit. */
const owned = new Set<string>();

/** The segment a part is (or is a whole view of), if any. */
export function sharedPathOf(part: Part): string | undefined {
  if (!(part instanceof Uint8Array)) return part.shm;
  // Size first: `.buffer` of a small typed array makes V8 move its bytes off the heap.
  if (part.byteLength < SHARE_MIN_BYTES || part.byteOffset !== 0 || part.byteLength !== part.buffer.byteLength) return undefined;
  return pathOf.get(part.buffer);
}

/**
 * Copies a part into a new segment and returns its path, or undefined when
 * it cannot be shared (no addon, no space). The caller hands the path to the
 * process's main thread, which owns it from then on (`own`).
 */
export function share(part: Uint8Array): string | undefined {
  if (!load() || part.byteLength < SHARE_MIN_BYTES) return undefined;
  const path = newPath();
  let fd: number | undefined;
  try {
    // write(2), not a shared mapping to copy into: half the time (no page faults), and a full tmpfs fails here rather than with SIGBUS.
    fd = openSync(path, "wx", 0o600);
    for (let at = 0; at < part.byteLength; ) at += writeSync(fd, part, at, part.byteLength - at);
    return path;
  } catch {
    if (fd !== undefined) rmSync(path, { force: true });
    return undefined; // full or unavailable: the part is copied instead
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Whether every segment a value is held in is still there. Files under
 * /dev/shm can be removed behind a process's back (by an administrator, or
 * by the system when the user's last session ends).
 */
export function segmentsPresent(parts: readonly Part[]): boolean {
  for (const p of parts) if (!(p instanceof Uint8Array) && !existsSync(p.shm)) return false;
  return true;
}

/** A part's bytes: a segment is mapped (copy-on-write) here. */
export function bytesOf(part: Part): Uint8Array {
  return part instanceof Uint8Array ? part : mapShared(part.shm);
}

/** Maps a segment copy-on-write. Throws (code ENOENT) when it is gone. */
export function mapShared(path: string): Uint8Array {
  const n = load();
  if (!n) throw new Error("shared memory is not available in this process");
  checkPath(path);
  const buf = n.map(path);
  pathOf.set(buf, path);
  return new Uint8Array(buf);
}

const SEGMENT_PATH = /^\/dev\/shm\/troupe-[0-9a-f-]+$/;

/** Only our own segments are ever opened, whatever a peer sends. */
function checkPath(path: string): void {
  if (!SEGMENT_PATH.test(path)) throw new ProtocolError(`not a shared segment of troupe: ${JSON.stringify(path)}`);
}

/** This process now removes the segment when the value is released. */
export function own(path: string): void {
  owned.add(path);
  registerExitCleanup();
}

/**
 * Takes a segment another process owns, without mapping it: links it under a
 * name of this process, so it outlives the giver's copy. Throws (code ENOENT)
 * when it is gone.
 */
export function adoptSegment(path: string): Segment {
  checkPath(path);
  const mine = newPath();
  linkSync(path, mine);
  own(mine);
  try {
    const st = lstatSync(mine); // the link itself: a symbolic link is not a segment
    if (!st.isFile() || st.uid !== process.getuid?.()) throw Object.assign(new Error(`not a segment of this user: ${path}`), { code: "EACCES" });
    return { shm: mine, byteLength: st.size };
  } catch (err) {
    release(mine);
    throw err;
  }
}

/** Removes an owned segment (mappings already made stay valid). Takes a path, a segment or a shared view. */
export function release(partOrPath: Part | string): void {
  const path = typeof partOrPath === "string" ? partOrPath : sharedPathOf(partOrPath);
  if (path === undefined || !owned.delete(path)) return;
  unlink(path, () => {});
}

let exitHooked = false;

function registerExitCleanup(): void {
  if (exitHooked || !isMainThread) return;
  exitHooked = true;
  process.on("exit", () => {
    for (const path of owned) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
    owned.clear();
  });
}

/** Removes segments left behind by processes of this host that are no longer running. */
export function sweepStale(): number {
  if (!load()) return 0;
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(DIR);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.startsWith(PREFIX)) continue;
    const [pidText, ns] = name.slice(PREFIX.length).split("-");
    const pid = Number(pidText);
    // Another pid namespace's pids cannot be checked from here: leave its segments alone.
    if (ns !== pidNs || !Number.isInteger(pid) || pid <= 0 || isRunning(pid)) continue;
    try {
      unlinkSync(`${DIR}/${name}`);
      removed++;
    } catch {
      // raced with another sweeper
    }
  }
  return removed;
}

/** Whether a process of this pid namespace is running (one of another user counts). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
