/**
 * `ndpack convert` of a deflated .npz member to an array stored with codec `deflate`, without
 * compressing the array again (what `np.savez_compressed` wrote is kept).
 *
 * A member is one raw DEFLATE stream of the .npy header followed by the array's bytes; the payload
 * must be one stream of the array's bytes alone (FORMAT.md §5). Every DEFLATE block carries its own
 * codes (RFC 1951 §3.2.3), and a match refers back at most 32 KiB (§3.2.5), so from any block
 * boundary that falls on a byte boundary at least 32 KiB past the header, the rest of the member's stream is
 * also the rest of a stream that has decoded the same bytes before it. The payload is therefore:
 * the array's bytes up to that boundary (the restart point), compressed afresh and ended with a full
 * flush (byte-aligned, no final block), then the member's compressed bytes from the restart point
 * on, copied.
 *
 * Nothing is trusted: the member is still read and inflated by the reader, which checks its
 * stream, its size and its CRC-32 with the same errors as without this path (its errors are the
 * ones reported), and the payload written is inflated too, and must decode to exactly the array's
 * bytes (its size and CRC-32, nothing after its end); otherwise the stream fails at its end, and
 * nothing is kept (the file driver removes its temporary file).
 * A member without a restart point within its first {@link SEARCH_BYTES} (a small array, or
 * blocks that never end on a byte boundary) is compressed again.
 *
 * @module
 */
import { constants, deflateRawSync } from "node:zlib";
import { inflate as pakoInflate, inflateInit2 } from "pako/lib/zlib/inflate.js";
import ZStream from "pako/lib/zlib/zstream.js";
import { createInflater } from "../codecs.js";
import { crc32 } from "../crc32.js";
import { NdpackError } from "../errors.js";
import { storedBound } from "../formats/ndpack-write.js";
import { FileSource } from "../node/file-source.js";
import type { ArrayEntry } from "./formats.js";

/** How far DEFLATE refers back (RFC 1951 §3.2.5): a block starting this far past the .npy header never refers into it. */
const WINDOW_BYTES = 32 * 1024;

/** Compressed bytes searched for a restart point; what they decode to is held too, at most {@link SEARCH_DECODED_BYTES}. */
const SEARCH_BYTES = 4 << 20;
const SEARCH_DECODED_BYTES = 16 << 20;

/** Compressed bytes copied at a time. */
const COPY_BYTES = 8 << 20;

/** zlib's (and pako's) Z_BLOCK flush and return codes. */
const Z_BLOCK = 5;
const Z_OK = 0;

/** Where the member's stream can be taken over: its decoded bytes before the point, where the array starts in them, and the point's byte offset in the compressed bytes. */
interface RestartPoint {
  readonly decoded: Uint8Array;
  readonly arrayStart: number;
  readonly resumeAt: number;
}

/**
 * Where the array's bytes start in a .npy file whose first bytes are `head`: after the magic, the
 * version, the header length (2 bytes in version 1.0, 4 in 2.0 and 3.0) and the header. Undefined
 * when `head` is too short or is not a .npy file (the reader has checked the header already; the
 * payload's own check catches any disagreement).
 */
function npyArrayStart(head: Uint8Array): number | undefined {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (head.length < 12 || magic.some((byte, i) => head[i] !== byte)) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, 12);
  const major = head[6]!;
  if (major === 1) return 10 + view.getUint16(8, true);
  return major === 2 || major === 3 ? 12 + view.getUint32(8, true) : undefined;
}

/**
 * The first restart point of the member whose compressed bytes start with `head`: a block boundary
 * on a byte boundary at least 32 KiB into the array's bytes, found by inflating block by block with
 * pako (Node's zlib does not say where blocks end), holding at most `maxDecoded` bytes. Undefined
 * when there is none before `head` or the room runs out, or the stream ends or is damaged first.
 */
export function findRestartPoint(head: Uint8Array, maxDecoded: number): RestartPoint | undefined {
  const strm = new ZStream();
  inflateInit2(strm, -15);
  strm.input = head;
  strm.next_in = 0;
  strm.avail_in = head.length;
  strm.output = new Uint8Array(maxDecoded);
  strm.next_out = 0;
  strm.avail_out = maxDecoded;
  let arrayStart: number | undefined;
  while (strm.avail_in > 0 && strm.avail_out > 0) {
    const before = strm.next_in + strm.next_out;
    // With Z_BLOCK, inflate returns at the end of every block (or when the input or the room runs out).
    if (pakoInflate(strm, Z_BLOCK) !== Z_OK || strm.next_in + strm.next_out === before) return undefined;
    // data_type (zlib.h): +128 at a block boundary, +64 when the block ended was the final one, plus the bits of input not used yet.
    const dataType = strm.data_type;
    const unusedBits = dataType & 63;
    if ((dataType & 128) === 0 || (dataType & 64) !== 0 || unusedBits % 8 !== 0) continue;
    arrayStart ??= npyArrayStart(strm.output.subarray(0, strm.next_out));
    if (arrayStart === undefined || strm.next_out < arrayStart + WINDOW_BYTES) continue;
    return { decoded: strm.output.subarray(0, strm.next_out), arrayStart, resumeAt: strm.next_in - unusedBits / 8 };
  }
  return undefined;
}

