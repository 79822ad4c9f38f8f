/**
 * The one lazy reader, for every format and every place bytes live: {@link openSource} reads a
 * file's header from a {@link ByteSource} (the format's reader from the format table, run over
 * the source) and then only the bytes of the arrays, rows or chunks asked for. `ndpack/node`'s
 * `open` is this reader over a file; an HTTP source plugs in the same way.
 *
 * What it reads: the header with one read of {@link FIRST_READ_BYTES} (the first bytes, which also
 * tell the format) and, for a longer header, one more (.npz: the central directory, then every
 * member's headers at once, coalesced and concurrently); one array with one read of exactly its
 * stored bytes, plus its CRC and the padding up to the next record when verifying (the default; the
 * CRC is computed as the bytes arrive when the source has {@link ByteSource.readWithCrc32}); many
 * arrays with few reads ({@link ReadManyOptions}); to verify, each record's stored bytes, in chunks
 * of {@link DEFAULT_CHUNK_BYTES}, or checked by the source itself in memory it reuses when it has
 * {@link ByteSource.crc32} (a local file).
 *
 * @module
 */
import { bytesOf, freshBytes, swapInPlace } from "./bytes.js";
import { inflateStream } from "./codecs.js";
import { crc32 } from "./crc32.js";
import { expectDtype, type ArrayInfo, type ArrayVerification, type NdArray, type NdArrayOf, type NdpackContents, type VerifyReport } from "./decode.js";
import { DTYPES, type Dtype } from "./dtypes.js";
import { booleanOption, checkNameList, checkOptionNames, NdpackError, notFoundError, shown, withPath } from "./errors.js";
import { LIMIT_OPTIONS, PREAMBLE_SIZE, type Checksum } from "./format.js";
import { FIRST_READ_BYTES, resolveLimits } from "./header.js";
import { checkNpyName, chooseFormat, SNIFF_BYTES } from "./formats/find.js";
import { NDPACK_READER } from "./formats/ndpack.js";
import type { Container, ContainerOptions, FormatName, FormatReader, NameIndex, RawPayload } from "./formats/types.js";
import { viewOrCopy } from "./interop/common.js";
import { isMemorySource } from "./io/bytes.js";
import { abortable, COALESCE_GAP_BYTES, coalesceRanges, DEFAULT_READ_CONCURRENCY, eachAtMost, readBatchExactly, readExactly, readRanges, readWithCrc32, signalOption, sourceCrc32, type ByteSource, type CheckedBytes, type CheckedTail, type ReadManyOptions } from "./io/source.js";
import { byOffset, isPrefetch, type ByteRange, type PrefetchingSteps } from "./io/steps.js";
import { HOST_BYTE_ORDER } from "./runtime.js";

/** Options of {@link openSource}: the limits of FORMAT.md §7 and the foreign formats' read options. */
export interface OpenSourceOptions extends ContainerOptions {
  /** The file's format. Default: told from its first bytes, then from the extension of `name`. */
  readonly format?: FormatName;
  /**
   * The formats to read (default: ndpack alone). `FORMATS` of `ndpack/interop` adds .npy, .npz and
   * .safetensors; they are not the default so that a page reading ndpack files does not bundle
   * them. `open` of `ndpack/node` reads every format.
   */
  readonly formats?: readonly FormatReader[];
  /** What the source is called in messages (a path, a URL), and whose extension names its format when its bytes do not. */
  readonly name?: string;
  /** Cancels reading the header. */
  readonly signal?: AbortSignal;
}

/** The option names {@link openSource} takes. */
export const OPEN_SOURCE_OPTIONS = { ...LIMIT_OPTIONS, voidDtype: true, npyName: true, firstReadBytes: true, format: true, formats: true, name: true, signal: true } as const satisfies Record<keyof OpenSourceOptions, true>;

/** Options of {@link NdpackReader.read}. */
export interface ReadOptions {
  /**
   * Check the array's checksum before returning it (default `true`): an ndpack payload's CRC and
   * the padding after it (FORMAT.md §9 step 22), read in the same read as the payload; a .npz
   * member's CRC-32 (a stored member is then read whole, its .npy header included). Files without
   * checksums (.npy, .safetensors, ndpack with `checksum: "none"`) have nothing to check.
   * `false` reads exactly the stored bytes and checks nothing.
   */
  readonly verify?: boolean;
  /** Cancels the read. */
  readonly signal?: AbortSignal;
}

/** Options of {@link NdpackReader.readMany}: those of {@link NdpackReader.read}, and how to group reads. */
export interface ReadManyArraysOptions extends ReadOptions, ReadManyOptions {}

/** Options of {@link NdpackReader.readChunks}. */
export interface ReadChunksOptions extends ReadOptions {
  /** Bytes per chunk, rounded down to whole elements (default 8 MiB). */
  readonly chunkBytes?: number;
}

const READ_OPTIONS = { verify: true, signal: true } as const satisfies Record<keyof ReadOptions, true>;
const READ_MANY_OPTIONS = { ...READ_OPTIONS, maxGap: true, concurrency: true } as const satisfies Record<keyof ReadManyArraysOptions, true>;
const READ_CHUNKS_OPTIONS = { ...READ_OPTIONS, chunkBytes: true } as const satisfies Record<keyof ReadChunksOptions, true>;

/** Chunk size of {@link NdpackReader.readChunks} by default. */
export const DEFAULT_CHUNK_BYTES = 8 << 20;

/**
 * `AsyncDisposable` (the method `await using` calls) when the TypeScript lib in use declares
 * `Symbol.asyncDispose` (`"lib": ["ESNext"]`, or @types/node), and nothing otherwise, as
 * `Float16ArrayIfDeclared` is for Float16Array: a web page's program (lib es2022 and dom)
 * type-checks the declarations without either. The reader has the method at run time in any case.
 */
type AsyncDisposableIfDeclared = SymbolConstructor extends { readonly asyncDispose: infer S extends symbol }
  ? {
      /** Closes the reader, as {@link NdpackReader.close} does: what `await using` calls at the end of its block. */
      [K in S]: () => PromiseLike<void>;
    }
  : object;

