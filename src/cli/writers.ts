/**
 * Writing arrays read with the one reader to a file of any format, one chunk at a time:
 * `ndpack convert`, `pack` and `extract` all end here. Every output is written atomically (a
 * temporary file renamed over the path once complete), so a failed command leaves the path as it was.
 *
 * What each format holds in memory while writing: ndpack (through `createWriter`), .npy and .npz, one
 * chunk of the array being copied; .safetensors, one chunk too, except for Fortran-order arrays
 * with more than one dimension longer than 1, which are read whole to be written in C order
 * (safetensors has no other).
 *
 * @module
 */
import { basename, dirname } from "node:path";
import { copySwapped } from "../bytes.js";
import { DTYPES, type Dtype } from "../dtypes.js";
import { NdpackError } from "../errors.js";
import { DEFAULT_LIMITS, type ByteOrder, type Checksum, type Codec } from "../format.js";
import { cOrderBytes } from "../interop/common.js";
import { npyByteOrder, writeNpyHeader } from "../interop/npy.js";
import { NPZ_NDPACK_MEMBER, toNpz } from "../interop/npz.js";
import { toSafetensors } from "../interop/safetensors.js";
import { stringifyJson } from "../json.js";
import { AtomicFile, FileSink, ioError } from "../node/io.js";
import { SetFiles } from "../node/set-writer.js";
import { createWriter } from "../node/writer.js";
import { planShards, setIndexFileName, writeSetIndex } from "../set.js";
import { HOST_BYTE_ORDER } from "../runtime.js";
import { FileError, usageError, withFile } from "./errors.js";
import type { NdpackReader } from "../reader.js";
import { bytesOf, chunksOf, formatLabel, type ArrayEntry, type FileFormat } from "./formats.js";
import { ZipStreamWriter } from "./zip-stream.js";
import { copyDeflatedMember } from "./deflate-reuse.js";
import { DEFAULT_COMPRESSION_LEVEL } from "../compress.js";

/** One array to write: `entry` of `file`, written under `name`. */
export interface OutputArray {
  readonly name: string;
  readonly file: NdpackReader;
  readonly entry: ArrayEntry;
}

/** How to write. Options a format cannot honour are usage errors (INVALID_ARGUMENT). */
export interface WriteOptions {
  readonly format: FileFormat;
  readonly metadata: Readonly<Record<string, unknown>>;
  /**
   * ndpack: the codec of every array (`undefined`: each array keeps its source's compression).
   * .npz: deflate the members when not `"none"` (`undefined`: when any source array is compressed).
   */
  readonly codec?: Codec;
  readonly compressionLevel?: number;
  /** ndpack only. */
  readonly alignment?: number;
  /** ndpack only. */
  readonly checksum?: Checksum;
  /** ndpack, .npy, .npz. Default `"little"`. */
  readonly byteOrder?: ByteOrder;
  /** Called with the number of array bytes each time a chunk has been written. */
  readonly onProgress?: (bytes: number) => void;
  /**
   * .npy only: fsync the output's directory after the rename (default true). `extract` writes many
   * files into one directory and fsyncs it once, at the end.
   */
  readonly syncDirectory?: boolean;
  /** Write through a symbolic link at the path instead of refusing it (`--follow-symlinks`; see `AtomicFile`). */
  readonly followSymlinks?: boolean;
}

/** Checks that the options suit the format (before anything is read or written). */
function checkWriteOptions(options: WriteOptions, arrayCount: number): void {
  const { format } = options;
  const only = (option: string, formats: string) => usageError(`${option} applies to ${formats} output, not ${format}`, option);
  if (format !== "ndpack" && options.alignment !== undefined) throw only("--alignment", ".ndp");
  if (format !== "ndpack" && options.checksum !== undefined) throw only("--checksum", ".ndp");
  if ((format === "npy" || format === "safetensors") && options.codec !== undefined && options.codec !== "none") throw only("--compress/--codec", ".ndp and .npz");
  if (format === "npz" && options.codec === "shuffle+deflate") throw usageError(".npz members can only be deflated: use --codec deflate or --compress", "--codec");
  if (format === "safetensors" && options.byteOrder === "big") throw usageError("safetensors files are always little-endian: --big-endian applies to .ndp, .npy and .npz output", "--big-endian");
  if (format === "npy" && arrayCount !== 1) {
    throw usageError(`a .npy file holds one array, and there are ${arrayCount}: write .ndp, .npz or .safetensors, or take one array out with 'ndpack extract'`);
  }
}

