// A scheduler in a process of its own, so that its memory can be measured
// apart from the client's: started by run.ts with --expose-gc. It sends its
// address, then answers "memory" with its heap and RSS after full collections.

import { Scheduler } from "troupe";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc || !process.send) throw new Error("run with node --expose-gc, as a child process with an IPC channel");
const scheduler = await Scheduler.start({ port: 0 });
process.send({ address: scheduler.address });
process.on("message", (m) => {
  if (m !== "memory") return;
  gc();
  gc();
  const { heapUsed, rss } = process.memoryUsage();
  process.send!({ heapUsed, rss });
});
process.on("disconnect", () => void scheduler.close().then(() => process.exit(0)));
