// The scheduler's dashboard (HTTP): a page, the JSON API behind it, and
// Prometheus metrics at /metrics.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { SchedulerInfo } from "../protocol/messages.js";
import { prometheusText } from "./metrics.js";
import { PAGE } from "./page.js";

export interface Dashboard {
  /** http://host:port/ */
  readonly url: string;
  close(): Promise<void>;
}

/** `holdProcess: false`: neither the server nor a browser's open connection keeps the process alive. */
export function startDashboard(info: () => SchedulerInfo, opts: { host: string; port: number; holdProcess?: boolean }): Promise<Dashboard> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method !== "GET") return send(405, "text/plain", "only GET\n");
    if (path === "/") return send(200, "text/html; charset=utf-8", PAGE);
    if (path === "/api/info") return send(200, "application/json", JSON.stringify(info()));
    if (path === "/metrics") return send(200, "text/plain; version=0.0.4", prometheusText(info()));
    send(404, "text/plain", "not found: try /, /api/info or /metrics\n");
  });
  if (opts.holdProcess === false) {
    server.unref();
    server.on("connection", (socket) => socket.unref());
  }
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      const { port } = server.address() as AddressInfo;
      const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
      resolve({
        url: `http://${host}:${port}/`,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}
