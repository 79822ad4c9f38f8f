/**
 * {@link createWriter}: ndpack files written array by array, chunk by chunk, for data that does
 * not fit in memory. Every array is declared first, so the header can be written before any
 * payload; then the bytes of each array arrive in order, in chunks of any size. The file is
 * ndpack's plan (`formats/ndpack-write.ts`) run by Node's runner (`write-steps.ts`), as
 * `writeToFile` runs it, the caller's pushes standing in for the arrays' chunks
 * (`pushed-chunks.ts`); this module checks the calls and byte counts and drives the target.
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
import { isDetached } from "../bytes.js";
import { builtInGetter, TYPED_ARRAY, typedArrayTag } from "../dtypes.js";
import { checkElementBytes, type EncodeOptions } from "../encode.js";
import { booleanOption, checkOptionNames, NdpackError, notFoundError } from "../errors.js";
import { declareArrays, headFor, rawFileSteps, reservedHeaderSteps, type DeclaredArray, type DeclaredFile, type WriterEntry } from "../formats/ndpack-write.js";
import type { WriteSteps } from "../formats/write.js";
import { SAVE_OPTIONS } from "./fs.js";
import { AtomicFile, toPath, type PathLike, type TargetOptions } from "./io.js";
import { PushedChunks, type Settlers } from "./pushed-chunks.js";
import type { ScratchFile } from "./shuffle-spool.js";
import { FileOutput } from "./write-file.js";
import { runWriteSteps, type ArrayInChunks, type StepOutput } from "./write-steps.js";
import { WriterCalls } from "./writer-calls.js";

/** DataView's built-in `buffer`, `byteOffset` and `byteLength` getters, as `TYPED_ARRAY`'s are for typed arrays. */
const DATA_VIEW = {
  buffer: builtInGetter<ArrayBufferLike>(DataView.prototype, "buffer"),
  byteOffset: builtInGetter<number>(DataView.prototype, "byteOffset"),
  byteLength: builtInGetter<number>(DataView.prototype, "byteLength"),
};

/** The built-in getters for a chunk: a typed array's, or a DataView's. */
function viewGetters(chunk: ArrayBufferView): typeof DATA_VIEW {
  return TYPED_ARRAY.typeName.call(chunk) === undefined ? DATA_VIEW : TYPED_ARRAY;
}

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
  /**
   * Abandons the file: a path target is left untouched, a stream is destroyed or aborted. A call in
   * flight rejects with `reason` (default: CLOSED), unless it is a `close()` that had already put
   * the file in place; later calls reject with it too.
   */
  abort(reason?: unknown): Promise<void>;
  /** `abort()` unless {@link close} succeeded: leaving an `await using` block without `close()` writes nothing. */
  [Symbol.asyncDispose](): Promise<void>;
}


/** Where the writer's file goes: the runner's output, and how the file ends. */
interface WriterOutput extends StepOutput {
  /** Bytes produced so far: the file offset of the next byte. */
  readonly position: number;
  /** Where shuffled payloads are staged (path targets; a stream target takes no codec). */
  readonly scratch: ScratchFile | undefined;
  /** Sends on the bytes held so far (streams), so that the other side has every array as soon as it is complete. */
  flush(): Promise<void>;
  finish(): Promise<void>;
  abort(reason: unknown): Promise<void>;
}

/** A path target: a temporary file renamed over the path on `finish`. */
class PathOutput extends FileOutput implements WriterOutput {
  readonly #durable: boolean;

  constructor(file: AtomicFile, durable: boolean) {
    super(file);
    this.#durable = durable;
  }

  async flush(): Promise<void> {}

  override async finish(): Promise<void> {
    await super.finish();
    await this.file.commit(this.#durable);
  }
}

/** Bytes per chunk handed to a stream target. */
const STREAM_CHUNK = 1 << 20;

/**
 * A stream target. Stream consumers may keep the chunks they are given (a PassThrough's buffer,
 * a collecting sink), so the caller's bytes are copied into chunks the stream owns.
 */
abstract class StreamOutput implements WriterOutput {
  #chunk = new Uint8Array(STREAM_CHUNK);
  #used = 0;
  position = 0;
  readonly scratch = undefined;

  protected abstract emit(chunk: Uint8Array): Promise<void>;
  protected abstract end(): Promise<void>;
  abstract abort(reason: unknown): Promise<void>;

  reserve(): void {
    throw new Error("internal error: a stream target was given a plan that writes back");
  }

  fill(): Promise<void> {
    throw new Error("internal error: a stream target was given a plan that writes back");
  }

