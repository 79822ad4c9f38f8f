/**
 * Writing arrays read with the one reader to a file of any format, one chunk at a time:
 * `ndpack convert`, `pack` and `extract` all end here. Every output is written atomically (a
 * temporary file renamed over the path once complete), so a failed command leaves the path as it was.
 *
 * The CLI only picks the writer and its options: every format is written by its own writer in the
 * format table (`planWrite`, the same that `encode`'s checks, `toNpy`, `toNpz` and `toSafetensors`
 * share), run into the file by `writeToFile` of `node/write-file.ts`. ndpack files with compressed
 * arrays are written with their header last (`"reserved"`, `createWriter`'s layout), so that
 * nothing is held. What each holds in memory while writing: one chunk of the array being copied
 * (and the compressor's pieces in flight), except for Fortran-order arrays with more than one
 * dimension longer than 1 written to .safetensors, which are gathered whole to be written in C
 * order (safetensors has no other).
 *
 * @module
 */
import { basename, dirname } from "node:path";
import { utf8Length } from "../bytes.js";
import { DTYPES } from "../dtypes.js";
import { storedBools } from "../encode.js";
import { NdpackError } from "../errors.js";
import { DEFAULT_LIMITS, type ByteOrder, type Checksum, type Codec } from "../format.js";
import { formatNamed } from "../formats/index.js";
import { SetFiles } from "../node/set-writer.js";
import { writeToFile } from "../node/write-file.js";
import type { ArrayInChunks } from "../node/write-steps.js";
import type { AtomicFile } from "../node/io.js";
import { planShards, setIndexFileName, writeSetIndex } from "../set.js";
import { usageError, withFile } from "./errors.js";
import type { NdpackReader } from "../reader.js";
import { chunksOf, formatLabel, type ArrayEntry, type FileFormat } from "./formats.js";
import { deflatedMember } from "./deflate-reuse.js";
import { DEFAULT_COMPRESSION_LEVEL } from "../compress.js";
import { HOST_BYTE_ORDER } from "../runtime.js";

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
   * Makes the complete temporary file the output (default: fsync, rename,
   * fsync the directory, `AtomicFile.commit`). `extract` writes many files into one directory and
   * commits them its own way: their fsyncs overlapping, the directory fsynced once at the end.
   */
  readonly commit?: (file: AtomicFile) => Promise<void>;
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
  // A level is for compressing, which these formats never do: silently ignored, it would seem to have applied.
  if ((format === "npy" || format === "safetensors") && options.compressionLevel !== undefined) throw only("--level", ".ndp and .npz");
  if (options.codec === "none" && options.compressionLevel !== undefined) throw usageError("--level is for compressed arrays, and --no-compress or --codec none stores every array uncompressed", "--level");
  if (format === "npz" && options.codec === "shuffle+deflate") throw usageError(".npz members can only be deflated: use --codec deflate or --compress", "--codec");
  if (format === "safetensors" && options.byteOrder === "big") throw usageError("safetensors files are always little-endian: --big-endian applies to .ndp, .npy and .npz output", "--big-endian");
  if (format === "npy" && arrayCount !== 1) {
    throw usageError(`a .npy file holds one array, and there are ${arrayCount}: write .ndp, .npz or .safetensors, or take one array out with 'ndpack extract'`);
  }
}

/**
 * An array's chunks to write (storage order, this machine's byte order). A bool array's bytes
 * other than 0 are written as 1: FORMAT.md §3 has readers take any non-zero byte as true and
 * writers store only 0 and 1, so a file holding 2 or 255 converts to one that does not.
 */
async function* chunksToWrite(array: OutputArray): AsyncGenerator<Uint8Array, void, undefined> {
  const bool = array.entry.dtype === "bool";
  for await (const chunk of chunksOf(array.file, array.entry.name)) {
    yield bool ? storedBools(chunk) : chunk;
  }
}

