import { test } from "node:test";
import assert from "node:assert/strict";
import { withHugePages } from "../../src/cluster/huge-pages.js";

test("huge pages - a worker's environment asks glibc for huge pages, keeping the tunables already set", () => {
  assert.equal(withHugePages({ A: "1" }, "linux").GLIBC_TUNABLES, "glibc.malloc.hugetlb=1");
  assert.equal(withHugePages({ A: "1" }, "linux").A, "1");
  assert.equal(withHugePages({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2" }, "linux").GLIBC_TUNABLES, "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1");
});

test("huge pages - a hugetlb tunable set by the user is left as it is, and other systems get nothing", () => {
  assert.equal(withHugePages({ GLIBC_TUNABLES: "glibc.malloc.hugetlb=0" }, "linux").GLIBC_TUNABLES, "glibc.malloc.hugetlb=0");
  assert.equal(withHugePages({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2" }, "linux").GLIBC_TUNABLES, "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2");
  assert.equal(withHugePages({}, "darwin").GLIBC_TUNABLES, undefined);
});
