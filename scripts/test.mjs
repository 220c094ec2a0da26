// Runs the whole suite with node's test runner: unit tests (pure, in-process)
// first, then integration tests (real processes). TypeScript test files load
// through tsx. Extra arguments select files: `node scripts/test.mjs test/unit`.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function testFiles(path) {
  if (statSync(path).isFile()) return [path];
  return readdirSync(path)
    .flatMap((name) => testFiles(join(path, name)))
    .filter((f) => f.endsWith(".test.ts"))
    .sort();
}

const roots = process.argv.length > 2 ? process.argv.slice(2) : ["test/unit", "test/integration"];
const files = roots.flatMap(testFiles);
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", "--test-timeout=120000", ...files],
  { stdio: "inherit", env: { TROUPE_LOG: "error", ...process.env } },
);
process.exit(result.status ?? 1);