/**
 * A lazily read file of any supported format (ndpack, .npy, .npz, .safetensors): the header is in
 * memory, arrays are read on request. Close it when done, or use `await using`.
 *
 * Every read that touches a payload verifies its checksum by default (`verify: false` opts out),
 * so damaged bytes never come back as numbers. Sources that can tell (a Node file, an HTTP
 * resource with a validator) throw FILE_CHANGED when the file changed after it was opened.
 * Errors of a reader with a {@link NdpackReader.path} carry it as their `path`.
 */
export interface NdpackReader extends NdpackContents, AsyncDisposableIfDeclared {
  /** The file's format. */
  readonly format: FormatName;
  /** What the source is called: the path given to `open`, a URL, or `undefined`. */
  readonly path: string | undefined;
  /** Length of the file in bytes. */
  readonly byteLength: number;
  /** Bytes read from the source so far, header included (for measuring what a read costs). */
  readonly bytesRead: number;
  /** Reads made on the source so far, header included. */
  readonly readCount: number;
  /** True once {@link NdpackReader.close} has been called. */
  readonly closed: boolean;
  /**
   * Entries of the file that hold no array and are not read: a .npz's members that are not `.npy`
   * files (numpy's `np.load` hands those out as bytes); empty for the other formats.
   */
  readonly ignored: readonly string[];
  /**
   * Reads one array with one read of exactly its stored bytes (plus its CRC and padding when
   * verifying). The array is a view of the bytes read where alignment and byte order allow.
   * Compressed arrays are decompressed (within `maxDecodedBytes`). Throws NOT_FOUND, CLOSED,
   * FILE_CHANGED, IO_ERROR, CHECKSUM and BAD_PADDING (when verifying), CODEC_ERROR,
   * LIMIT_EXCEEDED (larger than one typed array), ABORTED (its `signal`).
   */
  read(name: string, options?: ReadOptions): Promise<NdArray>;
  /**
   * {@link NdpackReader.read} of an array of a known dtype, typed accordingly:
   * `(await reader.read("w", "float32")).data` is a Float32Array. Throws DTYPE_MISMATCH when the
   * array has another dtype, INVALID_ARGUMENT when `dtype` is no dtype, before reading anything.
   */
  read<D extends Dtype>(name: string, dtype: D, options?: ReadOptions): Promise<NdArrayOf<D>>;
  /**
   * Reads rows `start` (included) to `end` (excluded) along the first axis of any array with at
   * least one dimension; the result has shape `[end - start, ...rest]` and the array's order.
   *
   * An uncompressed C-order array (or one of one dimension, whose bytes are the same in either
   * order) is read with one read of exactly those rows' bytes (safetensors' `get_slice`): the way
   * to read arrays larger than one typed array can be. A checksum covers a whole payload, so rows
   * that are only part of such an array are NOT checked against it, unless asked with
   * `verify: true`, which reads the array whole to check it (as zarr reads a whole chunk).
   *
   * Other arrays are read whole, as {@link read} reads them (verified unless `verify: false`,
   * decompressed within `maxDecodedBytes`), then cut: a compressed C-order array's rows are a view
   * of the memory it was decompressed into; an F-order array's rows (not contiguous) are gathered
   * into fresh memory, in F order (numpy's `a[start:end]` copied in F order). Their `codec`,
   * `offset` and `byteLength` describe the stored payload read, `nbytes` the rows.
   *
   * When the rows asked for are all of them (and there are some), this is {@link read}. `copied` means what it means
   * for `read`: false only when `data` views memory the caller gave (`bytesSource`).
   *
   * Python's `read_rows` gives the same rows; its `start` and `stop` are a slice's (None, negative
   * from the end, clipped to the array), where these must be integers with
   * `0 <= start <= end <= rows`. Throws INVALID_ARGUMENT (0-d, rows out of range), NOT_FOUND,
   * CLOSED, FILE_CHANGED, IO_ERROR, ABORTED, and for arrays read whole what {@link read} throws (CHECKSUM,
   * BAD_PADDING, CODEC_ERROR, LIMIT_EXCEEDED).
   */
  readRows(name: string, start: number, end: number, options?: ReadOptions): Promise<NdArray>;
  /**
   * Reads several arrays with few reads: ranges at most `maxGap` bytes apart (default 64 KiB) are
   * read as one, at most `concurrency` reads at a time. Each array is checked as {@link read} checks it.
   * The first failure (or an abort: ABORTED) stops the reads not yet begun, and is thrown once those
   * begun have ended: nothing reads the source after the promise settles.
   */
  readMany(names: readonly string[], options?: ReadManyArraysOptions): Promise<Map<string, NdArray>>;
  /**
   * One array's elements, in its storage order and this machine's byte order, in fresh chunks of
   * `chunkBytes` rounded down to whole elements (the last one shorter): any array, however large,
   * in bounded memory. Compressed ndpack arrays are decompressed whole first; deflated .npz
   * members are inflated as a stream. When verifying (the default), an array that fits in one
   * chunk is checked before it is handed out; a larger one is checked when its last chunk has been
   * read, so a consumer that must not act on damaged bytes holds its output until the end.
   */
  readChunks(name: string, options?: ReadChunksOptions): AsyncGenerator<Uint8Array, void, undefined>;
  /**
   * Checks every array's checksum (in bounded memory), reporting each separately; never throws for
   * damaged data (it throws IO_ERROR, FILE_CHANGED, CLOSED and ABORTED, which end the check). A
   * source with {@link ByteSource.crc32} (a local file) computes the CRCs of stored bytes itself,
   * in memory it reuses; others are read in chunks of 8 MiB (`DEFAULT_CHUNK_BYTES`). A file without
   * checksums (ndpack's `checksum: "none"`, .npy, .safetensors) has its payloads left unread: only
   * an ndpack record's padding is read and checked.
   */
  verify(options?: { readonly signal?: AbortSignal }): Promise<VerifyReport>;
  /** Closes the source once the reads in flight have finished; later reads throw CLOSED. Calling it again does nothing. */
  close(): Promise<void>;
}

/**
 * Bytes read at least at a time while reading a header, after the first read: a header reader's
 * small reads close to one read before (a .npz member's .npy header, just after its local header)
 * are then served from memory. A page: one more page costs a local file nothing and a remote one
 * little, where a second round trip costs much.
 */
