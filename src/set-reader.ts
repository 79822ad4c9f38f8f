/**
 * A sharded set read as one file (FORMAT.md §12): {@link openSet} takes a set's index and a way to
 * reach each shard's bytes, and returns the same lazy reader as `openSource` (names, read,
 * readRows, readMany, readChunks, verify, bytesRead, close). A shard is opened only when one of its
 * arrays is read: its size and header CRC are checked against the index first, then its header is
 * read as any file's is, then its arrays are checked to be exactly those the index maps to it.
 * Transports (a folder in `ndpack/node`, HTTP) only say how to reach a shard.
 *
 * @example
 * ```ts
 * const index = new Uint8Array(await (await fetch(indexUrl)).arrayBuffer());
 * const set = await openSet(index, async (shard) => ({ source: await rangeSource(new URL(encodeURIComponent(shard.name), indexUrl)), name: shard.name }));
 * const weight = await set.read("lm_head.weight"); // opens one shard: its header, then this array
 * ```
 *
 * @module
 */
import { concatBytes } from "./bytes.js";
import { crc32 } from "./crc32.js";
import type { ArrayInfo, ArrayVerification, NdArray, VerifyReport } from "./decode.js";
import { checkNameList, checkOptionNames, NdpackError, shown } from "./errors.js";
import type { Checksum } from "./format.js";
import { NDPACK_READER } from "./formats/ndpack.js";
import { SAFETENSORS_READER } from "./formats/safetensors.js";
import type { FormatName, FormatReader } from "./formats/types.js";
import { parseUrl } from "./io/http.js";
import { isMemorySource } from "./io/bytes.js";
import { abortable, readExactly, signalOption, type ByteSource, type ReadRequestOptions } from "./io/source.js";
import { openSource, type NdpackReader, type OpenSourceOptions, type ReadChunksOptions, type ReadManyArraysOptions, type ReadOptions } from "./reader.js";
import {
  checkIndexSize,
  checkShardHeader,
  checkShardNames,
  checkShardSize,
  parseSetIndex,
  SET_INDEX_VERSION,
  shardHeaderEnd,
  shardPrefixLength,
  type SetIndex,
  type SetIndexLimits,
  type SetShard,
} from "./set.js";

/** A shard's bytes, as a transport reaches them: a source and what messages call it (a path, a URL). */
export interface OpenedShard {
  /** The shard's bytes. */
  readonly source: ByteSource;
  /** The shard's path or URL, for messages. */
  readonly name: string;
}

/** How a set reader reaches a shard: called once per shard, when an array of it is first read. */
export type ShardOpener = (shard: SetShard, options: ReadRequestOptions) => Promise<OpenedShard>;

/** The formats a shard may have (FORMAT.md §12): a set reads both whatever `formats` its caller gives. */
const SHARD_FORMATS: readonly FormatReader[] = [NDPACK_READER, SAFETENSORS_READER];

/** Options of {@link openSet}: the shards' read options and limits, which also apply to the index (`maxDepth`, `maxArrays`, `maxHeaderNodes`, `maxNameBytes`), and the index's size limit. */
export interface OpenSetOptions extends Omit<OpenSourceOptions, "format" | "firstReadBytes"> {
  /** Largest index accepted, in bytes (default `DEFAULT_MAX_INDEX_BYTES`, 100 MiB). */
  readonly maxIndexBytes?: SetIndexLimits["maxIndexBytes"];
}

/** One shard's result in a {@link SetVerifyReport}. */
export interface ShardVerification {
  /** The shard's file name. */
  readonly name: string;
  /** True when the shard matches the index and every array of it passed. */
  readonly ok: boolean;
  /** Why the shard could not be opened or does not match the index, when it could not or does not. */
  readonly error?: NdpackError;
  /** Its arrays' results (each carrying the shard's error when it could not be opened), in index order. */
  readonly arrays: readonly ArrayVerification[];
}

/** The result of a set reader's `verify`: every shard and every array, each on its own. */
export interface SetVerifyReport extends VerifyReport {
  /** Each shard's result, in index order. */
  readonly shards: readonly ShardVerification[];
}

/**
 * The lazy reader of a whole set: an {@link NdpackReader} over all its shards, plus the index.
 *
 * What differs from a single file's reader: `metadata` is the index's (without `total_size`);
 * `info(name)` needs the header of the array's shard, which is read on the first read of one of
 * its arrays or by {@link SetReader.openShards} (until then it throws INVALID_ARGUMENT);
 * `alignment` is 1 and `checksum` is that of the shards whose headers were read ("none" before
 * any is, or when any shard has none); `byteLength` is the total size of the shards when the index
 * lists them (`ndpack`), else of the shards opened so far; `format` is the shards' format
 * (`"ndpack"` when they mix formats).
 */
