// The last lines a worker process wrote to stdout and stderr (its logs, and
// what its tasks and actors print: a thread's output reaches the process's
// streams through the main thread), kept for the dashboard. Captured only in
// a process that is a worker and nothing else.

/** Lines kept between two heartbeats; older ones are dropped. */
const MAX_LINES = 100;
/** A longer line is cut: one runaway print must not fill the heartbeat. */
const MAX_LINE_CHARS = 400;

let lines: string[] | undefined;
/** The unfinished end of the last write of each stream. */
const partial = { stdout: "", stderr: "" };

function keep(stream: "stdout" | "stderr", chunk: unknown): void {
  const text = partial[stream] + (typeof chunk === "string" ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString("utf8") : "");
  const parts = text.split("\n");
  partial[stream] = parts.pop()!.slice(-MAX_LINE_CHARS);
  for (const line of parts) {
    if (line === "") continue;
    lines!.push(line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) + "…" : line);
  }
  if (lines!.length > MAX_LINES) lines!.splice(0, lines!.length - MAX_LINES);
}

/** From now on, copy this process's output lines (they are still written as before). */
export function captureOutput(): void {
  if (lines) return;
  lines = [];
  for (const name of ["stdout", "stderr"] as const) {
    const stream = process[name];
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      keep(name, chunk);
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }
}

/** The lines written since the last call (none when output is not captured). */
export function takeOutput(): string[] {
  if (!lines || lines.length === 0) return [];
  const out = lines;
  lines = [];
  return out;
}
