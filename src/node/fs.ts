/**
 * ndpack files in Node: {@link save} (atomic, written straight from the caller's arrays),
 * {@link load} (the whole file into aligned memory, zero-copy views) and {@link open}, a lazy
 * reader that reads the header once and then only the bytes of the arrays (or rows) asked for.
 *
 * @example
 * ```ts
 * import { open, save } from "ndpack/node";
 *
 * await save("model.ndp", { "layer.0.weight": { data: weights, shape: [4096, 4096] } });
 *
 * await using reader = await open("model.ndp");
 * const first = await reader.readRows("layer.0.weight", 0, 16); // 16 rows, one positioned read
 * ```
 *
 * @module
 */
import type { FileHandle } from "node:fs/promises";
import { open as openHandle } from "node:fs/promises";
import { checkPayloadCrc, decode, FileContents, type DecodeOptions, type NdArray, type NdpackContents, type NdpackFile } from "../decode.js";
import { planEncoding, planSegments, type ArraysInput, type EncodeOptions } from "../encode.js";
import { NdpackError } from "../errors.js";
import { alignUp, PREAMBLE_SIZE, type ReadLimits } from "../format.js";
import { checkFileLength, checkHeaderPadding, checkZeroPadding, readHeader, readPreamble, resolveLimits, type EntryLayout, type FileLayout } from "../header.js";
import { allocatePayload, arrayFromOwnedBytes } from "../stream.js";
import { AtomicFile, FileSink, ioError, MAX_IO_BYTES, toPath, type PathLike, type TargetOptions } from "./io.js";

export type { PathLike, TargetOptions } from "./io.js";

/** Options of {@link save}. */
export interface SaveOptions extends EncodeOptions, TargetOptions {
  /**
   * Flush the file and its directory to the disk before returning (default `true`), so that a
   * power loss after `save` resolves keeps the new file. `false` is faster; the replacement stays
   * atomic for other processes and for crashes of this one.
   */
  readonly fsync?: boolean;
}

function booleanOption(value: unknown, fallback: boolean, field: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw new NdpackError("INVALID_ARGUMENT", `${field} must be a boolean, got ${String(value)}`, { field });
  return value;
}

/**
 * Saves named arrays as an ndpack file, atomically: the bytes go to a temporary file in the same
 * directory (`.<name>.<random>.tmp`), which is fsynced and renamed over `path`, and then the
 * directory is fsynced. At no moment does `path` hold a partial file: it is the old file until the
 * rename, the complete new one after. On failure the temporary file is removed and `path` is left
 * as it was. A process killed mid-save can leave its temporary file behind, never a damaged target.
 *
 * Payloads are written with vectored writes straight from the caller's arrays (keep them unchanged
 * until the promise resolves); memory used is the header plus a small constant (plus the
 * compressed payloads, when a codec is asked for). Runs of 64 MiB of zeros are left as holes in
 * the new file.
 *
 * Where it writes, as GNU tar and curl do: `path` must be a regular file or absent. A symbolic link
 * at `path` is refused unless `followSymlinks: true` (then the regular file it points to is
 * replaced); a directory, device, FIFO or socket is always refused. A replaced file's permission
 * bits (0o777) are kept, never its set-user-id, set-group-id or sticky bits; a new file gets what
 * `fs.writeFile` would give it (0o666 less the umask).
 *
 * Errors: argument errors as `encode` throws them, before any file is touched; NOT_REGULAR_FILE for
 * a path it may not replace (see above); IO_ERROR with the OS error (ENOENT, EACCES, ENOSPC, EFBIG,
 * ...) as `cause`.
 *
 * @example
 * ```ts
 * await save("frame.ndp", { image: { data: pixels, shape: [480, 640, 3] } }, { metadata: { camera: 2 } });
 * ```
 */
