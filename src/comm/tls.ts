// Mutual TLS settings shared by connect() and listen().

import type { ConnectionOptions, TlsOptions as NodeTlsServerOptions } from "node:tls";

/** PEM contents (not paths) of this side's certificate and key, and of the CA that signs every cluster member. */
export interface TlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  ca: string | Buffer;
}

export function tlsClientOptions(tls: TlsOptions, host: string, port: number): ConnectionOptions {
  return {
    host,
    port,
    cert: tls.cert,
    key: tls.key,
    ca: tls.ca,
    // Cluster members are addressed by IP or by ad-hoc names that certificates
    // rarely list; trust comes from the private CA, so any certificate it
    // signed is accepted whatever host name it names. The chain is still
    // verified (rejectUnauthorized defaults to true).
    checkServerIdentity: () => undefined,
  };
}

export function tlsServerOptions(tls: TlsOptions): NodeTlsServerOptions {
  return { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true };
}
