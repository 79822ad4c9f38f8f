/**
 * `ndpack/source`: the lazy reader over byte sources, in browsers and Node. {@link openSource}
 * reads a file's header once, then each array only when asked (`read`, `readRows`, `readMany`,
 * `readChunks`), from any {@link ByteSource}: a `Blob` or `File` ({@link blobSource}), memory
 * ({@link bytesSource}: views, no copies), or a source of your own (an object store's SDK, a cache).
 * An entry point of its own, as transports are (STYLE.md rule 6), which also keeps the core a web
 * page bundles within its size budget (issue 13). `ndpack/http` and `ndpack/sets` build on it, and
 * `ndpack/node` re-exports it (its `open` is this reader over a file).
 *
 * @example
 * ```ts
 * import { blobSource, openSource } from "ndpack/source";
 *
 * const reader = await openSource(blobSource(file), { name: file.name });
 * const weights = await reader.read("weights"); // only this array's bytes are read, CRC checked
 * ```
 *
 * @packageDocumentation
 */
export { openSource } from "./reader.js";
export type { NdpackReader, OpenSourceOptions, ReadChunksOptions, ReadManyArraysOptions, ReadOptions } from "./reader.js";
export { bytesSource } from "./io/bytes.js";
export { COALESCE_GAP_BYTES } from "./io/source.js";
export type { ByteSource, CheckedBytes, CheckedTail, ReadManyOptions, ReadRequestOptions } from "./io/source.js";
export type { FileFormat, FormatName, FormatReader } from "./formats/types.js";
export { blobSource } from "./io/blob.js";
