/**
 * FORMAT.md §5's byte shuffle for arrays larger than memory, through a scratch file next to the
 * file being written: shared by `createWriter` and the file driver of the format writers
 * (`writeToFile`), which both shuffle `shuffle+deflate` payloads this way.
 *
 * @module
 */
import { open as openHandle, unlink, type FileHandle } from "node:fs/promises";
import { NdpackError } from "../errors.js";
import { ioError, readAt, temporaryFiles, writeAt } from "./io.js";

/** Shuffled bytes read back from the scratch file at a time (the compressor's step). */
const READ_BACK_BYTES = 1 << 20;

/**
 * A scratch file at `path`, created on first use and removed by {@link ScratchFile.remove}, for
 * good: an aborted writer's runner may still be on its way to ask for it, and must not create it
 * again once it is gone.
 */
export class ScratchFile {
  /** The scratch file's path. */
  readonly path: string;
  #opened: Promise<FileHandle> | undefined;
  #removed = false;

  constructor(path: string) {
    this.path = path;
  }

  /** The open scratch file, created (empty) on the first call; CLOSED once it was removed. */
  handle(): Promise<FileHandle> {
    if (this.#removed) return Promise.reject(new NdpackError("CLOSED", `the scratch file ${this.path} was removed: the write was abandoned`, { path: this.path }));
    if (this.#opened === undefined) {
      temporaryFiles.add(this.path);
      this.#opened = openHandle(this.path, "w+").catch((cause: unknown) => {
        throw ioError("create", this.path, cause);
      });
    }
    return this.#opened;
  }

  /** Closes and deletes the scratch file, if it was created (or is being created); never fails. */
  async remove(): Promise<void> {
    this.#removed = true;
    const opened = this.#opened;
    this.#opened = undefined;
    const handle = await opened?.catch(() => undefined);
    if (handle === undefined) return;
    await handle.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
    temporaryFiles.delete(this.path);
  }
}

/**
 * FORMAT.md §5's shuffle for an array larger than memory: byte j of word i belongs at position
 * `j * words + i`, so each staged block of words is scattered, lane by lane, to those places in a
 * scratch file; once the array is complete the file is read back in order for the compressor.
 */
export class ShuffleSpool {
  readonly #handle: FileHandle;
  readonly #path: string;
  readonly #wordSize: number;
  readonly #words: number;
  readonly #stage: Uint8Array;
  #staged = 0;
  /** Words scattered so far. */
  #done = 0;

  constructor(handle: FileHandle, path: string, nbytes: number, wordSize: number) {
    this.#handle = handle;
    this.#path = path;
    this.#wordSize = wordSize;
    this.#words = nbytes / wordSize;
    this.#stage = new Uint8Array(wordSize * (256 << 10));
  }

  async append(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length; ) {
      const n = Math.min(bytes.length - at, this.#stage.length - this.#staged);
      this.#stage.set(bytes.subarray(at, at + n), this.#staged);
      this.#staged += n;
      at += n;
      if (this.#staged === this.#stage.length) await this.#scatter();
    }
  }

  async #scatter(): Promise<void> {
    const w = this.#wordSize;
    const count = this.#staged / w;
    const lane = new Uint8Array(count);
    for (let j = 0; j < w; j++) {
      for (let i = 0; i < count; i++) lane[i] = this.#stage[i * w + j]!;
      try {
        await writeAt(this.#handle, [lane], j * this.#words + this.#done);
      } catch (cause) {
        throw ioError("write", this.#path, cause);
      }
    }
    this.#done += count;
    this.#staged = 0;
  }

  /** The shuffled bytes, in order, in blocks. */
  async *shuffled(): AsyncGenerator<Uint8Array> {
    if (this.#staged > 0) await this.#scatter();
    const total = this.#words * this.#wordSize;
    for (let at = 0; at < total; at += READ_BACK_BYTES) {
      const block = new Uint8Array(Math.min(READ_BACK_BYTES, total - at));
      let read: number;
      try {
        read = await readAt(this.#handle, block, at);
      } catch (cause) {
        throw ioError("read", this.#path, cause);
      }
      if (read < block.length) throw new Error("the shuffle scratch file is shorter than what was written to it");
      yield block;
    }
  }
}
