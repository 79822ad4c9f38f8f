/**
 * `ndpack extract FILE [NAME...] -o DIR`: arrays out of a file, each as `DIR/<name>.npy` (every
 * array when no name is given), one chunk at a time. Array names become file names with the
 * characters that cannot or should not be in one percent-encoded (`layer/0` becomes `layer%2F0.npy`).
 * Prints the path of each file written.
 *
 * @module
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { ioError, syncDirectory } from "../node/io.js";
import { usageError, withFile } from "./errors.js";
import { entriesOf, entryOf, openFile } from "./formats.js";
import { copyArrays, inputOptions, writeOptions, type WriteCommandOptions } from "./convert.js";
import { displayName, escapeControls, print } from "./output.js";

/** Options of `ndpack extract`. */
export interface ExtractOptions extends Pick<WriteCommandOptions, "bigEndian" | "progress" | "voidDtype" | "salvage"> {
  /** The directory to write to (created when missing). Default: the current directory. */
  readonly output?: string;
}

/**
 * A file name for an array name: `%`, path separators, characters Windows forbids, control
 * characters (C0, DEL, C1), bidirectional marks and overrides, and a leading dot are
 * percent-encoded (as UTF-8), so that every name gives a distinct, plainly shown file inside the
 * directory.
 */
function fileNameOf(name: string): string {
  const encoded = name.replace(/[%/\\:*?"<>|\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) =>
    c.charCodeAt(0) < 0x80 ? `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}` : encodeURIComponent(c),
  );
  return encoded.startsWith(".") ? `%2E${encoded.slice(1)}` : encoded;
}

/** The longest file name, in bytes, of Linux, macOS and Windows file systems. */
const MAX_FILE_NAME_BYTES = 255;

/** Runs `ndpack extract`; returns the exit code. */
export async function extractCommand(path: string, names: readonly string[], options: ExtractOptions): Promise<number> {
  const directory = options.output ?? ".";
  const file = await openFile(path, inputOptions("ndpack extract", path, options));
  try {
    const entries = names.length === 0 ? entriesOf(file) : names.map((name) => entryOf(file, name));
    for (const entry of entries) {
      const length = Buffer.byteLength(`${fileNameOf(entry.name)}.npy`);
      if (length > MAX_FILE_NAME_BYTES) {
        throw usageError(`array ${displayName(entry.name)} would be a file name of ${length} bytes, more than the ${MAX_FILE_NAME_BYTES} file systems allow: convert the file instead (ndpack convert ${path} OUT.npz or OUT.ndp), where names have no such limit`, "name");
      }
    }
    await withFile(directory, async () => {
      try {
        await mkdir(directory, { recursive: true });
      } catch (cause) {
        throw ioError("create the directory", directory, cause);
      }
    });
    // Each file is fsynced before its rename; the directory, which holds every rename, once at the end.
    const write = { ...writeOptions("npy", options, {}), syncDirectory: false };
    for (const entry of entries) {
      const out = join(directory, `${fileNameOf(entry.name)}.npy`);
      await copyArrays(out, [{ name: entry.name, file, entry }], write, entry.byteLength, options.progress);
      print(escapeControls(out));
    }
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
