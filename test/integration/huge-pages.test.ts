// Worker processes that a cluster starts allocate large buffers on huge pages.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { pid } from "../fixtures/tasks-extra.js";
import { useCluster } from "../helpers/cluster.js";

describe("huge pages", { skip: process.platform !== "linux" && "GLIBC_TUNABLES is read on Linux only" }, () => {
  const h = useCluster({ workers: 1 });

  it("huge pages - a LocalCluster's worker process starts with glibc's huge-page tunable", async () => {
    const pids = Object.values(await h.client.run(pid));
    assert.equal(pids.length, 1);
    const env = readFileSync(`/proc/${pids[0]}/environ`, "utf8").split("\0");
    const tunables = env.find((v) => v.startsWith("GLIBC_TUNABLES="));
    assert.ok(tunables?.split("=").slice(1).join("=").split(":").includes("glibc.malloc.hugetlb=1"), `worker environment: ${tunables ?? "no GLIBC_TUNABLES"}`);
  });
});
