/**
 * {@link createWriter}: ndpack files written array by array, chunk by chunk, for data that does
 * not fit in memory. Every array is declared first, so the header can be written before any
 * payload; then the bytes of each array arrive in order, in chunks of any size, and the writer
 * computes each CRC as they pass, pads, checks byte counts and finishes the file.
 *
 * @example
 * ```ts
 * import { createWriter } from "ndpack/node";
 *
 * const writer = await createWriter("big.ndp", [
 *   { name: "frames", dtype: "uint8", shape: [100_000, 480, 640] },
 *   { name: "times", dtype: "float64", shape: [100_000] },
 * ]);
 * for await (const frame of camera()) await writer.write("frames", frame); // 307200 bytes each
 * await writer.write("times", times);
 * await writer.close(); // checks every array is complete, then renames the file into place
 * ```
 *
 * @module
 */
import type { FileHandle } from "node:fs/promises";
import { copySwapped } from "../bytes.js";
import type { StreamCodec } from "../codecs.js";
import { crc32 } from "../crc32.js";
import { typedArrayTag } from "../dtypes.js";
import { checkElementBytes, ENCODE_OPTIONS, type EncodeOptions } from "../encode.js";
import { checkOptionNames, NdpackError, notFoundError, withPath } from "../errors.js";
import { declareArrays, headFor, storedBound, type DeclaredArray, type DeclaredFile, type WriterEntry } from "../formats/ndpack-write.js";
import { PREAMBLE_SIZE } from "../format.js";
import { dataSectionStart, nextRecordOffset, placeRecords } from "../layout.js";
import { createDeflater } from "./deflate.js";
import { AtomicFile, FileSink, ioError, toPath, writeAt, type PathLike, type TargetOptions } from "./io.js";
import { ScratchFile, ShuffleSpool } from "./shuffle-spool.js";

export type { WriterEntry } from "../formats/ndpack-write.js";

/** Options of {@link createWriter}: those of `encode`, plus `fsync` and `followSymlinks` for path targets. */
export interface WriterOptions extends EncodeOptions, TargetOptions {
  /** For a path target: flush the file and its directory to the disk on `close` (default `true`); see `save`. */
  readonly fsync?: boolean;
}

/** Where {@link createWriter} writes: a file path (written atomically), a Node writable stream (a socket, an HTTP response...) or a Web `WritableStream`. */
export type WriterTarget = PathLike | NodeJS.WritableStream | WritableStream<Uint8Array>;

/**
 * Receives the bytes of the declared arrays, in declaration order. Calls are queued, so they may
 * be issued without waiting, but each chunk's memory may be reused only once its `write` resolved.
 *
 * Any error (a wrong byte count, an I/O error) aborts the writer: a path target's temporary file
 * is removed and the path left untouched, a stream target is destroyed (Node) or aborted (Web);
 * every later call rejects with the same error.
 */
export interface NdpackWriter extends AsyncDisposable {
  /** The declared names, in file order. */
  readonly names: readonly string[];
  /** The array the next bytes belong to (the first one not complete), or `undefined` when all are. */
  readonly current: string | undefined;
  /** Bytes of the file produced so far (header, payloads, checksums, padding). */
  readonly bytesWritten: number;
  /** The file's final length when it is known in advance (no codec), else `undefined`. */
  readonly byteLength: number | undefined;
  /**
   * Appends `chunk` (any ArrayBufferView: a typed array of the array's dtype, or raw bytes as a
   * Uint8Array or DataView, in this machine's byte order) to the array `name`, which must be
   * {@link current}. WRITE_SIZE when the array would get more bytes than its shape holds, or when
   * an earlier array is still incomplete; NOT_FOUND for an undeclared name; INVALID_ARGUMENT for a
   * chunk that is not bytes or a typed array of another dtype.
   */
  write(name: string, chunk: ArrayBufferView): Promise<void>;
  /** Writes every chunk of `chunks` (for example rows from a generator) with {@link write}. */
  writeAll(name: string, chunks: Iterable<ArrayBufferView> | AsyncIterable<ArrayBufferView>): Promise<void>;
  /**
   * Finishes the file: WRITE_SIZE unless every array got all its bytes; then, for a path, fsync
   * and rename into place; for a stream, end it. Calling it again after success does nothing.
   */
  close(): Promise<void>;
  /** Abandons the file: a path target is left untouched, a stream is destroyed or aborted. */
  abort(reason?: unknown): Promise<void>;
  /** `abort()` unless {@link close} succeeded: leaving an `await using` block without `close()` writes nothing. */
  [Symbol.asyncDispose](): Promise<void>;
}


