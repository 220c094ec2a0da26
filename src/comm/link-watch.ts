// Noticing a dead or half-open link within seconds, on every socket, without
// taking a busy peer for a dead one (R-FLOW-4).
//
// A process may run user code for minutes, so nothing here waits for the
// peer's process to answer: the peer's kernel does. TCP keepalive covers an
// idle link (the kernel probes after 2 s of silence, every second, and closes
// after 5 unanswered probes: ~7 s). Keepalive stays silent while data waits to
// be sent, so this side also reads TCP_INFO every second: a link where data
// waits and nothing was acknowledged for SILENT_LINK_MS is dead. A peer that
// only stops reading still acknowledges (the probes of its closed window), so
// it is never mistaken for a dead one. Those probes back off to two minutes
// unless the retransmission timeout is capped (Linux 6.15 and later): without
// the cap, a closed window is not judged, and only data sent and not
// acknowledged is.
//
// Reading TCP_INFO costs a system call (~20 µs measured on a loaded VM), so
// only sockets that wrote in the last two checks, or whose data still waited
// at the last one, are read: an idle socket is left to keepalive (4,000 idle
// sockets cost ~2 ms of CPU a second, against ~30 ms reading them all).
//
// The settings need the native addon (native/tcp.cc) and the socket's
// descriptor, which only Node's private `_handle` shows. Without either a
// socket gets Node's keepalive with a 1 s delay (libuv then probes every second, 10
// times: ~11 s), and a link that dies while data waits is left to the
// kernel's retransmission timeout (minutes).

import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { createLogger } from "../log.js";

const log = createLogger("comm");

interface LinkState {
  /** Milliseconds since the peer last acknowledged anything. */
  sinceAckMs: number;
  /** Bytes sent and not acknowledged. */
  unacked: number;
  /** Bytes in the kernel's send queue not sent yet (e.g. the peer's window is closed). */
  notSent: number;
}

interface Native {
  tuneLink(fd: number, idleS: number, intervalS: number, count: number, rtoMaxMs: number): boolean;
  linkState(fd: number): LinkState;
  resetOnClose(fd: number): void;
}

const KEEPALIVE_IDLE_S = 2;
const KEEPALIVE_INTERVAL_S = 1;
const KEEPALIVE_COUNT = 5;
/** Retransmissions, and the probes of a closed window, at least this often. */
const RTO_MAX_MS = 1000;
/** Data waits and the peer acknowledged nothing for this long: the link is dead. */
export const SILENT_LINK_MS = 6000;
const CHECK_EVERY_MS = 1000;
/** Node's keepalive delay when the addon is missing (whole seconds; libuv adds 10 probes 1 s apart). */
const FALLBACK_KEEPALIVE_DELAY_MS = 1000;

let native: Native | null | undefined;

function load(): Native | null {
  if (native !== undefined) return native;
  native = null;
  if (process.platform !== "linux") return native;
  try {
    // dist/comm/ and src/comm/ are both two levels below the package root.
    const addon = createRequire(import.meta.url)("../../build/Release/troupe_shm.node") as Partial<Native>;
    if (typeof addon.tuneLink === "function" && typeof addon.linkState === "function" && typeof addon.resetOnClose === "function") native = addon as Native;
  } catch {
    // Not built (no compiler at install): Node's keepalive below.
  }
  return native;
}

/** Whether sockets get the full settings (the addon is there), for logs and tests. */
export function linkTuning(): "native" | "node-keepalive" {
  return load() ? "native" : "node-keepalive";
}

interface Watched {
  /** Whether a closed window is probed every second, so that silence there means death too. */
  rtoCapped: boolean;
  /** socket.bytesWritten when last seen: a change means this side wrote since. */
  written: number;
  /** Read TCP_INFO until then (ms since the epoch); later, an idle link is keepalive's. */
  readUntil: number;
}

/** How long after a write, or after data was last seen waiting, a socket is read. */
const READ_AFTER_ACTIVITY_MS = 2 * CHECK_EVERY_MS;

const watched = new Map<Socket, Watched>();
let timer: NodeJS.Timeout | undefined;

/** The socket's descriptor: a TLS socket's handle wraps the TCP handle that holds it. */
function socketFd(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown; _parent?: { fd?: unknown } } | null })._handle;
  const fd = handle?._parent?.fd ?? handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/** Set up dead-link detection on a connected socket, for as long as it lives. */
export function watchLink(socket: Socket): void {
  const addon = load();
  const fd = socketFd(socket);
  if (addon === null || fd === undefined) {
    socket.setKeepAlive(true, FALLBACK_KEEPALIVE_DELAY_MS);
    return;
  }
  let rtoCapped: boolean;
  try {
    rtoCapped = addon.tuneLink(fd, KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT, RTO_MAX_MS);
  } catch (err) {
    log.debug(`Could not tune the socket's keepalive (${err instanceof Error ? err.message : String(err)}); using Node's`);
    socket.setKeepAlive(true, FALLBACK_KEEPALIVE_DELAY_MS);
    return;
  }
  watched.set(socket, { rtoCapped, written: socket.bytesWritten, readUntil: 0 });
  socket.once("close", () => watched.delete(socket));
  if (timer === undefined) {
    timer = setInterval(check, CHECK_EVERY_MS);
    timer.unref();
  }
}

function check(): void {
  if (watched.size === 0) {
    clearInterval(timer);
    timer = undefined;
    return;
  }
  const now = Date.now();
  for (const [socket, w] of watched) {
    // A destroyed socket's descriptor may already belong to another one.
    if (socket.destroyed) continue;
    const written = socket.bytesWritten;
    if (written !== w.written) {
      w.written = written;
      w.readUntil = now + READ_AFTER_ACTIVITY_MS;
    } else if (now > w.readUntil) {
      continue;
    }
    const fd = socketFd(socket);
    if (fd === undefined) continue;
    let st: LinkState;
    try {
      st = native!.linkState(fd);
    } catch {
      continue; // closing under us
    }
    if (st.unacked > 0 || st.notSent > 0) w.readUntil = now + READ_AFTER_ACTIVITY_MS;
    const waiting = st.unacked > 0 || (w.rtoCapped && st.notSent > 0);
    if (waiting && st.sinceAckMs > SILENT_LINK_MS) {
      // A peer whose packets still reach this side would otherwise hear nothing (a close waits for the data to go).
      try {
        native!.resetOnClose(fd);
      } catch {
        // closing under us
      }
      socket.destroy(new Error(`the link is dead: nothing was acknowledged for ${(st.sinceAckMs / 1000).toFixed(1)} s while data waited to be sent`));
    }
  }
}
