/**
 * Compression, the other half of codecs.ts (which documents the engines): one raw DEFLATE engine
 * per runtime, Node's zlib or pako. A module of its own so that a page that only decodes does not
 * load pako's compressor.
 *
 * @module
 */
import { Deflate, deflateRaw as pakoDeflateRaw } from "#pako-deflate";
import { pakoStreamCodec, shuffle, zlib, zlibStreamCodec, type StreamCodec } from "./codecs.js";
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
  return native ? native.deflateRawSync(bytes, { level }) : pakoDeflateRaw(bytes, { level: level as PakoLevel });
}

type PakoLevel = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

/** A {@link StreamCodec} compressing at `level`, for data too large to compress at once. */
export function createDeflater(level: number): StreamCodec {
  const native = zlib();
  return native ? zlibStreamCodec(native.createDeflateRaw({ level })) : pakoStreamCodec(new Deflate({ level: level as PakoLevel, raw: true }));
}

