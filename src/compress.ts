/**
 * Compression, the other half of codecs.ts (which documents the inflaters): one raw DEFLATE
 * compressor per runtime, from the same engine as the inflater. Node's zlib where the runtime has
 * it; elsewhere (browsers) pako's zlib port, whose inflater is the browsers' (it refuses exactly
 * what zlib refuses), driven directly in one call, without pako's `Deflate` class (a CommonJS
 * module a bundler keeps whole). One DEFLATE library for browsers, not two: pako's compressor
 * costs about 4 KB gzipped more than fflate's `deflateSync` did, within the core's budget. Data
 * too large to compress at once (Node's writer, the command line) is compressed by
 * `node/deflate.ts`, with Node's zlib only, on every core. A module of its own so that a page
 * that only decodes loads no compressor.
 *
 * @module
 */
import { deflate as pakoDeflate, deflateEnd, deflateInit2 } from "pako/lib/zlib/deflate.js";
import ZStream from "pako/lib/zlib/zstream.js";
import { NdpackError } from "./errors.js";
import { shuffle, zlib } from "./codecs.js";
import type { Codec } from "./format.js";

/** Compression level used when the caller names none: zlib's default trade-off. */
export const DEFAULT_COMPRESSION_LEVEL = 6;

/**
 * Stores `bytes` (already in the file's byte order) with `codec`. Returns `undefined` when the codec
 * would not make the payload smaller, so the writer can store it raw (§5 allows that).
 */
export function compressPayload(bytes: Uint8Array, codec: Exclude<Codec, "none">, wordSize: number, level: number): Uint8Array | undefined {
  const input = codec === "shuffle+deflate" && wordSize > 1 ? shuffle(bytes, wordSize) : bytes;
  const stored = deflateRaw(input, level);
  return stored.length < bytes.length ? stored : undefined;
}

/** One raw DEFLATE stream (RFC 1951) of `bytes` at `level` (0 to 9). */
export function deflateRaw(bytes: Uint8Array, level: number): Uint8Array {
  const native = zlib();
  return native ? native.deflateRawSync(bytes, { level }) : pakoDeflateRaw(bytes, level);
}

/** zlib's constants (zlib.h), which pako keeps: the one method, raw DEFLATE's 32 KiB window, the default memory level and strategy, flush mode and return codes. */
const Z_DEFLATED = 8;
const RAW_WINDOW_BITS = -15;
const DEFAULT_MEM_LEVEL = 8;
const Z_DEFAULT_STRATEGY = 0;
/** pako's `legacyHash` argument: false chooses the hash of Chromium's zlib (see {@link pakoDeflateRaw}). */
const NEWER_HASH = false;
const Z_FINISH = 4;
const Z_STREAM_END = 1;

/**
 * pako's compressor driven directly, with its newer match hash (pako's `legacyHash: false`, the
 * hash of Chromium's zlib, which Node bundles): its bytes are those of Node's `deflateRawSync`, so a
 * browser and Node write the same file. One call into one output buffer of zlib's bound.
 */
function pakoDeflateRaw(bytes: Uint8Array, level: number): Uint8Array {
  const strm = new ZStream();
  deflateInit2(strm, level, Z_DEFLATED, RAW_WINDOW_BITS, DEFAULT_MEM_LEVEL, Z_DEFAULT_STRATEGY, NEWER_HASH);
  strm.input = bytes;
  strm.next_in = 0;
  strm.avail_in = bytes.length;
  strm.output = new Uint8Array(deflateBound(bytes.length));
  strm.next_out = 0;
  strm.avail_out = strm.output.length;
  const status = pakoDeflate(strm, Z_FINISH);
  deflateEnd(strm);
  // An engine fault, not the caller's input: compressing accepts any bytes, and the bound holds them.
  if (status !== Z_STREAM_END) throw new NdpackError("CODEC_ERROR", `compressing failed (zlib status ${status})`);
  return strm.output.slice(0, strm.next_out);
}

/**
 * zlib's `deflateBound` for a raw stream with the default window and memory level (deflate.c): the
 * largest output of `length` input bytes, about 0.03% more (stored blocks) and a few bytes. pako
 * does not implement it.
 */
function deflateBound(length: number): number {
  return length + (length >>> 12) + (length >>> 14) + (length >>> 25) + 7;
}
