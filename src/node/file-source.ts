/**
 * The Node file driver of the lazy reader: a {@link ByteSource} over a file handle, with positioned
 * reads checked against the file's identity so that a file changed by another process is
 * FILE_CHANGED, never a mixture of old and new bytes.
 *
 * Each read (each batch of reads, {@link FileSource.readBatch}) compares the file's identity (size,
 * modification and status-change times in nanoseconds, inode; see {@link sameIdentity}) with what
 * it was at open, once the read is done:
 * any write since the open, before or during the read, has left a newer ctime (or another size)
 * by then, and nothing can set a ctime back, so a check before the read would see nothing that
 * this one misses (it cost one system call per read). A read that comes up short is FILE_CHANGED
 * too. What the clock cannot show (a rewrite within the file system's timestamp granularity that
 * keeps the size) the payload's CRC catches, which the reader checks by default.
 *
 * @module
 */
import { constants, fstatSync, read as readFd } from "node:fs";
import { open as openHandle, type FileHandle } from "node:fs/promises";
import { NdpackError } from "../errors.js";
import { crc32 } from "../crc32.js";
import { refuseIfAborted, type ByteSource, type CheckedBytes, type CheckedTail, type ReadRequestOptions } from "../io/source.js";
import type { ByteRange } from "../io/steps.js";
import { allocatePayload } from "../stream.js";
import { ioError, MAX_IO_BYTES } from "./io.js";
import { unzeroedBytes } from "../runtime.js";

/**
 * A large range is read in up to this many equal pieces at once, one per thread of libuv's pool
 * (4 by default), so that the checksum of the first pieces runs while the others are copied.
 */
const READ_PIECES = 4;
/** Smallest piece: below about 1 MiB a read's per-call overhead costs more than overlapping hides. */
const MIN_PIECE_BYTES = 1 << 20;
/**
 * Bytes read at a time for a CRC-32 ({@link FileSource.crc32}), as Python's `CRC_PIECE`: about a
 * core's L2 cache, so that a piece is still there when its CRC is computed.
 */
const CRC_PIECE_BYTES = 1 << 20;

/** What identifies one version of a file's contents. */
interface FileIdentity {
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly nlink: bigint;
}

function identityOf(stats: FileIdentity): FileIdentity {
  return { size: stats.size, mtimeNs: stats.mtimeNs, ctimeNs: stats.ctimeNs, ino: stats.ino, nlink: stats.nlink };
}

/**
 * The same contents: same size, modification time and inode, and the same status-change time
 * unless the link count changed. A file renamed over (as `save` replaces files) or unlinked keeps
 * its bytes, but its ctime moves when its last link goes: that is not a change of contents.
 */
function sameIdentity(now: FileIdentity, then: FileIdentity): boolean {
  return now.size === then.size && now.mtimeNs === then.mtimeNs && now.ino === then.ino && (now.ctimeNs === then.ctimeNs || now.nlink !== then.nlink);
}

/**
 * `read`, the read of one piece of a range, which is awaited only after the pieces before it: if
 * it fails first (a file truncated since its open ends the later pieces' reads at once), that is
 * no unhandled rejection meanwhile, which would end the Node process.
 */
function awaitedLater(read: Promise<void>): Promise<void> {
  read.catch(() => undefined);
  return read;
}

/** A {@link ByteSource} over a regular file, every read checked against the file as it was at open. */
export class FileSource implements ByteSource {
  readonly handle: FileHandle;
  readonly path: string;
  readonly #identity: FileIdentity;
  readonly #owned: boolean;
  /** Memory of the last {@link FileSource.crc32} to end, for the next one: {@link READ_PIECES} pieces. */
  #crcPieces: Uint8Array | undefined;
  /** Reads running: {@link close} waits for them (a caller that gave up on one, aborted, does not). */
  readonly #reads = new Set<Promise<unknown>>();

  private constructor(handle: FileHandle, path: string, identity: FileIdentity, owned: boolean) {
    this.handle = handle;
    this.path = path;
    this.#identity = identity;
    this.#owned = owned;
  }

