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
import { ioError } from "../node/io.js";
import { withFile } from "./errors.js";
import { entriesOf, entryOf, openFile } from "./formats.js";
import { copyArrays, writeOptions, type WriteCommandOptions } from "./convert.js";
import { print } from "./output.js";

/** Options of `ndpack extract`. */
export interface ExtractOptions extends Pick<WriteCommandOptions, "bigEndian" | "progress" | "voidDtype"> {
  /** The directory to write to (created when missing). Default: the current directory. */
  readonly output?: string;
}

/**
 * A file name for an array name: `%`, path separators, characters Windows forbids, control
 * characters and a leading dot are percent-encoded, so that every name gives a distinct file
 * inside the directory.
 */
function fileNameOf(name: string): string {
  const encoded = name.replace(/[%/\\:*?"<>|\u0000-\u001f\u007f]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
  return encoded.startsWith(".") ? `%2E${encoded.slice(1)}` : encoded;
}

/** Runs `ndpack extract`; returns the exit code. */
export async function extractCommand(path: string, names: readonly string[], options: ExtractOptions): Promise<number> {
  const directory = options.output ?? ".";
  const file = await openFile(path, options.voidDtype === undefined ? {} : { voidDtype: options.voidDtype });
  try {
    const entries = names.length === 0 ? entriesOf(file) : names.map((name) => entryOf(file, name));
    await withFile(directory, async () => {
      try {
        await mkdir(directory, { recursive: true });
      } catch (cause) {
        throw ioError("create the directory", directory, cause);
      }
    });
    for (const entry of entries) {
      const out = join(directory, `${fileNameOf(entry.name)}.npy`);
      await copyArrays(out, [{ name: entry.name, file, entry }], writeOptions("npy", options, {}), entry.byteLength, options.progress);
      print(out);
    }
  } finally {
    await file.close();
  }
  return 0;
}
