// Integration tests start real clusters; these helpers make sure every
// process they start is gone when the test ends, pass or fail.

import { after, before } from "node:test";
import { Client, LocalCluster, type LocalClusterOptions } from "../../src/index.js";

export interface Harness {
  cluster: LocalCluster;
  client: Client;
}

/** One cluster and client for a whole `describe` block, closed after it. */
export function useCluster(options: LocalClusterOptions = { workers: 2 }): Harness {
  const h = {} as Harness;
  before(async () => {
    h.cluster = await LocalCluster.start(options);
    h.client = await Client.connect(h.cluster);
  });
  after(async () => {
    await h.client?.close();
    await h.cluster?.close();
  });
  return h;
}

/** Run fn with a fresh cluster and client, always closing both. */
export async function withCluster<T>(options: LocalClusterOptions, fn: (h: Harness) => Promise<T>): Promise<T> {
  const cluster = await LocalCluster.start(options);
  let client: Client | undefined;
  try {
    client = await Client.connect(cluster);
    return await fn({ cluster, client });
  } finally {
    await client?.close();
    await cluster.close();
  }
}

/** Poll until check() is truthy; fail with `what` after timeoutMs. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
