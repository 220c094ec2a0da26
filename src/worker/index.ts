export { Worker, type WorkerExit } from "./worker.js";
export type { WorkerOptions } from "./options.js";
