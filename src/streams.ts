/**
 * `ndpack/streams`: ndpack over Web Streams and Node streams, in browsers and Node, for `fetch`
 * bodies, HTTP requests and responses and sockets, the file never gathered in memory:
 * - {@link encodeStream} hands out a file's bytes piece by piece, as views of the caller's arrays;
 *   {@link decodeStream} reads one file as its bytes arrive, each array handed out once its CRC is
 *   checked (FORMAT.md §9 in wire order), and with `formats: FORMATS` of `ndpack/interop` a .npy,
 *   .npz or .safetensors file too, through the formats' own readers;
 * - {@link decodeMessages} and {@link createMessageWriter}: many files one after another over one
 *   connection (message streams, FORMAT.md §11), with back-pressure.
 *
 * An entry point of its own, which keeps the core a web page bundles within its size budget (issue
 * 13). `ndpack/node` re-exports it.
 *
 * @example
 * ```ts
 * import { decodeStream, encodeStream } from "ndpack/streams";
 *
 * await fetch(url, { method: "POST", body: encodeStream({ x: new Float32Array(1e6) }), duplex: "half" });
 *
 * const arrays = decodeStream((await fetch(url)).body!);
 * console.log((await arrays.header()).names);
 * for await (const array of arrays) console.log(array.name, array.shape);
 * ```
 *
 * @packageDocumentation
 */
export { decodeStream, encodeStream } from "./stream.js";
export type { ByteStream, DecodeStreamOptions, EncodeStreamOptions, NdpackStreamReader, StreamHeader } from "./stream.js";
export { createMessageWriter, decodeMessages } from "./messages.js";
export type { DecodeMessagesOptions, MessageTarget, MessageWriterOptions, NdpackMessage, NdpackMessageReader, NdpackMessageWriter, NodeWritableLike } from "./messages.js";
