// What keeps a process (or thread) alive: exactly the work someone waits for
// (R-PKG-6). Sockets, timers and child processes of troupe hold nothing by
// themselves; a request awaiting its reply, a Future being awaited, a close in
// progress each hold the event loop open through one timer, ref'd while the
// count of such holds is above zero. A script that forgets client.close() thus
// exits once its last result is in, as a Python script with Dask does.

let holds = 0;
let timer: NodeJS.Timeout | undefined;

/** One more piece of work someone waits for: the event loop stays alive until it is released. */
export function hold(): void {
  if (holds++ > 0) return;
  // A timer that never fires: only its ref matters. Made once, ref'd and unref'd after.
  timer ??= setInterval(() => undefined, 2 ** 30);
  timer.ref();
}

/** That piece of work is done. */
export function release(): void {
  if (--holds === 0) timer!.unref();
}

/** Holds the event loop while `promise` is pending. */
export function holdWhile<T>(promise: Promise<T>): Promise<T> {
  hold();
  return promise.finally(release);
}
