/**
 * DEFLATE and the payload codecs of FORMAT.md §5 (byte shuffling and raw DEFLATE): with
 * compress.ts, the one place the library compresses or inflates anything. Each runtime has one
 * inflater: Node's native zlib where the runtime has it (Node, the CLI), pako's zlib port
 * elsewhere (browsers), so both refuse exactly the same streams (fflate's lighter inflater accepts
 * some invalid ones, found by the fuzz campaign, and two readers would then disagree about one
 * file). Inflating stops before producing more than the declared size: both inflate into one
 * buffer of the declared size, so a compression bomb costs at most the array's own size and one
 * output chunk; shuffled bytes are inflated piece by piece, each piece written straight to its
 * unshuffled place in that buffer (Node's zlib driven step by step). Whatever the
 * engine, one payload or streamed member meets the one rule of {@link checkInflated}.
 *
 * Compression lives in compress.ts (zlib, or pako's compressor in browsers: one DEFLATE library
 * per runtime), so that a page that only decodes loads no compressor. The two compressors write
 * the same bytes at levels 1 to 9 (test/compress.test.ts), though another zlib may write others:
 * a compressed file's bytes may depend on the runtime that wrote it, its contents never do. Each
 * entry point reads `nativeZlib` when called, so tests can take zlib away to run the browsers' path.
 *
 * @module
 */
import { inflate as pakoInflate, inflateEnd, inflateInit2 } from "pako/lib/zlib/inflate.js";
import ZStream from "pako/lib/zlib/zstream.js";
import { concatBytes } from "./bytes.js";
import { NdpackError } from "./errors.js";
import type { Codec } from "./format.js";
import { nativeZlib, type NativeZlib, type NativeZlibStream } from "./runtime.js";

/** Node's zlib, or undefined where this runtime has none (browsers). */
export function zlib(): NativeZlib | undefined {
  return nativeZlib.inflateRawSync === undefined ? undefined : (nativeZlib as NativeZlib);
}

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
  unshuffleInto(out, wordSize)(bytes, 0);
}

/**
 * Receives a stream's output in order, piece by piece: `piece` holds the bytes from position `at`
 * of the stream, and is valid only during the call (the inflater reuses its memory).
 */
type InflateSink = (piece: Uint8Array, at: number) => void;

/**
 * A sink that writes each piece of shuffled bytes (§5) to its unshuffled positions in `out`: byte i
 * of plane j (position j * words + i of the stream) is byte j of word i. A piece may span planes.
 */
function unshuffleInto(out: Uint8Array, wordSize: number): InflateSink {
  const words = out.length / wordSize;
  return (piece, at) => {
    for (let from = 0; from < piece.length; ) {
      const plane = Math.floor((at + from) / words);
      const first = at + from - plane * words;
      const count = Math.min(piece.length - from, words - first);
      for (let i = 0, to = first * wordSize + plane; i < count; i++, to += wordSize) out[to] = piece[from + i]!;
      from += count;
    }
  };
}

/** zlib's flush modes and return codes (zlib.h), which pako keeps. */
const Z_NO_FLUSH = 0;
const Z_FINISH = 4;
const Z_STREAM_END = 1;
const Z_OK = 0;

/**
 * pako's raw inflater (its zlib port), driven the way pako's own `Inflate` class drives it, less
 * what that class adds for strings, gzip headers and dictionaries: the class is a CommonJS module
 * that a bundler keeps whole, and dropping it makes the browser bundle 2 KB smaller gzipped.
 * `ended` is true once the final block is read; `strm.avail_in` then counts the input after it.
 */
class Inflate {
  readonly strm = new ZStream();
  err = 0;
  msg = "";
  ended = false;
  onData: (chunk: Uint8Array) => void = () => undefined;
  readonly #chunkSize: number;

  constructor(chunkSize = 64 * 1024) {
    this.#chunkSize = chunkSize;
    inflateInit2(this.strm, -15);
  }

