// A worker's HTTP listener, apart from the port peers and clients use:
// /health for probes (Kubernetes, a load balancer), answered 200 while the
// worker serves, without the token (probes carry none, and it tells nothing
// about the cluster); and /metrics for Prometheus, which beyond loopback
// asks for the cluster token, as the scheduler's dashboard does (R-SEC-7).

import { createServer } from "node:http";
import { DashboardGate } from "../dashboard/auth.js";
import { listenHttp, type HttpListening } from "../dashboard/listen-http.js";
import { CommError } from "../errors.js";

export interface WorkerHttp {
  /** Its port (the one asked for, or the free one it got). */
  readonly port: number;
  /** Where others reach it, e.g. "http://127.0.0.1:40123/". */
  readonly url: string;
  close(): Promise<void>;
}

export interface WorkerHttpOptions {
  host: string;
  port: number;
  token: string;
  /** The host others reach the worker at. */
  contactHost: string;
  /** What /health answers: "ok" (200), or why the worker no longer serves (503). */
  health: () => { ok: true } | { ok: false; why: string };
  /** The exposition text /metrics answers, made at each scrape. */
  metrics: () => string;
}

/** Listens on `host:port`; it never keeps the process alive by itself. */
export async function startWorkerHttp(opts: WorkerHttpOptions): Promise<WorkerHttp> {
  let listening;
  try {
    listening = await listenWorkerHttp(opts);
  } catch (err) {
    throw new CommError(`Could not serve the worker's HTTP endpoint (/health, /metrics) on port ${opts.port}: ${(err as Error).message}; pick another with httpPort (--http-port), or 0 for any free port`, { cause: err });
  }
  const urlHost = opts.contactHost.includes(":") ? `[${opts.contactHost}]` : opts.contactHost;
  return { ...listening, url: `http://${urlHost}:${listening.port}/` };
}

function listenWorkerHttp(opts: WorkerHttpOptions): Promise<HttpListening> {
  const gate = new DashboardGate(opts.host, opts.token);
  const server = createServer((req, res) => {
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    const path = q < 0 ? raw : raw.slice(0, q);
    const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "cache-control": "no-store", "content-type": type, ...headers });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "only GET\n");
    if (path === "/health") {
      const h = opts.health();
      return send(h.ok ? 200 : 503, "text/plain", h.ok ? "ok\n" : `${h.why}\n`);
    }
    if (path !== "/metrics") return send(404, "text/plain", "not found: try /health or /metrics\n");
    const admission = gate.admit(req, new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)));
    if (!admission.ok) {
      const why = admission.wrongToken ? "that token is wrong" : "these metrics need the cluster token";
      return send(401, "text/plain", `${why}: send "Authorization: Bearer <token>"\n`, { "www-authenticate": 'Bearer realm="troupe"' });
    }
    send(200, "text/plain; version=0.0.4; charset=utf-8", opts.metrics());
  });
  // The worker's own listeners decide when its process may exit, not a probe's open connection.
  server.unref();
  server.on("connection", (socket) => socket.unref());
  return listenHttp(server, opts.host, opts.port, gate);
}
