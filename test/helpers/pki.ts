// Test certificates made with openssl: a CA and one certificate it signs,
// usable as server and client. Tests that need them skip without openssl.

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Why TLS tests are skipped here, or false when openssl is available. */
export const NO_OPENSSL: string | false = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return false;
  } catch {
    return "openssl is not installed: cannot make test certificates";
  }
})();

export interface Pem {
  cert: string;
  key: string;
  ca: string;
  /** Paths of the same files, for the command line. */
  files: { cert: string; key: string; ca: string };
}

/** A CA and one certificate it signs, usable as server and client, valid for the given IPs. */
export function makePki(dir: string, name: string, ips: string[]): Pem {
  const f = (s: string) => join(dir, `${name}-${s}`);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const run = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  run(["req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "2", "-subj", `/CN=${name} test CA`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  run(["req", ...ec, "-keyout", f("node.key"), "-out", f("node.csr"), "-subj", `/CN=${name} node`]);
  writeFileSync(f("ext.cnf"), [
    `subjectAltName=${["DNS:localhost", ...ips.map((ip) => `IP:${ip}`)].join(",")}`,
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature,keyAgreement",
    "extendedKeyUsage=serverAuth,clientAuth",
  ].join("\n") + "\n");
  run(["x509", "-req", "-in", f("node.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial",
    "-out", f("node.pem"), "-days", "2", "-extfile", f("ext.cnf")]);
  const files = { cert: f("node.pem"), key: f("node.key"), ca: f("ca.pem") };
  return { cert: readFileSync(files.cert, "utf8"), key: readFileSync(files.key, "utf8"), ca: readFileSync(files.ca, "utf8"), files };
}
