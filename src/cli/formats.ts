/**
 * The command line's view of the one lazy reader (`open` of `ndpack/node`, for every format): how
 * commands open files, name formats and walk arrays, with every error naming its file. No format
 * is read here; the formats are the format table's, the reading is the reader's.
 *
 * What is held in memory at once: one chunk ({@link CHUNK_BYTES}) of uncompressed arrays and of
 * .npz members (deflated ones inflated as a stream); a whole array for an ndpack array stored
 * with a codec (decompressed in one piece, within `maxDecodedBytes`). Every read checks CRCs,
 * unless the file was opened to salvage (`--salvage`): then damage is reported and the bytes are
 * read as they are.
 *
 * @module
 */
import { basename } from "node:path";
import type { ArrayInfo } from "../decode.js";
import type { Dtype } from "../dtypes.js";
import { isNdpackError, NdpackError } from "../errors.js";
import type { Checksum } from "../format.js";
import { formatNamed, formatOfName, type FormatName } from "../formats/index.js";
import { open } from "../node/fs.js";
import { DEFAULT_CHUNK_BYTES, type NdpackReader } from "../reader.js";
import type { SetReader } from "../set-reader.js";
import { FileError, withFile } from "./errors.js";
import { arrayNameOfFile } from "./file-names.js";
import { limitsOf, type CliLimits } from "./limits.js";

/** The formats the command line reads and writes. */
export type FileFormat = FormatName;

/** Bytes per chunk that commands read and write at a time. */
export const CHUNK_BYTES = DEFAULT_CHUNK_BYTES;

/** The format a path's extension names, if any. */
export function formatOfPath(path: string): FileFormat | undefined {
  return formatOfName(path)?.name;
}

/** How messages name a format. */
export function formatLabel(format: FileFormat): string {
  return formatNamed(format).label;
}

/** One array of an open file: the header's description and how it is protected. */
export interface ArrayEntry extends ArrayInfo {
  /** `"crc32"` (ndpack payload CRC, or the CRC-32 of a .npz member) or `"none"`. */
  readonly checksum: Checksum;
}

/** Options of {@link openFile}: the read limits (`--max-arrays` ...), and how to read. */
export interface OpenFileOptions extends CliLimits {
  /** The dtype of void descrs in .npy and .npz files (numpy's way of storing ml_dtypes arrays). */
  readonly voidDtype?: Dtype;
  /**
   * Salvaging (`--salvage`): called with each array's checksum or padding failure (CHECKSUM,
   * BAD_PADDING), whose bytes are then read as they are. Unset (the default), such a failure ends
   * the read: damaged bytes never reach an output that would give them fresh checksums.
   */
  readonly onDamage?: (error: NdpackError) => void;
  /** Called with the entries of the file that hold no array (a .npz's members that are not .npy files), when there are any. */
  readonly onIgnored?: (names: readonly string[]) => void;
  /** For a set: open its shards only when their arrays are read (`verify` reports each shard), instead of reading every shard's header at once. */
  readonly lazyShards?: boolean;
}

/** True for the reader of a sharded set (an index `*.index.json`). */
export function isSet(file: NdpackReader): file is SetReader {
  return "index" in file && typeof (file as SetReader).openShards === "function";
}

/** The failures `onDamage` may take instead of the read failing: the bytes are there, only their checks fail. */
const SALVAGEABLE: ReadonlySet<string> = new Set(["CHECKSUM", "BAD_PADDING"]);

/** The `onDamage` of each file opened to salvage. */
const salvaging = new WeakMap<NdpackReader, (error: NdpackError) => void>();

/** RANGE_NOT_SUPPORTED with what a command-line user can do: the library's message names its option to download a file whole, which the command line does not offer. */
function rangeAdvice(error: unknown): never {
  if (!isNdpackError(error) || error.code !== "RANGE_NOT_SUPPORTED") throw error;
  throw new NdpackError("RANGE_NOT_SUPPORTED", "the server ignores Range requests (it answered 200 with the whole file), and the command line reads files in ranges: download the file and give its path", { cause: error, ...(error.url === undefined ? {} : { url: error.url }), ...(error.status === undefined ? {} : { status: error.status }) });
}

/**
 * Opens a file of any supported format with the one reader (headers only); a .npy file's array is
 * named after the file (the array's name when `extract` wrote the file: `arrayNameOfFile`). A
 * set's index opens the set, and every shard's header is read (so that every array's description
 * is known) unless `lazyShards`. Errors name the file.
 */
export async function openFile(path: string, options: OpenFileOptions = {}): Promise<NdpackReader> {
  const npyName = arrayNameOfFile(basename(path).replace(/\.npy$/i, ""));
  const file = await withFile(path, () => open(path, { npyName, ...limitsOf(options), ...(options.voidDtype === undefined ? {} : { voidDtype: options.voidDtype }) }).catch(rangeAdvice));
  if (isSet(file) && options.lazyShards !== true) {
    try {
      await withFile(path, () => file.openShards().catch(rangeAdvice));
    } catch (error) {
      await file.close();
      throw error;
    }
  }
  if (options.onDamage !== undefined) salvaging.set(file, options.onDamage);
  if (file.ignored.length > 0) options.onIgnored?.(file.ignored);
  return file;
}

/**
 * For a file opened to salvage: checks array `name` (one more read of it) and hands a
 * salvageable failure to `onDamage`. Returns the `verify` option to read it with: false when
 * salvaging (checked here already), true otherwise.
 */
async function checkToSalvage(file: NdpackReader, name: string, chunkBytes: number): Promise<boolean> {
  const onDamage = salvaging.get(file);
  if (onDamage === undefined) return true;
  try {
    for await (const _ of file.readChunks(name, { chunkBytes })) {
      // Each chunk is checked as it passes.
    }
  } catch (error) {
    if (!(error instanceof NdpackError) || !SALVAGEABLE.has(error.code)) throw error;
    onDamage(error);
  }
  return false;
}

/** The file's path (the CLI always opens paths). */
function pathOf(file: NdpackReader): string {
  return file.path ?? "(input)";
}

/** The format's version as printed (`"1.0"`), or `undefined` for formats without one. */
export function versionOf(file: NdpackReader): string | undefined {
  return file.format === "safetensors" ? undefined : `${file.version.major}.${file.version.minor}`;
}

/** Every array of the file, in order. */
export function entriesOf(file: NdpackReader): ArrayEntry[] {
  // Asked once: a set's checksum looks at every shard it has opened.
  const checksum = file.checksum;
  return file.names.map((name) => ({ ...file.info(name), checksum }));
}

/** The array `name` of the file, or NOT_FOUND naming the file. */
export function entryOf(file: NdpackReader, name: string): ArrayEntry {
  try {
    return { ...file.info(name), checksum: file.checksum };
  } catch (error) {
    throw new FileError(pathOf(file), error);
  }
}

/** An array's elements, in storage order and this machine's byte order, chunk by chunk (CRC checked); errors name the file. */
export async function* chunksOf(file: NdpackReader, name: string, chunkBytes = CHUNK_BYTES): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    const verify = await checkToSalvage(file, name, chunkBytes);
    yield* file.readChunks(name, { chunkBytes, verify });
  } catch (error) {
    throw error instanceof FileError ? error : new FileError(pathOf(file), error);
  }
}

/** An array's whole bytes, in storage order and this machine's byte order (CRC checked); errors name the file. */
export function bytesOf(file: NdpackReader, name: string): Promise<Uint8Array> {
  return withFile(pathOf(file), async () => {
    const verify = await checkToSalvage(file, name, CHUNK_BYTES);
    const { data } = await file.read(name, { verify });
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  });
}
