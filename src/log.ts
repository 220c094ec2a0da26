// Structured logs with levels (TROUPE_LOG=debug|info|warn|error, default
// warn): `info` says what happened, `debug` why. On stderr, as text a person
// reads on a terminal and as JSON lines otherwise, so that logs of many
// processes can be merged and parsed (TROUPE_LOG_FORMAT=text|json overrides).

import { ConfigError } from "./errors.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const FORMATS: readonly LogFormat[] = ["text", "json"];

interface Settings {
  threshold: number;
  format: LogFormat;
}

let settings: Settings | undefined;

/** The settings the environment asks for; throws a ConfigError for values it does not know. */
function fromEnv(): Settings {
  const level = process.env.TROUPE_LOG;
  const format = process.env.TROUPE_LOG_FORMAT;
  if (level !== undefined && level !== "" && !Object.hasOwn(LEVELS, level.toLowerCase())) {
    throw new ConfigError(`TROUPE_LOG must be one of debug, info, warn, error, got ${JSON.stringify(level)}; unset it for the default (warn)`);
  }
  if (format !== undefined && format !== "" && !FORMATS.includes(format.toLowerCase() as LogFormat)) {
    throw new ConfigError(`TROUPE_LOG_FORMAT must be text or json, got ${JSON.stringify(format)}; unset it for text on a terminal and JSON lines otherwise`);
  }
  return {
    threshold: LEVELS[(level || "warn").toLowerCase() as LogLevel],
    format: format ? (format.toLowerCase() as LogFormat) : process.stderr.isTTY ? "text" : "json",
  };
}

/**
 * Checks TROUPE_LOG and TROUPE_LOG_FORMAT (ConfigError saying what they may
 * be): every entry point calls it first, so a mistyped level is an error, not
 * silence.
 */
export function checkLogEnv(): void {
  settings = fromEnv();
}

/** The level when TROUPE_LOG is not set: server commands (`troupe scheduler`, `troupe worker`) say what happens. */
export function defaultLogLevel(level: LogLevel): void {
  if (!process.env.TROUPE_LOG) process.env.TROUPE_LOG = level; // their child processes inherit it
  settings = undefined;
}

function current(): Settings {
  if (settings) return settings;
  try {
    return (settings = fromEnv());
  } catch {
    // Logging never throws: the entry point reports the bad setting.
    return { threshold: LEVELS.warn, format: process.stderr.isTTY ? "text" : "json" };
  }
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Whether `level` is logged now: for fields that cost something to make. */
  enabled(level: LogLevel): boolean;
}

export function createLogger(component: string): Logger {
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    const s = current();
    if (LEVELS[level] < s.threshold) return;
    const t = new Date();
    process.stderr.write((s.format === "json" ? jsonLine(t, level, component, msg, fields) : textLine(t, level, component, msg, fields)) + "\n");
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    enabled: (level) => LEVELS[level] >= current().threshold,
  };
}

function jsonLine(t: Date, level: LogLevel, component: string, msg: string, fields?: Record<string, unknown>): string {
  return JSON.stringify({ t: t.toISOString(), level, component, pid: process.pid, msg, ...fields });
}

/** `12:04:31.112 INFO  scheduler[4242] worker joined address=tcp://… name=w1` */
function textLine(t: Date, level: LogLevel, component: string, msg: string, fields?: Record<string, unknown>): string {
  const time = t.toTimeString().slice(0, 8) + "." + String(t.getMilliseconds()).padStart(3, "0");
  let line = `${time} ${level.toUpperCase().padEnd(5)} ${component}[${process.pid}] ${msg}`;
  let multiline = "";
  for (const [k, v] of Object.entries(fields ?? {})) {
    if (v === undefined) continue;
    const text = typeof v === "string" ? v : JSON.stringify(v) ?? String(v);
    // A stack reads best as itself, indented below the line.
    if (text.includes("\n")) multiline += `\n  ${k}:\n    ${text.split("\n").join("\n    ")}`;
    else line += ` ${k}=${/[\s"=]/.test(text) || text === "" ? JSON.stringify(text) : text}`;
  }
  return line + multiline;
}
