/**
 * Compression, the other half of codecs.ts (which documents the inflaters): one raw DEFLATE
 * compressor per runtime. Node's zlib where the runtime has it; elsewhere (browsers) fflate's
 * one-shot `deflateSync`, 3 KB gzipped where pako's compressor is 7 KB (compressing has no
 * strictness to share with zlib, unlike inflating, and fflate's one-shot output is plain DEFLATE
 * that every inflater reads). Data too large to compress at once (Node's writer, the command
 * line) is compressed by `node/deflate.ts`, with Node's zlib only, on every core: there is no
 * JavaScript streaming compressor (fflate's streaming `Deflate` emits invalid back-references on
 * some first chunks, fflate issue #260, and pako's, a CommonJS module, would land whole in every
 * browser bundle of the core). A module of its own so that a page that only decodes loads no
 * compressor.
 *
 * @module
 */
import { deflateSync } from "fflate";
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
  return native ? native.deflateRawSync(bytes, { level }) : deflateSync(bytes, { level: level as PakoLevel });
}

/** The levels both pako and fflate type as such. */
type PakoLevel = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
