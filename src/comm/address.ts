// Addresses as they appear in options, logs and messages: "tcp://host:port",
// "tls://host:port"; a bare "host:port" means tcp. IPv6 hosts are bracketed.

import { ConfigError } from "../errors.js";

export type Scheme = "tcp" | "tls";

export interface ParsedAddress {
  scheme: Scheme;
  host: string;
  port: number;
}

const EXAMPLE = 'e.g. "tcp://127.0.0.1:8786", "tls://scheduler.example:8786" or "[::1]:8786"';

export function parseAddress(address: string): ParsedAddress {
  if (typeof address !== "string" || address.length === 0) {
    throw new ConfigError(`Invalid address ${JSON.stringify(address)}: expected a string like ${EXAMPLE}`);
  }
  let scheme: Scheme = "tcp";
  let rest = address;
  const sep = address.indexOf("://");
  if (sep >= 0) {
    const s = address.slice(0, sep).toLowerCase();
    if (s !== "tcp" && s !== "tls") {
      throw new ConfigError(`Invalid address "${address}": unsupported scheme "${s}://"; use tcp:// or tls://, ${EXAMPLE}`);
    }
    scheme = s;
    rest = address.slice(sep + 3);
  }
  let host: string;
  let portText: string;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0 || rest[close + 1] !== ":") {
      throw new ConfigError(`Invalid address "${address}": an IPv6 host must be written "[host]:port", ${EXAMPLE}`);
    }
    host = rest.slice(1, close);
    portText = rest.slice(close + 2);
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon < 0) {
      throw new ConfigError(`Invalid address "${address}": missing ":port", ${EXAMPLE}`);
    }
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(":")) {
      throw new ConfigError(`Invalid address "${address}": put an IPv6 host in brackets, e.g. "tcp://[${host}]:${portText}"`);
    }
  }
  if (host.length === 0 || /[\s/@]/.test(host)) {
    throw new ConfigError(`Invalid address "${address}": missing or malformed host, ${EXAMPLE}`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new ConfigError(`Invalid address "${address}": port must be a number from 0 to 65535, ${EXAMPLE}`);
  }
  return { scheme, host, port: Number(portText) };
}

export function formatAddress(scheme: Scheme, host: string, port: number): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `${scheme}://${h}:${port}`;
}

/** True for "listen on every interface" hosts, which are no address for others to use. */
export function isWildcardHost(host: string): boolean {
  return host === "0.0.0.0" || host === "::";
}

/** True for hosts only reachable from this machine (where running without a token is safe). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::ffff:127.0.0.1";
}
