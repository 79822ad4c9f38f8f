/**
 * Sharded sets in a folder (FORMAT.md §12): {@link openSetFile} reads the index, then reaches each
 * shard as a file next to it, opened only when one of its arrays is read. `open` calls it for any
 * path ending in `.index.json`.
 *
 * A set may have more shards than a process may open files (1,024 by default on Linux), so its
 * reader keeps at most {@link MAX_OPEN_SHARD_FILES} shard files open: a shard's handle is closed
 * when another shard needs one and no read of it is in flight (the least recently used first), and
 * opened again when one of its arrays is read next, checked to be the same file as before.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { NdpackError } from "../errors.js";
import { abortable, type ByteSource, type CheckedBytes, type CheckedTail, type ReadRequestOptions } from "../io/source.js";
import type { ByteRange } from "../io/steps.js";
import { checkIndexSize } from "../set.js";
import { openSet, type OpenSetOptions, type SetReader } from "../set-reader.js";
import { FileSource } from "./file-source.js";

/** Most shard files one set reader holds open at once: well within the usual limit of 1,024 a process. */
export const MAX_OPEN_SHARD_FILES = 64;

/** The open files of one set reader's shards, at most `limit` at once; a read waits for a handle when all are in use. */
class ShardFiles {
  readonly #limit: number;
  /** Handles open or being opened. */
  #open = 0;
  /** Openings waiting after EMFILE: their slots hold no handle, so none of them will free one. */
  #stuck = 0;
  /** Open shards with no read in flight, least recently used first (a Set keeps insertion order). */
  readonly #idle = new Set<ShardFile>();
  /** Openings waiting for a slot, first in first out from {@link #head} (Array.shift moves every element: opening a set of 100,000 shards at once took seconds of it). */
  #waiting: (() => void)[] = [];
  #head = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Opens the shard at `path` for the first time: its handle stays open until another shard needs one. */
  async open(path: string): Promise<ShardFile> {
    await this.#slot();
    let first: FileSource;
    try {
      first = await this.#opened(() => FileSource.open(path));
    } catch (error) {
      this.#free();
      throw error;
    }
    const file = new ShardFile(this, first);
    this.#idle.add(file);
    this.#wakeOne();
    return file;
  }

  /** Runs `operation` on `file`'s handle, opened again (and checked to be the same file) if it was closed meanwhile. */
  async use<T>(file: ShardFile, operation: (source: FileSource) => Promise<T>): Promise<T> {
    if (file.closed) throw new NdpackError("CLOSED", `${file.first.path} is closed`, { path: file.first.path });
    file.users++;
    this.#idle.delete(file);
    try {
      if (file.current === undefined) {
        file.opening ??= this.#reopen(file).finally(() => (file.opening = undefined));
        file.current = await file.opening;
      }
      return await operation(file.current);
    } finally {
      file.users--;
      if (file.users === 0 && file.current !== undefined) {
        if (file.closed) await this.#close(file);
        else this.#idle.add(file);
        this.#wakeOne();
      }
    }
  }