const HEADER_READ_AHEAD = 4096;

/** The most bytes of header reads kept for reuse while a header is read. */
const HEADER_WINDOWS_BYTES = 16 << 20;

/** Longest coalesced read of announced header ranges: a longer run of them is read in reads of at most this (bounded memory, few requests, for a file of many small members). */
const PREFETCH_READ_BYTES = 1 << 20;

/**
 * Bytes of announced header ranges read ahead at a time: half of what is kept, so that a batch is
 * never dropped before it is used. The next batch is read when a read reaches a range not yet
 * read (a .npz of 4,000 deflated members announces 20 MB of heads: read all at once, the first
 * were dropped before use, and each was then read again on its own).
 */
const PREFETCH_BATCH_BYTES = HEADER_WINDOWS_BYTES / 2;

/**
 * A whole array's read shorter than this that follows one as short (starting at most this many
 * bytes after its end) is served from one read of {@link READ_AHEAD_BYTES}: reading every
 * array of a file of small arrays in order (`convert`, `extract`, a loop of `read`s) made a read
 * per array, a thread-pool round trip on a local file (10,000 arrays of 256 B: ~400 ms for `open` +
 * a `read` of each, against ~90 ms for `readMany` of them all) and a request over HTTP. The first
 * short read of a run, one array, arrays far apart, the header's reads and those of rows and
 * chunks (which callers run several at once) read only their bytes. Served bytes are copies, as
 * `readMany`'s shared reads are: each array is memory of its own.
 */
const SEQUENTIAL_READ_BYTES = 64 * 1024;
const READ_AHEAD_BYTES = 256 * 1024;

/** How many kept header reads a range is looked for in: those that start last at or before it ({@link CountingSource}). */
const WINDOW_CANDIDATES = 32;

/** A read ahead of whole arrays read in order: its range, and its bytes as they arrive. */
interface ReadAhead {
  readonly offset: number;
  readonly end: number;
  readonly bytes: Promise<Uint8Array>;
}

