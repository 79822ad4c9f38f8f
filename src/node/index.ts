/**
 * `ndpack/node`: everything in `ndpack`, plus file I/O for Node.
 *
 * @packageDocumentation
 */
export * from "../index.js";
export { load, open, save } from "./fs.js";
export type { NdpackReader, OpenOptions, PathLike, ReadOptions, SaveOptions } from "./fs.js";
export { createWriter } from "./writer.js";
export type { NdpackWriter, WriterEntry, WriterOptions, WriterTarget } from "./writer.js";
