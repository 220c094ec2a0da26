// `troupe scheduler`: serve a scheduler (and its dashboard) until stopped.

import { hostname } from "node:os";
import { formatAddress, isWildcardHost, parseAddress } from "../comm/index.js";
import { DEFAULT_HOST } from "../options.js";
import { DEFAULT_DASHBOARD_PORT, DEFAULT_SCHEDULER_PORT } from "../scheduler/options.js";
import { Scheduler } from "../scheduler/server.js";
import { int, parse, SERVER_OPTIONS, tls, token, type Options } from "./args.js";
import { defaultLogLevel } from "../log.js";
import { stopOnSignals } from "./signals.js";

export const SCHEDULER_USAGE = `Usage: troupe scheduler [options]

  --host H               interface to listen on (default 127.0.0.1)
  --port P               port (default ${DEFAULT_SCHEDULER_PORT}; 0 picks a free one)
  --dashboard-port P     dashboard port (default ${DEFAULT_DASHBOARD_PORT}, or a free one when taken;
                         0 picks a free one)
  --token-file F         file holding the cluster token (or set TROUPE_TOKEN)
  --tls-cert F --tls-key F --tls-ca F
                         serve tls:// with mutual TLS
  --insecure             allow a non-loopback address without a token`;

const OPTIONS: Options = {
  ...SERVER_OPTIONS,
  host: { type: "string" },
  port: { type: "string" },
  "dashboard-port": { type: "string" },
};

export async function schedulerCommand(args: string[]): Promise<void> {
  const { values } = parse(args, OPTIONS, []);
  if (values.help) return void console.log(SCHEDULER_USAGE);
  // A server says what happens to the cluster unless told otherwise.
  defaultLogLevel("info");
  const host = (values.host as string | undefined) ?? DEFAULT_HOST;
  const secret = token(values);
  const s = await Scheduler.start({
    host,
    port: int(values.port, "port") ?? DEFAULT_SCHEDULER_PORT,
    token: secret,
    tls: tls(values),
    insecure: Boolean(values.insecure),
    dashboardPort: int(values["dashboard-port"], "dashboard-port") ?? DEFAULT_DASHBOARD_PORT,
    // The default dashboard port may be taken (a free one then); one asked for must be served.
    dashboardFallback: values["dashboard-port"] === undefined,
  });
  const { scheme, host: bound, port } = parseAddress(s.address);
  // A wildcard is where it listens, not an address others can use: name this host instead.
  console.log(`troupe scheduler at ${isWildcardHost(bound) ? formatAddress(scheme, hostname(), port) : s.address}`);
  // Beyond loopback the dashboard asks for the token: print the login link that carries it, once.
  if (s.dashboardLink) console.log(`dashboard at ${s.dashboardLink}`);
  stopOnSignals(() => s.close());
}
