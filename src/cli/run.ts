// `troupe run <script> [args…]`: run a user script, TypeScript allowed, whose
// Client.connect() finds its cluster through TROUPE_SCHEDULER/TROUPE_TOKEN.

import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { ConfigError } from "../errors.js";
import { pathToFileURL } from "node:url";
import { HELP_OPTION, parse, token, TOKEN_OPTION, UsageError, type Options } from "./args.js";

export const RUN_USAGE = `Usage: troupe run <script.ts|script.js> [args…] [--scheduler ADDR] [--token-file F]

Runs the script; its Client.connect() with no address joins the scheduler at
--scheduler (or TROUPE_SCHEDULER) when given, else starts an embedded cluster.

  --scheduler ADDR       scheduler to join, e.g. tcp://10.0.0.5:8786
  --token-file F         file holding the cluster token (or set TROUPE_TOKEN)

Other arguments go to the script (process.argv.slice(2)); so do these two
flags when they come after "--".`;

const OPTIONS: Options = { ...HELP_OPTION, ...TOKEN_OPTION, scheduler: { type: "string" } };
/** Flags of troupe's own that may also follow the script, as in `troupe run app.ts --scheduler ADDR`. */
const OWN_WITH_VALUE = new Set(["--scheduler", "--token-file"]);

/** An error thrown by the user's script rather than by the command. */
export class ScriptError extends Error {
  constructor(readonly error: unknown) {
    super("the script failed");
  }
}

/** Split the arguments into troupe's own flags, the script, and the script's arguments. */
function split(args: string[]): { own: string[]; script?: string; scriptArgs: string[] } {
  const own: string[] = [];
  const scriptArgs: string[] = [];
  let script: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (script !== undefined && arg === "--") {
      scriptArgs.push(...args.slice(i + 1));
      break;
    }
    const takesValue = OWN_WITH_VALUE.has(arg);
    if (script === undefined ? arg.startsWith("-") : takesValue || OWN_WITH_VALUE.has(arg.split("=")[0]!)) {
      own.push(arg);
      if (takesValue && i + 1 < args.length) own.push(args[++i]!);
    } else if (script === undefined) script = arg;
    else scriptArgs.push(arg);
  }
  return { own, script, scriptArgs };
}

/**
 * A `.ts` script in a CommonJS package (no `"type": "module"`, which `npm
 * init` leaves out) is compiled as CommonJS: no top-level await, and troupe,
 * an ES module, cannot be required. Say so before it fails obscurely.
 */
function checkModuleFormat(path: string): void {
  if (!/\.tsx?$/.test(path)) return;
  const pkg = nearestPackageJson(dirname(path));
  if (!pkg || pkg.type === "module") return;
  throw new ConfigError(
    `${basename(path)} is TypeScript in a CommonJS package (${pkg.file} has no "type": "module"), so it would be compiled ` +
      `as CommonJS, where top-level await and importing troupe fail: add "type": "module" to that package.json ` +
      `(npm pkg set type=module), or name the script ${basename(path).replace(/\.tsx?$/, ".mts")}`,
  );
}

function nearestPackageJson(dir: string): { file: string; type?: string } | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const file = join(d, "package.json");
    if (existsSync(file)) {
      try {
        return { file, type: (JSON.parse(readFileSync(file, "utf8")) as { type?: string }).type };
      } catch {
        return undefined; // not ours to judge
      }
    }
    if (dirname(d) === d) return undefined;
  }
}

export async function runCommand(args: string[]): Promise<void> {
  const { own, script, scriptArgs } = split(args);
  const { values } = parse(own, OPTIONS, []);
  if (values.help) return void console.log(RUN_USAGE);
  if (!script) throw new UsageError("expected a script to run: troupe run <script.ts|script.js> [args…]");
  const path = resolve(script);
  if (!existsSync(path)) throw new UsageError(`no script at ${path}`);
  if (typeof values.scheduler === "string") process.env.TROUPE_SCHEDULER = values.scheduler;
  if (values["token-file"] !== undefined) process.env.TROUPE_TOKEN = token(values);
  checkModuleFormat(path);
  process.argv = [process.argv[0]!, path, ...scriptArgs];
  if (/\.[cm]?ts$/.test(path)) (await import("tsx/esm/api")).register();
  try {
    await import(pathToFileURL(path).href);
  } catch (err) {
    throw new ScriptError(err);
  }
}
