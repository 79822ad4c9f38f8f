/**
 * `ndpack convert IN OUT`: a file of one format to another, chosen by OUT's extension (or `--to`).
 * Arrays are copied one chunk at a time (see `writers.ts` for what is held in memory), with the
 * metadata, to a temporary file renamed over OUT when complete.
 *
 * @module
 */
import { basename } from "node:path";
import type { Dtype } from "../dtypes.js";
import type { Checksum, Codec } from "../format.js";
import { usageError, withFile } from "./errors.js";
import { entriesOf, formatOfPath, openFile, type FileFormat } from "./formats.js";
import { createProgress } from "./progress.js";
import { writeArrays, type OutputArray, type WriteOptions } from "./writers.js";

/** Options shared by the commands that write files (`convert`, `pack`, `extract`). */
export interface WriteCommandOptions {
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
}

/** The output format of `path`: `--to`, else its extension. */
export function outputFormat(path: string, to: FileFormat | undefined): FileFormat {
  const format = to ?? formatOfPath(path);
  if (format === undefined) throw usageError(`cannot tell the format of ${path} from its extension: use .ndp, .npy, .npz or .safetensors, or --to`, "--to");
  return format;
}

/** The writer's options for a command's flags. */
export function writeOptions(format: FileFormat, options: WriteCommandOptions, metadata: Readonly<Record<string, unknown>>): WriteOptions {
  if (options.codec !== undefined && options.compress === false && options.codec !== "none") throw usageError("--no-compress and --codec contradict each other", "--codec");
  const codec: Codec | undefined = options.codec ?? (options.compress === true ? (format === "npz" ? "deflate" : "shuffle+deflate") : options.compress === false ? "none" : undefined);
  return {
    format,
    metadata,
    ...(codec === undefined ? {} : { codec }),
    ...(options.level === undefined ? {} : { compressionLevel: options.level }),
    ...(options.alignment === undefined ? {} : { alignment: options.alignment }),
    ...(options.checksum === undefined ? {} : { checksum: options.checksum }),
    ...(options.bigEndian ? { byteOrder: "big" as const } : {}),
  };
}

/** Copies `arrays` to `path` with a progress bar over their bytes; errors name the file they concern. */
export async function copyArrays(path: string, arrays: readonly OutputArray[], options: WriteOptions, inputBytes: number, progressOption: boolean | undefined): Promise<void> {
  const total = arrays.reduce((sum, a) => sum + a.entry.nbytes, 0);
  const progress = createProgress(`writing ${basename(path)}`, total, inputBytes, progressOption);
  try {
    await withFile(path, () => writeArrays(path, arrays, { ...options, onProgress: (bytes) => progress.advance(bytes) }));
  } catch (error) {
    progress.stop();
    throw error;
  }
  progress.done();
}

/** Runs `ndpack convert`; returns the exit code. */
export async function convertCommand(input: string, output: string, options: WriteCommandOptions): Promise<number> {
  const format = outputFormat(output, options.to);
  const file = await openFile(input, options.voidDtype === undefined ? {} : { voidDtype: options.voidDtype });
  try {
    const arrays = entriesOf(file).map((entry) => ({ name: entry.name, file, entry }));
    await copyArrays(output, arrays, writeOptions(format, options, file.metadata), file.byteLength, options.progress);
  } finally {
    await file.close();
  }
  return 0;
}
