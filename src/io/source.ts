/**
 * Where a lazy reader's bytes come from: a {@link ByteSource}, any object with a size and
 * positioned reads. Drivers: memory (`bytesSource`, views, no copies), a Node file handle
 * (`ndpack/node`), an HTTP(S) URL read with `Range` requests, or a user's own object (an S3 or GCS
 * SDK, a cache). {@link readRanges} reads many ranges of one source with few, coalesced reads.
 *
 * @module
 */
import { crc32 } from "../crc32.js";
import { isNdpackError, NdpackError, shown } from "../errors.js";
import { byOffset, type ByteRange } from "./steps.js";

/** Options of one {@link ByteSource.read}. */
export interface ReadRequestOptions {
  /** Cancels the read: it rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/**
 * A random-access source of bytes whose size is known: what `openSource` reads from. Implement it
 * to read from anywhere (an object store SDK, a cache, a Blob).
 *
 * `read(offset, length)` resolves to exactly `length` bytes starting at `offset`, or fewer only when
 * the source ends first. The reader never modifies those bytes, but the arrays it returns are views
 * of them, which its caller owns and may modify: return memory the source does not use again (a
 * cache hands out copies). `bytesSource`, for bytes the caller holds, is the one exception.
 *
 * @example
 * ```ts
 * const source: ByteSource = {
 *   size: object.ContentLength,
 *   read: async (offset, length) => new Uint8Array(await getRange(offset, offset + length - 1)),
 * };
 * const reader = await openSource(source);
 * ```
 */
export interface ByteSource {
  /** Length of the source in bytes. */
  readonly size: number;
  /** The `length` bytes at `offset`; fewer only when the source ends first. */
  read(offset: number, length: number, options?: ReadRequestOptions): Promise<Uint8Array>;
  /**
   * Optional: {@link ByteSource.read}, resolving also to the CRC-32 of the range's first
   * `crcLength` bytes, computed while the rest is still arriving (a file read in pieces at once,
   * each checked as it lands; an HTTP body checked chunk by chunk), so that a verifying read costs
   * about what the transfer costs. The reader uses it for a payload's checksum when the source has
   * it, and computes the CRC after `read` otherwise ({@link readWithCrc32}). Same contract as `read`.
   */
  readWithCrc32?(offset: number, length: number, crcLength: number, options?: ReadRequestOptions): Promise<CheckedBytes>;
  /**
   * Optional: the bytes of every range, as {@link ByteSource.read} gives them, in the order given,
   * all read at once. The reader uses it for the header ranges a format announces (a .npz's member
   * headers: one small read per member) when the source has it: a local file then starts every
   * read together and checks itself once, instead of a few reads at a time, each checked. Without
   * it, those ranges are read with `read`, a few at a time. Same contract as `read`.
   */
  readBatch?(ranges: readonly { readonly offset: number; readonly length: number }[], options?: ReadRequestOptions): Promise<Uint8Array[]>;
  /**
   * Optional: the CRC-32 of the range's first `crcLength` bytes, which the caller does not keep
   * (the reader's `verify`), and the bytes after them (an ndpack record's CRC and padding): the
   * source reads the checked bytes into memory it reuses (a local file: a few pieces of 1 MiB)
   * instead of handing out fresh memory, which costs a page fault per 4 KiB and a trip back to
   * RAM, about as much again as the read and the CRC. The reader uses it when the source has it,
   * and reads the bytes with `read` otherwise. Same contract as `read` for the whole range: the
   * bytes after `crcLength` are fewer only when the source ends first.
   */
  crc32?(offset: number, length: number, crcLength: number, options?: ReadRequestOptions): Promise<CheckedTail>;
  /** Releases what the source holds (a file handle, connections). Optional. */
  close?(): Promise<void>;
}

/**
 * Runs one read of a source for a reader: a caller's abort ends it as ABORTED, the signal's reason
 * as `cause`, whether the signal was aborted before the read (one served from memory included) or
 * the source rejected with the reason, as sources do (`fetch`, Node's file reads).
 */
export async function abortable<T>(given: AbortSignal | undefined, read: () => Promise<T>): Promise<T> {
  const signal = signalOption(given);
  if (signal === undefined) return read();
  if (signal.aborted) throw abortedRead(signal);
  // A source that does not listen to the signal would keep the read waiting: it ends at the abort
  // all the same, and what the source gives later is dropped.
  let stop!: () => void;
  const aborted = new Promise<never>((_, reject) => (stop = () => reject(abortedRead(signal))));
  aborted.catch(() => undefined);
  signal.addEventListener("abort", stop, { once: true });
  try {
    return await Promise.race([read(), aborted]);
  } catch (error) {
    throw signal.aborted && !isNdpackError(error) ? abortedRead(signal) : error;
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

/** `signal` when it is undefined or an AbortSignal (anything that listens like one); INVALID_ARGUMENT otherwise. */
export function signalOption(signal: unknown): AbortSignal | undefined {
  if (signal === undefined || (typeof (signal as AbortSignal | null)?.addEventListener === "function" && typeof (signal as AbortSignal).aborted === "boolean")) return signal as AbortSignal | undefined;
  throw new NdpackError("INVALID_ARGUMENT", `signal must be an AbortSignal, got ${signal !== null && typeof signal === "object" ? "an object that is not one" : String(signal)}`, { field: "signal" });
}

/** A source's check before a read it cannot interrupt: INVALID_ARGUMENT for a `signal` that is not one, its reason if it is aborted (as `throwIfAborted`, which a polyfill may lack). */
export function refuseIfAborted(signal: unknown): void {
  const checked = signalOption(signal);
  if (checked?.aborted) throw checked.reason;
}

function abortedRead(signal: AbortSignal): NdpackError {
  return new NdpackError("ABORTED", "the read was aborted", { cause: signal.reason });
}

/** What {@link ByteSource.readWithCrc32} resolves to: the bytes, and the CRC-32 of their first `crcLength`. */
export interface CheckedBytes {
  /** The bytes read, as {@link ByteSource.read} gives them. */
  readonly bytes: Uint8Array;
  /** CRC-32 of `bytes`' first `crcLength` bytes. */
  readonly crc: number;
}

/** What {@link ByteSource.crc32} resolves to: the CRC-32 of a range's first `crcLength` bytes, and the bytes after them. */
export interface CheckedTail {
  /** CRC-32 of the range's first `crcLength` bytes. */
  readonly crc: number;
  /** The range's bytes after its first `crcLength`, as {@link ByteSource.read} gives them. */
  readonly tail: Uint8Array;
}

/**
 * Ranges at most this many bytes apart are read together, gap included, by the reader's `readMany`: 64 KiB, about what one extra HTTP request costs on a fast link (a round
 * trip of ~1 ms at 500 Mbit/s) and a few page-cache pages for a local file. Bytes read in vain
 * are at most this per merged pair.
 */
export const COALESCE_GAP_BYTES = 64 * 1024;

/** Reads {@link readRanges} runs at once by default: enough to fill a link, few enough not to flood a server. */
export const DEFAULT_READ_CONCURRENCY = 4;

/** How the reader's `readMany` groups ranges into reads. */
export interface ReadManyOptions {
  /** Largest gap between two ranges that are still read as one (default {@link COALESCE_GAP_BYTES}; 0 merges only touching ranges). */
  readonly maxGap?: number;
  /** Most reads in flight at once (default 4). */
  readonly concurrency?: number;
  /** Cancels the reads. */
  readonly signal?: AbortSignal;
}

/** One read that serves several ranges: `members` are indexes into the ranges asked for. */
export interface MergedRead extends ByteRange {
  /** Indexes of the ranges this read covers. */
  readonly members: readonly number[];
}

function nonNegativeInteger(value: unknown, fallback: number, field: string, min = 0): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    throw new NdpackError("INVALID_ARGUMENT", `${field} must be an integer of at least ${min}, got ${shown(value)}`, { field });
  }
  return value as number;
}

/**
 * Groups ranges into reads: sorted by offset, a range joins the read before it when it starts at
 * most `maxGap` bytes after that read's end (an overlapping one always does) and the read then
 * spans at most `maxLength` bytes.
 */
export function coalesceRanges(ranges: readonly ByteRange[], maxGap = COALESCE_GAP_BYTES, maxLength = Infinity): MergedRead[] {
  const order: (ByteRange & { index: number })[] = [];
  for (let index = 0; index < ranges.length; index++) order.push({ offset: ranges[index]!.offset, length: ranges[index]!.length, index });
  order.sort(byOffset); // stable: ranges at one offset keep their order
  const reads: { offset: number; end: number; members: number[] }[] = [];
  for (const { offset, length, index } of order) {
    const last = reads[reads.length - 1];
    if (last !== undefined && offset - last.end <= maxGap && (offset < last.end || Math.max(last.end, offset + length) - last.offset <= maxLength)) {
      last.end = Math.max(last.end, offset + length);
      last.members.push(index);
    } else {
      reads.push({ offset, end: offset + length, members: [index] });
    }
  }
  return reads.map(({ offset, end, members }) => ({ offset, length: end - offset, members }));
}

/**
 * Reads `length` bytes at `offset`, all of them: a source that returns fewer, inside its size, has
 * changed since it was opened (FILE_CHANGED).
 */
export async function readExactly(source: ByteSource, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
  signalOption(signal); // before any source sees it
  if (length === 0) return new Uint8Array(0);
  const bytes = await source.read(offset, length, signal === undefined ? undefined : { signal });
  checkLength(source, bytes, offset, length);
  return bytes;
}

/** {@link readExactly} of every range with the source's {@link ByteSource.readBatch}. */
export async function readBatchExactly(source: ByteSource & Required<Pick<ByteSource, "readBatch">>, ranges: readonly ByteRange[], signal?: AbortSignal): Promise<Uint8Array[]> {
  const all = await source.readBatch(ranges, signal === undefined ? undefined : { signal });
  if (!Array.isArray(all) || all.length !== ranges.length) throw new NdpackError("INVALID_ARGUMENT", `the source's readBatch of ${ranges.length} ranges did not resolve to as many Uint8Arrays`, { field: "source" });
  for (let i = 0; i < ranges.length; i++) checkLength(source, all[i], ranges[i]!.offset, ranges[i]!.length);
  return all;
}

/** A read's bytes must be a Uint8Array of exactly the length asked for (fewer: FILE_CHANGED). */
function checkLength(source: ByteSource, bytes: unknown, offset: number, length: number): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new NdpackError("INVALID_ARGUMENT", `the source's read(${offset}, ${length}) did not resolve to a Uint8Array`, { field: "source" });
  }
  if (bytes.length !== length) {
    throw new NdpackError("FILE_CHANGED", `the source gave ${bytes.length} bytes at offset ${offset} where ${length} were asked for within its ${source.size} bytes: it changed since it was opened`, { offset, expected: length, actual: bytes.length });
  }
}