/** An array's chunks (storage order, this machine's byte order), counted for progress. */
async function* progressChunks(array: OutputArray, onProgress?: (bytes: number) => void): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const chunk of chunksOf(array.file, array.entry.name)) {
    yield chunk;
    onProgress?.(chunk.length);
  }
}

/**
 * Writes `arrays` to `path` in `options.format`: the format's own writer (its row of the format
 * table), run by the file driver, each array streamed from its source chunk by chunk.
 */
export async function writeArrays(path: string, arrays: readonly OutputArray[], options: WriteOptions): Promise<void> {
  checkWriteOptions(options, arrays.length);
  const sources = arrays.map((array): ArrayInChunks => {
    const { entry } = array;
    const source: ArrayInChunks = {
      name: array.name,
      dtype: DTYPES[entry.dtype],
      shape: entry.shape,
      order: entry.order,
      nbytes: entry.nbytes,
      codec: options.codec ?? entry.codec,
      chunks: () => chunksToWrite(array),
    };
    if (!keepsDeflateStream(array, options)) return source;
    // The chunks are in this machine's byte order, which keepsDeflateStream requires; they are read and checked while the stream is copied.
    return { ...source, deflated: () => deflatedMember(array.name, entry, array.file.path!, DEFAULT_COMPRESSION_LEVEL, progressChunks(array, options.onProgress)) };
  });
  const steps = formatNamed(options.format).planWrite(sources, planOptions(arrays, options));
  await writeToFile(path, steps, sources, {
    followSymlinks: options.followSymlinks ?? false,
    ...(options.commit === undefined ? {} : { commit: options.commit }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
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
    // Names the index's readers refuse (FORMAT.md §12.2), which .safetensors shards could hold: refused before any shard is written.
    if (arrayName === "") throw usageError("a set's index cannot hold an array with an empty name (FORMAT.md §12.2), as a .safetensors file can: name it, or write one file", "name");
    if (utf8Length(arrayName) > DEFAULT_LIMITS.maxNameBytes) {
      throw new NdpackError("LIMIT_EXCEEDED", `array name is longer than the ${DEFAULT_LIMITS.maxNameBytes} UTF-8 bytes readers accept by default`, { array: arrayName, limit: "maxNameBytes" });
    }
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
 * byte order kept, which is this machine's, no level asked for): its DEFLATE stream is then copied
 * rather than compressed again (`deflate-reuse.ts`), which costs about what inflating it costs.
 */
function keepsDeflateStream(array: OutputArray, options: WriteOptions): boolean {
  const { entry, file } = array;
  const byteOrder = options.byteOrder ?? "little";
  const sameOrder = DTYPES[entry.dtype].wordSize === 1 || (entry.byteOrder === byteOrder && byteOrder === HOST_BYTE_ORDER);
  // Not bool: its bytes may have to become 0 and 1 (chunksToWrite), which a copied stream cannot.
  return options.format === "ndpack" && file.format === "npz" && file.path !== undefined && entry.codec === "deflate" && entry.dtype !== "bool" && options.codec === undefined && options.compressionLevel === undefined && sameOrder;
}

/** The options of the format's writer, from the command's. */
function planOptions(arrays: readonly OutputArray[], options: WriteOptions): Readonly<Record<string, unknown>> {
  const byteOrder = options.byteOrder ?? "little";
  switch (options.format) {
    case "ndpack":
      return {
        metadata: options.metadata,
        byteOrder,
        header: "reserved",
        ...(options.alignment === undefined ? {} : { alignment: options.alignment }),
        ...(options.checksum === undefined ? {} : { checksum: options.checksum }),
        ...(options.compressionLevel === undefined ? {} : { compressionLevel: options.compressionLevel }),
      };
    case "npy":
      return { byteOrder };
    case "npz": {
      const compress = options.codec === undefined ? arrays.some((a) => a.entry.codec !== "none") : options.codec !== "none";
      return { byteOrder, compress, metadata: options.metadata, ...(options.compressionLevel === undefined ? {} : { compressionLevel: options.compressionLevel }) };
    }
    default:
      return { metadata: options.metadata };
  }
}
