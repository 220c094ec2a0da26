// Worker processes allocate large buffers on huge pages. A value received
// over a socket, or made by a task, lands in fresh memory, and filling fresh
// memory costs one page fault per 4 KiB page touched: 25,000 per 100 MB,
// which on virtual machines dominates a transfer (~300 ms per 100 MB measured
// on one, against ~15 ms with 2 MiB pages). glibc's malloc asks the kernel
// for huge pages on the large blocks it maps when this tunable is set (Linux
// with transparent huge pages in "madvise" or "always" mode; other C
// libraries and systems ignore it). Node's ArrayBuffers, shared ones
// included, come from malloc.

const TUNABLE = "glibc.malloc.hugetlb";

/**
 * The environment for a worker process: GLIBC_TUNABLES with
 * glibc.malloc.hugetlb=1 added, unless it sets that tunable already (to 0,
 * say, to turn it off).
 */
export function withHugePages(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): NodeJS.ProcessEnv {
  if (platform !== "linux") return env;
  const tunables = env.GLIBC_TUNABLES ?? "";
  if (tunables.split(":").some((t) => t.trim().startsWith(`${TUNABLE}=`))) return env;
  return { ...env, GLIBC_TUNABLES: tunables === "" ? `${TUNABLE}=1` : `${tunables}:${TUNABLE}=1` };
}
