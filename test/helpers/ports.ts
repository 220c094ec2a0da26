// Addresses for tests of what happens where nothing listens.

import { createServer, type AddressInfo } from "node:net";

/** A tcp:// address on loopback where nothing listens (something did a moment ago). */
export async function unusedAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `tcp://127.0.0.1:${port}`;
}
