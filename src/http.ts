/**
 * `ndpack/http`: files on HTTP(S) servers, read lazily with `Range` requests, in browsers and Node.
 * {@link openUrl} opens a file of any supported format (the reader of `openSource`) so that its
 * header costs one request of 64 KiB and each array at most one request of exactly its bytes (those
 * not among the first 64 KiB, which are kept);
 * {@link httpSource} is the `ByteSource` behind it (conditional on the file's validator, retried,
 * cancellable, at most `concurrency` requests in flight). An entry point of its own, as transports
 * are (STYLE.md rule 6), which also keeps the core a web page bundles within its size budget
 * (issue 13). `ndpack/node` re-exports it, and its `open` takes `http(s):` URLs.
 *
 * @example
 * ```ts
 * import { openUrl } from "ndpack/http";
 * import { FORMATS } from "ndpack/interop";
 *
 * const model = await openUrl("https://example.com/model.safetensors", { formats: FORMATS });
 * const bias = await model.read("layer.0.bias"); // one Range request of exactly its bytes
 * await model.close();
 * ```
 *
 * @packageDocumentation
 */
export { httpSource } from "./io/http.js";
export type { HttpHeaders, HttpSource, HttpSourceOptions } from "./io/http.js";
export { openUrl } from "./remote.js";
export type { OpenUrlOptions } from "./remote.js";
