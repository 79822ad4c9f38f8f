/**
 * Payload codecs of FORMAT.md §5: byte shuffling and raw DEFLATE. Compression uses fflate
 * everywhere, so a file's bytes do not depend on the runtime that wrote it; decompression uses
 * Node's native zlib where the runtime has it (several times faster) and fflate elsewhere. Both
 * decompressors stop before producing more than the declared size: a compression bomb costs at
 * most the array's own size.
 *
 * @module
 */
import { deflateSync, Inflate } from "fflate";
import { NdpackError } from "./errors.js";
import type { Codec } from "./format.js";
import { nativeZlib, type NativeZlib } from "./runtime.js";

/** §5: byte j of word i goes to position j * words + i. */
export function shuffle(bytes: Uint8Array, wordSize: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  const words = bytes.length / wordSize;
  for (let j = 0; j < wordSize; j++) {
    const base = j * words;
    for (let i = 0; i < words; i++) out[base + i] = bytes[i * wordSize + j]!;
  }
  return out;
}

/** The inverse of {@link shuffle}, written into `out`. */
export function unshuffle(bytes: Uint8Array, wordSize: number, out: Uint8Array): void {
  const words = bytes.length / wordSize;
  for (let j = 0; j < wordSize; j++) {
    const base = j * words;
    for (let i = 0; i < words; i++) out[i * wordSize + j] = bytes[base + i]!;
  }
}

/** Compression level used when the caller names none: zlib's default trade-off. */
export const DEFAULT_COMPRESSION_LEVEL = 6;

/**
 * Stores `bytes` (already in the file's byte order) with `codec`. Returns `undefined` when the codec
 * would not make the payload smaller, so the writer can store it raw (§5 allows that).
 */
export function compressPayload(bytes: Uint8Array, codec: Exclude<Codec, "none">, wordSize: number, level: number): Uint8Array | undefined {
  const input = codec === "shuffle+deflate" && wordSize > 1 ? shuffle(bytes, wordSize) : bytes;
  const stored = deflateSync(input, { level: level as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 });
  return stored.length < bytes.length ? stored : undefined;
}

/** Bytes of compressed input handed to fflate per step: bounds its output per step to about 1 MiB (DEFLATE expands at most 1032:1). */
const INFLATE_STEP = 1024;

function inflateWithFflate(stored: Uint8Array, nbytes: number, name: string): Uint8Array {
  const out = new Uint8Array(nbytes);
  let written = 0;
  let ended = false;
  const inflater = new Inflate((chunk, final) => {
    if (written + chunk.length > nbytes) throw tooLong(name, nbytes);
    out.set(chunk, written);
    written += chunk.length;
    ended = final;
  });
  try {
    for (let at = 0; at < stored.length && !ended; at += INFLATE_STEP) {
      const end = Math.min(at + INFLATE_STEP, stored.length);
      inflater.push(stored.subarray(at, end), end === stored.length);
    }
  } catch (cause) {
    throw cause instanceof NdpackError ? cause : new NdpackError("CODEC_ERROR", `array "${name}": the deflate stream is damaged`, { array: name, cause });
  }
  if (!ended || written !== nbytes) throw tooShort(name, nbytes, written);
  return out;
}

function inflateWithZlib(inflateRawSync: NativeZlib["inflateRawSync"], stored: Uint8Array, nbytes: number, name: string): Uint8Array {
  let out: Uint8Array;
  try {
    // maxOutputLength must be at least 1; an empty array still has a (tiny) deflate stream.
    out = inflateRawSync(stored, { maxOutputLength: Math.max(nbytes, 1) });
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    throw code === "ERR_BUFFER_TOO_LARGE" ? tooLong(name, nbytes) : new NdpackError("CODEC_ERROR", `array "${name}": the deflate stream is damaged`, { array: name, cause });
  }
  if (out.length !== nbytes) throw out.length > nbytes ? tooLong(name, nbytes) : tooShort(name, nbytes, out.length);
  // zlib may hand back a view of a larger (pooled) buffer; callers get memory of their own.
  // (Buffer#slice would be another view: Uint8Array's slice copies.)
  return out.byteOffset === 0 && out.buffer.byteLength === nbytes ? new Uint8Array(out.buffer) : Uint8Array.prototype.slice.call(out);
}

function tooLong(name: string, nbytes: number): NdpackError {
  return new NdpackError("CODEC_ERROR", `array "${name}": the deflate stream decodes to more than the ${nbytes} bytes its shape declares`, { array: name, expected: nbytes });
}

function tooShort(name: string, nbytes: number, actual: number): NdpackError {
  return new NdpackError("CODEC_ERROR", `array "${name}": the deflate stream decodes to ${actual} bytes, not the ${nbytes} its shape declares`, { array: name, expected: nbytes, actual });
}

/** Reverses {@link compressPayload}: returns fresh memory of exactly `nbytes` bytes, in the file's byte order. */
export function decompressPayload(stored: Uint8Array, codec: Exclude<Codec, "none">, nbytes: number, wordSize: number, name: string): Uint8Array {
  const { inflateRawSync } = nativeZlib;
  const inflated = inflateRawSync ? inflateWithZlib(inflateRawSync, stored, nbytes, name) : inflateWithFflate(stored, nbytes, name);
  if (codec !== "shuffle+deflate" || wordSize === 1) return inflated;
  const out = new Uint8Array(nbytes);
  unshuffle(inflated, wordSize, out);
  return out;
}
