// User values, errors and code as they travel between client and workers.

export { TO_REF, LARGE_BINARY_BYTES, serialize, deserialize } from "./values.js";
export type { Ref, Encoded, Resolver, SerializeOptions } from "./values.js";
export { errorInfoOf, errorToInfo, errorToInfoAsync, infoToError, infoToErrorSync } from "./errors.js";
export { codeRefOf, codeVersionOf, loadCode, explainSourceError, ensureTypeScript, prepareCodeLookup } from "./code.js";
export { ClassesPending, decodeWithClasses, loadClasses } from "./classes.js";
export { parkIfEntry } from "./entry.js";
export type { CodeOptions } from "./code.js";
