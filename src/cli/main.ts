#!/usr/bin/env node
// The troupe command: start a scheduler, start a worker, or run a script
// against a cluster (R-PKG-3). Errors troupe can explain are one line on
// stderr: exit code 2 for what was typed, 1 for what happened.

import { runCommand, ScriptError } from "./run.js";
import { schedulerCommand } from "./scheduler.js";
import { checkLogEnv } from "../log.js";
import { UsageError } from "./args.js";
import { packageVersion } from "./version.js";
import { workerCommand } from "./worker.js";

const USAGE = `Usage: troupe <command> [options]

Commands:
  scheduler              start a scheduler
  worker <address>       start a worker connected to a scheduler
  run <script> [args…]   run a script (.ts or .js) against a cluster
  version                print troupe's version (also --version, -v)

Run "troupe <command> --help" for a command's options.`;

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command === "scheduler" || command === "worker" || command === "run") checkLogEnv();
  switch (command) {
    case "scheduler":
      return schedulerCommand(args);
    case "worker":
      return workerCommand(args);
    case "run":
      return runCommand(args);
    case "version":
    case "--version":
    case "-v":
      return void console.log(packageVersion());
    case undefined:
    case "--help":
    case "-h":
    case "help":
      return void console.log(USAGE);
    default:
      throw new UsageError(`unknown command "${command}" (expected scheduler, worker, run or version; see troupe --help)`);
  }
}

/** troupe's own errors carry a code "ERR_TROUPE…"; a RemoteError is user code's, with a stack worth showing. */
function isTroupeError(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === "string" && code.startsWith("ERR_TROUPE") && code !== "ERR_TROUPE_REMOTE";
}

function fail(message: string, status: number): never {
  console.error(`troupe: ${message.replace(/\s*\n\s*/g, " ")}`);
  process.exit(status);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) fail(err.message, 2);
  const fromScript = err instanceof ScriptError;
  const cause = fromScript ? err.error : err;
  if (isTroupeError(cause)) {
    // A bad option value is a usage error, unless a script passed it to the API.
    fail(cause.message, cause.code === "ERR_TROUPE_CONFIG" && !fromScript ? 2 : 1);
  }
  console.error(cause);
  process.exit(1);
});
