/**
 * Writing sharded sets (FORMAT.md §12.4): {@link saveSet} for arrays in memory and
 * {@link createSetWriter} for data larger than memory, both atomic for the set as a whole. Each
 * shard is an ordinary ndpack file written by `save` or `createWriter` (so atomically: temporary
 * file, rename; without fsync, every shard being fsynced at once before the index is written) under
 * a name carrying a fresh generation tag; the index is written last,
 * with {@link AtomicFile}; only then are the replaced set's shards removed. A crash at any moment
 * leaves the old set readable (old index, old shards) or the new one.
 *
 * @example
 * ```ts
 * import { saveSet, open } from "ndpack/node";
 *
 * await saveSet("checkpoint", layers, { maxShardBytes: 2 << 30, metadata: { step: 1200 } });
 * await using set = await open("checkpoint/model.ndp.index.json");
 * ```
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { mkdir, open as openHandle, readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "../crc32.js";
import { entriesOf, nameLabel, prepareArray, type ArrayInput, type ArraysInput, type ArraySpec } from "../encode.js";
import { checkOptionNames, NdpackError, shown } from "../errors.js";
import {
  checkStem,
  GENERATION_HEX_DIGITS,
  parseSetIndex,
  planShards,
  setIndexFileName,
  shardFileName,
  shardHeaderEnd,
  shardPrefixLength,
  writeSetIndex,
  type ShardFormat,
  type WrittenShard,
} from "../set.js";
import { save, SAVE_OPTIONS, type SaveOptions } from "./fs.js";
import { AtomicFile, ioError, readAt, syncDirectory, toPath, withLock, writeAt, type PathLike } from "./io.js";
import { declareArrays, type WriterEntry } from "../formats/ndpack-write.js";
import { createWriter, type NdpackWriter, type WriterOptions } from "./writer.js";
import { WriterCalls } from "./writer-calls.js";

/**
 * Default largest total of array bytes per shard: 5 GB, Hugging Face's long-standing default
 * `max_shard_size`, below the 5 GiB that many object stores accept in one upload.
 */
export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;

/** What {@link saveSet} and {@link createSetWriter} take besides the arrays. */
interface SetLayoutOptions {
  /**
   * Largest total of array bytes (decoded sizes, `nbytes`) in one shard (default
   * {@link DEFAULT_MAX_SHARD_BYTES}). Arrays fill shards in order and are never split: one larger
   * than this gets a shard of its own. Each shard file is larger by its header, padding and CRCs.
   */
  readonly maxShardBytes?: number;
  /** Start of the index's and the shards' names (default `"model"`): `<stem>.ndp.index.json`, `<stem>-<gen>-00001-of-00004.ndp`; one that could not start a shard name (§12.1: a path, a control character, a character Windows forbids, a Windows device such as `CON`) is INVALID_ARGUMENT. */
  readonly stem?: string;
}

const SET_LAYOUT_OPTIONS = { maxShardBytes: true, stem: true } as const satisfies Record<keyof SetLayoutOptions, true>;

/** Options of {@link saveSet}: those of `save` (applied to every shard), plus the set's layout. `metadata` goes to the index. */
export interface SaveSetOptions extends SaveOptions, SetLayoutOptions {}

/** Options of {@link createSetWriter}: those of `createWriter` (applied to every shard), plus the set's layout. `metadata` goes to the index. */
export interface SetWriterOptions extends WriterOptions, SetLayoutOptions {}

/** What a set writer wrote. */
export interface SavedSet {
  /** Path of the index file. */
  readonly indexPath: string;
  /** The shards' file names (in the set's folder), in order. */
  readonly shards: readonly string[];
}

function checkMaxShardBytes(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_SHARD_BYTES;
  if (!(Number.isSafeInteger(value) && (value as number) > 0) && value !== Infinity) {
    throw new NdpackError("INVALID_ARGUMENT", `maxShardBytes must be a positive integer (or Infinity), got ${shown(value)}`, { field: "maxShardBytes" });
  }
  return value as number;
}