/** The CRC-32 of everything `chunks` yields. */
async function crcOf(chunks: AsyncIterable<Uint8Array>): Promise<number> {
  let crc = 0;
  for await (const chunk of chunks) crc = crc32(chunk, crc);
  return crc;
}

/** Compressed bytes given to the checking inflater at a time, so that what it returns at once stays small. */
const CHECK_STEP = 64 * 1024;

function copyMismatch(name: string): NdpackError {
  return new NdpackError("CODEC_ERROR", `array "${name}": the copied deflate stream does not decode to the member's array (internal error)`, { array: name });
}

/**
 * Inflates the payload as it is written, for its size and CRC-32 (nothing may follow the end of
 * its stream). Its failures are internal errors: the stream was made from a member the reader checks.
 */
class PayloadCheck {
  readonly #inflater = createInflater();
  readonly #name: string;
  readonly #nbytes: number;
  #pushed = 0;
  #size = 0;
  crc = 0;

  constructor(name: string, nbytes: number) {
    this.#name = name;
    this.#nbytes = nbytes;
  }

  #take(pieces: readonly Uint8Array[]): void {
    for (const piece of pieces) {
      this.#size += piece.length;
      if (this.#size > this.#nbytes) throw copyMismatch(this.#name);
      this.crc = crc32(piece, this.crc);
    }
  }

  async push(stored: Uint8Array): Promise<void> {
    this.#pushed += stored.length;
    for (let at = 0; at < stored.length; at += CHECK_STEP) this.#take(await this.#inflater.push(stored.subarray(at, Math.min(at + CHECK_STEP, stored.length))));
  }

  async end(): Promise<void> {
    this.#take(await this.#inflater.end());
    if (this.#size !== this.#nbytes || this.#inflater.consumed() !== this.#pushed) throw copyMismatch(this.#name);
  }

  close(): void {
    this.#inflater.close();
  }
}

/**
 * The payload of array `name` (`entry`: a deflated member of the .npz file at `path`, whose byte
 * order is the output's) as the member's own DEFLATE stream behind a restart point (see the module
 * notes), the first part compressed at `level`, for `ArrayInChunks.deflated` of the file driver.
 * `verified` yields the array's bytes in the file's byte order, read and checked by the reader
 * while the stream is copied. Undefined, having read only the search's bytes, when the member has
 * no restart point or would not fit the room the ndpack writer reserves for its stored length
 * ({@link storedBound}).
 *
 * The stream throws, at its end at the latest: the errors of `verified` (the input's) first, then
 * IO_ERROR and FILE_CHANGED of the copy, CODEC_ERROR when what was copied does not decode to the array.
 */
export async function deflatedMember(name: string, entry: ArrayEntry, path: string, level: number, verified: AsyncIterable<Uint8Array>): Promise<AsyncIterable<Uint8Array> | undefined> {
  const source = await FileSource.open(path);
  let fresh: Uint8Array | undefined;
  let point: RestartPoint | undefined;
  try {
    const head = await source.read(entry.offset, Math.min(entry.byteLength, SEARCH_BYTES));
    point = findRestartPoint(head, Math.min(SEARCH_DECODED_BYTES, entry.nbytes + WINDOW_BYTES));
    if (point !== undefined) fresh = deflateRawSync(point.decoded.subarray(point.arrayStart), { level, finishFlush: constants.Z_FULL_FLUSH });
  } catch (error) {
    await source.close();
    throw error;
  }
  if (point === undefined || fresh === undefined || fresh.length + entry.byteLength - point.resumeAt > storedBound(entry.nbytes)) {
    await source.close();
    return undefined;
  }
  return copiedStream(source, name, entry, fresh, point.resumeAt, verified);
}

async function* copiedStream(source: FileSource, name: string, entry: ArrayEntry, fresh: Uint8Array, resumeAt: number, verified: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  // The input is checked by the reader while the payload is copied and inflated.
  const input = crcOf(verified).then(
    (crc) => ({ crc }),
    (error: unknown) => ({ error }),
  );
  const check = new PayloadCheck(name, entry.nbytes);
  let outputError: unknown;
  try {
    try {
      yield fresh;
      await check.push(fresh);
      for (let at = resumeAt; at < entry.byteLength; at += COPY_BYTES) {
        const piece = await source.read(entry.offset + at, Math.min(COPY_BYTES, entry.byteLength - at));
        yield piece;
        await check.push(piece);
      }
      await check.end();
    } catch (error) {
      outputError = error;
    }
    const checked = await input;
    if ("error" in checked) throw checked.error;
    if (outputError !== undefined) throw outputError;
    if (checked.crc !== check.crc) throw copyMismatch(name);
  } finally {
    check.close();
    await source.close();
  }
}