export async function save(path: PathLike, arrays: ArraysInput, options: SaveOptions = {}): Promise<void> {
  const target = toPath(path);
  const durable = booleanOption(options.fsync, true, "fsync");
  const plan = planEncoding(arrays, options);
  // Byte-swapped payloads come out of planSegments as fresh 1 MiB copies: write those one at a
  // time so they do not pile up. Everything else views memory that stays put until we return.
  const stable = !plan.records.some((record) => record.swap);
  const file = await AtomicFile.create(target, options);
  try {
    const sink = new FileSink(file.handle);
    for (const piece of planSegments(plan)) await sink.write(piece, stable);
    await sink.finish();
  } catch (cause) {
    await file.discard();
    throw ioError("write", file.tempPath, cause);
  }
  await file.commit(durable);
}

/** Bytes read first when opening a file: the preamble and, usually, the whole header. */
const FIRST_READ_BYTES = 4096;

/**
 * An open file and what its header says, with every read checked against the file's size and
 * modification time at open: a file that changed under us is FILE_CHANGED, never wrong bytes.
 */
class CheckedFile {
  readonly handle: FileHandle;
  readonly path: string;
  readonly #size: bigint;
  readonly #mtimeNs: bigint;
  bytesRead = 0;

  private constructor(handle: FileHandle, path: string, size: bigint, mtimeNs: bigint) {
    this.handle = handle;
    this.path = path;
    this.#size = size;
    this.#mtimeNs = mtimeNs;
  }

  static async open(path: string): Promise<CheckedFile> {
    let handle: FileHandle;
    try {
      handle = await openHandle(path, "r");
    } catch (cause) {
      throw ioError("open", path, cause);
    }
    try {
      const stats = await handle.stat({ bigint: true });
      if (!stats.isFile()) {
        throw new NdpackError("INVALID_ARGUMENT", `${path} is not a regular file; read pipes and sockets with decodeStream`, { path, field: "path" });
      }
      return new CheckedFile(handle, path, stats.size, stats.mtimeNs);
    } catch (cause) {
      await handle.close().catch(() => undefined);
      throw ioError("stat", path, cause);
    }
  }