/** An array's chunks in the given byte order, counted for progress. */
async function* chunksIn(array: OutputArray, byteOrder: ByteOrder, onProgress?: (bytes: number) => void): AsyncGenerator<Uint8Array, void, undefined> {
  const wordSize = DTYPES[array.entry.dtype].wordSize;
  const swap = wordSize > 1 && byteOrder !== HOST_BYTE_ORDER;
  for await (const chunk of chunksOf(array.file, array.entry.name)) {
    if (swap) {
      const swapped = new Uint8Array(chunk.length);
      copySwapped(chunk, swapped, 0, wordSize);
      yield swapped;
    } else yield chunk;
    onProgress?.(chunk.length);
  }
}

/** Writes `arrays` to `path` in `options.format`. */
export async function writeArrays(path: string, arrays: readonly OutputArray[], options: WriteOptions): Promise<void> {
  checkWriteOptions(options, arrays.length);
  switch (options.format) {
    case "ndpack":
      return writeNdpack(path, arrays, options);
    case "npy":
      return writeNpy(path, arrays[0]!, options);
    case "npz":
      return writeNpz(path, arrays, options);
    case "safetensors":
      return writeSafetensors(path, arrays, options);
  }
}

/**
 * Writes `arrays` as a sharded set (FORMAT.md §12) whose index is `indexPath`, named
 * `<stem>.ndp.index.json` (.ndp shards) or `<stem>.safetensors.index.json` (.safetensors shards):
 * arrays fill shards in order up to `maxShardBytes` of array bytes each, every shard is written as
 * {@link writeArrays} writes a file, and the index last, atomically for the set (`SetFiles`).
 * `options.metadata` goes to the index; the shards carry none.
 */
export async function writeSet(indexPath: string, arrays: readonly OutputArray[], options: WriteOptions, maxShardBytes: number): Promise<void> {
  const format = options.format;
  if (format !== "ndpack" && format !== "safetensors") throw usageError(`a set's shards are .ndp or .safetensors files, not ${formatLabel(format)}`, "--to");
  const suffix = setIndexFileName("", format);
  const name = basename(indexPath);
  if (!name.endsWith(suffix) || name.length === suffix.length) throw usageError(`a set of ${formatLabel(format)} shards is written as <stem>${suffix}, not ${name}`);
  checkWriteOptions(options, arrays.length);
  const seen = new Set<string>();
  for (const { name: arrayName } of arrays) {
    if (seen.has(arrayName)) throw new NdpackError("DUPLICATE_NAME", `array name ${JSON.stringify(arrayName)} is given twice`, { array: arrayName });
    seen.add(arrayName);
  }
  writeSetIndex([], options.metadata);
  const groups = planShards(arrays.map((array) => array.entry.nbytes), maxShardBytes);
  const files = await SetFiles.begin(dirname(indexPath), name.slice(0, -suffix.length), format, true);
  try {
    for (const [i, group] of groups.entries()) {
      const shard = group.map((index) => arrays[index]!);
      const path = files.shardPath(i + 1, groups.length);
      await withFile(path, () => writeArrays(path, shard, { ...options, metadata: {} }));
      await files.added(i + 1, groups.length, shard.map((array) => array.name), shard.map((array) => array.entry.nbytes));
    }
    await files.commit(options.metadata);
  } catch (error) {
    await files.abort();
    throw error;
  }
}

