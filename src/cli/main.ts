#!/usr/bin/env node
// The troupe command: start a scheduler, start a worker, or run a script
// against a cluster (R-PKG-3). Bad flags: one line on stderr, exit code 2.

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { hostname } from "node:os";
import { formatAddress, isWildcardHost, parseAddress, type TlsOptions } from "../comm/index.js";
import { ConfigError } from "../errors.js";
import { Scheduler } from "../scheduler/server.js";
import { defaultMemoryLimit, parseBytes } from "../worker/memory-limit.js";
import type { WorkerOptions } from "../worker/options.js";
import { Worker } from "../worker/worker.js";
import { runNanny } from "./nanny.js";

const HELP: Record<string, string> = {
  main: `Usage: troupe <command> [options]

Commands:
  scheduler              start a scheduler
  worker <address>       start a worker connected to a scheduler
  run <script> [args…]   run a script (.ts or .js) against a cluster

Run "troupe <command> --help" for a command's options.`,
  scheduler: `Usage: troupe scheduler [options]

  --host H               interface to listen on (default 127.0.0.1)
  --port P               port (default 8786; 0 picks a free one)
  --dashboard-port P     dashboard port (default 8787; 0 picks a free one)
  --token-file F         file holding the cluster token (or set TROUPE_TOKEN)
  --tls-cert F --tls-key F --tls-ca F
                         serve tls:// with mutual TLS
  --insecure             allow a non-loopback address without a token`,
  worker: `Usage: troupe worker <scheduler-address> [options]

  --nthreads N           task threads (default 1)
  --actor-threads N      actor threads (default 1)
  --resources R          resources, e.g. GPU=2,MEM=8e9
  --name NAME            worker name
  --host H --port P      where to listen for peers (default 127.0.0.1, any port)
  --contact-host H       host name others use to reach this worker
  --code-root DIR        directory shipped module paths resolve against (default: cwd)
  --memory-limit SIZE    memory the worker may use, e.g. 4GiB (default: the machine's);
                         above 95% of it the worker is restarted
  --no-nanny             run the worker in this process, with no supervisor to restart it
  --token-file F         file holding the cluster token (or set TROUPE_TOKEN)
  --tls-cert F --tls-key F --tls-ca F
                         use tls:// with mutual TLS
  --insecure             allow a non-loopback address without a token`,
  run: `Usage: troupe run <script.ts|script.js> [args…] [--scheduler ADDR]

Runs the script; its Client.connect() uses --scheduler (or TROUPE_SCHEDULER)
when given, else starts an embedded cluster.`,
};

type Options = NonNullable<ParseArgsConfig["options"]>;
const TLS: Options = { "tls-cert": { type: "string" }, "tls-key": { type: "string" }, "tls-ca": { type: "string" } };
const COMMON: Options = { help: { type: "boolean", short: "h" }, "token-file": { type: "string" }, insecure: { type: "boolean" }, ...TLS };

class UsageError extends Error {}

function parse(args: string[], options: Options, positionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0]!);
  }
  if (!parsed.values.help && parsed.positionals.length !== positionals) {
    throw new UsageError(positionals === 0 ? `unexpected argument "${parsed.positionals[0]}"` : "expected the scheduler address");
  }
  return parsed;
}

