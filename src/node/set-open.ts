/**
 * Sharded sets in a folder (FORMAT.md §12): {@link openSetFile} reads the index, then reaches each
 * shard as a file next to it, opened only when one of its arrays is read. `open` calls it for any
 * path ending in `.index.json`.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { checkIndexSize } from "../set.js";
import { openSet, type OpenSetOptions, type SetReader } from "../set-reader.js";
import { FileSource } from "./file-source.js";

/**
 * Opens the set whose index is the file `path`: the index is read whole (once its size is known to
 * be within `maxIndexBytes`) and checked; each shard is the file of its name in the index's folder.
 * Errors: IO_ERROR for an index or shard that cannot be read (a missing shard: when one of its
 * arrays is read), and those of `openSet`.
 */
export async function openSetFile(path: string, options: OpenSetOptions = {}): Promise<SetReader> {
  const index = await FileSource.open(path);
  let bytes: Uint8Array;
  try {
    checkIndexSize(index.size, options, path);
    bytes = await index.read(0, index.size);
  } finally {
    await index.close();
  }
  const folder = dirname(path);
  return openSet(bytes, async (shard) => {
    const shardPath = join(folder, shard.name);
    return { source: await FileSource.open(shardPath), name: shardPath };
  }, { name: path, ...options });
}
