/**
 * ndpack over Web Streams, for `fetch` bodies, HTTP responses and sockets. Browser-safe: it uses only
 * `ReadableStream` and async iteration, never a `node:` module.
 *
 * {@link encodeStream} hands out the bytes of {@link planEncoding}'s plan piece by piece, as views of
 * the caller's arrays wherever no byte has to change, so the file is never gathered in memory.
 * {@link decodeStream} runs the checks of FORMAT.md §9 in wire order as bytes arrive: the preamble
 * and header first (steps 1–19, 21), then each array's record, whose CRC it checks (step 22) before
 * handing the array out, and finally the length (step 20) when the stream ends.
 *
 * Given the format table (`formats: FORMATS`), it is also the stream driver of the foreign
 * formats' readers (`formats/*.ts`), which do no I/O: a .npy or .safetensors header reader runs on
 * the stream without its size (`readStream` of its row) and each array is read after it, checked
 * by the format's own `toArray` as the lazy reader checks it; a .npz stream, whose directory is at
 * its end, is gathered and run through the memory driver (`runOnBytes`). ndpack streams keep their
 * own path, {@link readRecords}, which message streams share.
 *
 * @example
 * ```ts
 * import { decodeStream, encodeStream } from "ndpack/streams";
 *
 * await fetch(url, { method: "POST", body: encodeStream({ x: new Float32Array(1e6) }), duplex: "half" });
 *
 * const arrays = decodeStream((await fetch(url)).body!);
 * console.log((await arrays.header()).names);
 * for await (const array of arrays) console.log(array.name, array.shape);
 * ```
 *
 * @module
 */
import { concatBytes, freshBytes, swapInPlace } from "./bytes.js";
import { crc32 } from "./crc32.js";
import { arrayInfo, checkRecordTail, materialize, type ArrayInfo, type NdArray, type NdpackContents } from "./decode.js";
import { ENCODE_OPTIONS, planEncoding, planSegments, SMALL_PIECE, type ArraysInput, type EncodeOptions, type EncodePlan } from "./encode.js";
import { booleanOption, checkOptionNames, isNdpackError, NdpackError, overLimit, shown } from "./errors.js";
import { LIMIT_OPTIONS, type ReadLimits } from "./format.js";
import { checkContainerOptions, checkFormats, sniffFormatIn, SNIFF_BYTES, unknownFormatError } from "./formats/find.js";
import type { Container, ContainerOptions, FormatName, FormatReader, ToArrayOptions } from "./formats/types.js";
import { checkFileLength, checkLimit, checkZeroPadding, readLayoutSteps, resolveLimits, type EntryLayout, type FileLayout } from "./header.js";
import { lengthSoFar, runOnBytes, type RangeSteps } from "./io/steps.js";
import { HOST_BYTE_ORDER, unzeroedBytes } from "./runtime.js";

/** Options of {@link encodeStream}. */
export interface EncodeStreamOptions extends EncodeOptions {
  /**
   * Largest piece of a payload the stream emits, in bytes (default 1 MiB). Payloads of 64 KiB or
   * more go out as views of the caller's arrays cut to this size (byte-swapped ones copied this
   * many bytes at a time); smaller pieces (the head, padding, CRCs, small payloads, and a
   * byte-swapped payload's pieces when this size is under 64 KiB) are merged into chunks of about
   * 64 KiB whatever this size, since a chunk each would cost more than their bytes.
   */
  readonly chunkBytes?: number;
}

const DEFAULT_CHUNK_BYTES = 1 << 20;

/** The `chunkBytes` option, checked. Not part of the public API. */
export function checkChunkBytes(value: unknown): number {
  if (value === undefined) return DEFAULT_CHUNK_BYTES;
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new NdpackError("INVALID_ARGUMENT", `chunkBytes must be a positive integer, got ${shown(value)}`, { field: "chunkBytes" });
  }
  return value as number;
}

/** The plan's pieces as stream chunks: consecutive small pieces merged into fresh memory, large ones cut into views. Not part of the public API. */
export function* streamChunks(plan: EncodePlan, chunkBytes: number): Generator<Uint8Array, void, undefined> {
  // Small pieces wait here until a large piece or SMALL_PIECE bytes of them come, then go out as
  // one chunk of exactly their length (a message's head and a payload's CRC cost no 64 KiB buffer).
  const small: Uint8Array[] = [];
  let smallBytes = 0;
  function* flush(): Generator<Uint8Array, void, undefined> {
    if (small.length === 0) return;
    // A small piece of planSegments is fresh memory (see there): one alone goes out as it is.
    let merged = small[0]!;
    if (small.length > 1) {
      merged = new Uint8Array(smallBytes);
      let at = 0;
      for (const piece of small) {
        merged.set(piece, at);
        at += piece.length;
      }
    }
    small.length = 0;
    smallBytes = 0;
    yield merged;
  }
  for (const piece of planSegments(plan, chunkBytes)) {
    if (piece.length < SMALL_PIECE) {
      if (smallBytes + piece.length > SMALL_PIECE) yield* flush();
      small.push(piece);
      smallBytes += piece.length;
      continue;
    }
    yield* flush();
    for (let at = 0; at < piece.length; at += chunkBytes) yield piece.subarray(at, Math.min(at + chunkBytes, piece.length));
  }
  yield* flush();
}