function int(value: unknown, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer ≥ ${min}, got "${String(value)}"`);
  return n;
}

function token(values: Record<string, unknown>): string {
  const file = values["token-file"] as string | undefined;
  if (file) {
    try {
      return readFileSync(file, "utf8").trim();
    } catch (err) {
      throw new UsageError(`cannot read --token-file ${file}: ${(err as Error).message}`);
    }
  }
  return process.env.TROUPE_TOKEN ?? "";
}

function tls(values: Record<string, unknown>): TlsOptions | undefined {
  const [cert, key, ca] = ["tls-cert", "tls-key", "tls-ca"].map((k) => values[k] as string | undefined);
  if (!cert && !key && !ca) return undefined;
  if (!cert || !key || !ca) throw new UsageError("--tls-cert, --tls-key and --tls-ca go together");
  const read = (f: string) => {
    try {
      return readFileSync(f);
    } catch (err) {
      throw new UsageError(`cannot read ${f}: ${(err as Error).message}`);
    }
  };
  return { cert: read(cert), key: read(key), ca: read(ca) };
}

function resources(spec: unknown): Record<string, number> | undefined {
  if (spec === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const item of String(spec).split(",").filter(Boolean)) {
    const [name, qty] = item.split("=");
    const n = Number(qty);
    if (!name || qty === undefined || !Number.isFinite(n) || n < 0) throw new UsageError(`--resources takes NAME=QTY,… got "${item}"`);
    out[name] = n;
  }
  return out;
}

function onSignals(stop: () => Promise<void>): void {
  const handler = () => void stop().then(() => process.exit(0));
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
}

async function scheduler(args: string[]): Promise<void> {
  const { values } = parse(args, { ...COMMON, host: { type: "string" }, port: { type: "string" }, "dashboard-port": { type: "string" } }, 0);
  if (values.help) return void console.log(HELP.scheduler);
  const s = await Scheduler.start({
    host: (values.host as string | undefined) ?? "127.0.0.1",
    port: int(values.port, "port") ?? 8786,
    token: token(values),
    tls: tls(values),
    insecure: Boolean(values.insecure),
    dashboardPort: int(values["dashboard-port"], "dashboard-port") ?? 8787,
    dashboardOptional: values["dashboard-port"] === undefined,
  });
  const { scheme, host, port } = parseAddress(s.address);
  // A wildcard is where it listens, not an address others can use: name this host instead.
  console.log(`troupe scheduler at ${isWildcardHost(host) ? formatAddress(scheme, hostname(), port) : s.address}`);
  if (s.dashboardUrl) console.log(`dashboard at ${s.dashboardUrl}`);
  onSignals(() => s.close());
}

async function worker(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    {
      ...COMMON,
      nthreads: { type: "string" },
      "actor-threads": { type: "string" },
      resources: { type: "string" },
      name: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "contact-host": { type: "string" },
      "code-root": { type: "string" },
      "memory-limit": { type: "string" },
      "no-nanny": { type: "boolean" },
    },
    1,
  );
  if (values.help) return void console.log(HELP.worker);
  const memoryLimit = values["memory-limit"] === undefined ? defaultMemoryLimit() : parseBytes(values["memory-limit"] as string, "--memory-limit");
  const options: WorkerOptions & { memoryLimit: number } = {
    scheduler: positionals[0]!,
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
    memoryLimit,
  };
  if (!values["no-nanny"]) return runNanny(options);
  const w = await Worker.start(options);
  console.log(`troupe worker ${w.name} at ${w.address}`);
  onSignals(() => w.close());
  // Non-zero after a fault (lost its scheduler): whatever supervises this process restarts it.
  const { fault } = await w.closed;
  process.exit(fault ? 1 : 0);
}

async function run(args: string[]): Promise<void> {
  // Flags after the script belong to the script, except --scheduler.
  const first = args.findIndex((a) => !a.startsWith("-"));
  const own = first === -1 ? args : args.slice(0, first);
  const rest = first === -1 ? [] : args.slice(first);
  const schedIdx = rest.indexOf("--scheduler");
  if (schedIdx !== -1) {
    if (!rest[schedIdx + 1]) throw new UsageError("--scheduler needs an address");
    process.env.TROUPE_SCHEDULER = rest[schedIdx + 1];
    rest.splice(schedIdx, 2);
  }
  const { values } = parse(own, { help: { type: "boolean", short: "h" }, scheduler: { type: "string" } }, 0);
  if (values.help) return void console.log(HELP.run);
  if (values.scheduler) process.env.TROUPE_SCHEDULER = values.scheduler as string;
  const script = rest[0];
  if (!script) throw new UsageError("expected a script to run");
  const path = resolve(script);
  process.argv = [process.argv[0]!, path, ...rest.slice(1)];
  if (/\.[cm]?ts$/.test(path)) (await import("tsx/esm/api")).register();
  await import(pathToFileURL(path).href);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  switch (command) {
    case "scheduler":
      return scheduler(args);
    case "worker":
      return worker(args);
    case "run":
      return run(args);
    case undefined:
    case "--help":
    case "-h":
    case "help":
      return void console.log(HELP.main);
    default:
      throw new UsageError(`unknown command "${command}" (expected scheduler, worker or run)`);
  }
}

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof UsageError || err instanceof ConfigError) {
    console.error(`troupe: ${err.message}`);
    process.exit(2);
  }
  console.error(err?.stack ?? String(err));
  process.exit(1);
});