export interface SetReader extends NdpackReader {
  /** The set's index, as parsed and checked. */
  readonly index: SetIndex;
  /** Byte length of shard `name` (a file name of `index.shards`): from the index when it lists it, else once the shard is open; `undefined` otherwise. */
  shardLength(name: string): number | undefined;
  /** Opens the shards holding `names` (default: every shard), reading and checking their headers, so that `info` answers for their arrays. */
  openShards(names?: readonly string[], options?: ReadRequestOptions): Promise<void>;
  /** Verifies every shard and every array, each on its own (FORMAT.md §12.3), opening every shard; never throws for a broken set or damaged data. */
  verify(options?: { readonly signal?: AbortSignal }): Promise<SetVerifyReport>;
}

/** Bytes read from a shard before its header is checked: the preamble and most headers, in one page. */
const SHARD_FIRST_READ_BYTES = 4096;

/**
 * A shard's source with its first bytes (read for the header check) served from memory, and every
 * read counted. Bytes served from memory are copies, as an HTTP source's kept bytes are: an array
 * handed out is the caller's alone, and transferring it must not detach the next one's.
 */
class ShardSource implements ByteSource {
  /** The inner source's {@link ByteSource.crc32}, when it has one (a shard file), its first bytes served from memory as `read`'s are. */
  readonly crc32: ByteSource["crc32"];
  /** The inner source's {@link ByteSource.readWithCrc32}, when it has one (a file reads in pieces, each checked as it lands; an HTTP body chunk by chunk). */
  readonly readWithCrc32: ByteSource["readWithCrc32"];
  constructor(
    readonly inner: ByteSource,
    readonly head: Uint8Array,
    readonly count: (bytes: number) => void,
  ) {
    if (inner.crc32 !== undefined) {
      this.crc32 = async (offset, length, crcLength, options) => {
        if (offset + length <= head.length) return { crc: crc32(head.subarray(offset, offset + crcLength)), tail: head.subarray(offset + crcLength, offset + length) };
        const checked = await inner.crc32!(offset, length, crcLength, options);
        count(length);
        return checked;
      };
    }
    if (inner.readWithCrc32 !== undefined) {
      this.readWithCrc32 = async (offset, length, crcLength, options) => {
        if (offset + length <= head.length) return { bytes: head.slice(offset, offset + length), crc: crc32(head.subarray(offset, offset + crcLength)) };
        const checked = await inner.readWithCrc32!(offset, length, crcLength, options);
        count(checked.bytes.length);
        return checked;
      };
    }
  }
  get size(): number {
    return this.inner.size;
  }
  async read(offset: number, length: number, options?: ReadRequestOptions): Promise<Uint8Array> {
    if (offset + length <= this.head.length) return this.head.slice(offset, offset + length);
    const bytes = await this.inner.read(offset, length, options);
    this.count(bytes.length);
    // A shard in memory (bytesSource) reads as views of the caller's bytes: copied too, since its
    // reader takes this source for one whose reads are its own (arrays say copied: true).
    return isMemorySource(this.inner) ? bytes.slice() : bytes;
  }
  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}

/**
 * `error` naming the shard it came from (its message prefixed with the shard's path or URL, which
 * also becomes `path`), so that a failure in a set says which file is broken; errors that name a
 * file already are kept as they are.
 */
function inShard(error: unknown, shardName: string): unknown {
  // Errors of a transport name their file already (a path; a URL, for HTTP errors).
  if (!(error instanceof NdpackError) || error.path !== undefined || (error as { url?: unknown }).url !== undefined || error.code === "CLOSED") return error;
  // Every structured field is kept (the spread copies them all), the shard's name is added.
  return new NdpackError(error.code, `${shardName}: ${error.message}`, { ...error, path: shardName, cause: error.cause ?? error });
}

