/**
 * How every format writes, without I/O: a format's writer is a plan of the file (checked and laid
 * out before any byte is written) that yields the file's bytes in order as {@link WriteStep}s:
 * literal bytes (headers, padding, directories), an array's payload that the driver supplies (in the
 * byte order and element order the format stores; deflated and checksummed on the way when the
 * format asks; or kept, to be appended later), and a reserved span filled in later (a zip local
 * header, which holds its member's CRC-32 and compressed size; an ndpack header written last).
 * Drivers only move bytes: {@link writeToBytes} here for memory (the whole-buffer writers `toNpy`,
 * `toNpz`, `toSafetensors`), and `writeToFile` of `ndpack/node` for files (atomic, durable: the
 * CLI's `convert`, `pack` and `extract`, for every format). Both run the same plan, so a file
 * written through either has the same bytes (DEFLATE aside: the file driver deflates arrays over
 * 4 MiB in pieces on several cores, `node/deflate.ts`, a different stream of the same bytes).
 *
 * @module
 */
import { copySwapped } from "../bytes.js";
import { crc32 } from "../crc32.js";
import { shuffle } from "../codecs.js";
import { deflateRaw } from "../compress.js";
import type { DtypeInfo } from "../dtypes.js";
import type { PreparedArray } from "../encode.js";
import { NdpackError } from "../errors.js";
import type { ByteOrder, Codec, Order } from "../format.js";
import { cOrderBytes } from "../interop/common.js";
import { HOST_BYTE_ORDER } from "../runtime.js";

/** An array as a writer plans it: everything but its bytes. */
export interface ArrayPlan {
  readonly name: string;
  readonly dtype: DtypeInfo;
  readonly shape: readonly number[];
  readonly order: Order;
  /** Bytes of the array (its element count times its item size). */
  readonly nbytes: number;
  /** The codec asked for this array, for a format that compresses array by array (ndpack: as `ArraySpec.codec`); others ignore it. */
  readonly codec?: Codec;
}

/**
 * Append the payload of array `payload` (an index into the arrays the plan was made for), stored
 * in `byteOrder`, in C order when `cOrder` (otherwise in the array's own order); `prefix`, when
 * given, goes first, through the same checksum and compressor (a .npz member's .npy header). The
 * driver answers with a {@link PayloadWritten}.
 */
export interface PayloadStep {
  readonly payload: number;
  readonly byteOrder: ByteOrder;
  readonly cOrder: boolean;
  readonly prefix?: Uint8Array;
  /** DEFLATE level: the prefix and the payload are stored as one raw DEFLATE stream. */
  readonly deflateLevel?: number;
  /** With `deflateLevel`: FORMAT.md §5's byte shuffle, in words of this many bytes, before deflating (ndpack's `shuffle+deflate`). */
  readonly shuffle?: number;
  /** Whether the plan needs the CRC-32 of the prefix and payload (before compression). */
  readonly crc: boolean;
  /** With `crc`: the CRC-32 of the stored bytes instead (after compression), as ndpack's records take it. */
  readonly crcOfStored?: boolean;
  /**
   * With `deflateLevel`: keep the stored bytes instead of appending them (the driver answers as
   * usual); a later {@link KeptStep} appends them. For a header that must hold the stored length
   * and comes first. Kept bytes never appended are dropped at the end.
   */
  readonly keep?: boolean;
}

/** Append the stored bytes kept for payload `kept` (see {@link PayloadStep.keep}). */
export interface KeptStep {
  readonly kept: number;
}

/** Append `reserve` bytes that a later {@link FillStep} gives (at most one reservation is open at a time). */
export interface ReserveStep {
  readonly reserve: number;
}

/** The bytes of the open reservation, exactly as many as were reserved. */
export interface FillStep {
  readonly fill: Uint8Array;
}

/** One step of a writer: literal bytes to append, or one of the steps above. */
export type WriteStep = Uint8Array | PayloadStep | KeptStep | ReserveStep | FillStep;

/** What a driver answers to a {@link PayloadStep}. */
export interface PayloadWritten {
  /** CRC-32 of the prefix and the payload as stored before compression (0 unless asked for). */
  readonly crc: number;
  /** Bytes appended: the compressed length, or the prefix and payload lengths. */
  readonly storedLength: number;
}

/** A format's writer: steps that yield a file's bytes in order (see {@link WriteStep}). */
export type WriteSteps = Generator<WriteStep, void, PayloadWritten | undefined>;

/** True when a step is literal bytes. */
export function isBytesStep(step: WriteStep): step is Uint8Array {
  return step instanceof Uint8Array;
}

/** Whether an array's payload must be rearranged to be stored in C order. */
export function needsReorder(array: ArrayPlan, cOrder: boolean): boolean {
  return cOrder && array.order === "F" && array.shape.filter((d) => d > 1).length > 1;
}

/** Whether an array's payload must be byte-swapped to be stored in `byteOrder`. */
export function needsSwap(array: ArrayPlan, byteOrder: ByteOrder): boolean {
  return array.dtype.wordSize > 1 && byteOrder !== HOST_BYTE_ORDER;
}

