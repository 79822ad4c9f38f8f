/**
 * `ndpack/node`: everything in `ndpack`, plus file I/O for Node.
 *
 * @packageDocumentation
 */
export * from "../index.js";
