// The scheduler's dashboard (HTTP): a page, the JSON API behind it, its
// live feed (Server-Sent Events at /api/live), and Prometheus metrics at
// /metrics. Beyond loopback, every route needs the cluster token (auth.ts),
// except /health, which answers 200 while the scheduler serves.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { SchedulerInfo } from "../protocol/messages.js";
import { DashboardGate } from "./auth.js";
import { listenHttp } from "./listen-http.js";
import type { LiveData } from "./live.js";
import { loginPage, PAGE } from "./page.js";
import { LiveStream } from "./stream.js";

export interface Dashboard {
  /** http://host:port/ */
  readonly url: string;
  close(): Promise<void>;
}

export interface DashboardOptions {
  host: string;
  port: number;
  /** The cluster token: asked of every request when `host` is beyond loopback. */
  token?: string;
  /** false: neither the server nor a browser's open connection keeps the process alive. */
  holdProcess?: boolean;
  /** The text /metrics answers with (Prometheus exposition format). */
  metrics: () => string;
  /** What the live feed shows. */
  live?: LiveData;
}

export async function startDashboard(info: () => SchedulerInfo, opts: DashboardOptions): Promise<Dashboard> {
  const gate = new DashboardGate(opts.host, opts.token ?? "");
  const stream = opts.live ? new LiveStream(opts.live, opts.holdProcess !== false) : undefined;
  const server: Server = createServer((req, res) => serve(req, res, gate, info, opts.metrics, stream));
  if (opts.holdProcess === false) {
    server.unref();
    server.on("connection", (socket) => socket.unref());
  }
  const listening = await listenHttp(server, opts.host, opts.port, gate, () => stream?.close());
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return { url: `http://${host}:${listening.port}/`, close: listening.close };
}

function serve(req: IncomingMessage, res: ServerResponse, gate: DashboardGate, info: () => SchedulerInfo, metrics: () => string, stream: LiveStream | undefined): void {
  const raw = req.url ?? "/";
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  const headers: Record<string, string> = { "cache-control": "no-store" };
  const send = (status: number, type: string, body: string) => {
    res.writeHead(status, { ...headers, "content-type": type });
    res.end(body);
  };
  // Probes (a load balancer, Kubernetes) carry no token, and the answer tells nothing about the cluster.
  if (path === "/health") return send(200, "text/plain", "ok\n");
  // Before anything else, so that no route (nor its 404 or 405) answers without the token.
  const admission = gate.admit(req, query);
  if (!admission.ok) {
    headers["www-authenticate"] = 'Bearer realm="troupe"';
    const why = admission.wrongToken ? "that token is wrong" : "this dashboard needs the cluster token";
    if (path === "/") return send(401, "text/html; charset=utf-8", loginPage(why));
    return send(401, "text/plain", `${why}: send "Authorization: Bearer <token>", or open the login link the scheduler printed (/?token=<token>)\n`);
  }
  if (admission.setCookie) headers["set-cookie"] = admission.setCookie;
  if (req.method !== "GET") return send(405, "text/plain", "only GET\n");
  if (path === "/") return send(200, "text/html; charset=utf-8", PAGE);
  if (path === "/api/info") return send(200, "application/json", JSON.stringify(info()));
  if (path === "/api/live" && stream) return stream.add(res);
  if (path === "/metrics") return send(200, "text/plain; version=0.0.4; charset=utf-8", metrics());
  send(404, "text/plain", "not found: try /, /api/info, /api/live or /metrics\n");
}
