// User values ⇄ Payload: the tagged binary format (format.ts, where its
// documented choices are), written by writer.ts and read by reader.ts.

export { TO_REF, LARGE_BINARY_BYTES, type Ref, type Encoded, type Resolver, type SerializeOptions } from "./format.js";
export { serialize } from "./writer.js";
export { deserialize } from "./reader.js";