/** A reservation filled with the wrong number of bytes is a bug of the writer, never of the input. */
export function checkFill(reserved: number | undefined, fill: Uint8Array): void {
  if (reserved === undefined || fill.length !== reserved) throw new Error(`internal error: a writer filled ${fill.length} bytes where ${String(reserved)} were reserved`);
}

/** Appends `piece` to the CRC-32 `crc` (an empty piece leaves it: Node's zlib.crc32 gives 0 for a view of an empty buffer). */
export function crcOf(piece: Uint8Array, crc: number): number {
  return piece.length === 0 ? crc : crc32(piece, crc);
}

/** An array with its bytes in memory, in its storage order and this machine's byte order. */
export interface ArrayInMemory extends ArrayPlan {
  readonly source: Uint8Array;
}

/** A checked array of a whole-buffer writer, as the memory driver takes it. */
export function inMemory(array: PreparedArray): ArrayInMemory {
  return { ...array, nbytes: array.source.length };
}

/** One piece of the output: bytes to copy, swapped in words of `swapWord` bytes when set. */
interface Piece {
  bytes: Uint8Array;
  readonly swapWord?: number;
}

/**
 * The memory driver: runs `steps` over arrays held in memory and returns the file's bytes, each
 * payload copied once into the result (swapped on the way where the format's byte order is not
 * this machine's), except payloads that are rearranged into C order or deflated, which are made
 * first.
 */
export function writeToBytes(steps: WriteSteps, arrays: readonly ArrayInMemory[]): Uint8Array {
  const pieces: Piece[] = [];
  let length = 0;
  let reserved: { piece: Piece; length: number } | undefined;
  const kept = new Map<number, Uint8Array>();
  let next = steps.next();
  while (next.done !== true) {
    const step = next.value;
    let answer: PayloadWritten | undefined;
    if (isBytesStep(step)) {
      pieces.push({ bytes: step });
      length += step.length;
    } else if ("reserve" in step) {
      reserved = { piece: { bytes: new Uint8Array(step.reserve) }, length: step.reserve };
      pieces.push(reserved.piece);
      length += step.reserve;
    } else if ("fill" in step) {
      checkFill(reserved?.length, step.fill);
      reserved!.piece.bytes = step.fill;
      reserved = undefined;
    } else if ("kept" in step) {
      const bytes = kept.get(step.kept)!;
      kept.delete(step.kept);
      pieces.push({ bytes });
      length += bytes.length;
    } else {
      const array = arrays[step.payload]!;
      const ordered = cOrderBytes(array.source, array.shape, step.cOrder ? array.order : "C", array.dtype.itemSize);
      const swap = needsSwap(array, step.byteOrder);
      const prefix = step.prefix ?? new Uint8Array(0);
      if (step.deflateLevel !== undefined) {
        const content = new Uint8Array(prefix.length + ordered.length);
        content.set(prefix, 0);
        if (swap) copySwapped(ordered, content, prefix.length, array.dtype.wordSize);
        else content.set(ordered, prefix.length);
        const stored = deflateRaw(step.shuffle === undefined ? content : shuffle(content, step.shuffle), step.deflateLevel);
        if (step.keep === true) kept.set(step.payload, stored);
        else {
          pieces.push({ bytes: stored });
          length += stored.length;
        }
        answer = { crc: step.crc ? crcOf(step.crcOfStored === true ? stored : content, 0) : 0, storedLength: stored.length };
      } else {
        let crc = 0;
        if (step.crc) {
          crc = crcOf(prefix, 0);
          // A swapped payload's CRC is taken over its stored (swapped) bytes, made here once.
          const stored = swap ? swapped(ordered, array.dtype.wordSize) : ordered;
          crc = crcOf(stored, crc);
          pieces.push({ bytes: prefix }, { bytes: stored });
        } else {
          pieces.push({ bytes: prefix }, swap ? { bytes: ordered, swapWord: array.dtype.wordSize } : { bytes: ordered });
        }
        length += prefix.length + ordered.length;
        answer = { crc, storedLength: prefix.length + ordered.length };
      }
    }
    next = steps.next(answer);
  }
  if (reserved !== undefined) throw new Error("internal error: a writer left a reservation unfilled");
  let out: Uint8Array;
  try {
    out = new Uint8Array(length);
  } catch (cause) {
    throw new NdpackError("LIMIT_EXCEEDED", `the file would be ${length} bytes, more than this runtime can allocate in one typed array`, { actual: length, cause });
  }
  let at = 0;
  for (const piece of pieces) {
    if (piece.swapWord !== undefined) copySwapped(piece.bytes, out, at, piece.swapWord);
    else out.set(piece.bytes, at);
    at += piece.bytes.length;
  }
  return out;
}

function swapped(bytes: Uint8Array, wordSize: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  copySwapped(bytes, out, 0, wordSize);
  return out;
}