/**
 * True when `array`, a deflated .npz member, goes to the ndpack file as it is stored (its codec and
 * byte order kept, no level asked for): its DEFLATE stream is then copied rather than compressed
 * again (`deflate-reuse.ts`), which costs about what inflating it costs.
 */
function keepsDeflateStream(array: OutputArray, options: WriteOptions): boolean {
  const { entry, file } = array;
  const sameOrder = DTYPES[entry.dtype].wordSize === 1 || entry.byteOrder === (options.byteOrder ?? "little");
  return file.format === "npz" && file.path !== undefined && entry.codec === "deflate" && options.codec === undefined && options.compressionLevel === undefined && sameOrder;
}

async function writeNdpack(path: string, arrays: readonly OutputArray[], options: WriteOptions): Promise<void> {
  const entries = arrays.map(({ name, entry }) => ({ name, dtype: entry.dtype, shape: entry.shape, order: entry.order, codec: options.codec ?? entry.codec }));
  const writer = await createWriter(path, entries, {
    metadata: options.metadata,
    ...(options.alignment === undefined ? {} : { alignment: options.alignment }),
    ...(options.checksum === undefined ? {} : { checksum: options.checksum }),
    ...(options.byteOrder === undefined ? {} : { byteOrder: options.byteOrder }),
    ...(options.compressionLevel === undefined ? {} : { compressionLevel: options.compressionLevel }),
    followSymlinks: options.followSymlinks ?? false,
  });
  const byteOrder = options.byteOrder ?? "little";
  try {
    for (const array of arrays) {
      if (keepsDeflateStream(array, options) && (await copyDeflatedMember(writer, array.name, array.entry, array.file.path!, DEFAULT_COMPRESSION_LEVEL, chunksIn(array, byteOrder, options.onProgress)))) continue;
      await writer.writeAll(array.name, chunksIn(array, HOST_BYTE_ORDER, options.onProgress));
    }
    await writer.close();
  } catch (error) {
    await writer.abort(error);
    throw error;
  }
}

/** Writes pieces to a new file that replaces `path` when complete. */
async function writeAtomically(path: string, pieces: AsyncIterable<Uint8Array>, options: WriteOptions): Promise<void> {
  const file = await AtomicFile.create(path, { followSymlinks: options.followSymlinks ?? false });
  try {
    const sink = new FileSink(file.handle);
    for await (const piece of pieces) await sink.write(piece);
    await sink.finish();
  } catch (error) {
    await file.discard();
    throw error instanceof NdpackError || error instanceof FileError ? error : ioError("write", file.tempPath, error);
  }
  await file.commit(true, options.syncDirectory ?? true);
}

function npyHeader(entry: ArrayEntry, byteOrder: ByteOrder): Uint8Array {
  return writeNpyHeader({ dtype: DTYPES[entry.dtype], shape: entry.shape, order: entry.order }, { byteOrder });
}

async function writeNpy(path: string, array: OutputArray, options: WriteOptions): Promise<void> {
  const byteOrder = options.byteOrder ?? "little";
  await writeAtomically(
    path,
    (async function* () {
      yield npyHeader(array.entry, byteOrder);
      yield* chunksIn(array, npyByteOrder(DTYPES[array.entry.dtype], byteOrder), options.onProgress);
    })(),
    options,
  );
}

