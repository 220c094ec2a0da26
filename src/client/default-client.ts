// The client that coordination primitives made without one use: on a worker
// thread, the thread's own (getClient()); elsewhere the client connected last
// in this process and still open (Dask's default client).

import { ConfigError } from "../errors.js";
import type { Client } from "./client.js";
import { getClient, onWorkerThread } from "./thread-context.js";

let current: Client | undefined;

/** @internal A client connected: it is the default from now on. */
export function setDefaultClient(client: Client): void {
  current = client;
}

/** @internal A client closed: it is the default no longer. */
export function dropDefaultClient(client: Client): void {
  if (current === client) current = undefined;
}

/** The client `what` uses when given none. */
export function defaultClient(what: string): Promise<Client> {
  if (onWorkerThread()) return getClient();
  if (current) return Promise.resolve(current);
  return Promise.reject(new ConfigError(`${what} needs a client: connect one first (Client.connect()), or pass { client }`));
}
