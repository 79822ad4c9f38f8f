/**
 * Raw DEFLATE of data too large to compress at once (Node's writer, the command line), on every
 * core. The input is cut into pieces of {@link PIECE_BYTES}; each piece is compressed on its own by
 * Node's zlib on libuv's thread pool, several at a time, and the outputs are joined in order. Every
 * piece but the last ends with a full flush (`Z_FULL_FLUSH`: its last block ends, an empty stored
 * block aligns the output to a byte, and nothing after it refers back), the last one with
 * `Z_FINISH`, which marks the final block. The joined bytes are therefore ONE raw DEFLATE stream
 * (RFC 1951 §3.2.3: a sequence of blocks, the last one final), which every inflater reads as it
 * reads any other; FORMAT.md §5 asks exactly that of a payload (pigz writes its streams the same
 * way). The price: no match reaches back across a piece boundary (a piece starts with an empty
 * window), and each boundary costs an empty stored block of 5 bytes.
 *
 * @module
 */
import { availableParallelism } from "node:os";
import { constants, deflateRaw } from "node:zlib";
import type { StreamCodec } from "../codecs.js";

/**
 * Uncompressed bytes per piece. Large enough that the restarted window and the 5-byte boundary
 * cost next to nothing (measured: under 0.1% of the stored size at level 6), small enough that
 * the pieces in flight stay a few MiB and the last piece of an array, which compresses alone,
 * is short.
 */
export const PIECE_BYTES = 4 << 20;

/**
 * Pieces compressed at once: one per core, leaving one of libuv's threads (4 unless
 * UV_THREADPOOL_SIZE says otherwise) free for the file reads, writes and the inflating that feed
 * and drain them.
 */
function piecesInFlight(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(availableParallelism(), pool - 1));
}

/** zlib's `deflateBound` for raw DEFLATE, plus the 5 bytes of a full flush: one output buffer always holds a piece. */
function outputBound(size: number): number {
  return size + (size >>> 12) + (size >>> 14) + (size >>> 25) + 7 + 5;
}

/** One piece being compressed: its output once done. */
interface Job {
  readonly done: Promise<Uint8Array>;
  output?: Uint8Array;
}

/**
 * A {@link StreamCodec} compressing at `level` (0 to 9) with Node's zlib, in pieces compressed on
 * several cores at once (see the module notes). `push` copies the bytes it is given (the caller may
 * reuse them once it resolves) and waits only while every core is busy; each call returns the
 * compressed bytes ready so far, in order.
 */
export function createDeflater(level: number): StreamCodec {
  const limit = piecesInFlight();
  const jobs: Job[] = [];
  let piece = new Uint8Array(PIECE_BYTES);
  let filled = 0;
  let consumed = 0;

  const start = (bytes: Uint8Array, last: boolean) => {
    const finishFlush = last ? constants.Z_FINISH : constants.Z_FULL_FLUSH;
    const job: Job = {
      // One output buffer of the bound's size: zlib then compresses the piece in one go on its thread,
      // instead of coming back to this thread every 16 KiB (its default chunk) for another buffer.
      done: new Promise<Uint8Array>((resolve, reject) => deflateRaw(bytes, { level, finishFlush, chunkSize: Math.max(outputBound(bytes.length), 64) }, (error, out) => (error ? reject(error) : resolve(out)))),
    };
    job.done.then(
      (out) => (job.output = out),
      () => undefined,
    );
    jobs.push(job);
  };

  /** The outputs at the head of the queue: those done, after waiting for the oldest while more than `keep` are pending. */
  const collect = async (keep: number): Promise<Uint8Array[]> => {
    const out: Uint8Array[] = [];
    while (jobs.length > 0 && (jobs.length > keep || jobs[0]!.output !== undefined)) {
      out.push(await jobs[0]!.done);
      jobs.shift();
    }
    return out;
  };

  return {
    async push(bytes) {
      consumed += bytes.length;
      for (let at = 0; at < bytes.length; ) {
        // A full piece is sent only when more bytes follow it: the last piece must end the stream.
        if (filled === PIECE_BYTES) {
          start(piece, false);
          piece = new Uint8Array(PIECE_BYTES);
          filled = 0;
        }
        const n = Math.min(bytes.length - at, PIECE_BYTES - filled);
        piece.set(bytes.subarray(at, at + n), filled);
        filled += n;
        at += n;
      }
      return collect(limit);
    },
    async end() {
      start(piece.subarray(0, filled), true);
      return collect(0);
    },
    close() {
      // Pieces in flight finish on their threads; their outputs are dropped.
      jobs.length = 0;
    },
    consumed: () => consumed,
  };
}