  async append(piece: Uint8Array): Promise<void> {
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
  /** Rejects the wait in flight, for {@link abort}: a write to a consumer that stopped reading may never settle. */
  #stopWaiting: ((reason: unknown) => void) | undefined;

  constructor(stream: WritableStream<Uint8Array>) {
    super();
    this.#writer = stream.getWriter();
  }

  protected async emit(chunk: Uint8Array): Promise<void> {
    try {
      await this.#untilAborted(this.#writer.ready);
      await this.#untilAborted(this.#writer.write(chunk));
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

  /** `wait`, or the reason of an abort() meanwhile (a new promise each time: one shared by every wait would keep a reaction per chunk). */
  #untilAborted<T>(wait: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#stopWaiting = reject;
      wait.then(resolve, reject);
    });
  }

  async abort(reason: unknown): Promise<void> {
    this.#stopWaiting?.(reason);
    // Not awaited: the Streams spec settles an abort only after the write in flight, which a stalled consumer never takes.
    this.#writer.abort(reason).catch(() => undefined);
  }
}

/** A promise settled from outside. */
interface Settable<T> extends Settlers<T> {
  readonly promise: Promise<T>;
}

/** A promise settled from outside; a rejection nobody awaits is not reported as unhandled. */
function settable<T>(): Settable<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

class Writer implements NdpackWriter {
  readonly #file: DeclaredFile;
  readonly #out: WriterOutput;
  readonly #byIndex: ReadonlyMap<string, number>;
  readonly #pushed: readonly PushedChunks[];
  /**
   * Entry `i` settles when the runner asks for array `i`'s bytes, everything before them (the
   * previous record, its CRC, the padding) being written; the last one when the file is complete.
   */
  readonly #reached: readonly Settable<void>[];
  readonly byteLength: number | undefined;
  readonly names: readonly string[];
  #running: Promise<void> = Promise.resolve();
  /** The first array not complete. */
  #index = 0;
  #received = 0;
  readonly #calls: WriterCalls;

  constructor(file: DeclaredFile, out: WriterOutput, byteLength: number | undefined, path: string | undefined) {
    // Every error the writer raises names the file, when the target is a path.
    this.#calls = new WriterCalls("the writer", path, (error) => this.#stop(error));
    this.#file = file;
    this.#out = out;
    this.byteLength = byteLength;
    this.names = Object.freeze(file.arrays.map((array) => array.name));
    this.#byIndex = new Map(this.names.map((name, index) => [name, index]));
    this.#pushed = file.arrays.map((array, index) => new PushedChunks(array.dtype.wordSize, () => this.#asked(index)));
    this.#reached = [...file.arrays.map(() => settable<void>()), settable<void>()];
    // Empty arrays are complete before any write.
    file.arrays.forEach((array, index) => array.nbytes === 0 && this.#pushed[index]!.end());
    this.#skipComplete();
  }

  get current(): string | undefined {
    return this.#file.arrays[this.#index]?.name;
  }

  get bytesWritten(): number {
    return this.#out.position;
  }

  #skipComplete(): void {
    while (this.#file.arrays[this.#index]?.nbytes === 0) this.#index++;
  }

  /** Stops the hand-overs to the runner (which then fails too) and aborts the output. */
  #stop(error: unknown): Promise<void> {
    for (const pushed of this.#pushed) pushed.fail(error);
    for (const reached of this.#reached) reached.reject(error);
    return this.#out.abort(error);
  }

  /**
   * The runner asks for array `index`'s bytes once everything before them is written: the previous
   * array's record is then complete, and a stream target sends it on (the head goes with the first
   * array's bytes).
   */
  async #asked(index: number): Promise<void> {
    if (index > 0) await this.#out.flush();
    this.#reached[index]!.resolve();
  }

  /** Starts the runner of `steps` in the background; resolves once the bytes before the first array's are out (the head). */
  start(steps: WriteSteps): Promise<void> {
    const arrays = this.#file.arrays.map((array, index): ArrayInChunks => ({ ...array, chunks: () => this.#pushed[index]! }));
    this.#running = runWriteSteps(this.#out, steps, arrays, { scratch: this.#out.scratch }).then(async () => {
      await this.#out.flush();
      this.#reached[arrays.length]!.resolve();
    });
    // A failure of the runner (an I/O error) aborts the writer; the next call reports it.
    this.#running.catch((error: unknown) => this.#calls.fail(error));
    return this.#calls.run(() => this.#reached[this.#index]!.promise);
  }

