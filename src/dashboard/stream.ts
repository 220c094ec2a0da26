// The live dashboard's feed: Server-Sent Events. While at least one browser
// watches, a frame goes to each every PUSH_MS: the state every browser shares,
// built once, and what was added to the journals since that browser's last
// frame. A browser that reads slowly is skipped until its socket drains.

import type { ServerResponse } from "node:http";
import type { Bar, Failure, LiveData, LiveState, LogLine } from "./live.js";

/** One frame of the feed: the shared state, and what the journals gained since the browser's last frame. */
export type LiveFrame = LiveState & { bars: Bar[]; logs: LogLine[]; failures: Failure[] };

/** How often frames go out: live enough to watch, cheap enough to leave open. */
export const PUSH_MS = 500;
/** What a browser gets of the past when it connects. */
const FIRST_BARS = 5_000;
const FIRST_LOG_LINES = 1_000;

interface Watcher {
  res: ServerResponse;
  bars: number;
  logs: number;
  failures: number;
  blocked: boolean;
}

export class LiveStream {
  readonly #watchers = new Set<Watcher>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly live: LiveData,
    private readonly holdProcess: boolean,
  ) {}

  add(res: ServerResponse): void {
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive" });
    // A browser that lost the scheduler tries again this often (EventSource reconnects by itself).
    res.write("retry: 2000\n\n");
    const { bars, logs } = this.live;
    // Every failure still held: they are few, and the reason to open the page.
    const w: Watcher = { res, bars: Math.max(0, bars.end - FIRST_BARS), logs: Math.max(0, logs.end - FIRST_LOG_LINES), failures: 0, blocked: false };
    this.#watchers.add(w);
    res.on("drain", () => (w.blocked = false));
    res.on("close", () => {
      this.#watchers.delete(w);
      if (this.#watchers.size === 0) this.#stop();
    });
    this.#push([w]);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#push(this.#watchers), PUSH_MS);
      if (!this.holdProcess) this.#timer.unref();
    }
  }

  #push(to: Iterable<Watcher>): void {
    const state = this.live.state(Date.now());
    const { bars, logs, failures } = this.live;
    for (const w of to) {
      if (w.blocked) continue;
      const frame: LiveFrame = { ...state, bars: bars.since(w.bars), logs: logs.since(w.logs), failures: failures.since(w.failures) };
      w.bars = bars.end;
      w.logs = logs.end;
      w.failures = failures.end;
      w.blocked = !w.res.write(`data: ${JSON.stringify(frame)}\n\n`);
    }
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    this.#stop();
    for (const w of this.#watchers) w.res.end();
    this.#watchers.clear();
  }
}
