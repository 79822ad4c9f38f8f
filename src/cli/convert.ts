/**
 * `ndpack convert IN OUT`: a file of one format to another, chosen by OUT's extension (or `--to`).
 * Arrays are copied one chunk at a time (see `writers.ts` for what is held in memory), with the
 * metadata, to a temporary file renamed over OUT when complete.
 *
 * @module
 */
import { statSync } from "node:fs";
import { basename, sep } from "node:path";
import { NdpackError } from "../errors.js";
import type { Dtype } from "../dtypes.js";
import type { Checksum, Codec } from "../format.js";
import { kindOf } from "../node/io.js";
import { errorLine, FileError, usageError, withFile } from "./errors.js";
import { entriesOf, formatOfPath, openFile, type FileFormat, type OpenFileOptions } from "./formats.js";
import { byteSize, limitsOf, type CliLimits } from "./limits.js";
import { displayName, printError } from "./output.js";
import { createProgress } from "./progress.js";
import { writeArrays, writeSet, type OutputArray, type WriteOptions } from "./writers.js";
import { DEFAULT_MAX_SHARD_BYTES } from "../node/set-writer.js";
import { SET_INDEX_SUFFIX } from "../set.js";

/** Options shared by the commands that write files (`convert`, `pack`, `extract`). */
export interface WriteCommandOptions extends CliLimits {
  /** The output format, when the extension does not say it. */
  readonly to?: FileFormat;
  /** `true`: compress (ndpack: shuffle+deflate, .npz: deflate); `false`: store uncompressed; unset: keep the input's. */
  readonly compress?: boolean;
  /** ndpack: the codec of every array. */
  readonly codec?: Codec;
  /** DEFLATE level, 0 to 9. */
  readonly level?: number;
  readonly alignment?: number;
  readonly bigEndian?: boolean;
  readonly checksum?: Checksum;
  /** Show a progress bar (`true`), never (`false`), or when standard error is a terminal and the input large (unset). */
  readonly progress?: boolean;
  readonly voidDtype?: Dtype;
  /** Write through a symbolic link at the output path instead of refusing it (never for `extract`). */
  readonly followSymlinks?: boolean;
  /**
   * Copy arrays whose checksum or padding is damaged (each one named in a warning on standard
   * error) instead of failing with the input's error.
   */
  readonly salvage?: boolean;
  /** For a set output (`*.index.json`): the most array bytes per shard (`5GB`, `500MiB`, bytes). */
  readonly maxShardSize?: string;
}

/**
 * How a writing command opens an input: its void dtype, and with `--salvage` a warning per damaged
 * array instead of a failure (CHECKSUM, BAD_PADDING: without it, damage in the input is never
 * laundered into an output with fresh checksums).
 */
export function inputOptions(command: string, path: string, options: Pick<WriteCommandOptions, "voidDtype" | "salvage" | keyof CliLimits>): OpenFileOptions {
  return {
    ...limitsOf(options),
    ...(options.voidDtype === undefined ? {} : { voidDtype: options.voidDtype }),
    // numpy's np.load hands such members out as bytes; nothing the output formats hold.
    onIgnored: (names) => printError(`${command}: warning: ${path}: ${names.length === 1 ? "1 member is" : `${names.length} members are`} not .npy and not copied: ${names.slice(0, 5).map((name) => displayName(name)).join(", ")}${names.length > 5 ? `, and ${names.length - 5} more` : ""}`),
    ...(options.salvage ? { onDamage: (error) => printError(`${errorLine(`${command}: warning`, new FileError(path, error))}; copied as it is (--salvage)`) } : {}),
  };
}

/**
 * The output format of `path`: `--to`, else its extension. For a set's index (`*.index.json`), the
 * format of its shards: `<stem>.ndp.index.json` or `<stem>.safetensors.index.json`.
 */
export function outputFormat(path: string, to: FileFormat | undefined): FileFormat {
  const format = to ?? formatOfPath(isSetPath(path) ? path.slice(0, -SET_INDEX_SUFFIX.length) : path);
  if (format !== undefined) return format;
  // What would be refused anyway (x.ndp/, a directory, /dev/null) says so, as it does with --to.
  const what = path.endsWith("/") || path.endsWith(sep) ? "ends with a separator" : kindOfExisting(path);
  if (what !== undefined) throw new NdpackError("NOT_REGULAR_FILE", `${path} ${what}: ndpack writes only regular files`, { path });
  throw usageError(`cannot tell the format of ${path} from its extension: use .ndp, .npy, .npz or .safetensors (or <stem>.ndp.index.json, <stem>.safetensors.index.json for a set), or --to`, "--to");
}

