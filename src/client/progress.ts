// progress(futures): a terminal progress bar until they all finish (R-OBS-2).
// Quiet when stdout is not a terminal.

import cliProgress from "cli-progress";
import { ConfigError } from "../errors.js";
import { checkOptions, STRING, type Rules } from "../options.js";
import { isSettleable, SETTLED, type Settleable } from "./settle.js";

export interface ProgressOptions {
  /** Where to draw (default: process.stdout). Nothing is drawn unless it is a TTY. */
  stream?: NodeJS.WriteStream;
  /** A label before the bar. */
  label?: string;
}

const RULES: Rules<ProgressOptions> = {
  stream: { what: "a writable stream such as process.stdout", ok: (v) => typeof (v as NodeJS.WriteStream | null)?.write === "function" },
  label: STRING,
};

/** Resolves once every future has finished (successfully or not); never rejects for their errors. */
export async function progress(futures: Iterable<Settleable>, options?: ProgressOptions): Promise<void> {
  const list = [...futures];
  for (const f of list) if (!isSettleable(f)) throw new ConfigError("progress() takes Futures and ActorFutures");
  const { stream = process.stdout, label } = checkOptions(options, RULES, "progress");
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label ? `${label} ` : ""}[{bar}] {value}/{total} {percentage}% | {duration_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      noTTYOutput: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const draw = stream.isTTY === true;
  if (draw) bar.start(list.length, 0);
  let done = 0;
  await Promise.all(
    list.map((f) =>
      f[SETTLED]().then(() => {
        done++;
        if (draw) bar.update(done);
      }),
    ),
  );
  if (draw) bar.stop();
}
