/**
 * The file driver of the writers without I/O (`formats/write.ts`): runs a format's plan into a
 * file at a path, atomically (a temporary file renamed over the path once complete, fsynced before
 * the rename when durable), each array's payload streaming through chunk by chunk: byte-swapped,
 * checksummed and deflated on the way as the plan asks. Memory holds one chunk of the array being
 * written, except for an array that must be rearranged into C order (a Fortran-order array with
 * more than one dimension longer than 1, for .safetensors), which is gathered whole, and for the
 * payloads a plan asks to keep (ndpack's compressed payloads under a header that comes first, in
 * its `"exact"` layout), which are held, compressed, until appended. A shuffled payload (ndpack's
 * `shuffle+deflate`) is shuffled through a scratch file next to the temporary file
 * (`shuffle-spool.ts`), so that an array larger than memory can be shuffled.
 *
 * A reserved span (a zip local header, which holds its member's CRC-32 and size) is written when
 * its bytes are known: the output after it is held in memory up to {@link HOLD_BYTES}, so that a
 * small member costs no positioned write back into the file; past that, the span is written as
 * zeros and filled in place at the end (the same bytes either way).
 *
 * @module
 */
import { copySwapped } from "../bytes.js";
import { throughCodec } from "../codecs.js";
import { createDeflater } from "./deflate.js";
import { NdpackError } from "../errors.js";
import { checkFill, crcOf, isBytesStep, needsReorder, needsSwap, type ArrayPlan, type PayloadStep, type PayloadWritten, type WriteSteps } from "../formats/write.js";
import { cOrderBytes } from "../interop/common.js";
import { AtomicFile, FileSink, ioError, writeAt, type TargetOptions } from "./io.js";
import { ScratchFile, ShuffleSpool } from "./shuffle-spool.js";

/** Output held in memory after an open reservation before the span is written as zeros and filled in place later. */
const HOLD_BYTES = 64 * 1024;

/** An array whose bytes arrive in chunks, in its storage order and this machine's byte order. */
export interface ArrayInChunks extends ArrayPlan {
  /**
   * The array's `nbytes` bytes, chunk by chunk, each a whole number of items (so that a chunk can
   * be byte-swapped alone); a chunk may be reused once the next is asked for.
   */
  chunks(): AsyncIterable<Uint8Array>;
  /**
   * The array's bytes, as the plan stores them, already as one raw DEFLATE stream, when the
   * source has one to give (the CLI copies numpy's streams, `cli/deflate-reuse.ts`); `undefined`
   * when it has none, and the driver deflates the chunks. Asked only for a payload deflated without
   * a prefix or a shuffle, whose CRC (if any) is of its stored bytes. The pieces are not reused.
   */
  deflated?(): Promise<AsyncIterable<Uint8Array> | undefined>;
}

/** Options of {@link writeToFile}. */
export interface FileWriteOptions extends TargetOptions {
  /** fsync the file before the rename, and its directory after it (default true). */
  readonly durable?: boolean;
  /**
   * Makes the complete temporary file the output, instead of `file.commit(durable)` (fsync, rename,
   * fsync the directory): a caller writing many files into one directory commits them its own way.
   */
  readonly commit?: (file: AtomicFile) => Promise<void>;
  /** Called with the number of array bytes each time a chunk of an array has been written. */
  readonly onProgress?: (bytes: number) => void;
}

/** Appends to the temporary file, holding output after an open reservation (see the module doc). */
class StepWriter {
  readonly #file: AtomicFile;
  readonly #sink: FileSink;
  #reservation: { at: number; length: number; held: Uint8Array[] | undefined; heldBytes: number } | undefined;

  constructor(file: AtomicFile) {
    this.#file = file;
    this.#sink = new FileSink(file.handle);
  }

  async #write(bytes: Uint8Array): Promise<void> {
    try {
      await this.#sink.write(bytes);
    } catch (cause) {
      throw ioError("write", this.#file.tempPath, cause);
    }
  }

  async append(bytes: Uint8Array): Promise<void> {
    const reservation = this.#reservation;
    if (reservation?.held !== undefined) {
      if (reservation.heldBytes + bytes.length <= HOLD_BYTES) {
        reservation.held.push(bytes.slice());
        reservation.heldBytes += bytes.length;
        return;
      }
      await this.#write(new Uint8Array(reservation.length));
      for (const piece of reservation.held) await this.#write(piece);
      reservation.held = undefined;
    }
    await this.#write(bytes);
  }

