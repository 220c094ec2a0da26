export { Worker } from "./worker.js";
export type { WorkerOptions } from "./options.js";
