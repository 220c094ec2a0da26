// progress(futures): how many of them are done, how many failed, and when
// the rest should be (R-OBS-2, R-OBS-8). A bar redrawn in place on a
// terminal; elsewhere (CI logs, files) a plain line every few seconds and one
// at the end, since a redrawn bar there is noise or nothing.

import cliProgress from "cli-progress";
import { ConfigError } from "../errors.js";
import { checkOptions, POSITIVE_MS, STRING, type Rules } from "../options.js";
import { isSettleable, SETTLED, type Settleable } from "./settle.js";

export interface ProgressOptions {
  /** Where to draw (default: process.stdout). */
  stream?: NodeJS.WriteStream;
  /** A label before the bar. */
  label?: string;
  /** When the stream is not a terminal: ms between lines (default 5000). */
  interval?: number;
}

/** Lines come this often, by default, when the stream is not a terminal. */
export const DEFAULT_PROGRESS_INTERVAL_MS = 5000;

const RULES: Rules<ProgressOptions> = {
  stream: { what: "a writable stream such as process.stdout", ok: (v) => typeof (v as NodeJS.WriteStream | null)?.write === "function" },
  label: STRING,
  interval: POSITIVE_MS,
};

/** Resolves once every future has finished (successfully or not); never rejects for their errors. */
export async function progress(futures: Iterable<Settleable>, options?: ProgressOptions): Promise<void> {
  const list = [...futures];
  for (const f of list) if (!isSettleable(f)) throw new ConfigError("progress() takes Futures and ActorFutures");
  const { stream = process.stdout, label, interval = DEFAULT_PROGRESS_INTERVAL_MS } = checkOptions(options, RULES, "progress");
  const count = { done: 0, failed: 0 };
  const start = Date.now();
  const tty = stream.isTTY === true;
  let bar: cliProgress.SingleBar | undefined;
  let timer: NodeJS.Timeout | undefined;
  if (tty) {
    bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label ? `${label} ` : ""}[{bar}] {value}/{total} {percentage}%{failed} | {duration_formatted}{eta}`,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(list.length, 0, { failed: "", eta: "" });
  } else {
    // Its own line at each tick: whoever reads the log later sees how the work went. The timer holds nothing alive.
    timer = setInterval(() => stream.write(line(label, count, list.length, Date.now() - start) + "\n"), interval);
    timer.unref();
  }
  await Promise.all(
    list.map((f) =>
      f[SETTLED]().then(() => {
        count.done++;
        if (f.status !== "finished") count.failed++;
        bar?.update(count.done, { failed: count.failed > 0 ? ` | ${count.failed} failed` : "", eta: eta(count.done, list.length, Date.now() - start) });
      }),
    ),
  );
  if (bar) bar.stop();
  clearInterval(timer);
  if (!tty && list.length > 0) stream.write(line(label, count, list.length, Date.now() - start) + "\n");
}

/** `label: 40/80 done (50%), 3 failed, 12s elapsed, about 12s left` */
function line(label: string | undefined, count: { done: number; failed: number }, total: number, elapsedMs: number): string {
  const pct = total === 0 ? 100 : Math.floor((100 * count.done) / total);
  let s = `${label ? `${label}: ` : ""}${count.done}/${total} done (${pct}%)`;
  if (count.failed > 0) s += `, ${count.failed} failed`;
  s += `, ${formatSeconds(elapsedMs)} elapsed`;
  const left = remainingMs(count.done, total, elapsedMs);
  return left === undefined ? s : `${s}, about ${formatSeconds(left)} left`;
}

/** For the bar: " | ETA 12s", or nothing while no estimate can be made. */
function eta(done: number, total: number, elapsedMs: number): string {
  const left = remainingMs(done, total, elapsedMs);
  return left === undefined ? "" : ` | ETA ${formatSeconds(left)}`;
}

/** What the rest should take at the rate so far; undefined before the first is done and after the last. */
function remainingMs(done: number, total: number, elapsedMs: number): number | undefined {
  return done === 0 || done >= total ? undefined : (elapsedMs / done) * (total - done);
}

function formatSeconds(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