/** A header read kept for reuse: its bytes, from `offset`. */
interface Window {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/** The number of `ranges` (sorted by offset) that start at or before `offset`. */
function upperBound(ranges: readonly { readonly offset: number }[], offset: number): number {
  let low = 0;
  for (let high = ranges.length; low < high; ) {
    const middle = (low + high) >>> 1;
    if (ranges[middle]!.offset <= offset) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * A source whose reads are counted. While the header is read, each read takes at least
 * {@link HEADER_READ_AHEAD} bytes and is kept, so that later ranges inside an earlier read are
 * served from memory; after that, every read goes to the source (and is checked by it).
 */
class CountingSource implements ByteSource {
  bytesRead = 0;
  readCount = 0;
  /** The source's size when it was opened: a source that shrinks later gives short reads (FILE_CHANGED), never shorter arrays. */
  readonly size: number;
  /** Header reads kept for reuse, in the order they were made (the oldest is dropped first); empty once the header is read. */
  #windows: Window[] = [];
  /** The same reads by offset (those of one offset in the order they were made), where a range is looked for. */
  #byOffset: Window[] = [];
  #windowBytes = 0;
  /** The header ranges a reader announced, by offset: read a batch at a time ({@link PREFETCH_BATCH_BYTES}). */
  #announced: ByteRange[] = [];
  #readingHeader = false;
  /** Where the last whole array's read ended, when it was shorter than {@link SEQUENTIAL_READ_BYTES}; -1 otherwise. */
  #shortReadEnd = -1;
  /** The last read ahead of short reads in order ({@link READ_AHEAD_BYTES}). */
  #ahead: ReadAhead | undefined;
  /** Reads are views of the caller's memory (`bytesSource`): arrays are views too (from other sources they are memory of their own), and reading ahead gains nothing. */
  readonly borrowed: boolean;
  constructor(
    readonly inner: ByteSource,
    size: number,
    readonly firstReadBytes = FIRST_READ_BYTES,
  ) {
    this.size = size;
    this.borrowed = isMemorySource(inner);
  }
  /** Starts or stops keeping reads for the header reader. */
  set readingHeader(on: boolean) {
    this.#readingHeader = on;
    if (!on) {
      this.#windows = [];
      this.#byOffset = [];
      this.#windowBytes = 0;
      this.#announced = [];
    }
  }
  /**
   * The bytes of `[offset, offset + length)` from a kept read that holds them: one of the
   * {@link WINDOW_CANDIDATES} last reads to start at or before `offset`. A read that holds them
   * and starts earlier still is passed over (the range is read again): walking every kept read
   * on each miss made a .npz of many members whose local headers are not announced (ZIP64 offsets)
   * cost thousands of comparisons per member.
   */
  #fromWindows(offset: number, length: number): Uint8Array | undefined {
    const windows = this.#byOffset;
    const end = upperBound(windows, offset);
    for (let i = end - 1; i >= 0 && i >= end - WINDOW_CANDIDATES; i--) {
      const window = windows[i]!;
      const at = offset - window.offset;
      if (at + length <= window.bytes.length) return window.bytes.subarray(at, at + length);
    }
    return undefined;
  }
  /** The bytes of a range already read while reading the header, or `undefined`. */
  kept(offset: number, length: number): Uint8Array | undefined {
    return this.#readingHeader ? this.#fromWindows(offset, Math.max(0, Math.min(length, this.size - offset))) : undefined;
  }
  read(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    return abortable(options?.signal, () => this.#read(offset, length, options));
  }
  async #read(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    const wanted = Math.max(0, Math.min(length, this.size - offset));
    const kept = this.kept(offset, wanted) ?? (await this.#readAnnouncedBatch(offset, wanted, options?.signal));
    if (kept !== undefined) return kept;
    const ahead = this.#readingHeader ? Math.max(wanted, Math.min(this.#windows.length === 0 ? this.firstReadBytes : HEADER_READ_AHEAD, this.size - offset)) : wanted;
    const bytes = await readExactly(this.inner, offset, ahead, options?.signal);
    this.#counted(bytes.length);
    if (!this.#readingHeader) return bytes;
    this.#keep(offset, bytes);
    return bytes.subarray(0, wanted);
  }
  /**
   * Reads the header ranges a reader announced, those not already in memory, with few reads, a
   * batch of {@link PREFETCH_BATCH_BYTES} now and each next one when a read reaches it:
   * coalesced ({@link COALESCE_GAP_BYTES}) into reads of at most {@link PREFETCH_READ_BYTES}
   * (a longer range alone); all at once in batches of at most {@link PREFETCH_READ_BYTES}
   * when the source has {@link ByteSource.readBatch}, else {@link DEFAULT_READ_CONCURRENCY} at a
   * time; each read is kept.
   */
  prefetch(ranges: readonly ByteRange[], signal: AbortSignal | undefined): Promise<void> {
    if (!this.#readingHeader) return Promise.resolve();
    const announced: ByteRange[] = [];
    for (const { offset, length } of ranges) announced.push({ offset, length: Math.max(0, Math.min(length, this.size - offset)) });
    this.#announced = announced.sort(byOffset);
    return abortable(signal, () => this.#prefetch(0, signal));
  }
  /** After a read of `[offset, offset + length)` missed what is kept: the batch of announced ranges from the one holding it, read; the bytes then, if they came with it. */
  async #readAnnouncedBatch(offset: number, length: number, signal: AbortSignal | undefined): Promise<Uint8Array | undefined> {
    const announced = this.#announced;
    const low = upperBound(announced, offset);
    const holder = announced[low - 1];
    if (holder === undefined || offset + length > holder.offset + holder.length) return undefined;
    await this.#prefetch(low - 1, signal);
    return this.kept(offset, length);
  }
  async #prefetch(from: number, signal: AbortSignal | undefined): Promise<void> {
    const batch: ByteRange[] = [];
    for (let i = from, bytes = 0; i < this.#announced.length && (batch.length === 0 || bytes + this.#announced[i]!.length <= PREFETCH_BATCH_BYTES); i++) {
      batch.push(this.#announced[i]!);
      bytes += this.#announced[i]!.length;
    }
    const missing: ByteRange[] = [];
    for (const range of batch) if (range.length > 0 && this.#fromWindows(range.offset, range.length) === undefined) missing.push(range);
    const reads = coalesceRanges(missing, COALESCE_GAP_BYTES, PREFETCH_READ_BYTES);
    const inner = this.inner;
    if (inner.readBatch !== undefined) {
      const batches: ByteRange[][] = [];
      for (let from = 0; from < reads.length; ) {
        let to = from + 1;
        for (let bytes = reads[from]!.length; to < reads.length && bytes + reads[to]!.length <= PREFETCH_READ_BYTES; to++) bytes += reads[to]!.length;
        const ranges: ByteRange[] = [];
        for (; from < to; from++) ranges.push({ offset: reads[from]!.offset, length: reads[from]!.length });
        batches.push(ranges);
      }
      // One batch at a time (each starts all its reads at once), none after a failure or an abort.
      await eachAtMost(batches.length, 1, signal, async (i) => {
        const all = await readBatchExactly(inner as Required<ByteSource>, batches[i]!, signal);
        for (let j = 0; j < all.length; j++) this.#kept(batches[i]![j]!.offset, all[j]!);
      });
      return;
    }
    await eachAtMost(reads.length, DEFAULT_READ_CONCURRENCY, signal, async (i) => {
      const { offset, length } = reads[i]!;
      this.#kept(offset, await readExactly(inner, offset, length, signal));
    });
  }
  /** A prefetched read, counted and kept. */
  #kept(offset: number, bytes: Uint8Array): void {
    this.#counted(bytes.length);
    this.#keep(offset, bytes);
  }
  #keep(offset: number, bytes: Uint8Array): void {
    const window = { offset, bytes };
    this.#windows.push(window);
    this.#byOffset.splice(upperBound(this.#byOffset, offset), 0, window);
    this.#windowBytes += bytes.length;
    while (this.#windowBytes > HEADER_WINDOWS_BYTES && this.#windows.length > 1) {
      const oldest = this.#windows.shift()!;
      this.#windowBytes -= oldest.bytes.length;
      // A search and a move of at most a few thousand references, as the shift above.
      this.#byOffset.splice(this.#byOffset.indexOf(oldest), 1);
    }
  }
  /**
   * A copy of the `length` bytes at `offset` of a whole array's read from the bytes read ahead,
   * reading the next {@link READ_AHEAD_BYTES} first when this short read follows one as short
   * and lies past them; undefined when it is not read that way (see {@link SEQUENTIAL_READ_BYTES}).
   * The bytes read ahead are the source as it was at open, checked as every read of it is.
   */
  fromReadAhead(offset: number, length: number, signal: AbortSignal | undefined): Promise<Uint8Array | undefined> {
    return abortable(signal, () => this.#servedAhead(offset, Math.max(0, Math.min(length, this.size - offset))));
  }
  async #servedAhead(offset: number, length: number): Promise<Uint8Array | undefined> {
    // Decided before any await: reads started together (Promise.all of many) share one read ahead.
    const follows = this.#shortReadEnd >= 0 && offset >= this.#shortReadEnd && offset - this.#shortReadEnd <= SEQUENTIAL_READ_BYTES;
    this.#shortReadEnd = length > 0 && length < SEQUENTIAL_READ_BYTES && !this.borrowed ? offset + length : -1;
    if (this.#shortReadEnd < 0) return undefined;
    let ahead = this.#ahead;
    if (ahead === undefined || offset < ahead.offset || offset + length > ahead.end) {
      if (!follows) return undefined;
      ahead = this.#readAheadFrom(offset);
    }
    const bytes = await ahead.bytes;
    return bytes.slice(offset - ahead.offset, offset - ahead.offset + length);
  }
  /**
   * Starts the read ahead from `offset`, which every read it holds waits for: no caller's signal
   * ends it (each caller stops waiting on its own abort), and one that fails is not used again.
   */
  #readAheadFrom(offset: number): ReadAhead {
    const end = Math.min(offset + READ_AHEAD_BYTES, this.size);
    const ahead: ReadAhead = { offset, end, bytes: readExactly(this.inner, offset, end - offset) };
    this.#ahead = ahead;
    ahead.bytes.then(
      (bytes) => this.#counted(bytes.length),
      () => {
        if (this.#ahead === ahead) this.#ahead = undefined;
      },
    );
    return ahead;
  }
  /** A payload read with its CRC (never during the header: nothing is kept). */
  async readWithCrc32(offset: number, length: number, crcLength: number, options?: { signal?: AbortSignal }): Promise<CheckedBytes> {
    const checked = await abortable(options?.signal, () => readWithCrc32(this.inner, offset, Math.max(0, Math.min(length, this.size - offset)), crcLength, options?.signal));
    this.#counted(checked.bytes.length);
    return checked;
  }
  /** A range's CRC-32 and the bytes after it, from the source's {@link ByteSource.crc32}: only for a source that has one. */
  async crc32(offset: number, length: number, crcLength: number, options?: { signal?: AbortSignal }): Promise<CheckedTail> {
    const checked = await abortable(options?.signal, () => sourceCrc32(this.inner as Required<ByteSource>, offset, length, crcLength, options?.signal));
    this.#counted(length);
    return checked;
  }
  /** Closes the source, dropping the bytes read ahead. */
  async close(): Promise<void> {
    this.#ahead = undefined;
    await this.inner.close?.();
  }
  /** Counts a read of `length` bytes; one of none never reached the source (readExactly answers it). */
  #counted(length: number): void {
    if (length === 0) return;
    this.bytesRead += length;
    this.readCount++;
  }
}

/** A chunk length: `chunkBytes` rounded down to whole elements, at least one element. */
function chunkLength(chunkBytes: unknown, itemSize: number): number {
  if (chunkBytes === undefined) chunkBytes = DEFAULT_CHUNK_BYTES;
  if (!Number.isSafeInteger(chunkBytes) || (chunkBytes as number) < 1) {
    throw new NdpackError("INVALID_ARGUMENT", `chunkBytes must be a positive integer, got ${shown(chunkBytes)}`, { field: "chunkBytes" });
  }
  return Math.max(itemSize, (chunkBytes as number) - ((chunkBytes as number) % itemSize));
}

/**
 * Rows `[start, end)` of `array`, an array read whole: for C order (or one dimension), where rows
 * are contiguous, a view of its memory; for F order, where the first index varies fastest, the
 * rows gathered into fresh memory in F order (numpy's `a[start:end]` copied in F order). The rest
 * of the description (codec, offset, byteLength: the stored payload read) is the array's.
 */
function rowsOf(array: NdArray, start: number, end: number): NdArray {
  const { shape, nbytes } = array;
  const rows = shape[0]!;
  const dtype = DTYPES[array.dtype];
  const bytes = bytesOf(array.data);
  let part: Uint8Array;
  if (array.order === "C" || shape.length === 1) {
    const rowBytes = rows === 0 ? 0 : nbytes / rows;
    part = bytes.subarray(start * rowBytes, end * rowBytes);
  } else {
    // Each position of the other axes holds a run of `rows` elements; its elements start to end go, in order, to the part.
    const run = rows * dtype.itemSize;
    const kept = (end - start) * dtype.itemSize;
    part = freshBytes(run === 0 ? 0 : (nbytes / run) * kept);
    for (let from = start * dtype.itemSize, to = 0; to < part.length; from += run, to += kept) part.set(bytes.subarray(from, from + kept), to);
  }
  return {
    ...array,
    shape: Object.freeze([end - start, ...shape.slice(1)]),
    nbytes: part.length,
    data: new dtype.view(part.buffer, part.byteOffset, part.length / dtype.wordSize),
    copied: array.copied || part.buffer !== bytes.buffer,
  } as NdArray; // the table's row for `dtype` makes `data` the type DtypeData names for it
}

class SourceReader implements NdpackReader {
  readonly #source: CountingSource;
  readonly #container: Container;
  readonly #index: NameIndex;
  readonly #maxDecodedBytes: number;
  readonly path: string | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #pending = new Set<Promise<unknown>>();

  constructor(source: CountingSource, container: Container, path: string | undefined, maxDecodedBytes: number) {
    this.#source = source;
    this.#container = container;
    this.path = path;
    this.#index = container.names ?? nameIndex(container.arrays);
    this.#maxDecodedBytes = maxDecodedBytes;
  }

  get names() {
    return this.#index.names;
  }
  get format() {
    return this.#container.format;
  }
  get version() {
    return this.#container.version;
  }
  get alignment() {
    return this.#container.alignment;
  }
  get checksum() {
    return this.#container.checksum;
  }
  get metadata() {
    return this.#container.metadata;
  }
  get size() {
    return this.names.length;
  }
  get byteLength() {
    return this.#container.fileLength;
  }
  get bytesRead() {
    return this.#source.bytesRead;
  }
  get ignored() {
    return this.#container.ignored;
  }
  get readCount() {
    return this.#source.readCount;
  }
  get closed() {
    return this.#closed;
  }
  has(name: string): boolean {
    return this.#index.indexOf(name) !== undefined;
  }
  info(name: string): ArrayInfo {
    return { ...this.#container.arrays[this.#indexOf(name)]! };
  }

  #indexOf(name: string): number {
    const index = this.#index.indexOf(name);
    if (index !== undefined) return index;
    throw notFoundError(name, this.names, this.path);
  }

  /** Runs one read, tracked so that `close` waits for it; its errors carry the reader's path. */
  #track<T>(run: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const promise = run().catch((error: unknown) => {
      throw withPath(error, this.path);
    });
    this.#pending.add(promise);
    const done = () => this.#pending.delete(promise);
    promise.then(done, done);
    return promise;
  }

  #closedError(): NdpackError {
    return new NdpackError("CLOSED", `the reader of ${this.path ?? "this source"} is closed`, this.path === undefined ? {} : { path: this.path });
  }

