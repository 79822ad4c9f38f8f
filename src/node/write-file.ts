/**
 * The file output of the writers without I/O (`formats/write.ts`, run by `write-steps.ts`): a
 * format's plan written into a file at a path, atomically (a temporary file renamed over the path
 * once complete, fsynced before the rename when durable). Memory holds one chunk of the array being
 * written, except what the runner gathers (an array rearranged into C order, payloads a plan keeps).
 *
 * A reserved span (a zip local header, which holds its member's CRC-32 and size; the header of an
 * ndpack file with compressed arrays) is written when its bytes are known: the output after it is
 * held in memory up to {@link HOLD_BYTES}, so that a small member costs no positioned write back
 * into the file; past that, the span is written as zeros and filled in place at the end (the same
 * bytes either way).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { checkFill, type WriteSteps } from "../formats/write.js";
import { AtomicFile, FileSink, ioError, temporaryName, writeAt, type TargetOptions } from "./io.js";
import { ScratchFile } from "./shuffle-spool.js";
import { runWriteSteps, type ArrayInChunks, type StepOutput } from "./write-steps.js";

/** Output held in memory after an open reservation before the span is written as zeros and filled in place later. */
const HOLD_BYTES = 64 * 1024;

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

/**
 * Appends to a temporary file, holding output after an open reservation (see the module doc), with
 * a scratch file next to it for the shuffled payloads; {@link FileOutput.finish} leaves the
 * complete temporary file to be committed, {@link FileOutput.abort} removes both.
 */
export class FileOutput implements StepOutput {
  readonly file: AtomicFile;
  readonly scratch: ScratchFile;
  readonly #sink: FileSink;
  #reservation: { at: number; length: number; held: Uint8Array[] | undefined; heldBytes: number } | undefined;

  constructor(file: AtomicFile) {
    this.file = file;
    this.scratch = new ScratchFile(join(dirname(file.path), temporaryName(basename(file.path), ".shuffle.tmp")));
    this.#sink = new FileSink(file.handle);
  }

  /** Bytes appended so far, a reservation and the output held after it included. */
  get position(): number {
    const reservation = this.#reservation;
    return this.#sink.position + (reservation?.held === undefined ? 0 : reservation.length + reservation.heldBytes);
  }

  async #write(bytes: Uint8Array): Promise<void> {
    try {
      await this.#sink.write(bytes);
    } catch (cause) {
      throw ioError("write", this.file.tempPath, cause);
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
      await writeAt(this.file.handle, [bytes], reservation!.at);
    } catch (cause) {
      throw ioError("write", this.file.tempPath, cause);
    }
  }

  async finish(): Promise<void> {
    if (this.#reservation !== undefined) throw new Error("internal error: a writer left a reservation unfilled");
    await this.scratch.remove();
    try {
      await this.#sink.finish();
    } catch (cause) {
      throw ioError("write", this.file.tempPath, cause);
    }
  }

  /** Removes the scratch file and the temporary file; the target is left as it was. */
  async abort(): Promise<void> {
    await this.scratch.remove();
    await this.file.discard();
  }
}

/**
 * Runs a format's plan into the file at `path`, atomically: the path is replaced only once every
 * byte is written (and, when durable, fsynced); on any error it is left as it was. `arrays` are
 * those the plan was made for, in the same order. I/O errors are IO_ERROR naming the temporary
 * file; errors of the arrays' chunks pass through.
 */
export async function writeToFile(path: string, steps: WriteSteps, arrays: readonly ArrayInChunks[], options: FileWriteOptions = {}): Promise<void> {
  const durable = options.durable ?? true;
  const out = new FileOutput(await AtomicFile.create(path, { followSymlinks: options.followSymlinks ?? false }));
  try {
    await runWriteSteps(out, steps, arrays, { onProgress: options.onProgress, scratch: out.scratch });
    await out.finish();
  } catch (error) {
    await out.abort();
    throw error;
  }
  await (options.commit ? options.commit(out.file) : out.file.commit(durable));
}