/**
 * {@link readExactly}, with the CRC-32 of the first `crcLength` bytes: from the source's
 * {@link ByteSource.readWithCrc32} when it has one (the CRC then overlaps the transfer), else
 * computed after the read.
 */
export async function readWithCrc32(source: ByteSource, offset: number, length: number, crcLength: number, signal?: AbortSignal): Promise<CheckedBytes> {
  if (source.readWithCrc32 === undefined || length === 0) {
    const bytes = await readExactly(source, offset, length, signal);
    return { bytes, crc: crc32(bytes.subarray(0, crcLength)) };
  }
  const checked = await source.readWithCrc32(offset, length, crcLength, signal === undefined ? undefined : { signal });
  checkLength(source, checked?.bytes, offset, length);
  return { bytes: checked.bytes, crc: checkCrc(checked.crc, "readWithCrc32") };
}

/** The source's own {@link ByteSource.crc32} of a range: a CRC-32, and all the bytes after the first `crcLength` (fewer: FILE_CHANGED). */
export async function sourceCrc32(source: ByteSource & Required<Pick<ByteSource, "crc32">>, offset: number, length: number, crcLength: number, signal?: AbortSignal): Promise<CheckedTail> {
  const checked = await source.crc32(offset, length, crcLength, signal === undefined ? undefined : { signal });
  checkLength(source, checked?.tail, offset + crcLength, length - crcLength);
  return { crc: checkCrc(checked.crc, "crc32"), tail: checked.tail };
}

