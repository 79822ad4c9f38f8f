/**
 * Lazy reading of a remote file: {@link openUrl} is the one lazy reader (`openSource`) over an
 * HTTP(S) source (`httpSource`, io/http.ts). Browser-safe.
 *
 * @module
 */
import { checkOptionNames, NdpackError } from "./errors.js";
import { HTTP_SOURCE_OPTIONS, httpSource, parseUrl, withoutQuery, type HttpSourceOptions } from "./io/http.js";
import { OPEN_SOURCE_OPTIONS, openSource, type NdpackReader, type OpenSourceOptions } from "./reader.js";
import { SET_INDEX_SUFFIX } from "./set.js";

/**
 * Options of {@link openUrl}: those of `httpSource` (headers, retries, timeout, concurrency...)
 * and of `openSource` (format, limits). `signal` cancels the opening and every later request of
 * the reader; a read's own `signal` cancels that read.
 */
export interface OpenUrlOptions extends HttpSourceOptions, OpenSourceOptions {}

/** `options` of a URL's reader split into its HTTP source's (each request also gets `signal`) and its reader's. */
export function splitUrlOptions<Options extends HttpSourceOptions>(options: Options): { http: HttpSourceOptions; reader: Omit<Options, Exclude<keyof HttpSourceOptions, "signal">> } {
  const { headers, fetch, retries, timeout, concurrency, allowFullDownload, ...reader } = options;
  return { http: { headers, fetch, retries, timeout, concurrency, allowFullDownload, signal: options.signal }, reader };
}

/**
 * Opens a file of any supported format (ndpack; .npy, .npz, .safetensors given `formats: FORMATS`
 * of `ndpack/interop`, as `open` of `ndpack/node` does) on an HTTP(S) server for lazy reading
 * with `Range` requests: one request of the first 64 KiB reads the header (one more
 * for a longer header; .npz: one for the last 4 KiB, with the central directory when it fits,
 * then, all at once, 4 at a time, one per group of members whose local and .npy headers are
 * elsewhere, those less than 64 KiB apart together: N - 1 requests for N members of 64 KiB or
 * more, a few for small ones; the README counts every case), then each `read` is one request of
 * exactly the array's bytes (plus its CRC and the padding after it when verifying), less those
 * among the first 64 KiB, which are kept (an array within them costs no request), conditional on
 * the file being the one first seen (FILE_CHANGED otherwise).
 * `readMany` coalesces neighbouring arrays into few requests. The format is told from the first
 * bytes, else from the URL's extension (its query left out).
 *
 * A URL whose path ends in `.index.json` is a sharded set's index (FORMAT.md §12), which
 * `openSetUrl` of `ndpack/sets` opens (and `open` of `ndpack/node`): here it is INVALID_ARGUMENT,
 * before any request, so that the core a web page bundles stays without the set reader.
 *
 * Errors: those of `httpSource` (HTTP_ERROR with `status`, RANGE_NOT_SUPPORTED, FILE_CHANGED,
 * TRUNCATED, IO_ERROR, TIMEOUT, ABORTED) and the format errors of the file's reader.
 *
 * @example
 * ```ts
 * import { FORMATS } from "ndpack/interop";
 * const model = await openUrl("https://example.com/model.safetensors", { formats: FORMATS });
 * const bias = await model.read("layer.0.bias"); // one Range request of exactly its bytes
 * await model.close();
 * ```
 */
export async function openUrl(url: string | URL, options: OpenUrlOptions = {}): Promise<NdpackReader> {
  checkOptionNames(options, { ...HTTP_SOURCE_OPTIONS, ...OPEN_SOURCE_OPTIONS }, "openUrl");
  if (parseUrl(url).pathname.endsWith(SET_INDEX_SUFFIX)) {
    throw new NdpackError("INVALID_ARGUMENT", `${withoutQuery(String(url))} is a sharded set's index: open it with openSetUrl of ndpack/sets (or open of ndpack/node)`);
  }
  const { http, reader } = splitUrlOptions(options);
  const source = await httpSource(url, http);
  // Named without its query: a presigned URL's signature stays out of messages, and the extension is the path's.
  return openSource(source, { name: withoutQuery(source.url), ...reader });
}
