/**
 * Sharded sets in a folder (FORMAT.md §11): {@link openSetFile} reads the index, then reaches each
 * shard as a file next to it, opened only when one of its arrays is read. `open` calls it for any
 * path ending in `.index.json`.
 *
 * @module
 */
import { readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { NdpackError } from "../errors.js";
import { DEFAULT_MAX_INDEX_BYTES } from "../set.js";
import { openSet, type OpenSetOptions, type SetReader } from "../set-reader.js";
import { FileSource } from "./file-source.js";
import { ioError } from "./io.js";

/**
 * Opens the set whose index is the file `path`: the index is read whole (after checking its size
 * against `maxIndexBytes`) and checked; each shard is the file of its name in the index's folder.
 * Errors: IO_ERROR for an index or shard that cannot be read (a missing shard: when one of its
 * arrays is read), and those of `openSet`.
 */
export async function openSetFile(path: string, options: OpenSetOptions = {}): Promise<SetReader> {
  const maxIndexBytes = options.maxIndexBytes ?? DEFAULT_MAX_INDEX_BYTES;
  let bytes: Uint8Array;
  try {
    const { size } = await stat(path);
    if (Number.isSafeInteger(maxIndexBytes) && size > maxIndexBytes) {
      throw new NdpackError("LIMIT_EXCEEDED", `set index ${path} is ${size} bytes, more than the limit of ${maxIndexBytes}; raise the maxIndexBytes option to read it`, { path, expected: maxIndexBytes, actual: size, limit: "maxIndexBytes" });
    }
    bytes = new Uint8Array(await readFile(path));
  } catch (cause) {
    throw ioError("read the set index", path, cause);
  }
  const folder = dirname(path);
  return openSet(bytes, async (shard) => {
    const shardPath = join(folder, shard.name);
    return { source: await FileSource.open(shardPath), name: shardPath };
  }, { name: path, ...options });
}