  push(data: Uint8Array, last: boolean): boolean {
    if (this.ended) return false;
    const strm = this.strm;
    strm.input = data;
    strm.next_in = 0;
    strm.avail_in = data.length;
    for (;;) {
      if (strm.avail_out === 0) {
        strm.output = new Uint8Array(this.#chunkSize);
        strm.next_out = 0;
        strm.avail_out = this.#chunkSize;
      }
      const status = pakoInflate(strm, last ? Z_FINISH : Z_NO_FLUSH);
      // Z_BUF_ERROR (no progress possible) is no error: more input may come, or `ended` stays false.
      if (status !== Z_OK && status !== Z_STREAM_END && status !== -5) {
        this.err = status;
        this.msg = strm.msg ?? "";
        this.ended = true;
        return false;
      }
      const full = strm.avail_out === 0;
      if (strm.next_out > 0 && (full || status === Z_STREAM_END)) this.onData(full ? strm.output! : strm.output!.subarray(0, strm.next_out));
      if (status === Z_STREAM_END) {
        inflateEnd(strm);
        this.ended = true;
        return true;
      }
      if (status === Z_OK && full) continue;
      if (strm.avail_in === 0) return true;
    }
  }
}

/** A raw DEFLATE stream compressed or inflated piece by piece: each call returns the output ready so far. */
export interface StreamCodec {
  push(bytes: Uint8Array): Promise<Uint8Array[]>;
  /** Ends the input; returns the last output. */
  end(): Promise<Uint8Array[]>;
  /** Releases the engine (a stream given up before its end). */
  close(): void;
  /** Input bytes the engine has used so far: after {@link end}, where the stream ended (bytes pushed after it are not counted). */
  consumed(): number;
}

/** A {@link StreamCodec} inflating a raw DEFLATE stream; its calls fail on a damaged or truncated stream. */
export function createInflater(): StreamCodec {
  const native = zlib();
  return native ? zlibStreamCodec(native.createInflateRaw()) : pakoStreamCodec(new Inflate());
}

/** The output of `codec` fed with `source`; stopping early releases the codec. */
export async function* throughCodec(source: AsyncIterable<Uint8Array>, codec: StreamCodec): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    for await (const piece of source) yield* await codec.push(piece);
    yield* await codec.end();
  } finally {
    codec.close();
  }
}

/**
 * Compressed bytes given to the inflater at a time by {@link inflateStream}: what it holds at once is
 * the output of this many bytes, at most ~1032 times them (66 MiB) for a compression bomb.
 */
const INFLATE_INPUT_STEP = 64 * 1024;

/**
 * The uncompressed bytes of the raw DEFLATE stream `compressed` of array or member `name`, piece by
 * piece, for data too large to inflate at once (a .npz member of many GiB): memory stays one piece
 * at a time. CODEC_ERROR (the rule of {@link checkInflated}) as soon as it goes past `size` bytes,
 * when it is not valid DEFLATE, ends short, or has bytes after its end. Errors of `compressed`
 * itself pass through; stopping early releases the inflater.
 */
export async function* inflateStream(compressed: AsyncIterable<Uint8Array>, size: number, name: string): AsyncGenerator<Uint8Array, void, undefined> {
  let sourceError: unknown;
  let storedLength = 0;
  const source = async function* () {
    try {
      for await (const piece of compressed) {
        storedLength += piece.length;
        for (let at = 0; at < piece.length; at += INFLATE_INPUT_STEP) yield piece.subarray(at, at + INFLATE_INPUT_STEP);
      }
    } catch (error) {
      sourceError = error;
      throw error;
    }
  };
  const inflater = createInflater();
  let produced = 0;
  try {
    for await (const piece of throughCodec(source(), inflater)) {
      produced += piece.length;
      // More than declared: stop now, with the rule's error.
      if (produced > size) checkInflated(name, { consumed: 0, storedLength: 0, produced, nbytes: size });
      yield piece;
    }
  } catch (cause) {
    if (cause instanceof NdpackError || cause === sourceError) throw cause;
    throw damaged(name, cause);
  }
  checkInflated(name, { consumed: inflater.consumed(), storedLength, produced, nbytes: size });
}

export function zlibStreamCodec(stream: NativeZlibStream): StreamCodec {
  const ready: Uint8Array[] = [];
  stream.on("data", (chunk) => ready.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)));
  // zlib reports a damaged stream as an "error" event, and may then never call a pending write back.
  const failed = new Promise<never>((_, reject) => stream.on("error", reject));
  const ended = new Promise<void>((resolve) => stream.on("end", resolve));
  // A stream abandoned after an error must not also report it as unhandled.
  failed.catch(() => undefined);
  return {
    async push(bytes) {
      await Promise.race([new Promise<void>((resolve) => stream.write(bytes, (error) => (error ? undefined : resolve()))), failed]);
      return ready.splice(0);
    },
    async end() {
      stream.end();
      await Promise.race([ended, failed]);
      return ready.splice(0);
    },
    close: () => stream.destroy(),
    consumed: () => stream.bytesWritten,
  };
}

