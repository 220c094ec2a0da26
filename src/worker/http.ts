// A worker's HTTP listener: /health for probes (Kubernetes, a load
// balancer), answered 200 while the worker serves. It is a listener of its
// own, apart from the port peers and clients use, because probes speak HTTP
// and carry no token; it tells nothing about the cluster.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface WorkerHttp {
  /** http://host:port/ */
  readonly url: string;
  close(): Promise<void>;
}

export interface WorkerHttpOptions {
  host: string;
  port: number;
  /** What /health answers: "ok" (200), or why the worker no longer serves (503). */
  health: () => { ok: true } | { ok: false; why: string };
}

export function startWorkerHttp(opts: WorkerHttpOptions): Promise<WorkerHttp> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, body: string) => {
      res.writeHead(status, { "content-type": "text/plain", "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "only GET\n");
    if (path !== "/health") return send(404, "not found: try /health\n");
    const h = opts.health();
    send(h.ok ? 200 : 503, h.ok ? "ok\n" : `${h.why}\n`);
  });
  // The worker's own listeners decide when its process may exit, not a probe's open connection.
  server.unref();
  server.on("connection", (socket) => socket.unref());
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      const { port } = server.address() as AddressInfo;
      const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
      resolve({
        url: `http://${host}:${port}/`,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