/** The destination of the bytes, in order. */
interface Output {
  /** Bytes produced so far: the file offset of the next byte. */
  readonly position: number;
  /** Appends `piece`; its memory may be reused once this resolves. */
  write(piece: Uint8Array): Promise<void>;
  /** Makes bytes written so far visible to the reader on the other side (streams), e.g. at the end of an array. */
  flush(): Promise<void>;
  finish(): Promise<void>;
  abort(reason: unknown): Promise<void>;
}

/** A path target: a temporary file renamed over the path on `finish`. */
class PathOutput implements Output {
  readonly #file: AtomicFile;
  readonly #sink: FileSink;
  readonly #durable: boolean;
  readonly #scratch: ScratchFile;
  #aborted = false;

  constructor(file: AtomicFile, start: number, durable: boolean) {
    this.#file = file;
    this.#sink = new FileSink(file.handle, start);
    this.#durable = durable;
    this.#scratch = new ScratchFile(`${file.tempPath}.shuffle`);
  }

  get position(): number {
    return this.#sink.position;
  }

  get tempPath(): string {
    return this.#file.tempPath;
  }

  async write(piece: Uint8Array): Promise<void> {
    try {
      await this.#sink.write(piece);
    } catch (cause) {
      throw ioError("write", this.#file.tempPath, cause);
    }
  }

  async flush(): Promise<void> {}

  /** Writes `head` at offset 0 (the room was left for it). */
  async writeHead(head: Uint8Array): Promise<void> {
    try {
      await this.#sink.flush();
      await writeAt(this.#file.handle, [head], 0);
    } catch (cause) {
      throw ioError("write", this.#file.tempPath, cause);
    }
  }

  /** A scratch file next to the temporary file, for shuffling arrays larger than memory. */
  spool(): Promise<FileHandle> {
    return this.#scratch.handle();
  }

  async finish(): Promise<void> {
    await this.#scratch.remove();
    try {
      await this.#sink.finish();
    } catch (cause) {
      throw ioError("write", this.#file.tempPath, cause);
    }
    await this.#file.commit(this.#durable);
  }

  async abort(): Promise<void> {
    if (this.#aborted) return;
    this.#aborted = true;
    await this.#scratch.remove();
    await this.#file.discard();
  }
}

/** Bytes per chunk handed to a stream target. */
const STREAM_CHUNK = 1 << 20;

/**
 * A stream target. Stream consumers may keep the chunks they are given (a PassThrough's buffer,
 * a collecting sink), so the caller's bytes are copied into chunks the stream owns.
 */
abstract class StreamOutput implements Output {
  #chunk = new Uint8Array(STREAM_CHUNK);
  #used = 0;
  position = 0;

  protected abstract emit(chunk: Uint8Array): Promise<void>;
  protected abstract end(): Promise<void>;
  abstract abort(reason: unknown): Promise<void>;

  async write(piece: Uint8Array): Promise<void> {
    for (let at = 0; at < piece.length; ) {
      const n = Math.min(piece.length - at, STREAM_CHUNK - this.#used);
      this.#chunk.set(piece.subarray(at, at + n), this.#used);
      this.#used += n;
      at += n;
      this.position += n;
      if (this.#used === STREAM_CHUNK) await this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.#used === 0) return;
    const chunk = this.#chunk.subarray(0, this.#used);
    this.#chunk = new Uint8Array(STREAM_CHUNK);
    this.#used = 0;
    await this.emit(chunk);
  }

  async finish(): Promise<void> {
    await this.flush();
    await this.end();
  }
}

function streamError(action: string, cause: unknown): NdpackError {
  if (cause instanceof NdpackError) return cause;
  return new NdpackError("IO_ERROR", `cannot ${action} the target stream: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
}

class NodeStreamOutput extends StreamOutput {
  readonly #stream: NodeJS.WritableStream;
  #error: unknown;
  readonly #onError = (error: unknown) => {
    this.#error ??= error;
  };

  constructor(stream: NodeJS.WritableStream) {
    super();
    this.#stream = stream;
    // Keeps an 'error' event from crashing the process; the error is reported by the next call.
    stream.on("error", this.#onError);
  }

  #settle<T>(run: (resolve: () => void, reject: (error: unknown) => void) => T, action: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#error !== undefined) return reject(streamError(action, this.#error));
      const fail = (error: unknown) => {
        cleanup();
        reject(streamError(action, error));
      };
      const closed = () => fail(new Error("the stream was closed"));
      const cleanup = () => {
        this.#stream.off("error", fail);
        this.#stream.off("close", closed);
      };
      this.#stream.once("error", fail);
      this.#stream.once("close", closed);
      run(() => {
        cleanup();
        resolve();
      }, fail);
    });
  }

  protected emit(chunk: Uint8Array): Promise<void> {
    return this.#settle((resolve, reject) => this.#stream.write(chunk, (error) => (error ? reject(error) : resolve())), "write to");
  }

  protected async end(): Promise<void> {
    await this.#settle((resolve) => this.#stream.end(() => resolve()), "end");
    this.#stream.off("error", this.#onError);
  }

  async abort(reason: unknown): Promise<void> {
    const destroy = (this.#stream as { destroy?: (error?: Error) => void }).destroy;
    if (typeof destroy === "function") destroy.call(this.#stream, reason instanceof Error ? reason : undefined);
    // Errors from here on are the consequence of the abort: keep swallowing them.
  }
}

class WebStreamOutput extends StreamOutput {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;

  constructor(stream: WritableStream<Uint8Array>) {
    super();
    this.#writer = stream.getWriter();
  }

  protected async emit(chunk: Uint8Array): Promise<void> {
    try {
      await this.#writer.ready;
      await this.#writer.write(chunk);
    } catch (cause) {
      throw streamError("write to", cause);
    }
  }

  protected async end(): Promise<void> {
    try {
      await this.#writer.close();
    } catch (cause) {
      throw streamError("close", cause);
    }
  }

  async abort(reason: unknown): Promise<void> {
    await this.#writer.abort(reason).catch(() => undefined);
  }
}

/** Zero bytes for padding (at most alignment - 1 of them); never written to. */
const ZEROS = new Uint8Array(65536);

/** Bytes handed to the compressor per call, so that its buffers stay small. */
const DEFLATE_STEP = 1 << 20;

/**
 * The stored bytes of one record as its decoded bytes arrive: byte-swapped when the file's byte
 * order is not this machine's (a word split between chunks waits in `carry`), then compressed
 * when the array has a codec, counted and CRC'd on the way out; `end` writes the CRC.
 */
class RecordEncoder {
  readonly #array: DeclaredArray;
  readonly #out: Output;
  readonly #checksumSize: number;
  readonly #deflate: StreamCodec | undefined;
  readonly #shuffle: ShuffleSpool | undefined;
  readonly #carry: Uint8Array;
  #carried = 0;
  #crc = 0;
  /** Stored bytes written so far. */
  stored = 0;

  constructor(array: DeclaredArray, out: Output, checksumSize: number, level: number, spool: FileHandle | undefined) {
    this.#array = array;
    this.#out = out;
    this.#checksumSize = checksumSize;
    this.#carry = new Uint8Array(array.dtype.wordSize);
    if (array.codec !== "none") this.#deflate = createDeflater(level);
    if (spool !== undefined) this.#shuffle = new ShuffleSpool(spool, array.nbytes, array.dtype.wordSize);
  }

  /** Takes the next decoded bytes of the array (this machine's byte order). */
  async push(bytes: Uint8Array): Promise<void> {
    if (!this.#array.swap) return this.#pushOrdered(bytes);
    // Byte-swap whole words into memory of our own (never the caller's); keep a split word for later.
    const wordSize = this.#array.dtype.wordSize;
    let at = 0;
    if (this.#carried > 0) {
      const n = Math.min(wordSize - this.#carried, bytes.length);
      this.#carry.set(bytes.subarray(0, n), this.#carried);
      this.#carried += n;
      at = n;
      if (this.#carried < wordSize) return;
      const word = new Uint8Array(wordSize);
      copySwapped(this.#carry, word, 0, wordSize);
      this.#carried = 0;
      await this.#pushOrdered(word);
    }
    const whole = at + Math.floor((bytes.length - at) / wordSize) * wordSize;
    for (let from = at; from < whole; from += DEFLATE_STEP) {
      const piece = bytes.subarray(from, Math.min(from + DEFLATE_STEP, whole));
      const swapped = new Uint8Array(piece.length);
      copySwapped(piece, swapped, 0, wordSize);
      await this.#pushOrdered(swapped);
    }
    this.#carry.set(bytes.subarray(whole), 0);
    this.#carried = bytes.length - whole;
  }

  /** Bytes in the file's byte order, on to the codec. */
  async #pushOrdered(bytes: Uint8Array): Promise<void> {
    if (this.#shuffle) return this.#shuffle.append(bytes);
    if (!this.#deflate) return this.#emit(bytes);
    for (let at = 0; at < bytes.length; at += DEFLATE_STEP) {
      await this.#emitAll(await this.#deflate.push(bytes.subarray(at, Math.min(at + DEFLATE_STEP, bytes.length))));
    }
  }

  async #emitAll(chunks: readonly Uint8Array[]): Promise<void> {
    for (const chunk of chunks) await this.#emit(chunk);
  }

  async #emit(stored: Uint8Array): Promise<void> {
    if (this.#checksumSize > 0) this.#crc = crc32(stored, this.#crc);
    this.stored += stored.length;
    await this.#out.write(stored);
  }

  /** All decoded bytes have been pushed: finish the codec, then write the CRC. */
  async end(): Promise<void> {
    if (this.#shuffle) {
      for await (const lanes of this.#shuffle.shuffled()) await this.#emitAll(await this.#deflate!.push(lanes));
    }
    if (this.#deflate) await this.#emitAll(await this.#deflate.end());
    if (this.#checksumSize > 0) {
      const crc = new Uint8Array(4);
      new DataView(crc.buffer).setUint32(0, this.#crc, true);
      await this.#out.write(crc);
    }
  }
}

class Writer implements NdpackWriter {
  readonly #file: DeclaredFile;
  readonly #out: Output;
  readonly #byIndex: ReadonlyMap<string, number>;
  /** Offsets of the canonical header written up front, or `undefined` when the header is written last. */
  readonly #planned: readonly number[] | undefined;
  readonly #reserved: { headerLength: number; dataStart: number } | undefined;
  readonly #dataStart: number;
  readonly names: readonly string[];
  #index = 0;
  #received = 0;
  #record: RecordEncoder | undefined;
  #recordEnd = 0;
  readonly #storedLengths: number[] = [];
  #state: "open" | "closed" | "failed" = "open";
  #failure: unknown;
  #queue: Promise<unknown> = Promise.resolve();

  /** The file written, when the target is a path: every error the writer raises names it. */
  readonly #path: string | undefined;

  constructor(file: DeclaredFile, out: Output, dataStart: number, planned: readonly number[] | undefined, reserved: { headerLength: number; dataStart: number } | undefined, path: string | undefined) {
    this.#path = path;
    this.#file = file;
    this.#out = out;
    this.#dataStart = dataStart;
    this.#planned = planned;
    this.#reserved = reserved;
    this.names = Object.freeze(file.arrays.map((array) => array.name));
    this.#byIndex = new Map(this.names.map((name, index) => [name, index]));
  }

  get current(): string | undefined {
    return this.#file.arrays[this.#index]?.name;
  }

  get bytesWritten(): number {
    return this.#out.position;
  }

  get byteLength(): number | undefined {
    if (this.#planned === undefined) return undefined;
    const last = this.#file.arrays.length - 1;
    return last < 0 ? this.#dataStart : this.#dataStart + this.#planned[last]! + this.#file.arrays[last]!.nbytes + this.#file.checksumSize;
  }

  /** Runs `operation` after every earlier one; an error aborts the writer for good. */
  #enqueue(operation: () => Promise<void>): Promise<void> {
    const run = async () => {
      if (this.#state === "failed") throw this.#failure;
      if (this.#state === "closed") throw new NdpackError("CLOSED", "the writer is closed", this.#path === undefined ? {} : { path: this.#path });
      try {
        await operation();
      } catch (error) {
        // After an abort, what fails in flight is its consequence: report the abort's reason.
        await this.#fail(error);
        throw withPath(this.#failure, this.#path);
      }
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #fail(error: unknown): Promise<void> {
    if (this.#state !== "open") return;
    this.#state = "failed";
    this.#failure = error;
    await this.#out.abort(error);
  }

  /** Starts the file: padding and the first record (and every empty one after it). */
  start(): Promise<void> {
    return this.#enqueue(() => this.#advance());
  }

  /**
   * Closes the current record when it is complete, then starts the next ones: padding up to each
   * record's offset (FORMAT.md §4, placed as `placeRecords` places it), ending empty records at once.
   */
  async #advance(): Promise<void> {
    const { arrays, alignment, checksumSize, level } = this.#file;
    for (;;) {
      if (this.#record !== undefined) {
        await this.#record.end();
        this.#storedLengths.push(this.#record.stored);
        this.#recordEnd = this.#out.position - this.#dataStart;
        this.#record = undefined;
        this.#index++;
        await this.#out.flush();
      }
      const array = arrays[this.#index];
      if (array === undefined) return;
      const offset = nextRecordOffset(this.#recordEnd, alignment);
      if (this.#planned !== undefined && offset !== this.#planned[this.#index]) {
        throw new Error(`internal error: array "${array.name}" would start at ${offset}, its header says ${this.#planned[this.#index]}`);
      }
      if (offset > this.#recordEnd) await this.#out.write(ZEROS.subarray(0, offset - this.#recordEnd));
      const spool = array.codec === "shuffle+deflate" && array.dtype.wordSize > 1 ? await (this.#out as PathOutput).spool() : undefined;
      this.#record = new RecordEncoder(array, this.#out, checksumSize, level, spool);
      this.#received = 0;
      if (array.nbytes > 0) return;
    }
  }

  #bytesOf(name: string, array: DeclaredArray, chunk: unknown): Uint8Array {
    if (!ArrayBuffer.isView(chunk)) {
      throw new NdpackError("INVALID_ARGUMENT", `write("${name}"): chunk must be a typed array, a Uint8Array of raw bytes or a DataView`, { array: name, field: "chunk" });
    }
    const tag = typedArrayTag(chunk);
    if (tag !== undefined && tag !== "Uint8Array" && !array.dtype.accepts.includes(tag)) {
      throw new NdpackError("INVALID_ARGUMENT", `write("${name}"): the array is ${array.dtype.name}, which takes ${array.dtype.accepts.join(" or ")} chunks (or raw bytes), got ${tag}`, { array: name, field: "chunk" });
    }
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    checkElementBytes(name, array.dtype, bytes);
    return bytes;
  }

  write(name: string, chunk: ArrayBufferView): Promise<void> {
    return this.#enqueue(async () => {
      const index = this.#byIndex.get(name);
      if (index === undefined) throw notFoundError(name, this.names);
      const array = this.#file.arrays[index]!;
      const bytes = this.#bytesOf(name, array, chunk);
      if (index < this.#index) {
        throw new NdpackError("WRITE_SIZE", `write("${name}"): the array already has all its ${array.nbytes} bytes`, { array: name, expected: array.nbytes, actual: array.nbytes + bytes.length });
      }
      if (index > this.#index) {
        const current = this.#file.arrays[this.#index]!;
        throw new NdpackError("WRITE_SIZE", `write("${name}"): array "${current.name}" got only ${this.#received} of its ${current.nbytes} bytes; arrays are written whole, in the declared order`, { array: current.name, expected: current.nbytes, actual: this.#received });
      }
      if (this.#received + bytes.length > array.nbytes) {
        throw new NdpackError("WRITE_SIZE", `write("${name}"): the array holds ${array.nbytes} bytes; this chunk would make it ${this.#received + bytes.length}`, { array: name, expected: array.nbytes, actual: this.#received + bytes.length });
      }
      if (bytes.length === 0) return;
      await this.#record!.push(bytes);
      this.#received += bytes.length;
      if (this.#received === array.nbytes) await this.#advance();
    });
  }

  async writeAll(name: string, chunks: Iterable<ArrayBufferView> | AsyncIterable<ArrayBufferView>): Promise<void> {
    for await (const chunk of chunks) await this.write(name, chunk);
  }

  close(): Promise<void> {
    if (this.#state === "closed") return this.#queue.then(() => undefined);
    return this.#enqueue(async () => {
      const array = this.#file.arrays[this.#index];
      if (array !== undefined) {
        throw new NdpackError("WRITE_SIZE", `close(): array "${array.name}" got only ${this.#received} of its ${array.nbytes} bytes`, { array: array.name, expected: array.nbytes, actual: this.#received });
      }
      const { dataLength } = placeRecords(this.#storedLengths, this.#file.alignment, this.#file.checksumSize);
      if (this.#dataStart + dataLength !== this.#out.position) {
        throw new Error(`internal error: wrote ${this.#out.position} bytes, the layout says ${this.#dataStart + dataLength}`);
      }
      if (this.#reserved !== undefined) {
        const { head } = headFor(this.#file, this.#storedLengths, this.#reserved.headerLength);
        await (this.#out as PathOutput).writeHead(head);
      }
      await this.#out.finish();
      this.#state = "closed";
    });
  }

  async abort(reason?: unknown): Promise<void> {
    await this.#fail(reason ?? new NdpackError("CLOSED", "the writer was aborted"));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === "open") await this.abort(new NdpackError("CLOSED", "the writer was disposed of without close()"));
  }
}

function isWebWritable(target: unknown): target is WritableStream<Uint8Array> {
  return target !== null && typeof target === "object" && typeof (target as WritableStream).getWriter === "function";
}

function isNodeWritable(target: unknown): target is NodeJS.WritableStream {
  const stream = target as NodeJS.WritableStream | null;
  return stream !== null && typeof stream === "object" && typeof stream.write === "function" && typeof stream.end === "function" && typeof stream.once === "function";
}

/**
 * Creates a writer for arrays whose bytes are produced piece by piece: declare every array first
 * (name, dtype, shape, order, codec), then write each array's bytes in order, in chunks of any
 * size, and `close()`. Files over 4 GiB and arrays over 2 GiB are fine; memory use is a few MiB
 * whatever the file's size (with a codec, up to two 4 MiB pieces per core being compressed at once).
 *
 * Targets:
 * - a path: written atomically as by `save` (a temporary file, renamed over the path by `close()`;
 *   on any failure or `abort()` the path is untouched and the temporary file removed). Runs of
 *   64 MiB of zeros written as one chunk are left as holes.
 * - a Node writable stream (socket, HTTP response, file stream) or a Web `WritableStream`: the
 *   bytes are sent as they are written, in chunks of up to 1 MiB that the stream owns; `close()`
 *   ends the stream, a failure destroys or aborts it.
 *
 * Without a codec the header comes first and is exactly the one `encode` writes for the same
 * arrays, so the file is byte-identical to `encode`'s.
 *
 * With a codec, stored sizes are known only after compressing, but the header, which holds them,
 * comes first in the file. For a path the writer therefore reserves room for the header, sized
 * for the largest values the offsets and lengths can take, writes the compressed payloads after
 * it, and writes the header last, padded with spaces (FORMAT.md §2 allows this; the file is valid
 * but not canonical). `shuffle+deflate` shuffles through a scratch file next to the temporary
 * file, so that arrays larger than memory can be shuffled. A stream target cannot be written
 * ahead of its header, so a codec with a stream target is refused (INVALID_ARGUMENT): compress
 * with `encodeStream` (which holds the compressed payloads in memory) or write to a path.
 *
 * Errors: argument errors as `encode` throws them; INVALID_ARGUMENT for a codec with a stream
 * target; NOT_REGULAR_FILE for a path that is a link, a device, a FIFO, a socket or a directory
 * (the rules of `save`); IO_ERROR with the OS error as `cause`.
 */
export async function createWriter(target: WriterTarget, entries: readonly WriterEntry[], options: WriterOptions = {}): Promise<NdpackWriter> {
  checkOptionNames(options, { ...ENCODE_OPTIONS, fsync: true, followSymlinks: true } satisfies Record<keyof WriterOptions, true>, "createWriter");
  const path = typeof target === "string" || target instanceof URL ? toPath(target, "target") : undefined;
  if (path === undefined && !isWebWritable(target) && !isNodeWritable(target)) {
    throw new NdpackError("INVALID_ARGUMENT", "target must be a path, a Node writable stream or a WritableStream", { field: "target" });
  }
  if (options.fsync !== undefined && typeof options.fsync !== "boolean") throw new NdpackError("INVALID_ARGUMENT", `fsync must be a boolean, got ${String(options.fsync)}`, { field: "fsync" });
  const file = declareArrays(entries, options);
  const compressed = file.arrays.filter((array) => array.codec !== "none");
  if (compressed.length > 0 && path === undefined) {
    throw new NdpackError("INVALID_ARGUMENT", `array "${compressed[0]!.name}" has codec ${compressed[0]!.codec}, but a stream target must receive the header, which holds the compressed sizes, before any payload; write to a path, or use encodeStream`, { array: compressed[0]!.name, field: "codec" });
  }

  let writer: Writer;
  if (compressed.length === 0) {
    const { head, offsets } = headFor(file, file.arrays.map((array) => array.nbytes));
    const out = path === undefined ? (isWebWritable(target) ? new WebStreamOutput(target) : new NodeStreamOutput(target as NodeJS.WritableStream)) : new PathOutput(await AtomicFile.create(path, options), 0, options.fsync ?? true);
    writer = new Writer(file, out, head.length, offsets, undefined, path);
    try {
      await out.write(head);
    } catch (error) {
      await out.abort(error);
      throw error;
    }
  } else {
    const { head, headerLength } = headFor(file, file.arrays.map((array) => (array.codec === "none" ? array.nbytes : storedBound(array.nbytes))));
    const out = new PathOutput(await AtomicFile.create(path!, options), head.length, options.fsync ?? true);
    writer = new Writer(file, out, head.length, undefined, { headerLength, dataStart: head.length }, path);
    // The reserved header must lay out to the same data section start.
    if (dataSectionStart(headerLength, file.alignment) !== head.length || head.length < PREAMBLE_SIZE) throw new Error("internal error: reserved header does not fit");
  }
  await writer.start();
  return writer;
}