/**
 * What the index says of a complete shard file (§12.2): its size and header CRC, read back from the
 * file; with `durable`, the file is fsynced through the same descriptor (which flushes its data,
 * whoever wrote it).
 */
async function sealShard(path: string, name: string, format: ShardFormat, durable: boolean): Promise<{ size: number; headerCrc32: number }> {
  let handle;
  try {
    handle = await openHandle(path, "r");
  } catch (cause) {
    throw ioError("open", path, cause);
  }
  let action = "read back";
  try {
    const { size } = await handle.stat();
    const prefix = new Uint8Array(Math.min(size, shardPrefixLength({ format })));
    await readAt(handle, prefix, 0);
    // The shard was just written by this library: no header cap applies to it.
    const head = new Uint8Array(shardHeaderEnd({ name, format }, prefix, size, Number.MAX_SAFE_INTEGER));
    if ((await readAt(handle, head, 0)) < head.length) throw new Error("the shard is shorter than its header");
    if (durable) {
      action = "fsync";
      await handle.sync();
    }
    return { size, headerCrc32: crc32(head) };
  } catch (cause) {
    throw ioError(action, path, cause);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * The files of one set being written (FORMAT.md §12.4): picks the new generation tag, names the
 * shards, records each one once it is in place, writes the index last and removes the replaced
 * set's shards; or, on {@link abort}, removes the new shards. Shared by the library's set writers
 * and the CLI (which writes .safetensors shards too).
 */
export class SetFiles {
  readonly folder: string;
  readonly stem: string;
  readonly format: ShardFormat;
  readonly generation: string;
  readonly indexPath: string;
  readonly #durable: boolean;
  /** The complete shards, in order: what the index will list of each, but its size and header CRC (read back at commit). */
  readonly #written: Omit<WrittenShard, "size" | "headerCrc32">[] = [];
  /** Shard files of this generation that exist (complete or not yet listed): removed on abort; none once the index names them. */
  readonly #created: string[] = [];
  /** Aborted by {@link stop}: no shard is named after it, and the index is not replaced. */
  readonly #stop = new AbortController();

  private constructor(folder: string, stem: string, format: ShardFormat, generation: string, durable: boolean) {
    this.folder = folder;
    this.stem = stem;
    this.format = format;
    this.generation = generation;
    this.indexPath = join(folder, setIndexFileName(stem, format));
    this.#durable = durable;
  }

  /** Creates the folder if needed and picks a generation tag that no file in it uses yet. */
  static async begin(folder: PathLike, stem: unknown, format: ShardFormat, durable: boolean): Promise<SetFiles> {
    const path = toPath(folder, "folder");
    const checkedStem = checkStem(stem ?? "model");
    let existing: string[];
    try {
      await mkdir(path, { recursive: true });
      existing = await readdir(path);
    } catch (cause) {
      throw ioError("create the folder", path, cause);
    }
    for (;;) {
      const generation = randomBytes(GENERATION_HEX_DIGITS / 2).toString("hex");
      const prefix = `${checkedStem}-${generation}-`;
      if (!existing.some((name) => name.startsWith(prefix) || name.startsWith(`.${prefix}`))) return new SetFiles(path, checkedStem, format, generation, durable);
    }
  }

  /** File name of shard `number` (1-based) of `count`. */
  shardName(number: number, count: number): string {
    return shardFileName(this.stem, this.generation, number, count, this.format);
  }

  /** Path of shard `number` of `count`, noted so that {@link abort} removes it. */
  shardPath(number: number, count: number): string {
    this.#checkStopped();
    const name = this.shardName(number, count);
    this.#created.push(name);
    return join(this.folder, name);
  }

  /** Records shard `number` of `count`, now complete and in place, with its arrays and their decoded sizes. */
  added(number: number, count: number, arrays: readonly string[], nbytes: readonly number[]): void {
    this.#written.push({ name: this.shardName(number, count), arrays, nbytes });
  }

  /**
   * Makes the set durable, then current. The shards were written without fsync (each renamed into
   * place under its new name, which no index names yet): each is now read back for the index (size,
   * header CRC) and fsynced, all at once, and the folder once, so that the disk flushes them
   * together instead of one barrier per shard. Then, holding the index's lock (`<index>.lock`,
   * {@link withLock}), the index is written over the old one (atomically, fsynced), and the shards
   * the old index named that the new one does not are removed. An old index that cannot be read or
   * parsed is replaced, and none of its files is removed.
   */
  async commit(metadata: Readonly<Record<string, unknown>> | undefined): Promise<SavedSet> {
    this.#checkStopped();
    const shards = await Promise.all(this.#written.map(async (shard): Promise<WrittenShard> => ({ ...shard, ...(await sealShard(join(this.folder, shard.name), shard.name, this.format, this.#durable)) })));
    const text = new TextEncoder().encode(writeSetIndex(shards, metadata));
    if (this.#durable) {
      try {
        await syncDirectory(this.folder);
      } catch (cause) {
        throw ioError("fsync the folder", this.folder, cause);
      }
    }
    // Two writers of one set commit one after the other: each then removes the shards of the index
    // it replaces, the other's included (at once, both would remove the old set's and keep theirs).
    await withLock(this.indexPath, () => this.#replaceIndex(text), undefined, this.#stop.signal);
    return { indexPath: this.indexPath, shards: this.#written.map((shard) => shard.name) };
  }

  /** Writes the index over the old one, then removes the old index's shards that the new one does not name. */
  async #replaceIndex(text: Uint8Array): Promise<void> {
    let replaced: readonly string[] = [];
    try {
      replaced = parseSetIndex(new Uint8Array(await readFile(this.indexPath))).shards.map((shard) => shard.name);
    } catch {
      // No old set, or one this writer cannot read: nothing of it is removed.
    }
    const file = await AtomicFile.create(this.indexPath);
    try {
      await writeAt(file.handle, [text], 0);
      // The last moment a stop can still leave the old set in place.
      this.#checkStopped();
    } catch (cause) {
      await file.discard();
      throw ioError("write", file.tempPath, cause);
    }
    try {
      await file.commit(this.#durable);
    } catch (error) {
      // Past the rename the new index is in place (what failed is the folder's fsync): its shards
      // must stay, so nothing is left for abort to remove; the old set's shards stay too.
      if (file.renamed) this.#created.length = 0;
      throw error;
    }
    // The index names the new shards: an abort from now on leaves them.
    this.#created.length = 0;
    const kept = new Set(this.#written.map((shard) => shard.name));
    for (const name of replaced) if (!kept.has(name)) await unlink(join(this.folder, name)).catch(() => undefined);
  }

  /**
   * Stops writing the set, for a writer abandoned while one of its calls is in flight: no further
   * shard is named, and {@link commit} fails (CLOSED) unless it has replaced the index already.
   */
  stop(): void {
    if (!this.#stop.signal.aborted) this.#stop.abort(new NdpackError("CLOSED", `the set ${this.indexPath} was abandoned while it was written`, { path: this.indexPath }));
  }

  #checkStopped(): void {
    if (this.#stop.signal.aborted) throw this.#stop.signal.reason;
  }

  /** Stops writing the set and removes every shard of this generation written so far (unless the index names them already); the old set stays as it was. */
  async abort(): Promise<void> {
    this.stop();
    for (const name of this.#created.splice(0)) await unlink(join(this.folder, name)).catch(() => undefined);
  }
}

/**
 * The declaration of an array given in memory, as `createWriter` takes it (the array's data and
 * shape are checked here), and the array as its shard is to be written: from this one reading of
 * the caller's input (a spec whose getters answer differently each time had its shard hold other
 * arrays than the index counted, and than were checked).
 */
function declaration(name: unknown, input: ArrayInput): { entry: WriterEntry; spec: ArraySpec } {
  // The name only labels errors here; declareArrays checks it.
  const array = prepareArray(nameLabel(name), input);
  const codec = ArrayBuffer.isView(input) ? undefined : (input as ArraySpec).codec;
  const fields = { dtype: array.dtype.name, shape: array.shape, order: array.order, ...(codec === undefined ? {} : { codec }) };
  return { entry: { name: name as string, ...fields }, spec: { data: array.data, ...fields } };
}

/**
 * Saves named arrays as a sharded set in `folder` (created if missing), atomically for the set:
 * shards `<stem>-<gen>-00001-of-0000n.ndp`, each written by `save` (temporary file, rename; all
 * fsynced together once every shard is in place, unless `fsync: false`), then the index
 * `<stem>.ndp.index.json` (FORMAT.md §12), written last and atomically;
 * then the shards of the set it replaced are removed. At every moment the index names a complete
 * set: the old one until the index is renamed, the new one after. Arrays fill shards in order up
 * to `maxShardBytes` of array bytes each, never split. `metadata` goes to the index (with
 * `total_size`, the arrays' decoded bytes); the shards' own metadata is empty. The other options
 * are `save`'s, applied to every shard.
 *
 * Errors: argument errors as `encode` throws them, before any file is touched; INVALID_ARGUMENT for
 * `maxShardBytes`, `stem` or a `total_size` metadata key; IO_ERROR with the OS error as `cause`.
 * On failure the shards written so far are removed and the old set is left as it was. A process
 * killed mid-write can leave temporary files and complete shards that no index names.
 *
 * @example
 * ```ts
 * const { indexPath, shards } = await saveSet("out", { embed, head }, { maxShardBytes: 1 << 30, metadata: { step: 9 } });
 * ```
 */
export async function saveSet(folder: PathLike, arrays: ArraysInput, options: SaveSetOptions = {}): Promise<SavedSet> {
  checkOptionNames(options, { ...SAVE_OPTIONS, ...SET_LAYOUT_OPTIONS } satisfies Record<keyof SaveSetOptions, true>, "saveSet");
  const pairs = [...entriesOf(arrays)];
  const maxShardBytes = checkMaxShardBytes(options.maxShardBytes);
  const { metadata, maxShardBytes: _max, stem, ...shardOptions } = options;
  // Every argument is checked, across the whole set (names unique across shards), before any file is touched.
  const declarations = pairs.map(([name, input]) => declaration(name, input));
  const declared = declareArrays(declarations.map((d) => d.entry), shardOptions).arrays;
  writeSetIndex([], metadata);
  const sizes = declared.map((array) => array.nbytes);
  const groups = planShards(sizes, maxShardBytes);
  const files = await SetFiles.begin(folder, stem, "ndpack", options.fsync ?? true);
  try {
    for (const [i, group] of groups.entries()) {
      // Durability comes with the commit, for every shard at once.
      await save(files.shardPath(i + 1, groups.length), group.map((index) => [declared[index]!.name, declarations[index]!.spec] as const), { ...shardOptions, fsync: false });
      await files.added(i + 1, groups.length, group.map((index) => declared[index]!.name), group.map((index) => sizes[index]!));
    }
    return await files.commit(metadata);
  } catch (error) {
    await files.abort();
    throw error;
  }
}

/**
 * Receives the bytes of the declared arrays, in declaration order, across the shards of a set:
 * the same `write(name, chunk)` as {@link NdpackWriter}. Each shard is closed (renamed into place)
 * as soon as its last array is complete; {@link close} writes the index.
 */
export interface SetWriter extends AsyncDisposable {
  /** The declared names, in set order. */
  readonly names: readonly string[];
  /** The array the next bytes belong to, or `undefined` when all are complete. */
  readonly current: string | undefined;
  /** Path of the index that {@link close} writes. */
  readonly indexPath: string;
  /** As {@link NdpackWriter.write}: WRITE_SIZE for bytes out of order or too many, NOT_FOUND for an undeclared name. */
  write(name: string, chunk: ArrayBufferView): Promise<void>;
  /** Writes every chunk of `chunks` with {@link write}. */
  writeAll(name: string, chunks: Iterable<ArrayBufferView> | AsyncIterable<ArrayBufferView>): Promise<void>;
  /** Finishes the set: WRITE_SIZE unless every array is complete; then writes the index and removes the replaced set's shards. */
  close(): Promise<SavedSet>;
  /**
   * Abandons the set: the shards written so far are removed (those a call in flight puts in place
   * too, once it has ended), the old set is left as it was. A call in flight rejects with `reason`
   * (default: CLOSED), unless it is a `close()` that had already written the index: the set is then
   * complete and stays.
   */
  abort(reason?: unknown): Promise<void>;
  /** `abort()` unless {@link close} succeeded. */
  [Symbol.asyncDispose](): Promise<void>;
}

class ShardedWriter implements SetWriter {
  readonly names: readonly string[];
  readonly #entries: readonly WriterEntry[];
  readonly #nbytes: readonly number[];
  readonly #groups: readonly (readonly number[])[];
  readonly #shardOf: ReadonlyMap<string, number>;
  readonly #files: SetFiles;
  readonly #options: WriterOptions;
  readonly #metadata: Readonly<Record<string, unknown>> | undefined;
  /** The shard being written: every shard before it is complete and in place. */
  #shard = 0;
  /** The writer of shard `#shard`, once its first bytes came. */
  #writer: NdpackWriter | undefined;
  readonly #calls = new WriterCalls("the set writer", undefined, async (error) => {
    // A call in flight (a write opening or closing a shard, close writing the index) names no
    // shard and replaces no index from now on, and the shard being written stops at once; the
    // files are removed once that call has ended, the shards it put in place meanwhile included.
    this.#files.stop();
    await this.#writer?.abort(error);
    await this.#calls.settled();
    await this.#writer?.abort(error);
    await this.#files.abort();
  });

  constructor(entries: readonly WriterEntry[], nbytes: readonly number[], groups: readonly (readonly number[])[], files: SetFiles, options: WriterOptions, metadata: Readonly<Record<string, unknown>> | undefined) {
    this.#entries = entries;
    this.names = Object.freeze(entries.map((entry) => entry.name));
    this.#nbytes = nbytes;
    this.#groups = groups;
    this.#shardOf = new Map(groups.flatMap((group, shard) => group.map((index) => [entries[index]!.name, shard] as const)));
    this.#files = files;
    this.#options = options;
    this.#metadata = metadata;
  }

  get indexPath(): string {
    return this.#files.indexPath;
  }

  get current(): string | undefined {
    if (this.#writer !== undefined) return this.#writer.current;
    // No shard open: the first array, from the shard to write next, that has bytes to receive
    // (found without copying the groups after it: a loop over `current` would be quadratic).
    for (let shard = this.#shard; shard < this.#groups.length; shard++) {
      for (const index of this.#groups[shard]!) if (this.#nbytes[index]! > 0) return this.names[index];
    }
    return undefined;
  }

  async #openShard(): Promise<NdpackWriter> {
    const group = this.#groups[this.#shard]!;
    // Durability comes with the commit, for every shard at once.
    this.#writer = await createWriter(this.#files.shardPath(this.#shard + 1, this.#groups.length), group.map((index) => this.#entries[index]!), { ...this.#options, fsync: false });
    return this.#writer;
  }

  /**
   * Completes every shard before `shard`: each must have all its bytes (WRITE_SIZE otherwise, as
   * `createWriter` says it), and is closed, which renames it into place, and recorded.
   */
  async #completeBefore(shard: number, operation: string): Promise<void> {
    while (this.#shard < shard) {
      const writer = this.#writer ?? (await this.#openShard());
      const open = writer.current;
      if (open !== undefined) {
        const expected = this.#nbytes[this.names.indexOf(open)]!;
        throw new NdpackError("WRITE_SIZE", `${operation}: array "${open}" did not get all its ${expected} bytes; arrays are written whole, in the declared order`, { array: open, expected });
      }
      await writer.close();
      const group = this.#groups[this.#shard]!;
      await this.#files.added(this.#shard + 1, this.#groups.length, group.map((index) => this.names[index]!), group.map((index) => this.#nbytes[index]!));
      this.#writer = undefined;
      this.#shard++;
    }
  }

  write(name: string, chunk: ArrayBufferView): Promise<void> {
    return this.#calls.run(async () => {
      const shard = this.#shardOf.get(name);
      if (shard === undefined) throw new NdpackError("NOT_FOUND", `write("${name}"): no array of that name was declared`, { array: name });
      if (shard < this.#shard) {
        // No bytes for an array of a shard already in place (a zero-size one included): nothing to do.
        if (chunk.byteLength === 0) return;
        const nbytes = this.#nbytes[this.names.indexOf(name)]!;
        throw new NdpackError("WRITE_SIZE", `write("${name}"): array "${name}" already has all its ${nbytes} bytes`, { array: name, expected: nbytes, actual: nbytes + chunk.byteLength });
      }
      await this.#completeBefore(shard, `write("${name}")`);
      const writer = this.#writer ?? (await this.#openShard());
      await writer.write(name, chunk);
      // A complete shard goes into place at once, so that a long write keeps little unfinished.
      if (writer.current === undefined) await this.#completeBefore(shard + 1, `write("${name}")`);
    });
  }

  async writeAll(name: string, chunks: Iterable<ArrayBufferView> | AsyncIterable<ArrayBufferView>): Promise<void> {
    for await (const chunk of chunks) await this.write(name, chunk);
  }

  close(): Promise<SavedSet> {
    return this.#calls.close(async () => {
      await this.#completeBefore(this.#groups.length, "close()");
      return this.#files.commit(this.#metadata);
    });
  }

  async abort(reason?: unknown): Promise<void> {
    await this.#calls.fail(reason ?? new NdpackError("CLOSED", "the set writer was aborted"));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#calls.open) await this.abort(new NdpackError("CLOSED", "the set writer was disposed of without close()"));
  }
}

/**
 * Creates a writer of a sharded set in `folder`, for data larger than memory: declare every array
 * (as for `createWriter`), then write each array's bytes in order, in chunks of any size, and
 * `close()`. Shards are filled in order (up to `maxShardBytes` of array bytes each, arrays never
 * split), each written by `createWriter` to a path and renamed into place once complete; `close()`
 * writes the index last, atomically, then removes the replaced set's shards (FORMAT.md §12.4).
 * Memory use is that of one `createWriter`. `metadata` goes to the index; other options are
 * `createWriter`'s, applied to every shard.
 *
 * Errors: as `createWriter` (argument errors before any file is touched, WRITE_SIZE, NOT_FOUND,
 * IO_ERROR); INVALID_ARGUMENT for `maxShardBytes`, `stem` or a `total_size` metadata key. Any
 * error aborts the writer: the shards written so far are removed, the old set is left as it was.
 *
 * @example
 * ```ts
 * const writer = await createSetWriter("frames", [{ name: "video", dtype: "uint8", shape: [n, 480, 640] }, ...], { maxShardBytes: 1 << 30 });
 * for await (const frame of camera()) await writer.write("video", frame);
 * await writer.close();
 * ```
 */
export async function createSetWriter(folder: PathLike, entries: readonly WriterEntry[], options: SetWriterOptions = {}): Promise<SetWriter> {
  checkOptionNames(options, { ...SAVE_OPTIONS, ...SET_LAYOUT_OPTIONS } satisfies Record<keyof SetWriterOptions, true>, "createSetWriter");
  const maxShardBytes = checkMaxShardBytes(options.maxShardBytes);
  const { metadata, maxShardBytes: _max, stem, ...shardOptions } = options;
  // Every declaration and option is checked, across the whole set, before any file is touched.
  const arrays = declareArrays(entries, shardOptions).arrays;
  // The shards' writers are declared from this one reading of the entries: a getter that answered
  // differently later had a shard's writer disagree with the set's names and sizes.
  const checked = arrays.map((array): WriterEntry => ({ name: array.name, dtype: array.dtype.name, shape: array.shape, order: array.order, codec: array.codec }));
  const nbytes = arrays.map((array) => array.nbytes);
  writeSetIndex([], metadata);
  const files = await SetFiles.begin(folder, stem, "ndpack", options.fsync ?? true);
  return new ShardedWriter(checked, nbytes, planShards(nbytes, maxShardBytes), files, shardOptions, metadata);
}