  reserve(length: number): void {
    if (this.#reservation !== undefined) throw new Error("internal error: a writer reserved a span while another was open");
    this.#reservation = { at: this.#sink.position, length, held: [], heldBytes: 0 };
  }

  async fill(bytes: Uint8Array): Promise<void> {
    const reservation = this.#reservation;
    checkFill(reservation?.length, bytes);
    this.#reservation = undefined;
    if (reservation!.held !== undefined) {
      await this.#write(bytes);
      for (const piece of reservation!.held) await this.#write(piece);
      return;
    }
    try {
      await this.#sink.flush();
      await writeAt(this.#file.handle, [bytes], reservation!.at);
    } catch (cause) {
      throw ioError("write", this.#file.tempPath, cause);
    }
  }

  async finish(): Promise<void> {
    if (this.#reservation !== undefined) throw new Error("internal error: a writer left a reservation unfilled");
    try {
      await this.#sink.finish();
    } catch (cause) {
      throw ioError("write", this.#file.tempPath, cause);
    }
  }
}

/** The bytes of a payload step before compression: the prefix, then the array's bytes as the step stores them. */
async function* storedContent(array: ArrayInChunks, step: PayloadStep, onProgress?: (bytes: number) => void): AsyncGenerator<Uint8Array, void, undefined> {
  if (step.prefix !== undefined && step.prefix.length > 0) yield step.prefix;
  const swap = needsSwap(array, step.byteOrder) ? array.dtype.wordSize : 0;
  const stored = (chunk: Uint8Array) => {
    if (swap === 0) return chunk;
    const out = new Uint8Array(chunk.length);
    copySwapped(chunk, out, 0, swap);
    return out;
  };
  let received = 0;
  const counted = (chunk: Uint8Array) => {
    received += chunk.length;
    if (received > array.nbytes) throw new NdpackError("INVALID_ARGUMENT", `array "${array.name}" gave more than its ${array.nbytes} bytes`, { array: array.name, expected: array.nbytes, actual: received });
  };
  if (needsReorder(array, step.cOrder)) {
    const whole = new Uint8Array(array.nbytes);
    for await (const chunk of array.chunks()) {
      counted(chunk);
      whole.set(chunk, received - chunk.length);
    }
    if (received === array.nbytes) yield stored(cOrderBytes(whole, array.shape, array.order, array.dtype.itemSize));
    onProgress?.(received);
  } else {
    for await (const chunk of array.chunks()) {
      counted(chunk);
      yield stored(chunk);
      onProgress?.(chunk.length);
    }
  }
  if (received !== array.nbytes) throw new NdpackError("INVALID_ARGUMENT", `array "${array.name}" gave ${received} of its ${array.nbytes} bytes`, { array: array.name, expected: array.nbytes, actual: received });
}

/** What a payload step needs besides its array: progress reports, the shuffle's scratch file, the payloads kept. */
interface PayloadContext {
  readonly onProgress: ((bytes: number) => void) | undefined;
  readonly scratch: ScratchFile;
  readonly kept: Map<number, Uint8Array[]>;
}

/** The content shuffled (FORMAT.md §5) in words of `wordSize` bytes, through the scratch file. */
async function* shuffledContent(content: AsyncIterable<Uint8Array>, nbytes: number, wordSize: number, scratch: ScratchFile): AsyncGenerator<Uint8Array, void, undefined> {
  const spool = new ShuffleSpool(await scratch.handle(), nbytes, wordSize);
  for await (const piece of content) await spool.append(piece);
  yield* spool.shuffled();
}

/**
 * Appends (or keeps) a payload step's bytes, deflated when asked; its CRC-32 is taken before
 * compression, or of the stored bytes when the step says so.
 */
async function writePayload(out: StepWriter, array: ArrayInChunks, step: PayloadStep, context: PayloadContext): Promise<PayloadWritten> {
  const crcOfContent = step.crc && step.crcOfStored !== true;
  let crc = 0;
  const content = (async function* () {
    for await (const piece of storedContent(array, step, context.onProgress)) {
      if (crcOfContent) crc = crcOf(piece, crc);
      yield piece;
    }
  })();
  let stored: AsyncIterable<Uint8Array> = content;
  if (step.deflateLevel !== undefined) {
    const reusable = step.shuffle === undefined && step.prefix === undefined && !crcOfContent;
    const deflated = reusable ? await array.deflated?.() : undefined;
    const input = step.shuffle === undefined ? content : shuffledContent(content, array.nbytes, step.shuffle, context.scratch);
    stored = deflated ?? throughCodec(input, createDeflater(step.deflateLevel));
  }
  const kept: Uint8Array[] | undefined = step.keep === true ? [] : undefined;
  if (kept !== undefined) context.kept.set(step.payload, kept);
  let storedLength = 0;
  for await (const piece of stored) {
    if (step.crc && !crcOfContent) crc = crcOf(piece, crc);
    if (kept !== undefined) kept.push(piece);
    else await out.append(piece);
    storedLength += piece.length;
  }
  return { crc, storedLength };
}

/**
 * Runs a format's plan into the file at `path`, atomically: the path is replaced only once every
 * byte is written (and, when durable, fsynced); on any error it is left as it was. `arrays` are
 * those the plan was made for, in the same order. I/O errors are IO_ERROR naming the temporary
 * file; errors of the arrays' chunks pass through.
 */
export async function writeToFile(path: string, steps: WriteSteps, arrays: readonly ArrayInChunks[], options: FileWriteOptions = {}): Promise<void> {
  const durable = options.durable ?? true;
  const file = await AtomicFile.create(path, { followSymlinks: options.followSymlinks ?? false });
  const context: PayloadContext = { onProgress: options.onProgress, scratch: new ScratchFile(`${file.tempPath}.shuffle`), kept: new Map() };
  try {
    const out = new StepWriter(file);
    let next = steps.next();
    while (next.done !== true) {
      const step = next.value;
      let answer: PayloadWritten | undefined;
      if (isBytesStep(step)) await out.append(step);
      else if ("reserve" in step) out.reserve(step.reserve);
      else if ("fill" in step) await out.fill(step.fill);
      else if ("kept" in step) {
        for (const piece of context.kept.get(step.kept)!) await out.append(piece);
        context.kept.delete(step.kept);
      } else answer = await writePayload(out, arrays[step.payload]!, step, context);
      next = steps.next(answer);
    }
    await out.finish();
  } catch (error) {
    await file.discard();
    throw error;
  } finally {
    await context.scratch.remove();
  }
  await (options.commit ? options.commit(file) : file.commit(durable));
}