  #bytesOf(name: string, array: DeclaredArray, chunk: unknown): Uint8Array {
    if (!ArrayBuffer.isView(chunk)) {
      throw new NdpackError("INVALID_ARGUMENT", `write("${name}"): chunk must be a typed array, a Uint8Array of raw bytes or a DataView`, { array: name, field: "chunk" });
    }
    const view = viewGetters(chunk);
    if (isDetached(view.buffer.call(chunk))) {
      throw new NdpackError("INVALID_ARGUMENT", `write("${name}"): the chunk's buffer was detached (transferred?)`, { array: name, field: "chunk" });
    }
    const tag = typedArrayTag(chunk);
    if (tag !== undefined && tag !== "Uint8Array" && !array.dtype.accepts.includes(tag)) {
      throw new NdpackError("INVALID_ARGUMENT", `write("${name}"): the array is ${array.dtype.name}, which takes ${array.dtype.accepts.join(" or ")} chunks (or raw bytes), got ${tag}`, { array: name, field: "chunk" });
    }
    // Found with the built-in getters: a subclass or an own property can say another byteLength (a
    // RangeError when it is past the buffer).
    const bytes = new Uint8Array(view.buffer.call(chunk), view.byteOffset.call(chunk), view.byteLength.call(chunk));
    checkElementBytes(name, array.dtype, bytes);
    return bytes;
  }

  write(name: string, chunk: ArrayBufferView): Promise<void> {
    return this.#calls.run(async () => {
      const index = this.#byIndex.get(name);
      if (index === undefined) throw notFoundError(name, this.names);
      const array = this.#file.arrays[index]!;
      const bytes = this.#bytesOf(name, array, chunk);
      // No bytes for an array already complete (a zero-size one, which is complete from the start): nothing to do.
      if (bytes.length === 0 && index <= this.#index) return;
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
      await this.#pushed[index]!.push(bytes);
      this.#received += bytes.length;
      if (this.#received < array.nbytes) return;
      // The array is complete once its record (CRC, padding) is out, as far as the next array.
      this.#pushed[index]!.end();
      await this.#reached[index + 1]!.promise;
      this.#index++;
      this.#received = 0;
      this.#skipComplete();
    });
  }

  async writeAll(name: string, chunks: Iterable<ArrayBufferView> | AsyncIterable<ArrayBufferView>): Promise<void> {
    for await (const chunk of chunks) await this.write(name, chunk);
  }

  close(): Promise<void> {
    return this.#calls.close(async () => {
      const array = this.#file.arrays[this.#index];
      if (array !== undefined) {
        throw new NdpackError("WRITE_SIZE", `close(): array "${array.name}" got only ${this.#received} of its ${array.nbytes} bytes`, { array: array.name, expected: array.nbytes, actual: this.#received });
      }
      await this.#running;
      await this.#out.finish();
    });
  }

  async abort(reason?: unknown): Promise<void> {
    await this.#calls.fail(reason ?? new NdpackError("CLOSED", "the writer was aborted"));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#calls.open) await this.abort(new NdpackError("CLOSED", "the writer was disposed of without close()"));
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
 *   on any failure or `abort()` the path is untouched and the temporary file removed; a process
 *   killed mid-write leaves the path untouched and its temporary files, `.<name>.<random>.tmp` and,
 *   for shuffle+deflate, `.<name>.<random>.shuffle.tmp`, behind). Runs of 64 MiB of zeros written as
 *   one chunk are left as holes.
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
  checkOptionNames(options, SAVE_OPTIONS satisfies Record<keyof WriterOptions, true>, "createWriter");
  const path = typeof target === "string" || target instanceof URL ? toPath(target, "target") : undefined;
  if (path === undefined && !isWebWritable(target) && !isNodeWritable(target)) {
    throw new NdpackError("INVALID_ARGUMENT", "target must be a path, a Node writable stream or a WritableStream", { field: "target" });
  }
  booleanOption(options.fsync, true, "fsync");
  const file = declareArrays(entries, options);
  const compressed = file.arrays.filter((array) => array.codec !== "none");
  if (compressed.length > 0 && path === undefined) {
    throw new NdpackError("INVALID_ARGUMENT", `array "${compressed[0]!.name}" has codec ${compressed[0]!.codec}, but a stream target must receive the header, which holds the compressed sizes, before any payload; write to a path, or use encodeStream`, { array: compressed[0]!.name, field: "codec" });
  }

  let steps: WriteSteps;
  let byteLength: number | undefined;
  if (compressed.length === 0) {
    const { head, offsets } = headFor(file, file.arrays.map((array) => array.nbytes));
    const last = file.arrays.length - 1;
    byteLength = last < 0 ? head.length : head.length + offsets[last]! + file.arrays[last]!.nbytes + file.checksumSize;
    steps = rawFileSteps(file, head);
  } else steps = reservedHeaderSteps(file);
  const out = path === undefined ? (isWebWritable(target) ? new WebStreamOutput(target) : new NodeStreamOutput(target as NodeJS.WritableStream)) : new PathOutput(await AtomicFile.create(path, options), options.fsync ?? true);
  const writer = new Writer(file, out, byteLength, path);
  await writer.start(steps);
  return writer;
}
