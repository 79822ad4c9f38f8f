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
 * bytes (its size and CRC-32); otherwise nothing is kept (the writer's temporary file is removed).
 * A member without a restart point within its first {@link SEARCH_BYTES} (a small array, or
 * blocks that never end on a byte boundary) is compressed again.
 *
 * @module
 */
import { constants, deflateRawSync } from "node:zlib";
import { inflate as pakoInflate, inflateInit2 } from "pako/lib/zlib/inflate.js";
import ZStream from "pako/lib/zlib/zstream.js";
import { inflateStream } from "../codecs.js";
import { crc32 } from "../crc32.js";
import { NdpackError } from "../errors.js";
import { FileSource } from "../node/file-source.js";
import { storedBound, writeStored, type NdpackWriter } from "../node/writer.js";
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

/**
 * Writes array `name` (`entry`: a deflated member of the .npz file at `path`, whose byte order is
 * the output's) to `writer` as the member's own DEFLATE stream behind a restart point (see the
 * module notes), the first part compressed at `level`. `verified` yields the array's bytes in the
 * file's byte order, read and checked by the reader. Returns false, having written nothing, when
 * the member has no restart point or would not fit the room reserved for its stored length.
 *
 * @throws the errors of `verified` (the input's), then IO_ERROR and FILE_CHANGED of the copy.
 */
export async function copyDeflatedMember(writer: NdpackWriter, name: string, entry: ArrayEntry, path: string, level: number, verified: AsyncIterable<Uint8Array>): Promise<boolean> {
  const source = await FileSource.open(path);
  try {
    const head = await source.read(entry.offset, Math.min(entry.byteLength, SEARCH_BYTES));
    const point = findRestartPoint(head, Math.min(SEARCH_DECODED_BYTES, entry.nbytes + WINDOW_BYTES));
    if (point === undefined) return false;
    const fresh = deflateRawSync(point.decoded.subarray(point.arrayStart), { level, finishFlush: constants.Z_FULL_FLUSH });
    if (fresh.length + entry.byteLength - point.resumeAt > storedBound(entry.nbytes)) return false;

    const payload = async function* () {
      yield fresh;
      for (let at = point.resumeAt; at < entry.byteLength; at += COPY_BYTES) yield await source.read(entry.offset + at, Math.min(COPY_BYTES, entry.byteLength - at));
    };
    const written = async function* () {
      for await (const piece of payload()) {
        await writeStored(writer, name, piece);
        yield piece;
      }
    };
    // The input is checked by the reader while the payload is copied and inflated.
    const [input, output] = await Promise.allSettled([crcOf(verified), crcOf(inflateStream(written(), entry.nbytes, name))]);
    if (input.status === "rejected") throw input.reason;
    if (output.status === "rejected") throw output.reason;
    if (input.value !== output.value) throw new NdpackError("CODEC_ERROR", `array "${name}": the copied deflate stream does not decode to the member's array (internal error)`, { array: name });
    await writeStored(writer, name, "end");
    return true;
  } finally {
    await source.close();
  }
}
