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

/** The browser path (exported for its tests, which run where Node's zlib would otherwise be chosen). */
export function inflateWithFflate(stored: Uint8Array, nbytes: number, name: string): Uint8Array {
  // fflate reads no bytes as an empty stream; DEFLATE has none (the shortest is 2 bytes), and zlib agrees.
  if (stored.length === 0) throw damaged(name, new Error("empty input"));
  const out = new Uint8Array(nbytes);
  let written = 0;
  const inflater = new Inflate((chunk) => {
    if (written + chunk.length > nbytes) throw tooLong(name, nbytes);
    out.set(chunk, written);
    written += chunk.length;
  });
  try {
    // The last push is flagged final: fflate then throws on a stream that ends early.
    for (let at = 0; at < stored.length || at === 0; at += INFLATE_STEP) {
      const end = Math.min(at + INFLATE_STEP, stored.length);
      inflater.push(stored.subarray(at, end), end === stored.length);
    }
  } catch (cause) {
    throw cause instanceof NdpackError ? cause : damaged(name, cause);
  }
  if (written !== nbytes) throw tooShort(name, nbytes, written);
  // fflate keeps the input it has not consumed in `p`, whose first byte is still partly unread
  // when the bit position `s.p` is not 0 (pinned by test/codecs.test.ts against fflate 0.8).
  const state = inflater as unknown as { p: Uint8Array; s: { p?: number } };
  if (state.p.length - ((state.s.p ?? 0) > 0 ? 1 : 0) > 0) throw trailing(name);
  return out;
}

function inflateWithZlib(inflateRawSync: NativeZlib["inflateRawSync"], stored: Uint8Array, nbytes: number, name: string): Uint8Array {
  let out: Uint8Array;
  let consumed: number;
  try {
    // maxOutputLength must be at least 1; an empty array still has a (tiny) deflate stream.
    const result = inflateRawSync(stored, { maxOutputLength: Math.max(nbytes, 1), info: true });
    out = result.buffer;
    consumed = result.engine.bytesWritten;
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    throw code === "ERR_BUFFER_TOO_LARGE" ? tooLong(name, nbytes) : damaged(name, cause);
  }
  if (consumed < stored.length) throw trailing(name);
  if (out.length !== nbytes) throw out.length > nbytes ? tooLong(name, nbytes) : tooShort(name, nbytes, out.length);
  // zlib may hand back a view of a larger (pooled) buffer; callers get memory of their own.
  // (Buffer#slice would be another view; the Uint8Array constructor copies into a plain array.)
  return out.byteOffset === 0 && out.buffer.byteLength === nbytes ? new Uint8Array(out.buffer) : new Uint8Array(out);
}

function damaged(name: string, cause: unknown): NdpackError {
  return new NdpackError("CODEC_ERROR", `array "${name}": the deflate stream is damaged`, { array: name, cause });
}

function trailing(name: string): NdpackError {
  return new NdpackError("CODEC_ERROR", `array "${name}": bytes follow the end of the deflate stream inside the payload`, { array: name });
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