/** What `path` names when it exists and is not a regular file (following links); undefined when it is one, or cannot be known (the write reports why). */
function kindOfExisting(path: string): string | undefined {
  let info;
  try {
    info = statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined; // ENOTDIR, ELOOP, ENAMETOOLONG...
  }
  return info === undefined || info.isFile() ? undefined : `is ${kindOf(info)}`;
}

/** True when `path` names a set's index, which commands write as a set. */
function isSetPath(path: string): boolean {
  return path.endsWith(SET_INDEX_SUFFIX);
}

/**
 * `--max-shard-size`: bytes, or a number with a unit as Hugging Face writes them (`5GB` is 5 x 10^9
 * bytes, `2GiB` 2 x 2^30). Usage error otherwise.
 */
export function parseByteSize(text: string): number {
  const bytes = byteSize(text);
  if (bytes === undefined) throw usageError(`--max-shard-size must be a size such as 500MB, 5GB, 2GiB or a number of bytes, got ${JSON.stringify(text)}`, "--max-shard-size");
  return bytes;
}

/** The writer's options for a command's flags. */
export function writeOptions(format: FileFormat, options: WriteCommandOptions, metadata: Readonly<Record<string, unknown>>): WriteOptions {
  // Either way round: --compress --codec none would otherwise store every array uncompressed, unasked.
  if (options.codec !== undefined && options.compress !== undefined && options.compress !== (options.codec !== "none")) throw usageError(`--${options.compress ? "" : "no-"}compress and --codec ${options.codec} contradict each other`, "--codec");
  const codec: Codec | undefined = options.codec ?? (options.compress === true ? (format === "npz" ? "deflate" : "shuffle+deflate") : options.compress === false ? "none" : undefined);
  return {
    format,
    metadata,
    ...(codec === undefined ? {} : { codec }),
    ...(options.level === undefined ? {} : { compressionLevel: options.level }),
    ...(options.alignment === undefined ? {} : { alignment: options.alignment }),
    ...(options.checksum === undefined ? {} : { checksum: options.checksum }),
    ...(options.bigEndian ? { byteOrder: "big" as const } : {}),
    ...(options.followSymlinks ? { followSymlinks: true } : {}),
  };
}

/**
 * Copies `arrays` to `path` with a progress bar over their bytes; errors name the file they
 * concern. A `path` ending in `.index.json` is written as a set of shards of at most
 * `maxShardBytes` of array bytes each (default: `DEFAULT_MAX_SHARD_BYTES`).
 */
export async function copyArrays(path: string, arrays: readonly OutputArray[], options: WriteOptions, inputBytes: number, progressOption: boolean | undefined, maxShardBytes?: number): Promise<void> {
  if (maxShardBytes !== undefined && !isSetPath(path)) throw usageError(`--max-shard-size writes a set, whose index is named <stem>.ndp.index.json or <stem>.safetensors.index.json; ${basename(path)} is not`, "--max-shard-size");
  const total = arrays.reduce((sum, a) => sum + a.entry.nbytes, 0);
  const progress = createProgress(`writing ${basename(path)}`, total, inputBytes, progressOption);
  const write = isSetPath(path) ? writeSet : (target: string, list: readonly OutputArray[], writeOptions: WriteOptions) => writeArrays(target, list, writeOptions);
  try {
    await withFile(path, () => write(path, arrays, { ...options, onProgress: (bytes) => progress.advance(bytes) }, maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES));
  } catch (error) {
    progress.stop();
    throw error;
  }
  progress.done();
}

/** Runs `ndpack convert`; returns the exit code. */
export async function convertCommand(input: string, output: string, options: WriteCommandOptions): Promise<number> {
  const format = outputFormat(output, options.to);
  const file = await openFile(input, inputOptions("ndpack convert", input, options));
  try {
    if (format === "ndpack" && file.names.includes("")) {
      throw usageError(`${input} holds an array with an empty name, which an ndpack file cannot hold: convert to .npz or .safetensors, or name it (ndpack extract ${input} "" -o DIR, then ndpack pack ${output} NAME=DIR/.npy ...)`, "name");
    }
    const arrays = entriesOf(file).map((entry) => ({ name: entry.name, file, entry }));
    await copyArrays(output, arrays, writeOptions(format, options, file.metadata), file.byteLength, options.progress, options.maxShardSize === undefined ? undefined : parseByteSize(options.maxShardSize));
  } finally {
    await file.close();
  }
  return 0;
}
