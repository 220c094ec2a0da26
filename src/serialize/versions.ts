// Module versions (R-CODE-5): code is identified by its file's content hash.
// A thread imports the first version of a file it needs from the file's own
// URL (so it is the same module instance the file's other importers share),
// and each later version from `<url>?v=<hash>`, which makes a new instance:
// a task of the old version can still be running while one of the new starts.

import { createHash } from "node:crypto";
import { readFileSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);

/** Content hash of the module instance loaded from each URL of this thread. */
const hashAt = new Map<string, string>();

export function realpath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

/** sha256 of a file as it is on disk now, hex. */
export function diskHash(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/**
 * The content hash of the module loaded from `url` (a script URL as V8 reports
 * it): the version it was imported as, or, for a file's own URL imported
 * by someone else, its content when first asked.
 */
export function hashOf(url: string): string {
  let h = hashAt.get(url);
  if (h === undefined) {
    h = diskHash(fileURLToPath(url));
    hashAt.set(url, h);
  }
  return h;
}

/** `file`'s URL to import for content `hash`, if this thread has one already. */
export function loadedUrl(file: string, hash: string): string | undefined {
  const plain = pathToFileURL(file).href;
  if (hashAt.get(plain) === hash) return plain;
  const versioned = `${plain}${versionQuery(hash)}`;
  return hashAt.get(versioned) === hash ? versioned : undefined;
}

function versionQuery(hash: string): string {
  return `?v=${hash.slice(0, 16)}`;
}

/**
 * Claims the URL that content `hash` of `file` (checked on disk by the caller)
 * is imported from, and returns its query ("" for the file's own URL).
 */
export function claimVersion(file: string, hash: string): string {
  const plain = pathToFileURL(file).href;
  if (!hashAt.has(plain)) {
    hashAt.set(plain, hash);
    return "";
  }
  const query = versionQuery(hash);
  hashAt.set(plain + query, hash);
  // A CommonJS module is cached by file name, whatever the URL: forget it so the new version is read.
  delete require.cache[file];
  return query;
}
