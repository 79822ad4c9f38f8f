/**
 * `ndpack/node`: everything in `ndpack`, in `ndpack/source` (`openSource`, `blobSource`,
 * `bytesSource`), in `ndpack/http` (`openUrl`, `httpSource`), in
 * `ndpack/sets` (sharded sets: `openSetUrl`, `openSet`, `parseSetIndex`...) and in `ndpack/streams`
 * (`encodeStream`, `decodeStream`, `decodeMessages`, `createMessageWriter`), plus file I/O for Node:
 * - `save(path, arrays)`: atomic (temporary file, fsync, rename), written from the caller's arrays;
 * - `load(path)`: the whole file into aligned memory, arrays as zero-copy views;
 * - `open(path)`: the lazy reader of `openSource` over a file, for ndpack, .npy, .npz and
 *   .safetensors: header once, then `read(name)`, `readRows`, `readMany`, `readChunks` with
 *   positioned reads (CRC checked by default), `bytesRead` to measure them;
 * - `createWriter(target, entries)`: files larger than memory, array by array, chunk by chunk, to a
 *   path (atomically) or to a stream;
 * - `connectMessages(options)`: a message stream from a TCP producer, each large payload read by
 *   the operating system straight into the array handed out;
 * - `saveSet(folder, arrays)` and `createSetWriter(folder, entries)`: sharded sets (FORMAT.md §12),
 *   many shard files and one index, written atomically for the set as a whole.
 *
 * @example
 * ```ts
 * import { open, save } from "ndpack/node";
 *
 * await save("step-100.ndp", { weights: { data: weights, shape: [1024, 1024] } }, { metadata: { step: 100 } });
 * await using reader = await open("step-100.ndp");
 * const weights = await reader.read("weights"); // CRC checked
 * ```
 *
 * @packageDocumentation
 */
export * from "../index.js";
export * from "../source.js";
export * from "../http.js";
export * from "../streams.js";
export * from "../sets.js";
export { load, open, save } from "./fs.js";
export type { OpenOptions, OpenTarget, PathLike, SaveOptions, TargetOptions } from "./fs.js";
export { createWriter } from "./writer.js";
export type { NdpackWriter, WriterEntry, WriterOptions, WriterTarget } from "./writer.js";
export { connectMessages } from "./message-socket.js";
export type { MessageConnection } from "./message-socket.js";
export { createSetWriter, DEFAULT_MAX_SHARD_BYTES, saveSet } from "./set-writer.js";
export type { SavedSet, SaveSetOptions, SetWriter, SetWriterOptions } from "./set-writer.js";
