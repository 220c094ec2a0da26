// Listening with an HTTP server that answers behind the token gate: the
// dashboard's and a worker's. Both learn their port only once listening (0
// asks for any free one), and both close by dropping open connections (a
// browser's live feed or a scraper's keep-alive would otherwise hold close()).

import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { DashboardGate } from "./auth.js";

export interface HttpListening {
  port: number;
  close(): Promise<void>;
}

export function listenHttp(server: Server, host: string, port: number, gate: DashboardGate, beforeClose?: () => void): Promise<HttpListening> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const bound = (server.address() as AddressInfo).port;
      gate.listening(bound);
      resolve({
        port: bound,
        close: () =>
          new Promise<void>((r) => {
            beforeClose?.();
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