/** A source's CRC-32, unsigned; one as JavaScript's bitwise operators leave it (signed) is taken too. */
function checkCrc(crc: unknown, method: string): number {
  if (!Number.isInteger(crc) || (crc as number) < -0x80000000 || (crc as number) > 0xffffffff) throw new NdpackError("INVALID_ARGUMENT", `the source's ${method} gave no CRC-32`, { field: "source" });
  return (crc as number) >>> 0;
}

/**
 * Reads many ranges of `source` with few reads: ranges within `maxGap` of each other are read as
 * one ({@link coalesceRanges}), at most `concurrency` reads at a time. Each result is a view of its
 * read's bytes, in the order the ranges were given.
 */
export async function readRanges(source: ByteSource, ranges: readonly ByteRange[], options: ReadManyOptions = {}): Promise<Uint8Array[]> {
  const maxGap = nonNegativeInteger(options.maxGap, COALESCE_GAP_BYTES, "maxGap");
  const concurrency = nonNegativeInteger(options.concurrency, DEFAULT_READ_CONCURRENCY, "concurrency", 1);
  const reads = coalesceRanges(ranges, maxGap);
  const results = new Array<Uint8Array>(ranges.length);
  await eachAtMost(reads.length, concurrency, options.signal, async (i) => {
    const read = reads[i]!;
    const bytes = await readExactly(source, read.offset, read.length, options.signal);
    for (const index of read.members) {
      const range = ranges[index]!;
      results[index] = bytes.subarray(range.offset - read.offset, range.offset - read.offset + range.length);
    }
  });
  return results;
}

/**
 * Runs `task(0)` to `task(count - 1)`, in that order, at most `concurrency` at a time. The first
 * failure, or an abort of `signal` (ABORTED, its reason as `cause`), stops the tasks not yet
 * started, and the promise rejects with it once the tasks already started have ended: a source is
 * never read after the call that reads it has failed (nor after its reader closed it since).
 */
export async function eachAtMost(count: number, concurrency: number, signal: AbortSignal | undefined, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { readonly error: unknown } | undefined;
  const worker = async () => {
    try {
      while (next < count && failure === undefined) {
        if (signal?.aborted) throw abortedRead(signal);
        await task(next++);
      }
    } catch (error) {
      failure ??= { error };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (failure !== undefined) throw failure.error;
}
