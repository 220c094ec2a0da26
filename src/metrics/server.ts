// A process's /metrics over HTTP, for processes without a dashboard (workers).
// Beyond loopback it asks for the cluster token, as the scheduler's dashboard
// does (R-SEC-7).

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { DashboardGate } from "../dashboard/auth.js";

export interface MetricsServer {
  /** Its port (the one asked for, or the free one it got). */
  readonly port: number;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  host: string;
  port: number;
  token: string;
  /** The exposition text, made at each scrape. */
  text: () => string;
}

/** Listens on `host:port`; it never keeps the process alive by itself. */
export function serveMetrics(opts: MetricsServerOptions): Promise<MetricsServer> {
  const gate = new DashboardGate(opts.host, opts.token);
  const server = createServer((req, res) => {
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    const path = q < 0 ? raw : raw.slice(0, q);
    const admission = gate.admit(req, new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)));
    const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "cache-control": "no-store", "content-type": type, ...headers });
      res.end(body);
    };
    if (!admission.ok) {
      const why = admission.wrongToken ? "that token is wrong" : "these metrics need the cluster token";
      return send(401, "text/plain", `${why}: send "Authorization: Bearer <token>"\n`, { "www-authenticate": 'Bearer realm="troupe"' });
    }
    if (req.method !== "GET") return send(405, "text/plain", "only GET\n");
    if (path !== "/metrics") return send(404, "text/plain", "not found: try /metrics\n");
    send(200, "text/plain; version=0.0.4; charset=utf-8", opts.text());
  });
  server.unref();
  server.on("connection", (socket) => socket.unref());
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      const { port } = server.address() as AddressInfo;
      gate.listening(port);
      resolve({ port, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) });
    });
  });
}
