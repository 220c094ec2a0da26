// Garbage collection on demand, for tests about what is released when
// references are dropped.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** A way to force garbage collection without --expose-gc on the command line. */
export function forceGc(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}