function pakoStreamCodec(engine: Inflate): StreamCodec {
  const ready: Uint8Array[] = [];
  engine.onData = (chunk) => ready.push(chunk);
  // `ended` is false after the last push of a truncated stream; once it is true, further pushes
  // are ignored, and the input after the final block is not consumed.
  let consumed = 0;
  const step = (bytes: Uint8Array, last: boolean): Uint8Array[] => {
    if (!engine.ended) {
      engine.push(bytes, last);
      consumed += bytes.length - (engine.ended ? engine.strm.avail_in : 0);
    }
    if (engine.err !== 0) throw new Error(engine.msg || `error ${engine.err}`);
    if (last && !engine.ended) throw new Error("the stream ends before its final block");
    return ready.splice(0);
  };
  return {
    push: async (bytes) => step(bytes, false),
    end: async () => step(new Uint8Array(0), true),
    close: () => undefined,
    consumed: () => consumed,
  };
}

/**
 * Up to `wanted` bytes of what the start of a raw DEFLATE stream decodes to, when only its first
 * `stored` bytes are at hand (a member's header, read without inflating the member). Output grows
 * with the input given, at most about 1032 times it, so callers bound the memory by the bytes they pass.
 *
 * @throws NdpackError CODEC_ERROR when those bytes are not the start of a valid stream.
 */
export function inflatePrefix(stored: Uint8Array, wanted: number, name: string): Uint8Array {
  const native = zlib();
  let out: Uint8Array;
  if (native) {
    try {
      // Z_SYNC_FLUSH as the finishing flush: a stream cut short yields what it holds, not an error.
      const inflated = native.inflateRawSync(stored, { finishFlush: native.constants.Z_SYNC_FLUSH });
      out = new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.length);
    } catch (cause) {
      throw damaged(name, cause);
    }
  } else {
    const chunks: Uint8Array[] = [];
    const inflater = new Inflate();
    inflater.onData = (chunk) => chunks.push(chunk);
    inflater.push(stored, false);
    if (inflater.err !== 0) throw damaged(name, new Error(inflater.msg));
    out = concatBytes(chunks);
  }
  return out.subarray(0, Math.min(wanted, out.length));
}

/** zlib's smallest output chunk (Z_MIN_CHUNK). */
const MIN_ZLIB_CHUNK = 64;

/** Bytes of output pako produces per step: what a bomb can make it allocate before the size check stops it. */
const INFLATE_CHUNK = 64 * 1024;

/**
 * The inflater of runtimes without Node's zlib (browsers). Exported for its tests, which run where
 * zlib would otherwise be chosen.
 */
export function inflateWithPako(stored: Uint8Array, nbytes: number, name: string): Uint8Array {
  const out = new Uint8Array(nbytes);
  inflatePiecesWithPako(stored, nbytes, name, (piece, at) => out.set(piece, at));
  return out;
}

/** {@link inflateWithPako}'s stream given to `sink` piece by piece (one pako output chunk at a time). */
function inflatePiecesWithPako(stored: Uint8Array, nbytes: number, name: string, sink: InflateSink): void {
  let written = 0;
  const inflater = new Inflate(INFLATE_CHUNK);
  inflater.onData = (chunk: Uint8Array) => {
    if (written + chunk.length > nbytes) throw tooLong(name, nbytes);
    sink(chunk, written);
    written += chunk.length;
  };
  try {
    inflater.push(stored, true);
  } catch (cause) {
    throw cause instanceof NdpackError ? cause : damaged(name, cause);
  }
  if (inflater.err !== 0 || !inflater.ended) throw damaged(name, new Error(inflater.msg || "the stream ends before its final block"));
  checkInflated(name, { consumed: stored.length - inflater.strm.avail_in, storedLength: stored.length, produced: written, nbytes });
}

