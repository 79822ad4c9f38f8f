/**
 * `ndpack/sets`: sharded sets (FORMAT.md §12), many shard files and one index read as one file, in
 * browsers and Node. A set's index is Hugging Face's sharded-checkpoint index
 * (`model.safetensors.index.json`) with an optional `ndpack` key of ndpack's own; its shards are
 * ndpack or .safetensors files. An entry point of its own because its reader carries the
 * .safetensors shard reader: the core a web page bundles stays within its size budget (issue 13).
 *
 * - {@link openSetUrl}: a set on an HTTP(S) server, its index first, then each shard only when one
 *   of its arrays is read, with `Range` requests;
 * - {@link openSetAt}, {@link openSet}: the same reader over any transport (a cache, an object
 *   store client), given how to reach a shard's bytes;
 * - {@link parseSetIndex}: an index's bytes, checked, as a description of the set.
 *
 * `ndpack/node` re-exports all of it, and its `open` reads a set from a folder (a path ending in
 * `.index.json`); `saveSet` and `createSetWriter` (`ndpack/node`) write sets.
 *
 * @example
 * ```ts
 * import { openSetUrl } from "ndpack/sets";
 *
 * const model = await openSetUrl("https://example.com/model.safetensors.index.json");
 * const head = await model.read("lm_head.weight"); // the index, then one shard's header, then this array
 * await model.close();
 * ```
 *
 * @packageDocumentation
 */
import { checkOptionNames } from "./errors.js";
import { HTTP_SOURCE_OPTIONS, httpSource, withoutQuery, type HttpSourceOptions } from "./io/http.js";
import { OPEN_SOURCE_OPTIONS } from "./reader.js";
import { splitUrlOptions } from "./remote.js";
import { openSetAt, type OpenSetOptions, type SetReader } from "./set-reader.js";

export { parseSetIndex } from "./set.js";
export type { SetIndex, SetIndexLimits, SetShard, ShardFormat } from "./set.js";
export { openSet, openSetAt, shardUrl } from "./set-reader.js";
export type { OpenedShard, OpenSetOptions, SetReader, SetVerifyReport, ShardOpener, ShardVerification } from "./set-reader.js";

/**
 * Options of {@link openSetUrl}: those of `httpSource` (headers, retries, timeout, concurrency...),
 * which every request of the index and of the shards takes, and those of {@link openSet} (limits,
 * `maxIndexBytes`). `signal` cancels the opening and every later request; a read's own `signal`
 * cancels that read.
 */
export interface OpenSetUrlOptions extends HttpSourceOptions, OpenSetOptions {}

/**
 * Opens the sharded set whose index is at `url` (FORMAT.md §12; a path ending in `.index.json`,
 * such as a Hugging Face checkpoint's `model.safetensors.index.json`) on an HTTP(S) server: the
 * index is read whole (within `maxIndexBytes`), then each shard, at its name next to the index, is
 * opened with `Range` requests when one of its arrays is first read, as `openUrl` opens a file.
 *
 * Errors: those of `httpSource` (HTTP_ERROR with `status`, 404 for a missing shard,
 * RANGE_NOT_SUPPORTED, FILE_CHANGED, TRUNCATED, IO_ERROR, TIMEOUT, ABORTED) and of {@link openSet}
 * (SET_INVALID, LIMIT_EXCEEDED, UNSUPPORTED_VERSION; per shard FILE_CHANGED, HEADER_TOO_LARGE and
 * its format's errors).
 */
export function openSetUrl(url: string | URL, options: OpenSetUrlOptions = {}): Promise<SetReader> {
  checkOptionNames(options, { ...HTTP_SOURCE_OPTIONS, ...OPEN_SOURCE_OPTIONS, maxIndexBytes: true }, "openSetUrl");
  const { http, reader } = splitUrlOptions(options);
  // The index, then each shard when one of its arrays is read: each an HTTP source of its own.
  const openShard = (location: string, read: { signal?: AbortSignal }) => httpSource(location, { ...http, signal: read.signal ?? options.signal });
  return openSetAt(url, openShard, { ...reader, name: withoutQuery(String(url)) });
}
