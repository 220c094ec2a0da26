// Argument parsing shared by the commands. A problem with what was typed is a
// UsageError: one line on stderr and exit code 2.

import { readFileSync, statSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { TlsOptions } from "../comm/index.js";
import { AuthError } from "../errors.js";

export class UsageError extends Error {}

export type Options = NonNullable<ParseArgsConfig["options"]>;
export type Values = Record<string, string | boolean | undefined>;

export const HELP_OPTION: Options = { help: { type: "boolean", short: "h" } };
export const TOKEN_OPTION: Options = { "token-file": { type: "string" } };
export const TLS_OPTIONS: Options = { "tls-cert": { type: "string" }, "tls-key": { type: "string" }, "tls-ca": { type: "string" } };
/** What every long-running command takes: help, the cluster token, TLS, and --insecure. */
export const SERVER_OPTIONS: Options = { ...HELP_OPTION, ...TOKEN_OPTION, insecure: { type: "boolean" }, ...TLS_OPTIONS };

/** Parse flags strictly; `positionals` names the positional arguments expected, in order. */
export function parse(args: string[], options: Options, positionals: string[]): { values: Values; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0]!);
  }
  const given = parsed.positionals;
  if (!parsed.values.help) {
    if (given.length > positionals.length) throw new UsageError(`unexpected argument "${given[positionals.length]}"`);
    if (given.length < positionals.length) throw new UsageError(`expected the ${positionals[given.length]}`);
  }
  return { values: parsed.values as Values, positionals: given };
}

export function int(value: unknown, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer ≥ ${min}, got "${String(value)}"`);
  return n;
}

/**
 * The cluster token: from --token-file when given, else TROUPE_TOKEN, else
 * none. The token lets its holder run code on the cluster, so a file that
 * other users may read is refused, as ssh refuses such a key: the command
 * line is right, the file is not, hence an AuthError (exit status 1).
 */
export function token(values: Values): string {
  const file = values["token-file"];
  if (typeof file !== "string") return process.env.TROUPE_TOKEN ?? "";
  let text: string;
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
    text = readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new UsageError(`cannot read --token-file ${file}: ${(err as Error).message}`);
  }
  // Windows has no such permission bits.
  if (process.platform !== "win32" && (mode & 0o077) !== 0) {
    throw new AuthError(`--token-file ${file}: permissions ${mode.toString(8).padStart(4, "0")} are too open, other users could read the token; run "chmod 600 ${file}"`);
  }
  if (text === "") throw new UsageError(`--token-file ${file} is empty: write the cluster token in it`);
  return text;
}

export function tls(values: Values): TlsOptions | undefined {
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

export function resources(spec: unknown): Record<string, number> | undefined {
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