class ShardedReader implements SetReader {
  readonly index: SetIndex;
  readonly path: string | undefined;
  readonly #openShard: ShardOpener;
  readonly #options: OpenSetOptions;
  readonly #shards = new Map<SetShard, Promise<NdpackReader>>();
  readonly #opened = new Map<SetShard, NdpackReader>();
  /** The shards by file name. */
  readonly #shardNamed: ReadonlyMap<string, SetShard>;
  readonly #pending = new Set<Promise<unknown>>();
  #bytesRead: number;
  #readCount: number;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(index: SetIndex, indexBytes: number, openShard: ShardOpener, options: OpenSetOptions) {
    this.index = index;
    this.path = options.name;
    this.#openShard = openShard;
    this.#options = options;
    this.#bytesRead = indexBytes;
    this.#readCount = indexBytes > 0 ? 1 : 0;
    this.#shardNamed = new Map(index.shards.map((shard) => [shard.name, shard]));
  }

  get format(): FormatName {
    const formats = new Set(this.index.shards.map((shard) => shard.format));
    return formats.size === 1 ? [...formats][0]! : "ndpack";
  }
  get version() {
    return { major: SET_INDEX_VERSION, minor: 0 };
  }
  get alignment(): number {
    return 1;
  }
  get checksum(): Checksum {
    const opened = [...this.#opened.values()];
    return opened.length > 0 && opened.every((reader) => reader.checksum === "crc32") ? "crc32" : "none";
  }
  get metadata() {
    return this.index.metadata;
  }
  get names() {
    return this.index.names;
  }
  get size() {
    return this.index.names.length;
  }
  get byteLength(): number {
    if (this.index.checked) return this.index.shards.reduce((sum, shard) => sum + shard.size!, 0);
    return [...this.#opened.values()].reduce((sum, reader) => sum + reader.byteLength, 0);
  }
  get bytesRead() {
    return this.#bytesRead;
  }
  /** A set's shards are .ndp and .safetensors files, which hold nothing else. */
  get ignored(): readonly string[] {
    return [];
  }
  get readCount() {
    return this.#readCount;
  }
  get closed() {
    return this.#closed;
  }

  has(name: string): boolean {
    return this.index.shardOf.has(name);
  }

  shardLength(name: string): number | undefined {
    const shard = this.#shardNamed.get(name);
    return shard === undefined ? undefined : (shard.size ?? this.#opened.get(shard)?.byteLength);
  }

  #shardOf(name: string): SetShard {
    const shard = this.index.shardOf.get(name);
    if (shard !== undefined) return shard;
    throw new NdpackError("NOT_FOUND", `no array named ${shown(name)} in the set ${this.path ?? ""}`.trimEnd(), { array: name, ...(this.path === undefined ? {} : { path: this.path }) });
  }

  info(name: string): ArrayInfo {
    const shard = this.#shardOf(name);
    const reader = this.#opened.get(shard);
    if (reader === undefined) {
      throw new NdpackError("INVALID_ARGUMENT", `array ${shown(name)} is in shard ${shard.name}, whose header has not been read yet: read the array, or call openShards() first`, { array: name, field: "name" });
    }
    return reader.info(name);
  }

  #track<T>(run: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new NdpackError("CLOSED", `the reader of the set ${this.path ?? ""} is closed`.trimEnd(), this.path === undefined ? {} : { path: this.path }));
    // Called in an async function: a throw of `run` (NOT_FOUND for a name not in the set) rejects,
    // as a file reader's methods do, instead of throwing at the call.
    const promise = (async () => run())();
    this.#pending.add(promise);
    const done = () => this.#pending.delete(promise);
    promise.then(done, done);
    return promise;
  }

  /**
   * The reader of `shard`, opened (and checked) once for every caller; a failed open is tried
   * again next time. The opening is shared, so no caller's signal cancels it (a read without one
   * joining it failed ABORTED): each caller's wait ends at its own abort (ABORTED).
   */
  #reader(shard: SetShard, signal: AbortSignal | undefined): Promise<NdpackReader> {
    return abortable(signal, () => {
      let opening = this.#shards.get(shard);
      if (opening === undefined) {
        opening = this.#open(shard);
        this.#shards.set(shard, opening);
        opening.then(
          (reader) => this.#opened.set(shard, reader),
          () => this.#shards.delete(shard),
        );
      }
      return opening;
    });
  }

  /** FORMAT.md §12.3 steps 1 to 5 for one shard. */
  async #open(shard: SetShard): Promise<NdpackReader> {
    const { source, name } = await this.#openShard(shard, {});
    try {
      return await this.#checked(shard, source, name);
    } catch (error) {
      throw inShard(error, name);
    }
  }

  async #checked(shard: SetShard, source: ByteSource, name: string): Promise<NdpackReader> {
    const count = (bytes: number) => {
      this.#bytesRead += bytes;
      this.#readCount++;
    };
    let head: Uint8Array = new Uint8Array(0);
    try {
      checkShardSize(shard, source.size);
      if (this.index.checked) {
        head = await readExactly(source, 0, Math.min(source.size, SHARD_FIRST_READ_BYTES));
        count(head.length);
        const end = shardHeaderEnd(shard, head.subarray(0, shardPrefixLength(shard)), source.size, this.#options.maxHeaderBytes);
        if (end > head.length) {
          // An ndpack header is followed by padding up to its data section: take it up to the next page too.
          const upTo = shard.format === "ndpack" ? Math.min(source.size, Math.ceil(end / SHARD_FIRST_READ_BYTES) * SHARD_FIRST_READ_BYTES) : end;
          const rest = await readExactly(source, head.length, upTo - head.length);
          count(rest.length);
          head = concatBytes([head, rest]);
        }
        checkShardHeader(shard, head.subarray(0, end));
      }
    } catch (error) {
      await source.close?.().catch(() => undefined);
      throw error;
    }
    // openSource closes the source when it fails. A shard is .ndp or .safetensors (§12), whatever formats the caller named.
    // The set's options but the index's own (maxIndexBytes), which openSource would refuse.
    const { maxIndexBytes: _index, ...shardOptions } = this.#options;
    const reader = await openSource(new ShardSource(source, head, count), { ...shardOptions, formats: SHARD_FORMATS, name, format: shard.format, firstReadBytes: head.length || undefined });
    try {
      checkShardNames(this.index, shard, reader.names);
    } catch (error) {
      await reader.close();
      throw error;
    }
    return reader;
  }

  openShards(names?: readonly string[], options: ReadRequestOptions = {}): Promise<void> {
    return this.#track(async () => {
      const shards = names === undefined ? this.index.shards : [...new Set(names.map((name) => this.#shardOf(name)))];
      await Promise.all(shards.map((shard) => this.#reader(shard, options.signal)));
    });
  }

  /** Runs `operation` on the reader of `shard`, its errors naming the shard. */
  async #withShard<T>(shard: SetShard, options: ReadRequestOptions, operation: (reader: NdpackReader) => Promise<T>): Promise<T> {
    const reader = await this.#reader(shard, options.signal);
    try {
      return await operation(reader);
    } catch (error) {
      throw inShard(error, reader.path ?? shard.name);
    }
  }

  read(name: string, options: ReadOptions = {}): Promise<NdArray> {
    return this.#track(() => this.#withShard(this.#shardOf(name), options, (reader) => reader.read(name, options)));
  }

  readRows(name: string, start: number, end: number, options: ReadOptions = {}): Promise<NdArray> {
    return this.#track(() => this.#withShard(this.#shardOf(name), options, (reader) => reader.readRows(name, start, end, options)));
  }

  readMany(names: readonly string[], options: ReadManyArraysOptions = {}): Promise<Map<string, NdArray>> {
    return this.#track(async () => {
      checkNameList(names, "readMany");
      const byShard = new Map<SetShard, string[]>();
      for (const name of names) {
        const shard = this.#shardOf(name);
        const group = byShard.get(shard);
        if (group === undefined) byShard.set(shard, [name]);
        else group.push(name);
      }
      // Every shard's reads end before a failure is reported: none goes on reading after it.
      const parts = await Promise.allSettled([...byShard].map(([shard, group]) => this.#withShard(shard, options, (reader) => reader.readMany(group, options))));
      const found = new Map<string, NdArray>();
      for (const part of parts) {
        if (part.status === "rejected") throw part.reason;
        for (const [name, array] of part.value) found.set(name, array);
      }
      return new Map(names.map((name) => [name, found.get(name)!]));
    });
  }

  readChunks(name: string, options: ReadChunksOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const shard = this.#shardOf(name);
    if (this.#closed) throw new NdpackError("CLOSED", `the reader of the set ${this.path ?? ""} is closed`.trimEnd());
    // Tracked: a shard is not opened once the set is closed (CLOSED), and close waits for an opening.
    const reader = () => this.#track(() => this.#reader(shard, options.signal));
    return (async function* () {
      const opened = await reader();
      try {
        yield* opened.readChunks(name, options);
      } catch (error) {
        throw inShard(error, opened.path ?? shard.name);
      }
    })();
  }

  async verify(options: { readonly signal?: AbortSignal } = {}): Promise<SetVerifyReport> {
    // Checked before the loop, which reports a shard's errors as its arrays'.
    checkOptionNames(options, { signal: true }, "verify");
    signalOption(options.signal);
    const shards: ShardVerification[] = [];
    for (const shard of this.index.shards) {
      try {
        const report = await this.#track(() => this.#withShard(shard, options, (reader) => reader.verify(options)));
        const byName = new Map(report.arrays.map((array) => [array.name, array]));
        const arrays = shard.arrays.map((name): ArrayVerification => {
          const result = byName.get(name)!;
          return result.error === undefined ? result : { ...result, error: inShard(result.error, this.#opened.get(shard)?.path ?? shard.name) as NdpackError };
        });
        shards.push({ name: shard.name, ok: arrays.every((array) => array.ok), arrays });
      } catch (error) {
        // A shard that cannot be opened, or does not match the index, fails with all its arrays.
        if (!(error instanceof NdpackError) || error.code === "CLOSED" || error.code === "ABORTED") throw error;
        shards.push({ name: shard.name, ok: false, error, arrays: shard.arrays.map((name) => ({ name, ok: false, error })) });
      }
    }
    const byName = new Map(shards.flatMap((shard) => shard.arrays.map((array) => [array.name, array] as const)));
    const arrays = this.index.names.map((name) => byName.get(name)!);
    return { ok: shards.every((shard) => shard.ok), checksum: this.checksum, arrays, shards };
  }

  close(): Promise<void> {
    // Every call resolves once the shards are closed, not only the first (as a file's reader).
    this.#closing ??= (async () => {
      this.#closed = true;
      await Promise.allSettled(this.#pending);
      const readers = await Promise.allSettled(this.#shards.values());
      await Promise.all(readers.map((result) => (result.status === "fulfilled" ? result.value.close() : undefined)));
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Opens a sharded set (FORMAT.md §12) for lazy reading from its index's bytes and a
 * {@link ShardOpener} that reaches each shard. The index is parsed and checked at once (every
 * shard name is checked safe before any shard is reached); shards are opened when one of their
 * arrays is first read, and checked against the index then.
 *
 * Errors: those of `parseSetIndex` (SET_INVALID, LIMIT_EXCEEDED, UNSUPPORTED_VERSION); later, per
 * shard: the opener's (IO_ERROR, HTTP_ERROR...), FILE_CHANGED (size or header CRC differs from the
 * index), HEADER_TOO_LARGE, the shard's format errors, SET_INVALID (its arrays are not those the
 * index maps to it).
 */
export async function openSet(indexBytes: Uint8Array, openShard: ShardOpener, options: OpenSetOptions = {}): Promise<SetReader> {
  const index = parseSetIndex(indexBytes, options);
  return new ShardedReader(index, indexBytes.length, openShard, options);
}

/**
 * The URL of `shard` in the set whose index is at `indexUrl`: its name, percent-encoded as one
 * path segment, resolved against the index's URL (FORMAT.md §12.1), so that `#`, `?`, `%` and
 * spaces in a shard name stay part of the path.
 */
export function shardUrl(indexUrl: string | URL, shard: Pick<SetShard, "name">): string {
  return new URL(encodeURIComponent(shard.name), indexUrl).href;
}

/**
 * Opens a set whose index is at `indexUrl`, reaching the index and then each shard (at
 * {@link shardUrl}, when one of its arrays is first read) with `openUrl`, which gives a
 * {@link ByteSource} for a URL (an HTTP Range source, a cache, an object store client). The index
 * is read whole once its size is known to be within `maxIndexBytes`. Errors: those of
 * {@link openSet}, LIMIT_EXCEEDED for an index over `maxIndexBytes`, and `openUrl`'s own.
 */
export async function openSetAt(indexUrl: string | URL, openUrl: (url: string, options: ReadRequestOptions) => Promise<ByteSource>, options: OpenSetOptions = {}): Promise<SetReader> {
  const url = parseUrl(indexUrl).href;
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const source = await openUrl(url, signal);
  let bytes: Uint8Array;
  try {
    checkIndexSize(source.size, options, url);
    bytes = await readExactly(source, 0, source.size, options.signal);
  } finally {
    await source.close?.().catch(() => undefined);
  }
  return openSet(bytes, async (shard, readOptions) => {
    const location = shardUrl(url, shard);
    return { source: await openUrl(location, readOptions), name: location };
  }, { name: url, ...options });
}
