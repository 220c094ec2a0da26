// `troupe worker <scheduler-address>`: serve a worker until stopped or its
// scheduler goes away. A flag is three entries: OPTIONS, the usage text, and
// its field in workerOptions().

import { resolve } from "node:path";
import { Worker, type WorkerOptions } from "../worker/index.js";
import { defaultMemoryLimit, parseBytes } from "../worker/memory-limit.js";
import { EXIT_SCHEDULER_GONE } from "../worker/options.js";
import { captureOutput } from "../worker/output-tail.js";
import { int, parse, resources, SERVER_OPTIONS, tls, token, UsageError, type Options, type Values } from "./args.js";
import { runNanny } from "./nanny.js";
import { defaultLogLevel } from "../log.js";

export const WORKER_USAGE = `Usage: troupe worker <scheduler-address> [options]

  --nthreads N           task threads (default 1)
  --actor-threads N      actor threads (default 1)
  --resources R          resources, e.g. GPU=2,MEM=8e9
  --name NAME            worker name
  --host H --port P      where to listen for peers (default 127.0.0.1, any port)
  --contact-host H       host name others use to reach this worker
  --code-root DIR        directory shipped module paths resolve against (default: cwd)
  --memory-limit SIZE    memory the worker may use, e.g. 4GiB (default: the machine's);
                         above 60% values spill to disk, above 80% it pauses,
                         above 95% it is restarted
  --transfer-incoming-count-limit N
                         dependencies fetched from peers in at most N requests at once (default 4)
  --transfer-incoming-bytes-limit SIZE
                         and at most SIZE bytes at once (default: a tenth of --memory-limit)
  --http-port P          port of the worker's HTTP endpoint: /health, /metrics (default: any free one)
  --retire-timeout MS    on SIGTERM the worker retires: its data moves to other workers and
                         its actors with restarts left are re-created elsewhere; it waits
                         this long (default 20000) for that, then exits 0
  --no-nanny             run the worker in this process, with no supervisor to restart it
  --scheduler-timeout MS how long to try to reach the scheduler again after losing it
                         (default 60000); then the worker (and its nanny) exits 3
  --token-file F         file holding the cluster token (or set TROUPE_TOKEN)
  --tls-cert F --tls-key F --tls-ca F
                         use tls:// with mutual TLS
  --insecure             allow a non-loopback address without a token

A worker started before its scheduler waits for it (up to 10 s).`;

const OPTIONS: Options = {
  ...SERVER_OPTIONS,
  nthreads: { type: "string" },
  "actor-threads": { type: "string" },
  resources: { type: "string" },
  name: { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
  "contact-host": { type: "string" },
  "code-root": { type: "string" },
  "memory-limit": { type: "string" },
  "scheduler-timeout": { type: "string" },
  "transfer-incoming-count-limit": { type: "string" },
  "transfer-incoming-bytes-limit": { type: "string" },
  "http-port": { type: "string" },
  "retire-timeout": { type: "string" },
  "no-nanny": { type: "boolean" },
};

function workerOptions(scheduler: string, values: Values): WorkerOptions & { memoryLimit: number } {
  return {
    scheduler,
    token: token(values),
    tls: tls(values),
    insecure: Boolean(values.insecure),
    nthreads: int(values.nthreads, "nthreads", 1),
    actorThreads: int(values["actor-threads"], "actor-threads", 1),
    resources: resources(values.resources),
    name: values.name as string | undefined,
    host: values.host as string | undefined,
    port: int(values.port, "port"),
    contactHost: values["contact-host"] as string | undefined,
    codeRoot: values["code-root"] ? resolve(values["code-root"] as string) : undefined,
    memoryLimit: memoryLimit(values["memory-limit"]),
    schedulerTimeout: int(values["scheduler-timeout"], "scheduler-timeout", 0),
    transferIncomingCountLimit: int(values["transfer-incoming-count-limit"], "transfer-incoming-count-limit", 1),
    transferIncomingBytesLimit: size(values["transfer-incoming-bytes-limit"], "transfer-incoming-bytes-limit"),
    httpPort: int(values["http-port"], "http-port"),
    retireTimeout: int(values["retire-timeout"], "retire-timeout", 1),
  };
}

function memoryLimit(value: unknown): number {
  return size(value, "memory-limit") ?? defaultMemoryLimit();
}

function size(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseBytes(String(value), `--${flag}`);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export async function workerCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, OPTIONS, ["scheduler address"]);
  if (values.help) return void console.log(WORKER_USAGE);
  // A server says what happens to the cluster unless told otherwise.
  defaultLogLevel("info");
  const options = workerOptions(positionals[0]!, values);
  if (!values["no-nanny"]) return runNanny(options);
  captureOutput();
  const w = await Worker.start(options);
  console.log(`troupe worker ${w.name} at ${w.address}\nhealth at ${w.httpUrl}health`);
  // SIGTERM (docker stop, Kubernetes scaling down) retires the worker; Ctrl-C stops it at once.
  process.once("SIGINT", () => void w.close());
  process.once("SIGTERM", () => void w.retire());
  // Non-zero after a fault (it lost its scheduler): whatever supervises this process restarts it.
  const { fault } = await w.closed;
  process.exit(w.schedulerGone ? EXIT_SCHEDULER_GONE : fault ? 1 : 0);
}
