// comm: bytes ⇄ messages over TCP/TLS. Knows nothing of tasks.

export { parseAddress, formatAddress, isLoopbackHost, isWildcardHost, type Scheme, type ParsedAddress } from "./address.js";
export type { TlsOptions } from "./tls.js";
export {
  MAX_FRAME_BYTES,
  MAX_HEADER_BYTES,
  MAX_OOB_FRAMES,
  OOB_THRESHOLD_BYTES,
  BatchDecoder,
  encodeBatch,
  checkFrameSize,
  decodeBatches,
  type WireEntry,
  type ErrorReply,
} from "./frames.js";
export { isThenable, promised, type Connection, type ReplyHandler, type Role, type WireSchema } from "./connection.js";
export { connect, DEFAULT_CONNECT_TIMEOUT_MS, type ConnectOptions } from "./connect.js";
export { listen, DEFAULT_HANDSHAKE_TIMEOUT_MS, type Listener, type ListenOptions } from "./listen.js";
export { connectionPair } from "./pair.js";
export { localConnection } from "./local.js";
export { Payload } from "../protocol/payload.js";
export { traffic } from "./traffic.js";
