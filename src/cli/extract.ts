/**
 * `ndpack extract FILE [NAME...] -o DIR`: arrays out of a file, each as `DIR/<name>.npy` (every
 * array when no name is given), one chunk at a time. Array names become file names with the
 * characters that cannot or should not be in one percent-encoded (`layer/0` becomes `layer%2F0.npy`).
 * A name too long for a file name is cut and marked with a hash of the whole name
 * (`<prefix>%~<16 hex digits>.npy`). Prints the path of each file written, and on standard error
 * each name that had to be cut.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type AtomicFile, ioError, syncDirectory } from "../node/io.js";
import { usageError, withFile } from "./errors.js";
import { CHUNK_BYTES, entriesOf, entryOf, openFile } from "./formats.js";
import { copyArrays, inputOptions, writeOptions, type WriteCommandOptions } from "./convert.js";
import type { CliLimits } from "./limits.js";
import { displayName, escapeControls, print, printError } from "./output.js";

/** Options of `ndpack extract`. */
export interface ExtractOptions extends Pick<WriteCommandOptions, "bigEndian" | "progress" | "voidDtype" | "salvage" | keyof CliLimits> {
  /** The directory to write to (created when missing). Default: the current directory. */
  readonly output?: string;
}

/**
 * A file name for an array name: `%`, path separators, characters Windows forbids, control
 * characters (C0, DEL, C1), bidirectional marks and overrides, and a leading dot are
 * percent-encoded (as UTF-8), so that every name gives a distinct, plainly shown file inside the
 * directory.
 */
function encodedNameOf(name: string): string {
  const encoded = name.replace(/[%/\\:*?"<>|\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) =>
    c.charCodeAt(0) < 0x80 ? `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}` : encodeURIComponent(c),
  );
  return encoded.startsWith(".") ? `%2E${encoded.slice(1)}` : encoded;
}

/** The longest file name (in UTF-8 bytes) on the common file systems (ext4, XFS, btrfs, APFS, tmpfs: NAME_MAX). */
const MAX_FILE_NAME_BYTES = 255;
/** Bytes of the encoded name kept in front of the hash when it must be cut. */
const CUT_NAME_BYTES = 200;
const utf8 = new TextEncoder();

/**
 * The file name `extract` gives to array `name`: its percent-encoded form plus `.npy`, or, when that
 * is longer than a file name may be (array names may have 4096 bytes), the first 200 bytes of it
 * (whole characters and escapes) followed by `%~` and 16 hex digits of the SHA-256 of the whole
 * name. `%~` never appears in an encoded name (every `%` there starts an escape), so a cut name
 * differs from every uncut one, and from every other cut one unless their hashes collide.
 */
export function fileNameOf(name: string): { fileName: string; cut: boolean } {
  const encoded = encodedNameOf(name);
  if (utf8.encode(encoded).length + ".npy".length <= MAX_FILE_NAME_BYTES) return { fileName: `${encoded}.npy`, cut: false };
  let prefix = "";
  let bytes = 0;
  for (const piece of encoded.match(/%[0-9A-F]{2}|[^]/gu) ?? []) {
    bytes += utf8.encode(piece).length;
    if (bytes > CUT_NAME_BYTES) break;
    prefix += piece;
  }
  const hash = createHash("sha256").update(name, "utf8").digest("hex").slice(0, 16);
  return { fileName: `${prefix}%~${hash}.npy`, cut: true };
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
    const entries = names.length === 0 ? entriesOf(file) : names.map((name) => entryOf(file, name));
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
      const { fileName, cut } = fileNameOf(entry.name);
      const out = join(directory, fileName);
      const write = { ...writeOptions("npy", options, {}), commit: placeAfter(before) };
      const placed = copyArrays(out, [{ name: entry.name, file, entry }], write, entry.byteLength, options.progress).then(() => {
        if (cut) printError(`ndpack extract: the name of array ${displayName(entry.name)} is too long for a file name: written as ${out}`);
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
