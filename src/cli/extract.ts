/**
 * `ndpack extract FILE [NAME...] -o DIR`: arrays out of a file, each as `DIR/<name>.npy` (every
 * array when no name is given), one chunk at a time. Array names become file names with the
 * characters that cannot or should not be in one percent-encoded (`layer/0` becomes `layer%2F0.npy`;
 * `file-names.ts`). A name too long for a file name, or whose file would be an earlier array's on a
 * file system that ignores case or Unicode normalization, is marked with a hash of the whole name
 * (`<prefix>%~<16 hex digits>.npy`). Prints the path of each file written, and on standard error
 * each name that had to be marked.
 *
 * @module
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type AtomicFile, ioError, syncDirectory } from "../node/io.js";
import { usageError, withFile } from "./errors.js";
import { CHUNK_BYTES, entriesOf, entryOf, openFile } from "./formats.js";
import { copyArrays, inputOptions, writeOptions, type WriteCommandOptions } from "./convert.js";
import type { CliLimits } from "./limits.js";
import { fileNamesOf } from "./file-names.js";
import { displayName, escapeControls, print, printError } from "./output.js";

/** Options of `ndpack extract`. */
export interface ExtractOptions extends Pick<WriteCommandOptions, "bigEndian" | "progress" | "voidDtype" | "salvage" | keyof CliLimits> {
  /** The directory to write to (created when missing). Default: the current directory. */
  readonly output?: string;
}

/**
 * Files written at once. One at a time, each file waits for its own open, writes, fsync, close and
 * rename in turn (10^5 small arrays: minutes, mostly waiting on the disk); several at a time, those
 * waits overlap and the disk flushes the overlapping fsyncs together. Only arrays smaller than a
 * chunk are written together: the memory stays that of one chunk and a staging buffer per file.
 */
const FILES_IN_FLIGHT = 8;

/**
 * The `commit` of one extracted file: fsync it (while other files are written), then, once the file
 * before it is in place (`before`), rename it over its target. So every path holds what was there or
 * a complete, durable new file, files appear in order, and the directory is fsynced once, at the
 * end. After a failure of an earlier file, this one is removed, not placed.
 */
function placeAfter(before: Promise<unknown>): (file: AtomicFile) => Promise<void> {
  return async (file) => {
    try {
      await file.handle.sync();
      await before;
    } catch (error) {
      await file.discard();
      throw error;
    }
    await file.commit(false, false);
  };
}

/** Runs `ndpack extract`; returns the exit code. */
export async function extractCommand(path: string, names: readonly string[], options: ExtractOptions): Promise<number> {
  const directory = options.output ?? ".";
  const file = await openFile(path, inputOptions("ndpack extract", path, options));
  try {
    // A name given twice is one file, written once.
    const entries = names.length === 0 ? entriesOf(file) : [...new Set(names)].map((name) => entryOf(file, name));
    const files = fileNamesOf(entries.map((entry) => entry.name));
    await withFile(directory, async () => {
      try {
        await mkdir(directory, { recursive: true });
      } catch (cause) {
        const code = (cause as NodeJS.ErrnoException).code;
        if (code === "EEXIST" || code === "ENOTDIR") throw usageError(`-o ${directory} ${code === "EEXIST" ? "is not a directory" : "cannot be made a directory (a part of its path is not one)"}: extract writes one .npy file per array into a directory`, "-o");
        throw ioError("create the directory", directory, cause);
      }
    });
    // Each file is placed once the one before it is (a failure stops the rest, removed unplaced).
    let before: Promise<unknown> = Promise.resolve();
    const running = new Set<Promise<void>>();
    let failure: { index: number; error: unknown } | undefined;
    for (const [index, entry] of entries.entries()) {
      // An array of a chunk or more (which may show a progress bar) is written alone, as is every
      // array with --progress: memory stays a chunk per file, and bars never interleave.
      const alone = options.progress === true || entry.byteLength >= CHUNK_BYTES;
      while (running.size >= (alone ? 1 : FILES_IN_FLIGHT)) await Promise.race(running);
      if (failure !== undefined) break;
      const { fileName, cut, clash } = files[index]!;
      const out = join(directory, fileName);
      const write = { ...writeOptions("npy", options, {}), commit: placeAfter(before) };
      const placed = copyArrays(out, [{ name: entry.name, file, entry }], write, entry.byteLength, options.progress).then(() => {
        if (cut) printError(`ndpack extract: the name of array ${displayName(entry.name)} is too long for a file name: written as ${escapeControls(out)}`);
        else if (clash !== undefined) printError(`ndpack extract: arrays ${displayName(clash)} and ${displayName(entry.name)} differ only in case or Unicode normalization, which file systems of macOS and Windows ignore: the second is written as ${escapeControls(out)}`);
        print(escapeControls(out));
      });
      before = placed;
      const settled: Promise<void> = placed.then(
        () => void running.delete(settled),
        (error: unknown) => {
          // The first failure in the order of the arrays is the one reported (later ones repeat it).
          if (failure === undefined || index < failure.index) failure = { index, error };
          running.delete(settled);
        },
      );
      running.add(settled);
      if (alone) await settled;
    }
    await Promise.all(running);
    if (failure !== undefined) throw failure.error;
    await withFile(directory, async () => {
      try {
        await syncDirectory(directory);
      } catch (cause) {
        throw ioError("fsync the directory", directory, cause);
      }
    });
  } finally {
    await file.close();
  }
  return 0;
}