  /** Array `index` from its stored `bytes`; `copy: "always"` when those bytes are memory that something else views too. */
  #toArray(index: number, bytes: Uint8Array, verify: boolean, copy: "auto" | "always" = "auto"): NdArray {
    const array = this.#container.toArray(index, bytes, { verify, copy, maxDecodedBytes: this.#maxDecodedBytes });
    return this.#source.borrowed || array.copied ? array : { ...array, copied: true };
  }

  read(name: string, options?: ReadOptions): Promise<NdArray>;
  read<D extends Dtype>(name: string, dtype: D, options?: ReadOptions): Promise<NdArrayOf<D>>;
  read(name: string, dtypeOrOptions?: Dtype | ReadOptions, maybeOptions?: ReadOptions): Promise<NdArray> {
    // The second argument is the options unless it is something else (a dtype, or what expectDtype refuses).
    const typed = dtypeOrOptions !== undefined && (dtypeOrOptions === null || typeof dtypeOrOptions !== "object");
    const options = (typed ? maybeOptions : dtypeOrOptions) as ReadOptions | undefined;
    return this.#track(async () => {
      checkOptionNames(options, READ_OPTIONS, "read");
      const verify = booleanOption(options?.verify, true, "verify");
      const index = this.#indexOf(name);
      if (typed) expectDtype(name, this.#container.arrays[index]!.dtype, dtypeOrOptions);
      return this.#readArray(index, verify, options ?? {});
    });
  }

  /** Array `index` as {@link NdpackReader.read} gives it: one read of its stored bytes (and its check, when `verify`), decoded. */
  async #readArray(index: number, verify: boolean, options: ReadOptions): Promise<NdArray> {
    const range = this.#container.arrayRange(index, verify);
    const raw = verify && this.#container.checksum === "crc32" ? this.#container.rawPayload(index) : undefined;
    const checkedFrom = raw?.before?.offset ?? raw?.payload.offset;
    const crcLength = raw === undefined ? 0 : raw.payload.offset + raw.payload.length - range.offset;
    const served = await this.#source.fromReadAhead(range.offset, range.length, options.signal);
    if (raw === undefined || !raw.checked || checkedFrom !== range.offset || crcLength + (raw.after?.length ?? 0) !== range.length) {
      return this.#toArray(index, served ?? (await this.#source.read(range.offset, range.length, options)), verify);
    }
    // The range is what the checksum covers, then what its check needs: the CRC is computed as the bytes arrive.
    const { bytes, crc } = served === undefined ? await this.#source.readWithCrc32(range.offset, range.length, crcLength, options) : { bytes: served, crc: crc32(served.subarray(0, crcLength)) };
    raw.check(crc, bytes.subarray(crcLength));
    const payloadAt = raw.payload.offset - range.offset;
    return this.#toArray(index, bytes.subarray(payloadAt, payloadAt + raw.payload.length), false);
  }

  readMany(names: readonly string[], options: ReadManyArraysOptions = {}): Promise<Map<string, NdArray>> {
    return this.#track(async () => {
      checkOptionNames(options, READ_MANY_OPTIONS, "readMany");
      const verify = booleanOption(options.verify, true, "verify");
      checkNameList(names, "readMany");
      // Each name once: a name listed again is the same array, which was copied again out of the
      // read they share (a list of one large array 10,000 times copied it 10,000 times).
      const unique = [...new Set(names)];
      const indexes = unique.map((name) => this.#indexOf(name));
      const ranges = indexes.map((index) => this.#container.arrayRange(index, verify));
      const all = await readRanges(this.#source, ranges, options);
      // Ranges read together are views of one read: an array that shares its read with another is
      // copied out of it, so that each is memory of its own (transferring one must not detach the
      // others). From a memory source all are views of the caller's bytes, as read() gives them.
      const sharing = new Map<ArrayBufferLike, number>();
      for (const bytes of all) sharing.set(bytes.buffer, (sharing.get(bytes.buffer) ?? 0) + 1);
      const copy = (bytes: Uint8Array) => (!this.#source.borrowed && sharing.get(bytes.buffer)! > 1 ? "always" : "auto");
      return new Map(indexes.map((index, i) => [unique[i]!, this.#toArray(index, all[i]!, verify, copy(all[i]!))]));
    });
  }

  readRows(name: string, start: number, end: number, options: ReadOptions = {}): Promise<NdArray> {
    return this.#track(async () => {
      checkOptionNames(options, READ_OPTIONS, "readRows");
      const index = this.#indexOf(name);
      const info = this.#container.arrays[index]!;
      const { shape } = info;
      if (shape.length === 0) throw new NdpackError("INVALID_ARGUMENT", `readRows("${name}"): the array is 0-d: it has no rows; use read()`, { array: name, field: "name" });
      const rows = shape[0]!;
      for (const [field, value] of [["start", start], ["end", end]] as const) {
        if (!Number.isSafeInteger(value) || value < 0 || value > rows) {
          throw new NdpackError("INVALID_ARGUMENT", `readRows("${name}"): ${field} must be an integer from 0 to ${rows} (the array has ${rows} rows), got ${shown(value)}`, { array: name, field, expected: rows, actual: typeof value === "string" ? value : shown(value) });
        }
      }
      if (end < start) throw new NdpackError("INVALID_ARGUMENT", `readRows("${name}"): end (${end}) is before start (${start})`, { array: name, field: "end", expected: start, actual: end });
      const verify = booleanOption(options.verify, true, "verify");
      // All the rows: the whole array, checked as read() checks it.
      if (start === 0 && end === rows && rows > 0) return this.#readArray(index, verify, options);
      const raw = this.#container.rawPayload(index);
      // A compressed array is decompressed whole, an F-order one's rows are not contiguous, and a
      // CRC asked for covers the whole payload: read whole (and checked), then cut.
      if (raw === undefined || (info.order === "F" && shape.length > 1) || options.verify === true) return rowsOf(await this.#readArray(index, verify, options), start, end);
      const rowBytes = rows === 0 ? 0 : info.nbytes / rows;
      const byteLength = (end - start) * rowBytes;
      const offset = raw.payload.offset + start * rowBytes;
      const bytes = await this.#readRange({ offset, length: byteLength }, options);
      const part = viewOrCopy({ name, dtype: info.dtype, shape: [end - start, ...shape.slice(1)], order: info.order, byteOrder: info.byteOrder, codec: "none", offset, byteLength }, bytes, false, "auto");
      return this.#source.borrowed || part.copied ? part : { ...part, copied: true };
    });
  }

  /** One read of `readChunks`, tracked as `read` is: `close` waits for it, and once closed it is CLOSED. */
  #readRange(range: ByteRange, options: ReadOptions): Promise<Uint8Array> {
    return this.#track(() => this.#source.read(range.offset, range.length, options));
  }

  readChunks(name: string, options: ReadChunksOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      if (this.#closed) throw this.#closedError();
      checkOptionNames(options, READ_CHUNKS_OPTIONS, "readChunks");
      const verify = booleanOption(options.verify, true, "verify");
      const index = this.#indexOf(name);
      const info = this.#container.arrays[index]!;
      const dtype = DTYPES[info.dtype];
      const chunk = chunkLength(options.chunkBytes, dtype.itemSize);
      const swap = dtype.wordSize > 1 && info.byteOrder !== HOST_BYTE_ORDER ? dtype.wordSize : 1;
      return this.#pathed(this.#chunks(index, chunk, swap, verify, options.signal));
    } catch (error) {
      throw withPath(error, this.path);
    }
  }

  /** `chunks`, whose errors carry the reader's path. */
  async *#pathed(chunks: AsyncGenerator<Uint8Array, void, undefined>): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      yield* chunks;
    } catch (error) {
      throw withPath(error, this.path);
    }
  }

  async *#chunks(index: number, chunk: number, swap: number, verify: boolean, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array, void, undefined> {
    const options = signal === undefined ? {} : { signal };
    const out = (bytes: Uint8Array) => {
      // Chunks are the caller's to keep: never a view of memory the source may hold.
      const own = this.#source.borrowed || swap > 1 ? bytes.slice() : bytes;
      if (swap > 1) swapInPlace(own, swap);
      return own;
    };
    const raw = this.#container.rawPayload(index);
    if (raw !== undefined) {
      yield* this.#rawChunks(raw, chunk, verify, options, out);
      return;
    }
    yield* this.#inflatedChunks(index, chunk, swap, verify, options);
  }

  /**
   * The stored bytes of `raw` in chunks, checked (CRC, padding) when `verify`; each chunk passed
   * through `given`. Without `given` the bytes are only checked (`verify`): a source that computes
   * CRCs itself ({@link ByteSource.crc32}: a local file, in memory it reuses) is asked for the CRC
   * instead, and nothing is yielded.
   */
  async *#rawChunks(raw: RawPayload, chunk: number, verify: boolean, options: { signal?: AbortSignal }, given?: (bytes: Uint8Array) => Uint8Array): AsyncGenerator<Uint8Array, void, undefined> {
    const read = (range: ByteRange) => this.#readRange(range, options);
    const { before, payload, after } = raw;
    const checking = verify && raw.checked;
    // What the check reads: the bytes its CRC covers, then those after them that it compares.
    const from = before?.offset ?? payload.offset;
    const to = after === undefined ? payload.offset + payload.length : after.offset + after.length;
    if (checking && given === undefined && this.#source.inner.crc32 !== undefined) {
      const { crc, tail } = await this.#track(() => this.#source.crc32(from, to - from, payload.offset + payload.length - from, options));
      raw.check(crc, tail);
      return;
    }
    const out = given ?? ((bytes: Uint8Array) => bytes);
    if (checking && payload.length <= chunk) {
      // One chunk: read with what checks it, and checked before it is handed out.
      const bytes = await read({ offset: from, length: to - from });
      const at = payload.offset - from;
      raw.check(crc32(bytes.subarray(0, at + payload.length)), bytes.subarray(at + payload.length));
      if (payload.length > 0) yield out(bytes.subarray(at, at + payload.length));
      return;
    }
    let crc = checking && before !== undefined ? crc32(await read(before)) : 0;
    for (let at = 0; at < payload.length; at += chunk) {
      const bytes = await read({ offset: payload.offset + at, length: Math.min(chunk, payload.length - at) });
      if (checking) crc = crc32(bytes, crc);
      yield out(bytes);
    }
    if (checking) raw.check(crc, after === undefined ? new Uint8Array(0) : await read(after));
  }

  /** A compressed array in chunks of its decoded bytes: a deflated .npz member inflated as a stream, an ndpack payload whole. */
  async *#inflatedChunks(index: number, chunk: number, swap: number, verify: boolean, options: { signal?: AbortSignal }): AsyncGenerator<Uint8Array, void, undefined> {
    const read = (range: ByteRange) => this.#readRange(range, options);
    const member = this.#container.deflatedMember(index);
    if (member !== undefined) {
      const compressed = async function* (this: SourceReader) {
        for (let at = 0; at < member.compressed.length; at += chunk) yield await read({ offset: member.compressed.offset + at, length: Math.min(chunk, member.compressed.length - at) });
      }.call(this);
      let crc = 0;
      let position = 0;
      // A chunk is never longer than what is left of the array (inflateStream stops at the member's
      // size): a small member costs its own size, not `chunk` (8 MiB by default).
      let left = Math.max(0, member.size - member.arrayStart);
      let pending = new Uint8Array(Math.min(chunk, left));
      let used = 0;
      for await (const piece of inflateStream(compressed, member.size, this.names[index]!)) {
        if (verify) crc = crc32(piece, crc);
        // Skip the member's .npy header, then cut the array's bytes into chunks.
        let from = Math.max(0, member.arrayStart - position);
        position += piece.length;
        while (from < piece.length) {
          const n = Math.min(pending.length - used, piece.length - from);
          pending.set(piece.subarray(from, from + n), used);
          used += n;
          from += n;
          if (used === pending.length) {
            if (swap > 1) swapInPlace(pending, swap);
            yield pending;
            left -= used;
            pending = new Uint8Array(Math.min(chunk, left));
            used = 0;
          }
        }
      }
      if (verify) member.check(crc);
      if (used > 0) {
        const last = pending.subarray(0, used);
        if (swap > 1) swapInPlace(last, swap);
        yield last;
      }
      return;
    }
    // A compressed ndpack payload is decompressed in one piece (shuffled bytes cannot be undone in parts).
    const array = await this.read(this.names[index]!, { verify, ...options });
    const bytes = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
    for (let at = 0; at < bytes.length; at += chunk) yield bytes.slice(at, Math.min(at + chunk, bytes.length));
  }

  async verify(options: { readonly signal?: AbortSignal } = {}): Promise<VerifyReport> {
    checkOptionNames(options, { signal: true }, "verify");
    signalOption(options.signal); // before the loop, which reports the reads' errors per array
    const arrays: ArrayVerification[] = [];
    for (const name of this.names) {
      try {
        // Step 22 reads the stored bytes (CRC, padding) and does not decompress: an array that
        // verifies can still fail step 23. A stored .npz member is checked as a record is; a
        // deflated one's CRC covers its decoded bytes, which readChunks inflates.
        const index = this.#indexOf(name);
        const stored = this.#container.storedRecord?.(index) ?? this.#container.rawPayload(index);
        if (stored !== undefined && this.#container.checksum === "none") {
          // No checksum covers the payload (ndpack's "none", .npy, .safetensors): it is not read, as
          // Python's verify does not read it; what follows it (an ndpack record's padding) is checked.
          const { after } = stored;
          if (stored.checked && after?.length) stored.check(0, await this.#readRange(after, options));
        } else {
          const chunks = stored === undefined ? this.readChunks(name, { verify: true, ...options }) : this.#pathed(this.#rawChunks(stored, DEFAULT_CHUNK_BYTES, true, options));
          for await (const _ of chunks) {
            // Each chunk is checked as it passes.
          }
        }
        arrays.push({ name, ok: true });
      } catch (error) {
        if (!(error instanceof NdpackError) || ["IO_ERROR", "FILE_CHANGED", "CLOSED", "ABORTED"].includes(error.code)) throw error;
        arrays.push({ name, ok: false, error });
      }
    }
    const checksum: Checksum = this.#container.checksum;
    return { ok: arrays.every((a) => a.ok), checksum, arrays };
  }

  close(): Promise<void> {
    // Every call resolves once the source is closed, not only the first.
    this.#closing ??= (async () => {
      this.#closed = true;
      await Promise.allSettled(this.#pending);
      await this.#source.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The names of `arrays` and a lookup by name: for the formats whose container has none of its own. */
function nameIndex(arrays: readonly ArrayInfo[]): NameIndex {
  // Loops, not arrows made per call (io/steps.ts byOffset says why).
  const names: string[] = [];
  const positions = new Map<string, number>();
  for (let index = 0; index < arrays.length; index++) {
    names.push(arrays[index]!.name);
    positions.set(arrays[index]!.name, index);
  }
  return { names: Object.freeze(names), indexOf: (name) => positions.get(name) };
}

/** The size of `source`, read once (a getter may answer differently later), or INVALID_ARGUMENT when it is not a ByteSource. */
function checkSource(source: unknown): number {
  const candidate = source as Partial<ByteSource> | null;
  const size = candidate !== null && typeof candidate === "object" ? candidate.size : undefined;
  if (candidate === null || typeof candidate !== "object" || typeof candidate.read !== "function" || !Number.isSafeInteger(size) || (size as number) < 0) {
    throw new NdpackError("INVALID_ARGUMENT", "source must be a ByteSource: an object with a non-negative integer size and a read(offset, length) method", { field: "source" });
  }
  return size as number;
}

/** Runs a header reader on the source, the first bytes served from memory, the ranges it announces read ahead. */
async function runSteps<T>(steps: PrefetchingSteps<T>, source: CountingSource, signal: AbortSignal | undefined): Promise<T> {
  let step = steps.next();
  while (step.done !== true) {
    const asked = step.value;
    if (isPrefetch(asked)) {
      await source.prefetch(asked.prefetch, signal);
      step = steps.next(new Uint8Array(0));
    } else {
      // Ranges already in memory (a .npz's member headers, read ahead) are given without a round through the event loop.
      step = steps.next(source.kept(asked.offset, asked.length) ?? (await source.read(asked.offset, asked.length, signal === undefined ? undefined : { signal })));
    }
  }
  return step.value;
}

/** The core's formats when the caller names none: ndpack's alone (see {@link OpenSourceOptions.formats}). */
const CORE_FORMATS: readonly FormatReader[] = [NDPACK_READER];

/**
 * Opens a file of any supported format (ndpack; .npy, .npz, .safetensors with
 * {@link OpenSourceOptions.formats}) from any {@link ByteSource} for lazy reading: reads and checks its header (for ndpack, FORMAT.md §9 steps
 * 1–21, and its length) and returns the reader. The source is closed when the reader is, or
 * when opening fails.
 *
 * Errors: the format errors of the format's reader, BAD_MAGIC when the format cannot be told,
 * INVALID_ARGUMENT for something that is not a ByteSource, and the source's own errors.
 *
 * @example
 * ```ts
 * const reader = await openSource(bytesSource(bytes));           // or any { size, read(offset, length) }
 * console.log(reader.format, reader.names);
 * const weight = await reader.read("layer.0.weight");            // one read, CRC checked
 * ```
 */
export async function openSource(source: ByteSource, options: OpenSourceOptions = {}): Promise<NdpackReader> {
  const size = checkSource(source);
  try {
    checkOptionNames(options, OPEN_SOURCE_OPTIONS, "openSource");
    const limits = resolveLimits(options);
    checkNpyName(options.npyName);
    const firstRead = options.firstReadBytes ?? FIRST_READ_BYTES;
    if (!Number.isSafeInteger(firstRead) || firstRead < 1) throw new NdpackError("INVALID_ARGUMENT", `firstReadBytes must be a positive integer, got ${shown(firstRead)}`, { field: "firstReadBytes" });
    const counting = new CountingSource(source, size, firstRead);
    counting.readingHeader = true;
    const head = await counting.read(0, Math.min(size, SNIFF_BYTES), options);
    const format = chooseFormat(head, size, options.formats ?? CORE_FORMATS, options);

    // An ndpack reader's first read takes at least the preamble, whose length field says what follows.
    const container = await runSteps(format.readContainer(size, { ...options, firstReadBytes: Math.max(firstRead, PREAMBLE_SIZE) }), counting, options.signal);
    counting.readingHeader = false;
    return new SourceReader(counting, container, options.name, limits.maxDecodedBytes);
  } catch (error) {
    try {
      await source.close?.();
    } catch {
      // The source failing to close (or a close that is not async) must not hide why opening failed.
    }
    throw withPath(error, options?.name);
  }
}