function inflateWithZlib(native: NativeZlib, stored: Uint8Array, nbytes: number, name: string): Uint8Array {
  let out: Uint8Array;
  let consumed: number;
  try {
    // maxOutputLength must be at least 1; an empty array still has a (tiny) deflate stream. One
    // output chunk of the array's size: zlib inflates straight into it (with the default 16 KiB
    // chunks it gathers them and concatenates, twice the array's size at the peak). A stream that
    // goes on past the declared size costs one more chunk before zlib stops it.
    const result = native.inflateRawSync(stored, { maxOutputLength: Math.max(nbytes, 1), chunkSize: Math.max(nbytes, MIN_ZLIB_CHUNK), info: true });
    out = result.buffer;
    consumed = result.engine.bytesWritten;
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    // A RangeError: an output chunk of the array's size is more than a Buffer may hold (see decompressPayload).
    throw code === "ERR_BUFFER_TOO_LARGE" ? tooLong(name, nbytes) : cause instanceof RangeError ? cause : damaged(name, cause);
  }
  checkInflated(name, { consumed, storedLength: stored.length, produced: out.length, nbytes });
  // The chunk is the array's own memory unless it is small enough to come from Buffer's shared
  // pool (or zlib's smallest chunk): then callers get a copy, memory of their own.
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

/**
 * Bytes of output zlib writes per step when its stream is inflated piece by piece
 * ({@link inflatePiecesWithZlib}): what the unshuffled path holds beside the array itself.
 */
const ZLIB_PIECE = 256 * 1024;

/**
 * The part of a Node zlib stream object that drives its engine synchronously, one step at a time
 * (what Node's own `inflateRawSync` does inside, but with our output buffer): not public API, so
 * looked for before use, with pako as the fallback. `writeSync` leaves the output and input bytes
 * still available in `_writeState`; an error of the engine destroys the stream at once.
 */
interface ZlibEngine {
  readonly _handle?: { writeSync(flush: number, input: Uint8Array, inputOffset: number, inputLength: number, output: Uint8Array, outputOffset: number, outputLength: number): void };
  readonly _writeState?: Uint32Array;
  readonly destroyed: boolean;
  readonly errored: Error | null;
  on(event: "error", listener: (error: Error) => void): unknown;
  close(): void;
}

/** zlib's Z_FINISH flush: all input is there, inflate to the end of the stream. */
const Z_FINISH_FLUSH = 4;

/**
 * `stored` inflated by Node's zlib into `sink`, {@link ZLIB_PIECE} bytes at a time, so that nothing
 * the size of the array is allocated here; false when this runtime's zlib objects lack the engine
 * calls this needs (nothing was read then).
 */
function inflatePiecesWithZlib(native: NativeZlib, stored: Uint8Array, nbytes: number, name: string, sink: InflateSink): boolean {
  const engine = native.createInflateRaw() as unknown as ZlibEngine;
  const handle = engine._handle;
  const state = engine._writeState;
  if (typeof handle?.writeSync !== "function" || !(state instanceof Uint32Array)) {
    engine.close();
    return false;
  }
  // The engine reports its errors by destroying the stream: listened to, so it is no unhandled event.
  engine.on("error", () => undefined);
  const piece = new Uint8Array(ZLIB_PIECE);
  let consumed = 0;
  let produced = 0;
  try {
    for (;;) {
      const available = stored.length - consumed;
      handle.writeSync(Z_FINISH_FLUSH, stored, consumed, available, piece, 0, piece.length);
      if (engine.destroyed) throw damaged(name, engine.errored ?? new Error("zlib stopped"));
      const made = piece.length - state[0]!;
      consumed += available - state[1]!;
      if (produced + made > nbytes) throw tooLong(name, nbytes);
      if (made > 0) sink(piece.subarray(0, made), produced);
      produced += made;
      // Output space left over: the stream has ended (a stream cut short is an error above).
      if (state[0] !== 0) break;
    }
  } catch (cause) {
    throw cause instanceof NdpackError ? cause : damaged(name, cause);
  } finally {
    engine.close();
  }
  checkInflated(name, { consumed, storedLength: stored.length, produced, nbytes });
  return true;
}

/**
 * Reverses {@link compressPayload}: returns fresh memory of exactly `nbytes` bytes, in the file's
 * byte order. Shuffled bytes are inflated piece by piece and each piece written to its unshuffled
 * place, so a shuffled payload too costs its own size and one piece, not two arrays.
 */
export function decompressPayload(stored: Uint8Array, codec: Exclude<Codec, "none">, nbytes: number, wordSize: number, name: string): Uint8Array {
  const native = zlib();
  try {
    if (codec !== "shuffle+deflate" || wordSize === 1) return native ? inflateWithZlib(native, stored, nbytes, name) : inflateWithPako(stored, nbytes, name);
    const out = new Uint8Array(nbytes);
    const sink = unshuffleInto(out, wordSize);
    if (!native || !inflatePiecesWithZlib(native, stored, nbytes, name, sink)) inflatePiecesWithPako(stored, nbytes, name, sink);
    return out;
  } catch (cause) {
    // More bytes than one typed array (or Buffer) may hold (a raised maxDecodedBytes): LIMIT_EXCEEDED, as for any payload.
    throw cause instanceof RangeError ? new NdpackError("LIMIT_EXCEEDED", `array "${name}" is ${nbytes} bytes, more than this runtime can allocate in one typed array`, { array: name, actual: nbytes, cause }) : cause;
  }
}