  /**
   * Opens `path` for reading. It is opened with O_NONBLOCK and stat'ed before anything is read, so
   * that a FIFO, a socket or a device is refused (INVALID_ARGUMENT) instead of blocking.
   */
  static async open(path: string): Promise<FileSource> {
    let handle: FileHandle;
    try {
      handle = await openHandle(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (cause) {
      throw ioError("open", path, cause);
    }
    try {
      return FileSource.#checked(handle, path, true);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  /** A source over a handle the caller opened and keeps: closing the source leaves it open. */
  static fromHandle(handle: FileHandle, path = `file descriptor ${handle.fd}`): FileSource {
    return FileSource.#checked(handle, path, false);
  }

  static #checked(handle: FileHandle, path: string, owned: boolean): FileSource {
    let stats;
    try {
      stats = fstatSync(handle.fd, { bigint: true });
    } catch (cause) {
      throw ioError("stat", path, cause);
    }
    if (!stats.isFile()) {
      const kind = stats.isDirectory() ? "a directory" : stats.isFIFO() ? "a FIFO" : stats.isSocket() ? "a socket" : stats.isCharacterDevice() || stats.isBlockDevice() ? "a device" : "something else";
      throw new NdpackError("INVALID_ARGUMENT", `${path} is not a regular file (it is ${kind}); read pipes and sockets with decodeStream`, { path, field: "path" });
    }
    return new FileSource(handle, path, identityOf(stats), owned);
  }

  /** The file's size at open. */
  get size(): number {
    return Number(this.#identity.size);
  }

  /**
   * Compares the file's identity now with the one at open. A synchronous fstat: it reads the
   * inode the kernel holds, costs a microsecond, and saves two thread-pool round trips per read
   * (which, for a 4 MiB read from the page cache, cost more than the read).
   */
  #checkIdentity(): void {
    let now: FileIdentity;
    try {
      now = fstatSync(this.handle.fd, { bigint: true });
    } catch (cause) {
      throw ioError("stat", this.path, cause);
    }
    this.#checkSame(now);
  }

  /** FILE_CHANGED unless `now` is the identity this source's file had at open. */
  #checkSame(now: FileIdentity): void {
    if (!sameIdentity(now, this.#identity)) {
      const what = now.size !== this.#identity.size ? `its size went from ${this.#identity.size} to ${now.size} bytes` : "it was modified";
      throw new NdpackError("FILE_CHANGED", `${this.path} changed after it was opened (${what}); open it again`, { path: this.path, expected: Number(this.#identity.size), actual: Number(now.size) });
    }
  }

  /**
   * Opens this source's path again, for a reader that closed the handle to stay within a limit of
   * open files (a set's shards): FILE_CHANGED unless the path still names the same file, unchanged
   * since this source was opened (a removed file included: a set rewritten meanwhile removes its
   * old shards).
   */
  async reopen(): Promise<FileSource> {
    let again: FileSource;
    try {
      again = await FileSource.open(this.path);
    } catch (error) {
      if (((error as NdpackError).cause as NodeJS.ErrnoException | undefined)?.code !== "ENOENT") throw error;
      throw new NdpackError("FILE_CHANGED", `${this.path} changed after it was opened (it was removed); open it again`, { path: this.path, cause: error });
    }
    try {
      this.#checkSame(again.#identity);
    } catch (error) {
      await again.close();
      throw error;
    }
    return again;
  }

  /**
   * Fills `target` from file offset `position` with positioned reads; FILE_CHANGED when the file
   * ends first. Reads go through `fs.read` on the handle's descriptor, which costs the main thread
   * less per call than `FileHandle.read` (256 reads of a .npz's member heads: ~1.7 ms instead of ~2.8).
   * The handle is never closed under a read: {@link close} waits for the reads running, and a
   * caller's handle closed (and its descriptor reused) meanwhile fails the identity check.
   */
  async #fill(target: Uint8Array, position: number): Promise<void> {
    let done = 0;
    try {
      while (done < target.length) {
        const bytesRead = await new Promise<number>((resolve, reject) => readFd(this.handle.fd, target, done, Math.min(target.length - done, MAX_IO_BYTES), position + done, (error, n) => (error ? reject(error) : resolve(n))));
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (cause) {
      throw ioError("read", this.path, cause);
    }
    if (done < target.length) {
      throw new NdpackError("FILE_CHANGED", `${this.path} changed after it was opened (it ended at byte ${position + done}); open it again`, { path: this.path, expected: this.size, actual: position + done });
    }
  }

  /**
   * Fills `target` from file offset `position`, then checks the file against its identity at open. A large range
   * is read in up to {@link READ_PIECES} pieces at once on the thread pool; `landed` is called
   * with each piece in order, as soon as it and those before it are in (where a checksum runs
   * while the later pieces are still being copied).
   */
  readInto(target: Uint8Array, position: number, landed?: (piece: Uint8Array, at: number) => void): Promise<void> {
    return this.#running(this.#readInto(target, position, landed));
  }

  /** `read`, counted among the reads that {@link close} waits for. */
  #running<T>(read: Promise<T>): Promise<T> {
    this.#reads.add(read);
    const done = () => this.#reads.delete(read);
    read.then(done, done);
    return read;
  }

  async #readInto(target: Uint8Array, position: number, landed?: (piece: Uint8Array, at: number) => void): Promise<void> {
    const count = Math.max(1, Math.min(READ_PIECES, Math.floor(target.length / MIN_PIECE_BYTES)));
    // Equal pieces, whole pages (the last one takes the rest).
    const pieceBytes = Math.ceil(target.length / count / 4096) * 4096;
    const pieces: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const at = i * pieceBytes;
      pieces.push(awaitedLater(this.#fill(target.subarray(at, i === count - 1 ? target.length : at + pieceBytes), position + at)));
    }
    try {
      for (let i = 0; i < count; i++) {
        await pieces[i];
        const at = i * pieceBytes;
        landed?.(target.subarray(at, i === count - 1 ? target.length : at + pieceBytes), at);
      }
    } catch (error) {
      // No read may still be writing into memory handed back to the caller.
      await Promise.allSettled(pieces);
      throw error;
    }
    this.#checkIdentity();
  }

  async read(offset: number, length: number, options?: ReadRequestOptions): Promise<Uint8Array> {
    // A local read is not interruptible once started; a cancelled caller is refused before it.
    refuseIfAborted(options?.signal);
    const bytes = this.#allocate(offset, length);
    await this.readInto(bytes, offset);
    return bytes;
  }

  /**
   * Every range read at once (the thread pool takes them as its threads come free), into one
   * allocation, then one identity check: the check after the last read has ended sees any write
   * made before or during any of the reads (a newer ctime or another size, as for one read), so
   * one check for the batch is as sound as one per read, and costs one system call instead of one
   * per range (a .npz of many members is opened with one small read per member).
   */
  async readBatch(ranges: readonly ByteRange[], options?: ReadRequestOptions): Promise<Uint8Array[]> {
    refuseIfAborted(options?.signal);
    return this.#running(this.#readBatch(ranges));
  }

  async #readBatch(ranges: readonly ByteRange[]): Promise<Uint8Array[]> {
    // Loops, not arrows made per call (io/steps.ts byOffset says why).
    let total = 0;
    for (const { offset, length } of ranges) total += Math.max(0, Math.min(length, this.size - offset));
    const memory = allocatePayload(`(${ranges.length} ranges of ${this.path})`, total, unzeroedBytes);
    const targets: Uint8Array[] = [];
    const fills: Promise<void>[] = [];
    for (let i = 0, at = 0; i < ranges.length; i++) {
      const { offset, length } = ranges[i]!;
      const target = memory.subarray(at, (at += Math.max(0, Math.min(length, this.size - offset))));
      targets.push(target);
      fills.push(this.#fill(target, offset));
    }
    try {
      await Promise.all(fills);
    } catch (error) {
      // No read may still be writing into memory handed back to the caller.
      await Promise.allSettled(fills);
      throw error;
    }
    this.#checkIdentity();
    return targets;
  }

  /** {@link read}, with the CRC-32 of the first `crcLength` bytes computed piece by piece as they land. */
  async readWithCrc32(offset: number, length: number, crcLength: number, options?: ReadRequestOptions): Promise<CheckedBytes> {
    refuseIfAborted(options?.signal);
    const bytes = this.#allocate(offset, length);
    let crc = 0;
    await this.readInto(bytes, offset, (piece, at) => {
      if (at < crcLength) crc = crc32(piece.subarray(0, crcLength - at), crc);
    });
    return { bytes, crc };
  }

  /**
   * The CRC-32 of the range's first `crcLength` bytes and the bytes after them
   * ({@link ByteSource.crc32}), read {@link CRC_PIECE_BYTES} at a time into memory this source
   * reuses, since the checked bytes are not handed out: fresh memory for them, mapped and zeroed by
   * the kernel page by page, then read back from RAM, costs about as much again as the read and the
   * CRC together. Up to {@link READ_PIECES} pieces are read at once on the thread pool while the
   * CRC runs over the oldest. Each call holds memory of its own while it runs (two checks at once,
   * whose reads interleave, must not share it); the memory of the last to end is kept for the
   * next. The file is checked as by {@link read}: FILE_CHANGED when it ends first or changed once
   * the last piece is in. An abort stops it between pieces.
   */
  async crc32(offset: number, length: number, crcLength: number, options?: ReadRequestOptions): Promise<CheckedTail> {
    refuseIfAborted(options?.signal);
    return this.#running(this.#crc32(offset, length, crcLength, options));
  }

  async #crc32(offset: number, length: number, crcLength: number, options?: ReadRequestOptions): Promise<CheckedTail> {
    // As `read`: fewer bytes past the end of the file as opened.
    length = Math.max(0, Math.min(length, this.size - offset));
    const tail = this.#allocate(offset + crcLength, length - crcLength);
    // No more than the range needs: a small file's check costs its size, not READ_PIECES pieces.
    const needed = Math.min(READ_PIECES * CRC_PIECE_BYTES, length);
    const memory = this.#crcPieces !== undefined && this.#crcPieces.length >= needed ? this.#crcPieces : unzeroedBytes(needed);
    this.#crcPieces = undefined;
    const count = Math.ceil(length / CRC_PIECE_BYTES);
    // Piece i of the range, in slot i % READ_PIECES of the memory.
    const piece = (i: number) => memory.subarray((i % READ_PIECES) * CRC_PIECE_BYTES).subarray(0, Math.min(CRC_PIECE_BYTES, length - i * CRC_PIECE_BYTES));
    const reads: Promise<void>[] = [];
    const start = (i: number) => {
      if (i >= count) return;
      reads[i] = awaitedLater(this.#fill(piece(i), offset + i * CRC_PIECE_BYTES));
    };
    let crc = 0;
    try {
      for (let i = 0; i < READ_PIECES; i++) start(i);
      for (let i = 0; i < count; i++) {
        await reads[i];
        const bytes = piece(i);
        const checked = Math.max(0, Math.min(bytes.length, crcLength - i * CRC_PIECE_BYTES));
        crc = crc32(bytes.subarray(0, checked), crc);
        tail.set(bytes.subarray(checked), Math.max(0, i * CRC_PIECE_BYTES - crcLength));
        refuseIfAborted(options?.signal);
        start(i + READ_PIECES);
      }
    } finally {
      // No read may still be writing into memory that the next call takes.
      await Promise.allSettled(reads);
      this.#crcPieces = memory;
    }
    this.#checkIdentity();
    return { crc, tail };
  }

  /**
   * Memory for a read of `length` bytes at `offset`, not zeroed first: {@link readInto} fills all
   * of it or throws (a short read is FILE_CHANGED), so no byte of what was there before is ever
   * handed out.
   */
  #allocate(offset: number, length: number): Uint8Array {
    return allocatePayload(`(bytes ${offset} to ${offset + length} of ${this.path})`, Math.max(0, Math.min(length, this.size - offset)), unzeroedBytes);
  }

  /** Closes the handle (one this source opened) once the reads running have ended: a read aborted by its caller still runs to its end, on the handle. */
  async close(): Promise<void> {
    await Promise.allSettled(this.#reads);
    if (this.#owned) await this.handle.close().catch(() => undefined);
  }
}
