/**
 * Payload codecs of FORMAT.md §5: byte shuffling and raw DEFLATE. Compression uses fflate's
 * one-shot deflate everywhere, so a file's bytes do not depend on the runtime that wrote it;
 * decompression uses Node's native zlib where the runtime has it and pako (a port of zlib)
 * elsewhere, so both refuse exactly the same streams. Both stop before producing more than the
 * declared size: a compression bomb costs at most the array's own size and one output chunk.
 *
 * @module
 */
import { deflateSync } from "fflate";
import { Inflate } from "pako";
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

/** Bytes of output pako produces per step: what a bomb can make it allocate before the size check stops it. */
const INFLATE_CHUNK = 64 * 1024;

/**
 * The path of runtimes without Node's zlib (browsers). pako is a port of zlib's inflate, so it
 * refuses exactly the streams zlib refuses; fflate's inflater, lighter, accepts some invalid ones
 * (a code-length repeat before any length, found by the fuzz campaign), and two readers would then
 * disagree about one file. Exported for its tests, which run where zlib would otherwise be chosen.
 */
export function inflateWithPako(stored: Uint8Array, nbytes: number, name: string): Uint8Array {
  const out = new Uint8Array(nbytes);
  let written = 0;
  const inflater = new Inflate({ raw: true, chunkSize: INFLATE_CHUNK });
  inflater.onData = (chunk: Uint8Array) => {
    if (written + chunk.length > nbytes) throw tooLong(name, nbytes);
    out.set(chunk, written);
    written += chunk.length;
  };
  try {
    inflater.push(stored, true);
  } catch (cause) {
    throw cause instanceof NdpackError ? cause : damaged(name, cause);
  }
  // `ended` and `strm.avail_in` (input left after the final block) are pako 2 fields its typings omit.
  const state = inflater as unknown as { ended: boolean; strm: { avail_in: number } };
  if (inflater.err !== 0 || !state.ended) throw damaged(name, new Error(inflater.msg || "the stream ends before its final block"));
  checkInflated(name, { consumed: stored.length - state.strm.avail_in, storedLength: stored.length, produced: written, nbytes });
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
  checkInflated(name, { consumed, storedLength: stored.length, produced: out.length, nbytes });
  // zlib may hand back a view of a larger (pooled) buffer; callers get memory of their own.
  // (Buffer#slice would be another view; the Uint8Array constructor copies into a plain array.)
  return out.byteOffset === 0 && out.buffer.byteLength === nbytes ? new Uint8Array(out.buffer) : new Uint8Array(out);
}

/** What an inflater did with a complete DEFLATE stream: input bytes it used of those stored, output bytes it made of those declared. */
export interface InflateOutcome {
  readonly consumed: number;
  readonly storedLength: number;
  readonly produced: number;
  readonly nbytes: number;
}

/**
 * The one rule for a deflated payload or .npz member, whichever inflater ran (zlib or pako here,
 * the command line's streaming zlib for .npz members): the stored bytes are exactly one complete
 * DEFLATE stream, nothing after its end (FORMAT.md §9 step 23), and it decodes to exactly the
 * declared size. CODEC_ERROR otherwise.
 */
export function checkInflated(name: string, outcome: InflateOutcome): void {
  if (outcome.produced > outcome.nbytes) throw tooLong(name, outcome.nbytes);
  if (outcome.produced < outcome.nbytes) throw tooShort(name, outcome.nbytes, outcome.produced);
  if (outcome.consumed < outcome.storedLength) throw trailing(name);
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
  const inflated = inflateRawSync ? inflateWithZlib(inflateRawSync, stored, nbytes, name) : inflateWithPako(stored, nbytes, name);
  if (codec !== "shuffle+deflate" || wordSize === 1) return inflated;
  const out = new Uint8Array(nbytes);
  unshuffle(inflated, wordSize, out);
  return out;
}