/** The option names {@link decodeStream} shares with `decodeMessages`: the limits and `verify`. Not part of the public API. */
export const STREAM_READ_OPTIONS = { ...LIMIT_OPTIONS, verify: true } as const;

const DECODE_STREAM_OPTIONS = { ...STREAM_READ_OPTIONS, formats: true, voidDtype: true, npyName: true, maxGatherBytes: true } as const satisfies Record<keyof DecodeStreamOptions, true>;

/**
 * Encodes named arrays as a `ReadableStream` of the file's bytes: a body for `fetch` or an HTTP
 * response. Produces the same bytes as `encode` without gathering them: chunks are produced as the
 * consumer pulls, and payloads go out as views of the caller's arrays, so keep those arrays
 * unchanged (and their buffers not transferred) until the stream has been read, and do not modify
 * the chunks. An array found detached when the stream reaches it fails the stream (INVALID_ARGUMENT).
 *
 * Arguments are checked, and arrays with a codec compressed, before this function returns (errors
 * are thrown here, not by the stream): the header holds every stored size, so a compressed stream
 * holds all compressed payloads in memory from the start. Uncompressed streams hold only the header.
 *
 * @example
 * ```ts
 * const response = new Response(encodeStream({ image: { data: pixels, shape: [480, 640, 3] } }));
 * ```
 */
export function encodeStream(arrays: ArraysInput, options: EncodeStreamOptions = {}): ReadableStream<Uint8Array> {
  checkOptionNames(options, { ...ENCODE_OPTIONS, chunkBytes: true } satisfies Record<keyof EncodeStreamOptions, true>, "encodeStream");
  const chunkBytes = checkChunkBytes(options.chunkBytes);
  const chunks = streamChunks(planEncoding(arrays, options), chunkBytes);
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel() {
      chunks.return();
    },
  });
}

/** Where {@link decodeStream} reads from: a Web `ReadableStream` or any async iterable of byte chunks (Node streams, `http.IncomingMessage`). */
export type ByteStream = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | ArrayBufferView | ArrayBuffer>;

/**
 * Options of {@link decodeStream}: the limits of FORMAT.md §7 (applied to the foreign formats as
 * `openSource` applies them), and for those formats `voidDtype` and `npyName` as for `openSource`.
 */
export interface DecodeStreamOptions extends Partial<ReadLimits>, Pick<ContainerOptions, "voidDtype" | "npyName"> {
  /**
   * Check each array's checksum before handing it out (default `true`): an ndpack array's CRC and
   * the padding after its record, a .npz member's CRC-32. .npy and .safetensors files have no
   * checksum: nothing to check. The stream passes every byte through the reader anyway, so this
   * costs only the CRC computation.
   */
  readonly verify?: boolean;
  /**
   * The formats to read (default: ndpack alone). `FORMATS` of `ndpack/interop` adds .npy, .npz and
   * .safetensors, told from the stream's first bytes; they are not the default so that a page
   * reading ndpack streams does not bundle them (as for `openSource`).
   */
  readonly formats?: readonly FormatReader[];
  /**
   * Most bytes of a stream that must be gathered whole before it can be read: a .npz, whose
   * directory is at its end (default 1 GiB, the bound `maxDecodedBytes` puts on one array). A longer stream is
   * LIMIT_EXCEEDED once this many bytes have arrived, so that a stream that never ends cannot fill
   * memory. ndpack, .npy and .safetensors streams are read in order and never gathered.
   */
  readonly maxGatherBytes?: number;
}

/** The default of {@link DecodeStreamOptions.maxGatherBytes}. */
const DEFAULT_MAX_GATHER_BYTES = 1024 * 1024 * 1024;

/** What a stream's header says, available before any payload has arrived (for .npz, once the whole stream has). */
export interface StreamHeader extends Pick<NdpackContents, "version" | "alignment" | "checksum" | "metadata" | "names"> {
  /** The stream's format: `"ndpack"` unless {@link DecodeStreamOptions.formats} has others. */
  readonly format: FormatName;
  /** Each array's description, in stream order (the order of the data in the file; see {@link decodeStream}). */
  readonly arrays: readonly ArrayInfo[];
  /** Exact length of the whole stream in bytes. */
  readonly byteLength: number;
}

/**
 * The arrays of a stream, each handed out as soon as its bytes (and its CRC) have arrived (a .npz
 * stream's, once all of it has: see {@link decodeStream}). Iterate it with `for await`; breaking
 * out of the loop cancels the source.
 */