  async #reopen(file: ShardFile): Promise<FileSource> {
    await this.#slot();
    try {
      return await this.#opened(() => file.first.reopen());
    } catch (error) {
      this.#free();
      throw error;
    }
  }

  /**
   * `open()`, making room when the process runs out of descriptors (EMFILE, ENFILE) before this
   * pool's limit does: the least recently used idle shard's handle is closed, else another slot's
   * handle is waited for; IO_ERROR when every other slot is an opening stuck here too.
   */
  async #opened(open: () => Promise<FileSource>): Promise<FileSource> {
    for (;;) {
      try {
        return await open();
      } catch (error) {
        const code = ((error as NdpackError).cause as NodeJS.ErrnoException | undefined)?.code;
        if (code !== "EMFILE" && code !== "ENFILE") throw error;
        // A closed idle handle frees its slot (this opening holds one already); else another slot's
        // handle (open, or being opened) will come free. Openings stuck here as well never will.
        if (await this.#closeIdle()) this.#free();
        else if (this.#open - this.#stuck > 1) {
          this.#stuck++;
          await new Promise<void>((resolve) => this.#waiting.push(resolve));
          this.#stuck--;
        } else {
          throw error;
        }
      }
    }
  }

  /** Takes a slot for a handle: a free one, else the least recently used idle shard's (its handle closed), else waits. */
  async #slot(): Promise<void> {
    for (;;) {
      if (this.#open < this.#limit) {
        this.#open++;
        return;
      }
      // Its slot is taken over.
      if (await this.#closeIdle()) return;
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  /** Closes the handle of the least recently used shard with no read in flight (its slot kept); false when there is none. */
  async #closeIdle(): Promise<boolean> {
    const [lru] = this.#idle;
    if (lru === undefined) return false;
    await this.#closeHandle(lru);
    return true;
  }

  /** Closes `file`'s handle; the slot it held is the caller's to free or take over. */
  async #closeHandle(file: ShardFile): Promise<void> {
    this.#idle.delete(file);
    const source = file.current!;
    file.current = undefined;
    await source.close();
  }

  #free(): void {
    this.#open--;
    this.#wakeOne();
  }

  #wakeOne(): void {
    const waiting = this.#waiting;
    if (this.#head === waiting.length) return;
    const next = waiting[this.#head++]!;
    // Dropped from the front once they are half of the array: each element is moved once.
    if (2 * this.#head >= waiting.length) {
      this.#waiting = waiting.slice(this.#head);
      this.#head = 0;
    }
    next();
  }

  /** Closes `file`'s handle now, or after its reads in flight. */
  async close(file: ShardFile): Promise<void> {
    file.closed = true;
    if (file.users === 0 && file.current !== undefined) await this.#close(file);
  }

  async #close(file: ShardFile): Promise<void> {
    await this.#closeHandle(file);
    this.#free();
  }
}

/** One shard file of a set, a {@link ByteSource} whose handle {@link ShardFiles} may close and open again between reads. */
class ShardFile implements ByteSource {
  users = 0;
  closed = false;
  current: FileSource | undefined;
  opening: Promise<FileSource> | undefined;

  constructor(
    readonly files: ShardFiles,
    /** The source of the first open, whose identity every reopening is checked against. */
    readonly first: FileSource,
  ) {
    this.current = first;
  }

  get size(): number {
    return this.first.size;
  }
  read(offset: number, length: number, options?: ReadRequestOptions): Promise<Uint8Array> {
    return this.files.use(this, (source) => source.read(offset, length, options));
  }
  readWithCrc32(offset: number, length: number, crcLength: number, options?: ReadRequestOptions): Promise<CheckedBytes> {
    return this.files.use(this, (source) => source.readWithCrc32(offset, length, crcLength, options));
  }
  readBatch(ranges: readonly ByteRange[], options?: ReadRequestOptions): Promise<Uint8Array[]> {
    return this.files.use(this, (source) => source.readBatch(ranges, options));
  }
  crc32(offset: number, length: number, crcLength: number, options?: ReadRequestOptions): Promise<CheckedTail> {
    return this.files.use(this, (source) => source.crc32(offset, length, crcLength, options));
  }
  close(): Promise<void> {
    return this.files.close(this);
  }
}

/**
 * Opens the set whose index is the file `path`: the index is read whole (once its size is known to
 * be within `maxIndexBytes`) and checked; each shard is the file of its name in the index's folder.
 * Errors: IO_ERROR for an index or shard that cannot be read (a missing shard: when one of its
 * arrays is read), FILE_CHANGED for a shard changed since the set reader first opened it, and those
 * of `openSet`.
 */
export async function openSetFile(path: string, options: OpenSetOptions = {}): Promise<SetReader> {
  const index = await FileSource.open(path);
  let bytes: Uint8Array;
  try {
    checkIndexSize(index.size, options, path);
    bytes = await abortable(options.signal, () => index.read(0, index.size, { signal: options.signal }));
  } finally {
    await index.close();
  }
  const folder = dirname(path);
  const files = new ShardFiles(MAX_OPEN_SHARD_FILES);
  return openSet(bytes, async (shard) => {
    const shardPath = join(folder, shard.name);
    return { source: await files.open(shardPath), name: shardPath };
  }, { name: path, ...options });
}