async function writeNpz(path: string, arrays: readonly OutputArray[], options: WriteOptions): Promise<void> {
  const byteOrder = options.byteOrder ?? "little";
  const compress = options.codec === undefined ? arrays.some((a) => a.entry.codec !== "none") : options.codec !== "none";
  const method = compress ? "deflate" : "stored";
  // Checks names, dtypes and metadata exactly as toNpz does, on empty stand-ins.
  toNpz(arrays.map(({ name, entry }) => [name, standIn(entry)] as const), { metadata: options.metadata });
  const zip = await ZipStreamWriter.create(path, options.compressionLevel ?? 6, { followSymlinks: options.followSymlinks ?? false });
  try {
    const dtypes: Record<string, Dtype> = {};
    for (const array of arrays) {
      if (DTYPES[array.entry.dtype].numpy === null) Object.defineProperty(dtypes, array.name, { value: array.entry.dtype, enumerable: true });
      const header = npyHeader(array.entry, byteOrder);
      const content = (async function* () {
        yield header;
        yield* chunksIn(array, npyByteOrder(DTYPES[array.entry.dtype], byteOrder), options.onProgress);
      })();
      await zip.add(`${array.name}.npy`, header.length + array.entry.nbytes, content, method, 64);
    }
    if (Object.keys(options.metadata).length > 0 || Object.keys(dtypes).length > 0) {
      const text = new TextEncoder().encode(stringifyJson({ metadata: options.metadata, dtypes }, { maxDepth: DEFAULT_LIMITS.maxDepth, path: "" }));
      await zip.add(NPZ_NDPACK_MEMBER, text.length, (async function* () { yield text; })(), method);
    }
    await zip.finish();
  } catch (error) {
    await zip.abort();
    throw error;
  }
}

/** An empty array of an entry's dtype: what the whole-buffer writers check names, dtypes and metadata on. */
function standIn(entry: ArrayEntry) {
  return { data: new DTYPES[entry.dtype].view(0), dtype: entry.dtype, shape: [0] };
}

/** True when an array's F-order bytes differ from its C-order bytes. */
function needsReorder(entry: ArrayEntry): boolean {
  return entry.order === "F" && entry.shape.filter((d) => d > 1).length > 1;
}

async function writeSafetensors(path: string, arrays: readonly OutputArray[], options: WriteOptions): Promise<void> {
  // The names, dtypes and metadata are checked, and the metadata encoded, by toSafetensors itself.
  const stand = toSafetensors(arrays.map(({ name, entry }) => [name, standIn(entry)] as const), { metadata: options.metadata });
  const metadata = fromSafetensorsHeader(stand);
  // Largest items first, as toSafetensors lays them out (a stable sort keeps the given order otherwise).
  const sorted = [...arrays].sort((a, b) => DTYPES[b.entry.dtype].itemSize - DTYPES[a.entry.dtype].itemSize);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) Object.defineProperty(header, "__metadata__", { value: metadata, enumerable: true, writable: true, configurable: true });
  let offset = 0;
  for (const { name, entry } of sorted) {
    const value = { dtype: DTYPES[entry.dtype].safetensors, shape: [...entry.shape], data_offsets: [offset, offset + entry.nbytes] };
    Object.defineProperty(header, name, { value, enumerable: true, writable: true, configurable: true });
    offset += entry.nbytes;
  }
  const text = new TextEncoder().encode(stringifyJson(header, { maxDepth: 4, path: "" }));
  const headerLength = text.length + ((8 - (text.length % 8)) % 8);
  const head = new Uint8Array(8 + headerLength).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLength), true);
  head.set(text, 8);
  await writeAtomically(
    path,
    (async function* () {
      yield head;
      for (const array of sorted) {
        if (!needsReorder(array.entry)) {
          yield* chunksIn(array, "little", options.onProgress);
          continue;
        }
        const { entry } = array;
        const itemSize = DTYPES[entry.dtype].itemSize;
        const bytes = cOrderBytes(await bytesOf(array.file, entry.name), entry.shape, entry.order, itemSize);
        if (HOST_BYTE_ORDER !== "little" && DTYPES[entry.dtype].wordSize > 1) copySwapped(bytes.slice(), bytes, 0, DTYPES[entry.dtype].wordSize);
        yield bytes;
        options.onProgress?.(bytes.length);
      }
    })(),
    options,
  );
}

/** The `__metadata__` object of a safetensors file (toSafetensors' encoding of ndpack metadata), if any. */
function fromSafetensorsHeader(bytes: Uint8Array): Record<string, string> | undefined {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as { __metadata__?: Record<string, string> };
  return header.__metadata__;
}