export interface NdpackStreamReader extends AsyncIterableIterator<NdArray> {
  /** Reads (once) and returns the preamble and header: the first thing in the stream. */
  header(): Promise<StreamHeader>;
  /** Bytes of the stream consumed so far. */
  readonly bytesRead: number;
  /**
   * Stops reading and cancels the source (a `ReadableStream` is cancelled, an iterator returned): a
   * read waiting for the source, and `header()` asked after, are CLOSED; iterating ends.
   */
  cancel(reason?: unknown): Promise<void>;
}

const EMPTY = new Uint8Array(0);

function chunkBytesOf(value: unknown): Uint8Array {
  // A plain Uint8Array view even of a Node Buffer: Buffer's own subarray is several times slower.
  if (value instanceof Uint8Array) return value.constructor === Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new NdpackError("INVALID_ARGUMENT", `stream chunks must be bytes (Uint8Array, ArrayBuffer, ...), got ${value === null ? "null" : typeof value}`, { field: "source" });
}

/** Reads of up to this many bytes are copied byte by byte. */
const TINY_COPY = 64;

/** Header reads up to this size share blocks ({@link ChunkReader.allocate}). */
const SMALL_ALLOCATION = 16 * 1024;

/** The blocks that small header reads are carved from. */
const BLOCK_BYTES = 64 * 1024;

/** The largest piece {@link ChunkReader.readToEnd} reads at a time (they double from {@link BLOCK_BYTES}). */
const MAX_GATHER_PIECE = 16 << 20;

/**
 * A source that can put its next bytes straight into memory the reader names, as a Node socket
 * made with `onread` can (node/message-socket.ts): an optional capability of an async iterable of
 * chunks, which {@link ChunkReader} uses for reads of at least {@link LANDING_BYTES}, so that a
 * payload is written once, by the operating system, instead of being copied out of the source's
 * chunks. Not part of the public API.
 */
export interface LandingSource extends AsyncIterator<Uint8Array> {
  /**
   * Fills `target` with the source's next bytes (those already arrived first, copied); resolves
   * with how many, fewer than asked only at the end of the source. `landed` is given each piece of
   * `target` as soon as it is filled, as in {@link ChunkReader.readInto}.
   */
  fill(target: Uint8Array, landed?: (piece: Uint8Array) => void): Promise<number>;
}

/** Reads of at least this many bytes land in their target when the source can ({@link LandingSource}); shorter ones are copied out of its chunks, which costs less than a read of their own. */
const LANDING_BYTES = 64 * 1024;