  /** The file's size at open. */
  get size(): number {
    return Number(this.#size);
  }

  /**
   * Fills `pieces`, back to back, from file offset `position`, with as few readv calls as the
   * 2 GiB per-call limit allows, and checks that every byte came (a short read is a file that
   * shrank). With `stat` (the default), also checks that the file's size and modification time are
   * those it had at open; that stat runs alongside the reads, so it costs no extra round trip.
   */
  async read(pieces: readonly Uint8Array[], position: number, stat = true): Promise<void> {
    const expected = pieces.reduce((sum, piece) => sum + piece.length, 0);
    const stats = stat ? this.handle.stat({ bigint: true }) : undefined;
    stats?.catch(() => undefined); // awaited below; a rejection must not go unhandled meanwhile
    let queue: Uint8Array[] = [];
    for (const piece of pieces) for (let at = 0; at < piece.length; at += MAX_IO_BYTES) queue.push(piece.subarray(at, Math.min(at + MAX_IO_BYTES, piece.length)));
    let done = 0;
    try {
      while (queue.length > 0) {
        let batchBytes = 0;
        let count = 0;
        while (count < queue.length && count < 1024 && batchBytes + queue[count]!.length <= MAX_IO_BYTES) batchBytes += queue[count++]!.length;
        const { bytesRead } = await this.handle.readv(queue.slice(0, Math.max(count, 1)), position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
        this.bytesRead += bytesRead;
        let left = bytesRead;
        let index = 0;
        while (index < queue.length && left >= queue[index]!.length) left -= queue[index++]!.length;
        queue = index < queue.length ? [queue[index]!.subarray(left), ...queue.slice(index + 1)] : [];
      }
    } catch (cause) {
      throw ioError("read", this.path, cause);
    }
    await this.#checkUnchanged(done, expected, position, stats);
  }

  async #checkUnchanged(done: number, expected: number, position: number, stats: Promise<{ size: bigint; mtimeNs: bigint }> | undefined): Promise<void> {
    let size = this.#size;
    let mtimeNs = this.#mtimeNs;
    try {
      if (stats) ({ size, mtimeNs } = await stats);
    } catch (cause) {
      throw ioError("stat", this.path, cause);
    }
    if (size !== this.#size || mtimeNs !== this.#mtimeNs || done < expected) {
      const what = size !== this.#size ? `its size went from ${this.#size} to ${size} bytes` : done < expected ? `it ended at byte ${position + done}` : "it was modified";
      throw new NdpackError("FILE_CHANGED", `${this.path} changed after it was opened (${what}); open it again`, { path: this.path, expected: Number(this.#size), actual: Number(size) });
    }
  }

  /**
   * FORMAT.md §9 steps 1–21, reading only the preamble, the header and the padding after it: one
   * read of the first page, and one more for a header that does not fit in it (which also takes
   * the padding up to the next page, where the data section starts unless the alignment is larger).
   * The file was stat'ed at open just before, so these reads check only that every byte came.
   */
  async readLayout(limits: ReadLimits): Promise<FileLayout> {
    const size = this.size;
    let head: Uint8Array = new Uint8Array(Math.min(size, FIRST_READ_BYTES));
    await this.read([head], 0, false);
    const preamble = readPreamble(head, size, limits);
    const headerEnd = PREAMBLE_SIZE + preamble.headerLength;
    head = await this.#extend(head, head.length >= headerEnd ? headerEnd : Math.min(size, alignUp(headerEnd, FIRST_READ_BYTES)));
    const layout = readHeader(head, preamble, limits);
    checkFileLength(layout, size);
    head = await this.#extend(head, layout.dataStart);
    checkHeaderPadding(head, layout);
    return layout;
  }

  /** `head` (the file's first bytes) grown to at least `length` bytes. */
  async #extend(head: Uint8Array, length: number): Promise<Uint8Array> {
    if (head.length >= length) return head;
    const longer = new Uint8Array(length);
    longer.set(head);
    await this.read([longer.subarray(head.length)], head.length, false);
    return longer;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/**
 * Reads a whole ndpack file into memory aligned for every dtype and decodes it: the same
 * {@link NdpackFile} as `decode`, whose arrays are zero-copy views of that memory. The header is
 * read and checked first (FORMAT.md §9 steps 1–21), so a file that is not ndpack, or is truncated,
 * fails before its size is allocated. Options are those of `decode` (`verify`, `copy`, limits).
 *
 * Errors: the format errors of `decode`; IO_ERROR with the OS error as `cause`; FILE_CHANGED when
 * the file changes while it is read; LIMIT_EXCEEDED when the file is larger than one typed array
 * can be in this runtime (use {@link open} for such files).
 *
 * @example
 * ```ts
 * const file = await load("frame.ndp", { verify: true });
 * const image = file.get("image").data; // Uint8Array viewing the loaded memory
 * ```
 */
export async function load(path: PathLike, options: DecodeOptions = {}): Promise<NdpackFile> {
  const target = toPath(path);
  const limits = resolveLimits(options);
  if (options.copy !== undefined && !["auto", "never", "always"].includes(options.copy)) {
    throw new NdpackError("INVALID_ARGUMENT", `copy must be "auto", "never" or "always", got ${JSON.stringify(options.copy)}`, { field: "copy" });
  }
  const file = await CheckedFile.open(target);
  try {
    // The preamble's checks (magic, version, header cap) run before the file's size is allocated;
    // the rest of §9 runs once, in decode, over the whole file.
    const preamble = new Uint8Array(Math.min(file.size, PREAMBLE_SIZE));
    await file.read([preamble], 0, false);
    readPreamble(preamble, file.size, limits);
    let bytes: Uint8Array;
    try {
      bytes = allocatePayload("(whole file)", file.size);
    } catch (cause) {
      throw new NdpackError("LIMIT_EXCEEDED", `${target} is ${file.size} bytes, more than this runtime can hold in one typed array; read its arrays with open()`, { path: target, actual: file.size, cause });
    }
    await file.read([bytes], 0);
    return decode(bytes, options);
  } finally {
    await file.close();
  }
}

/** Options of {@link open}: the reader limits of FORMAT.md §7. */
export interface OpenOptions extends Partial<ReadLimits> {}

/** Options of {@link NdpackReader.read}. */
export interface ReadOptions {
  /**
   * Check the array's CRC and the padding after it (FORMAT.md §9 step 22). The check reads the
   * CRC and padding in the same positioned read as the payload. Default `false`.
   */
  readonly verify?: boolean;
}

/**
 * A lazily read ndpack file: the header is in memory, payloads are read on request with positioned
 * reads into fresh memory that the caller owns (aligned for every dtype). Close it when done, or
 * use `await using`.
 *
 * Each read checks that the file still has the size and modification time it had at open, and
 * that the read got every byte; otherwise it throws FILE_CHANGED. A file replaced by rename (as
 * {@link save} does) is not a change: the reader keeps reading the file it opened. A change that
 * keeps the size and restores the modification time cannot be seen that way; `verify: true`
 * catches it through the CRC.
 */
export interface NdpackReader extends NdpackContents, AsyncDisposable {
  /** The path given to {@link open}. */
  readonly path: string;
  /** Length of the file in bytes. */
  readonly byteLength: number;
  /** Bytes read from the file so far, header included (for measuring what a read costs). */
  readonly bytesRead: number;
  /** True once {@link close} has been called. */
  readonly closed: boolean;
  /**
   * Reads one array with one positioned read of exactly its stored bytes (plus its CRC and padding
   * when verifying) into fresh memory of its own (`copied: true`). Compressed arrays are decompressed (within `maxDecodedBytes`);
   * other byte orders are swapped in place. Throws NOT_FOUND, CLOSED, FILE_CHANGED, IO_ERROR,
   * CHECKSUM and BAD_PADDING (when verifying), LIMIT_EXCEEDED (larger than one typed array).
   */
  read(name: string, options?: ReadOptions): Promise<NdArray>;
  /**
   * Reads rows `start` (included) to `end` (excluded) along the first axis of a C-order array,
   * with one positioned read of exactly those bytes (safetensors' `get_slice`): the way to read
   * arrays larger than one typed array can be. The result has shape `[end - start, ...rest]`.
   * 1-D arrays may be F-order (their bytes are the same). Compressed arrays are refused: their rows
   * cannot be found without decompressing everything before them; use {@link read}. Rows are not
   * checked against the CRC, which covers the whole payload.
   * Throws INVALID_ARGUMENT (F-order, compressed, 0-d, rows out of range), NOT_FOUND, CLOSED,
   * FILE_CHANGED, IO_ERROR.
   */
  readRows(name: string, start: number, end: number): Promise<NdArray>;
  /** Closes the file once the reads in flight have finished; later reads throw CLOSED. Calling it again does nothing. */
  close(): Promise<void>;
}

class FileReader extends FileContents implements NdpackReader {
  readonly #file: CheckedFile;
  readonly #limits: ReadLimits;
  #closed = false;
  /** Reads in flight: `close` lets them finish before it closes the file. */
  readonly #pending = new Set<Promise<unknown>>();
  readonly path: string;

  constructor(file: CheckedFile, path: string, layout: FileLayout, limits: ReadLimits) {
    super(layout, path);
    this.#file = file;
    this.#limits = limits;
    this.path = path;
  }

  get byteLength() {
    return this.layout.fileLength;
  }
  get bytesRead() {
    return this.#file.bytesRead;
  }
  get closed() {
    return this.#closed;
  }

  /** Runs one read, tracked so that `close` waits for it. */
  #track<T>(run: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new NdpackError("CLOSED", `the reader of ${this.path} is closed`, { path: this.path }));
    const promise = run();
    this.#pending.add(promise);
    const done = () => this.#pending.delete(promise);
    promise.then(done, done);
    return promise;
  }

  read(name: string, options: ReadOptions = {}): Promise<NdArray> {
    return this.#track(() => this.#read(name, options));
  }

  async #read(name: string, options: ReadOptions): Promise<NdArray> {
    const verify = booleanOption(options.verify, false, "verify");
    const entry = this.entry(name);
    const payload = allocatePayload(name, entry.byteLength);
    const end = entry.start + entry.byteLength;
    if (!verify) {
      await this.#file.read([payload], entry.start);
      return arrayFromOwnedBytes(entry, payload, this.#limits);
    }
    // The CRC and the padding up to the next record come in the same read as the payload.
    const { checksumSize, entries, fileLength } = this.layout;
    const tail = new Uint8Array((entries[entry.index + 1]?.start ?? fileLength) - end);
    await this.#file.read([payload, tail], entry.start);
    if (checksumSize > 0) checkPayloadCrc(entry, payload, new DataView(tail.buffer).getUint32(0, true), end);
    checkZeroPadding(tail, checksumSize, tail.length, end, entry.name);
    return arrayFromOwnedBytes(entry, payload, this.#limits);
  }

  readRows(name: string, start: number, end: number): Promise<NdArray> {
    return this.#track(() => this.#readRows(name, start, end));
  }

  async #readRows(name: string, start: number, end: number): Promise<NdArray> {
    const entry = this.entry(name);
    const { shape } = entry;
    const refuse = (why: string, field = "name") => new NdpackError("INVALID_ARGUMENT", `readRows("${name}"): ${why}`, { array: name, field });
    if (entry.codec !== "none") throw refuse(`the array is stored with codec ${entry.codec}, so its rows cannot be read without decompressing it whole; use read()`);
    if (shape.length === 0) throw refuse("the array is 0-d: it has no rows; use read()");
    if (entry.order === "F" && shape.length > 1) throw refuse("the array is in F order, so its rows are not contiguous; use read()");
    const rows = shape[0]!;
    for (const [field, value] of [["start", start], ["end", end]] as const) {
      if (!Number.isSafeInteger(value) || value < 0 || value > rows) {
        throw new NdpackError("INVALID_ARGUMENT", `readRows("${name}"): ${field} must be an integer from 0 to ${rows} (the array has ${rows} rows), got ${String(value)}`, { array: name, field, expected: rows, actual: String(value) });
      }
    }
    if (end < start) throw new NdpackError("INVALID_ARGUMENT", `readRows("${name}"): end (${end}) is before start (${start})`, { array: name, field: "end", expected: start, actual: end });
    const rowBytes = rows === 0 ? 0 : entry.nbytes / rows;
    const byteLength = (end - start) * rowBytes;
    const part: EntryLayout = {
      ...entry,
      shape: [end - start, ...shape.slice(1)],
      start: entry.start + start * rowBytes,
      byteLength,
      count: byteLength / entry.dtype.itemSize,
      nbytes: byteLength,
    };
    const bytes = allocatePayload(name, byteLength);
    await this.#file.read([bytes], part.start);
    return arrayFromOwnedBytes(part, bytes, this.#limits);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled(this.#pending);
    await this.#file.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Opens an ndpack file for lazy reading: checks the preamble, the header and the padding after it
 * (FORMAT.md §9 steps 1–21) and the file's size, then reads arrays on request. The first read is
 * of the first 4 KiB, which holds the whole header of most files; a longer header costs one more
 * read. A 100 GiB file opens as fast as a small one. `names`, `metadata` and `info` need no I/O.
 *
 * Errors: the format errors of `decode` (steps 1–21), IO_ERROR with the OS error as `cause`,
 * INVALID_ARGUMENT for a path that is not a regular file.
 *
 * @example
 * ```ts
 * await using reader = await open("checkpoint.ndp");
 * const bias = await reader.read("layer.3.bias", { verify: true });
 * console.log(reader.bytesRead); // header + that array
 * ```
 */
export async function open(path: PathLike, options: OpenOptions = {}): Promise<NdpackReader> {
  const target = toPath(path);
  const limits = resolveLimits(options);
  const file = await CheckedFile.open(target);
  try {
    return new FileReader(file, target, await file.readLayout(limits), limits);
  } catch (error) {
    await file.close();
    throw error;
  }
}