/** A failure of the source itself (a socket reset, a response cut off) as IO_ERROR, its error as `cause`; an NdpackError as it is. */
function sourceFailed(error: unknown): never {
  if (isNdpackError(error)) throw error;
  throw new NdpackError("IO_ERROR", `the stream failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/** A read asked of a stream reader after it was cancelled (its source released): CLOSED, not the short read of a stream that ended. */
function released(): NdpackError {
  return new NdpackError("CLOSED", "the stream reader was cancelled: nothing more is read from its source");
}

/** Exact-length reads over a source of chunks of any size; the one place that pulls from the source. Not part of the public API. */
export class ChunkReader {
  readonly #pull: () => Promise<IteratorResult<unknown>>;
  readonly #release: (reason: unknown) => Promise<void>;
  readonly #land: LandingSource["fill"] | undefined;
  /** Ends the reads waiting for the source (CLOSED): called on release. */
  #stop!: () => void;
  #chunk: Uint8Array = EMPTY;
  #at = 0;
  #ended = false;
  #released = false;
  /** The block that small allocations are carved from, and how much of it is taken. */
  #block: Uint8Array = EMPTY;
  #blockUsed = 0;
  #scratch: Uint8Array = EMPTY;
  /** Bytes handed out so far: the position in the stream. */
  consumed = 0;

  constructor(source: ByteStream) {
    // A read waiting for the source when the reader is released ends at once (CLOSED), whether or
    // not the source ever answers it. (Not Promise.race with one promise of the release: each race
    // would leave a reaction on it until the stream ends, thousands on a long stream.)
    let stopWaiting: ((error: unknown) => void) | undefined;
    this.#stop = () => stopWaiting?.(new NdpackError("CLOSED", "the stream reader was cancelled while a read was waiting for the source"));
    const untilReleased = <T>(read: Promise<T>): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        stopWaiting = reject;
        read.then(resolve, reject);
      });
    if (source !== null && typeof source === "object" && typeof (source as ReadableStream<Uint8Array>).getReader === "function") {
      if ((source as ReadableStream<Uint8Array>).locked) throw new NdpackError("INVALID_ARGUMENT", "the source stream is locked: another reader is reading it", { field: "source" });
      const reader = (source as ReadableStream<Uint8Array>).getReader();
      this.#pull = () => untilReleased(reader.read().catch(sourceFailed));
      this.#release = async (reason) => {
        if (!this.#ended) await reader.cancel(reason);
        reader.releaseLock();
      };
    } else if (source !== null && typeof source === "object" && typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
      const iterator = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      let pulling = false;
      this.#pull = () => {
        pulling = true;
        const read = (async () => {
          try {
            return await iterator.next();
          } catch (error) {
            return sourceFailed(error);
          } finally {
            pulling = false;
          }
        })();
        return untilReleased(read);
      };
      const fill = (iterator as Partial<LandingSource>).fill;
      if (typeof fill === "function") this.#land = (target, landed) => untilReleased(fill.call(iterator, target, landed).catch(sourceFailed));
      const destroy = (source as { destroy?: unknown }).destroy;
      this.#release = async () => {
        if (this.#ended) return;
        if (!pulling) {
          await iterator.return?.();
          return;
        }
        // A read is in flight, which may never end, and an async generator's return() (a Node
        // stream's iterator is one) waits for it: a Node stream is destroyed, and return() not awaited.
        if (typeof destroy === "function") destroy.call(source);
        else void Promise.resolve(iterator.return?.()).catch(() => undefined);
      };
    } else {
      throw new NdpackError("INVALID_ARGUMENT", "source must be a ReadableStream or an async iterable of byte chunks", { field: "source" });
    }
  }

  /** Makes sure unread bytes are at hand; false when the source has ended, CLOSED once the reader was released before that. */
  async #fill(): Promise<boolean> {
    while (this.#at >= this.#chunk.length) {
      if (this.#ended) return false;
      if (this.#released) throw released();
      const { done, value } = await this.#pull();
      if (done) {
        this.#ended = true;
        return false;
      }
      this.#chunk = chunkBytesOf(value);
      this.#at = 0;
    }
    return true;
  }

  /**
   * Copies into `target` the next bytes that have already arrived, without waiting; returns how
   * many (all of `target` when the current chunk holds them: the common case of small reads).
   * `copied` is given the piece of `target` just filled, as in {@link ChunkReader.readInto}.
   */
  readArrived(target: Uint8Array, copied?: (piece: Uint8Array) => void): number {
    const n = Math.min(target.length, this.#chunk.length - this.#at);
    if (n <= 0) return 0;
    if (n <= TINY_COPY) {
      // Padding and CRCs: a loop costs less than the view that `set` needs.
      for (let i = 0; i < n; i++) target[i] = this.#chunk[this.#at + i]!;
    } else {
      target.set(this.#chunk.subarray(this.#at, this.#at + n));
    }
    if (copied !== undefined) copied(n === target.length ? target : target.subarray(0, n));
    this.#at += n;
    this.consumed += n;
    return n;
  }

  /**
   * Copies the next bytes into `target`; returns how many, fewer than asked only at the end of the
   * source. `copied` is given each piece of `target` as soon as it is filled, while it is still in
   * the CPU's cache (a checksum over it costs far less then than over the whole target afterwards).
   */
  async readInto(target: Uint8Array, copied?: (piece: Uint8Array) => void): Promise<number> {
    let filled = this.readArrived(target, copied);
    while (filled < target.length) {
      if (this.#land !== undefined && target.length - filled >= LANDING_BYTES && !this.#ended && !this.#released) {
        // The chunk at hand is used up (readArrived took all of it): the rest lands in place.
        const wanted = target.length - filled;
        const landed = await this.#land(target.subarray(filled), copied);
        filled += landed;
        this.consumed += landed;
        if (landed < wanted) this.#ended = true;
        continue;
      }
      if (!(await this.#fill())) break;
      filled += this.readArrived(target.subarray(filled), copied);
    }
    return filled;
  }

  /**
   * Fresh memory for `length` bytes that the reader parses and never hands out (a message's
   * preamble and header). Up to {@link SMALL_ALLOCATION} bytes are carved from a block of
   * {@link BLOCK_BYTES} shared with the pieces after them (never reused): a stream of small
   * messages makes no ArrayBuffer per header, which costs about 0.5 µs and garbage collection.
   * Payloads get memory of their own (allocatePayload): a caller may transfer an array's buffer to
   * a worker, which would detach every view of a shared block.
   */
  allocate(length: number): Uint8Array {
    if (length > SMALL_ALLOCATION) return freshBytes(length);
    if (this.#blockUsed + length > this.#block.length) {
      this.#block = new Uint8Array(BLOCK_BYTES);
      this.#blockUsed = 0;
    }
    const piece = this.#block.subarray(this.#blockUsed, this.#blockUsed + length);
    this.#blockUsed += length;
    return piece;
  }

  /**
   * Memory for bytes that are checked and dropped (padding, CRCs), at least `length` bytes,
   * reused from one call to the next: never hand it out.
   */
  scratch(length: number): Uint8Array {
    if (this.#scratch.length < length) this.#scratch = new Uint8Array(length);
    return this.#scratch;
  }

  /** Passes over the next `length` bytes without copying them; returns how many, fewer only at the end of the source. */
  async skip(length: number): Promise<number> {
    let skipped = 0;
    while (skipped < length && (await this.#fill())) {
      const n = Math.min(length - skipped, this.#chunk.length - this.#at);
      this.#at += n;
      skipped += n;
      this.consumed += n;
    }
    return skipped;
  }

  /**
   * The next `length` bytes (fewer only at the end of the source) without consuming them: a
   * stream's first bytes, which tell its format, before the format's reader reads them. Chunks
   * shorter than that are joined; a chunk that holds them is kept as it is (a whole file in one
   * chunk is not copied).
   */
  async peek(length: number): Promise<Uint8Array> {
    while (this.#chunk.length - this.#at < length && !this.#ended) {
      if (this.#released) throw released();
      const { done, value } = await this.#pull();
      if (done) this.#ended = true;
      else {
        const arrived = chunkBytesOf(value);
        this.#chunk = this.#at < this.#chunk.length ? concatBytes([this.#chunk.subarray(this.#at), arrived]) : arrived;
        this.#at = 0;
      }
    }
    return this.#chunk.subarray(this.#at, this.#at + length);
  }

  /**
   * Every byte up to the end of the source, in fresh memory: only as many bytes as arrive (never
   * a length a header claims), read in pieces that are then joined, so the file is held twice
   * while they are. LIMIT_EXCEEDED when the runtime cannot hold that many in one typed array.
   */
  async readToEnd(maxBytes: number): Promise<Uint8Array> {
    const pieces: Uint8Array[] = [];
    let gathered = 0;
    for (let size = BLOCK_BYTES; ; size = Math.min(2 * size, MAX_GATHER_PIECE)) {
      // One byte past the limit is read, to tell a stream of exactly `maxBytes` from a longer one.
      const piece = freshBytes(Math.min(size, maxBytes + 1 - gathered));
      const length = await this.readInto(piece);
      pieces.push(piece.subarray(0, length));
      gathered += length;
      if (gathered > maxBytes) throw overLimit(`the stream is longer than ${maxBytes} bytes, and must be gathered whole to be read`, `more than ${maxBytes}`, maxBytes, "maxGatherBytes");
      if (length < piece.length) break;
    }
    try {
      return concatBytes(pieces);
    } catch (cause) {
      throw new NdpackError("LIMIT_EXCEEDED", `the stream is ${this.consumed} bytes, more than this runtime can hold in one typed array`, { actual: this.consumed, cause });
    }
  }

  /** True when bytes have arrived that have not been read (false says nothing about the source's end). */
  get hasArrived(): boolean {
    return this.#at < this.#chunk.length;
  }

  /** True when the source has no more bytes. */
  async atEnd(): Promise<boolean> {
    return !(await this.#fill());
  }

  /** Stops reading: cancels the source unless it has ended. Safe to call more than once. */
  async release(reason?: unknown): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#chunk = EMPTY;
    this.#at = 0;
    this.#stop();
    try {
      await this.#release(reason);
    } catch {
      // The source failing to cancel changes nothing for us: we read no more from it.
    }
  }
}

/**
 * A header reader (range steps, `io/steps.ts`) run on a stream: the steps ask for the next bytes
 * each time, which the stream hands over in order; a stream that ends early gives fewer. Not part of the public API.
 */
export async function readStreamSteps<T>(reader: ChunkReader, steps: RangeSteps<T>): Promise<T> {
  let step = steps.next();
  while (step.done !== true) {
    const wanted = step.value.length;
    // Memory grows as the bytes arrive (from BLOCK_BYTES, doubling), never to more than three
    // times what has arrived: a preamble that claims a header of 100 MiB and sends nothing more
    // costs 64 KiB. Once the length claimed is within that, memory grows to it at once, where
    // doubling would first make a buffer a few bytes short of it, then copy it whole again (a
    // message of a 1 MiB header took 4.8 MB of buffers, now 3).
    let bytes = reader.allocate(Math.min(wanted, BLOCK_BYTES));
    let length = reader.readArrived(bytes);
    for (;;) {
      if (length < bytes.length) length += await reader.readInto(bytes.subarray(length));
      if (length < bytes.length || length === wanted) break;
      const grown = freshBytes(wanted <= 3 * length ? wanted : 2 * length);
      grown.set(bytes);
      bytes = grown;
    }
    step = steps.next(length === bytes.length ? bytes : bytes.subarray(0, length));
  }
  return step.value;
}

/** §9 steps 1–21 ({@link readLayoutSteps}) on a stream. Not part of the public API. */
export function readStreamLayout(reader: ChunkReader, limits: ReadLimits): Promise<FileLayout> {
  return readStreamSteps(reader, readLayoutSteps(undefined, limits));
}

/**
 * An array over fresh memory that belongs to the reader (a stream's or a lazy file reader's
 * payload, or a run of small payloads sharing memory): viewed in place, byte-swapped in place
 * rather than copied again, decompressed when it has a codec. `bytes` is exactly the stored
 * payload of `entry`. Not part of the public API.
 */
export function arrayFromOwnedBytes(entry: EntryLayout, bytes: Uint8Array, limits: Pick<ReadLimits, "maxDecodedBytes">): NdArray {
  const wordSize = entry.dtype.wordSize;
  if (entry.codec !== "none" || bytes.byteOffset % wordSize !== 0) {
    const array = materialize(entry, bytes, entry.start, "auto", limits);
    (array as { copied: boolean }).copied = true;
    return array;
  }
  if (wordSize > 1 && entry.byteOrder !== HOST_BYTE_ORDER) swapInPlace(bytes, wordSize);
  // The view materialize would make, with its fields set one by one: Node 20's V8 builds an object
  // literal that spreads another and adds fields ({ ...info, data }) on a slow path, about 1.3 µs
  // against 10 ns, which a message of small arrays pays per array.
  const array = arrayInfo(entry) as { data?: unknown; copied?: boolean };
  array.data = new entry.dtype.view(bytes.buffer, bytes.byteOffset, entry.nbytes / wordSize);
  array.copied = true;
  return array as NdArray;
}

/**
 * Fresh memory for one payload, or LIMIT_EXCEEDED when the runtime cannot hold that many bytes in
 * one typed array (a header may claim any size up to 2^53-1); `allocate` makes it (a Node file
 * read that overwrites every byte passes memory that is not zeroed first). Not part of the public API.
 */
export function allocatePayload(name: string, byteLength: number, allocate: (byteLength: number) => Uint8Array = freshBytes): Uint8Array {
  try {
    return allocate(byteLength);
  } catch (cause) {
    throw new NdpackError("LIMIT_EXCEEDED", `array "${name}" is ${byteLength} bytes, more than this runtime can allocate in one typed array`, { array: name, actual: byteLength, cause });
  }
}

/** What a stream's header says, from its layout. Not part of the public API. */
export function streamHeader(layout: FileLayout): StreamHeader {
  return {
    format: "ndpack",
    version: layout.version,
    alignment: layout.header.alignment,
    checksum: layout.header.checksum,
    metadata: layout.header.metadata,
    names: Object.freeze(layout.entries.map((entry) => entry.name)),
    arrays: Object.freeze(layout.entries.map(arrayInfo)),
    byteLength: layout.fileLength,
  };
}

/**
 * The records of a file whose steps 1–21 have passed, read from `reader` in order: for each array,
 * its payload and CRC and the padding after them (up to the next record), checked (step 22, when
 * `verify`) before the array is handed out. `start` is the stream position of the file's first byte (step 20 counts from it).
 * Reads exactly to the end of the last record. Not part of the public API.
 */
export async function* readRecords(reader: ChunkReader, layout: FileLayout, limits: ReadLimits, verify: boolean, start: number): AsyncGenerator<NdArray, void, undefined> {
  const { checksumSize } = layout;
  const readRest = async (rest: Uint8Array, copied?: (piece: Uint8Array) => void) => {
    if ((await reader.readInto(rest, copied)) < rest.length) checkFileLength(layout, reader.consumed - start);
  };
  /**
   * Reads all of `bytes`: undefined when they had all arrived, else a promise of the rest
   * (TRUNCATED when the source ends first). Awaiting only then saves a turn of the event loop
   * per read, which is what a message of small arrays costs most in.
   */
  const read = (bytes: Uint8Array, copied?: (piece: Uint8Array) => void): Promise<void> | undefined => {
    const arrived = reader.readArrived(bytes, copied);
    return arrived === bytes.length ? undefined : readRest(bytes.subarray(arrived), copied);
  };
  let payloadCrc = 0;
  const checksumPiece = verify && checksumSize > 0 ? (piece: Uint8Array) => (payloadCrc = crc32(piece, payloadCrc)) : undefined;
  // Padding and CRCs are never handed out: they are read into the reader's scratch memory
  // (padding is shorter than the alignment), so that only payloads are allocated.
  const scratch = reader.scratch(Math.max(layout.header.alignment, checksumSize));
  const crc = scratch.subarray(0, checksumSize);
  const { entries } = layout;
  let position = layout.dataStart;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    // Every byte of a payload is written before it is handed out (a short read is TRUNCATED), so a
    // large one needs no zeroed memory: zeroing took 37-80 µs per 1 MiB message in a message
    // consumer's profiles (bench/HISTORY.md).
    const payload = allocatePayload(entry.name, entry.byteLength, entry.byteLength >= LANDING_BYTES ? unzeroedBytes : freshBytes);
    payloadCrc = 0;
    let waiting = read(payload, checksumPiece);
    if (waiting !== undefined) await waiting;
    waiting = read(crc);
    if (waiting !== undefined) await waiting;
    if (verify) checkRecordTail(layout, entry, payloadCrc, crc);
    position = entry.start + entry.byteLength + checksumSize;
    // Step 22 ends with the padding after the record (up to the next entry; the last has none),
    // checked before the array is handed out and before step 23 decompresses it, as decode does.
    const next = entries[i + 1];
    if (next !== undefined && next.start > position) {
      const gap = scratch.subarray(0, next.start - position);
      waiting = read(gap);
      if (waiting !== undefined) await waiting;
      if (verify) checkZeroPadding(gap, 0, gap.length, position, entry.name);
      position = next.start;
    }
    yield arrayFromOwnedBytes(entry, payload, limits);
  }
}

/** What a stream's header says (a foreign format's, from its container). */
function containerHeader(container: Container): StreamHeader {
  const arrays = Object.freeze(container.arrays.map((info) => ({ ...info })));
  return {
    format: container.format,
    version: container.version,
    alignment: container.alignment,
    checksum: container.checksum,
    metadata: container.metadata,
    names: Object.freeze(arrays.map((info) => info.name)),
    arrays,
    byteLength: container.fileLength,
  };
}

/**
 * The arrays of a foreign format's container, in its order, each checked by the format's own
 * `toArray`, as the lazy reader checks it: read from the stream one after another (`file`
 * undefined: a format read in order, whose arrays follow each other from the end of the header;
 * TRUNCATED when the stream ends inside one), or viewed in the whole file, gathered.
 */
async function* containerArrays(reader: ChunkReader, container: Container, file: Uint8Array | undefined, options: ToArrayOptions): AsyncGenerator<NdArray, void, undefined> {
  const { arrays } = container;
  for (let index = 0; index < arrays.length; index++) {
    const { offset, length } = container.arrayRange(index, options.verify);
    let bytes: Uint8Array;
    if (file === undefined) {
      // Every byte is written before the array is handed out (a short read is TRUNCATED), as in readRecords.
      bytes = allocatePayload(arrays[index]!.name, length, length >= LANDING_BYTES ? unzeroedBytes : freshBytes);
      if ((await reader.readInto(bytes)) < length) checkFileLength(container, reader.consumed);
    } else {
      bytes = file.subarray(offset, offset + length);
    }
    const array = container.toArray(index, bytes, options);
    // The stream's memory is the caller's alone, as a lazy reader's reads from a source are.
    yield array.copied ? array : { ...array, copied: true };
  }
}

/** §9 step 20 at the end of a stream whose arrays have all been read: TRAILING_BYTES when it goes on past `fileLength`. */
async function checkStreamEnd(reader: ChunkReader, fileLength: number): Promise<void> {
  if (!(await reader.atEnd())) {
    throw new NdpackError("TRAILING_BYTES", `stream continues past byte ${fileLength}, where its header says it ends`, { offset: fileLength, expected: fileLength });
  }
}

/** A stream whose header has been read: an ndpack layout, whose records `readRecords` reads, or a foreign format's container, with the whole file when it had to be gathered. */
type OpenedStream = { readonly layout: FileLayout } | { readonly container: Container; readonly file: Uint8Array | undefined };

class StreamDecoder implements NdpackStreamReader {
  readonly #reader: ChunkReader;
  readonly #limits: ReadLimits;
  readonly #verify: boolean;
  readonly #options: DecodeStreamOptions;
  readonly #maxGatherBytes: number;
  readonly #arrays: AsyncGenerator<NdArray, undefined, undefined>;
  #opened: Promise<OpenedStream> | undefined;

  constructor(reader: ChunkReader, limits: ReadLimits, verify: boolean, maxGatherBytes: number, options: DecodeStreamOptions) {
    this.#reader = reader;
    this.#limits = limits;
    this.#verify = verify;
    this.#maxGatherBytes = maxGatherBytes;
    this.#options = options;
    this.#arrays = this.#run();
  }

  get bytesRead(): number {
    return this.#reader.consumed;
  }

  #open(): Promise<OpenedStream> {
    this.#opened ??= this.#readHeader().catch(async (error: unknown) => {
      await this.#reader.release(error);
      throw error;
    });
    return this.#opened;
  }

  async #readHeader(): Promise<OpenedStream> {
    const reader = this.#reader;
    const { formats } = this.#options;
    // Without `formats`, the stream is ndpack, whose first step tells it (BAD_MAGIC): nothing is sniffed.
    let format: FormatReader | undefined;
    if (formats !== undefined) {
      const head = await reader.peek(SNIFF_BYTES);
      const size = lengthSoFar(undefined, head, SNIFF_BYTES);
      format = sniffFormatIn(formats, head, size);
      if (format === undefined) throw unknownFormatError(head, size, formats, { formats });
    }
    if (format === undefined || format.name === "ndpack") return { layout: await readStreamLayout(reader, this.#limits) };
    if (format.readStream !== undefined) return { container: await readStreamSteps(reader, format.readStream(this.#options)), file: undefined };
    // A format read from its end (.npz: the zip's directory) is gathered, then read from memory.
    const file = await reader.readToEnd(this.#maxGatherBytes);
    return { container: runOnBytes(format.readContainer(file.length, this.#options), file), file };
  }

  async header(): Promise<StreamHeader> {
    const opened = await this.#open();
    return "layout" in opened ? streamHeader(opened.layout) : containerHeader(opened.container);
  }

  next(): Promise<IteratorResult<NdArray, undefined>> {
    return this.#arrays.next();
  }

  async return(): Promise<IteratorResult<NdArray, undefined>> {
    await this.cancel();
    return { done: true, value: undefined };
  }

  async cancel(reason?: unknown): Promise<void> {
    await this.#reader.release(reason);
    await this.#arrays.return(undefined);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async *#run(): AsyncGenerator<NdArray, undefined, undefined> {
    const reader = this.#reader;
    try {
      const opened = await this.#open();
      if ("layout" in opened) {
        yield* readRecords(reader, opened.layout, this.#limits, this.#verify, 0);
        await checkStreamEnd(reader, opened.layout.fileLength);
      } else {
        // A gathered file's arrays are copied out of it, each into memory of its own as every stream's
        // array is (a view would share the file's buffer: transferring one array would detach the rest).
        const copy = opened.file === undefined ? "auto" : "always";
        yield* containerArrays(reader, opened.container, opened.file, { verify: this.#verify, copy, maxDecodedBytes: this.#limits.maxDecodedBytes });
        await checkStreamEnd(reader, opened.container.fileLength);
      }
    } finally {
      // Cancels the source unless it ended; releases a ReadableStream's lock either way.
      await reader.release();
    }
    return undefined;
  }
}

/**
 * Decodes an ndpack stream as it arrives: `header()` resolves as soon as the header has been read,
 * and iterating yields each array as soon as its bytes have arrived, after checking its CRC (unless
 * `verify: false`). Each array is fresh memory the caller owns (`copied: true`); the decoder holds
 * at most one array's bytes at a time, plus the header.
 *
 * A stream that ends early yields the arrays that arrived whole, then throws `TRUNCATED`; one that
 * goes on past its end throws `TRAILING_BYTES` after the last array. Any error, and breaking out
 * of the loop, cancels the source.
 *
 * With `formats: FORMATS` (from `ndpack/interop`), .npy, .npz and .safetensors streams are read
 * too, the format told from the stream's first 16 bytes, each by the format's own reader, the one
 * `openSource` runs, so that the same bytes give the same arrays and the same error codes:
 * - .npy and .safetensors are read forwards: the header, then each array handed out as soon as its
 *   bytes have arrived, in the order of the data in the file (for .safetensors, the order of the
 *   data offsets, which the header's may differ from; `header().names` and `openSource`'s names
 *   are in that order), then the end checked against the length the header implies (`TRUNCATED`
 *   after the arrays that arrived whole, `TRAILING_BYTES` after all of them). These files have no
 *   checksum: `verify` has nothing to check. Each array is allocated at the size its header says
 *   before its bytes arrive, as for ndpack streams.
 * - .npz cannot be read in order (a zip's directory is at its end, and `np.load` too needs a
 *   seekable file): the stream is gathered whole, only as many bytes as arrive (never a size a
 *   header claims; the file is held twice while its pieces are joined), up to `maxGatherBytes`
 *   (1 GiB by default; LIMIT_EXCEEDED past it, so a source that never ends cannot fill memory),
 *   and read from memory, so `header()` resolves once the stream has ended. Members' CRC-32s are checked (`verify`), a
 *   deflated member is inflated within `maxDecodedBytes`, and a stored member is copied out of the
 *   file, so that each array has memory of its own, as every stream's array has.
 *
 * The differences from `openSource` on the same bytes: a .npy or .safetensors stream that is cut
 * short, or goes on, hands out the arrays before the cut (or all of them) and then fails, where
 * `openSource`, which knows the size, refuses the file at once with the same code; and since a
 * stream's length is unknown when its format is told, a .safetensors stream whose header length
 * goes past its end fails as .safetensors (`TRUNCATED`, or `HEADER_TOO_LARGE` beyond
 * `maxHeaderBytes`), where `openSource` without a file name finds no format (`BAD_MAGIC`).
 *
 * A bad option (a limit, `verify`, `formats`, `voidDtype`, `npyName`) throws INVALID_ARGUMENT at
 * once, leaving `source` as it was: neither locked nor cancelled.
 *
 * @example
 * ```ts
 * // Node: an http.IncomingMessage is an async iterable of Buffers.
 * const arrays = decodeStream(request);
 * const { names, metadata } = await arrays.header();
 * for await (const { name, data, shape } of arrays) handle(name, data, shape);
 *
 * // A Hugging Face checkpoint, each tensor as it arrives.
 * import { FORMATS } from "ndpack/interop";
 * for await (const tensor of decodeStream((await fetch(url)).body!, { formats: FORMATS })) load(tensor);
 * ```
 */
export function decodeStream(source: ByteStream, options: DecodeStreamOptions = {}): NdpackStreamReader {
  checkOptionNames(options, DECODE_STREAM_OPTIONS, "decodeStream");
  const limits = resolveLimits(options);
  // Options first: a bad one must leave the caller's stream unlocked.
  const verify = booleanOption(options.verify, true, "verify");
  const maxGatherBytes = checkLimit(options.maxGatherBytes, DEFAULT_MAX_GATHER_BYTES, "maxGatherBytes");
  if (options.formats !== undefined) {
    checkFormats(options.formats);
    checkContainerOptions(options);
  }
  return new StreamDecoder(new ChunkReader(source), limits, verify, maxGatherBytes, options);
}
