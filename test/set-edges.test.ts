/**
 * Sets at their edges, found by an audit of the set writer and reader: a failure after the new
 * index is in place, a stem that cannot be written, a shard read begun before the set is closed.
 * The first test makes one folder fsync fail by replacing `fs.promises.open` (Node's builtin
 * exports, synced): this file runs alone in its worker.
 */
import fsp from "node:fs/promises";
import { existsSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { afterAll, expect, test } from "vitest";
import { open, saveSet } from "../src/node/index.js";
import { failure, tempDir } from "./helpers/node-files.js";

const dir = tempDir("ndpack-set-edges-");
afterAll(() => dir.remove());

const arrays = (value: number) => ({ a: new Float32Array(4).fill(value), b: new Float32Array(4).fill(value) });

test("a rewrite whose folder fsync fails after the new index is in place: IO_ERROR, and the new set stays readable (its shards are not removed)", async () => {
  const folder = dir.file("fsync-after-rename");
  const first = await saveSet(folder, arrays(1), { maxShardBytes: 16 });
  const realOpen = fsp.open;
  let folderOpens = 0;
  fsp.open = (async (path: Parameters<typeof realOpen>[0], flags?: Parameters<typeof realOpen>[1], ...rest: unknown[]) => {
    // The rewrite opens the folder to fsync it twice: before the index's rename, and after it.
    if (path === folder && (flags === "r" || flags === undefined) && ++folderOpens === 2) throw Object.assign(new Error("EIO: i/o error, open"), { code: "EIO" });
    return (realOpen as (...args: unknown[]) => ReturnType<typeof realOpen>)(path, flags, ...rest);
  }) as typeof realOpen;
  syncBuiltinESMExports();
  try {
    await failure(() => saveSet(folder, arrays(2), { maxShardBytes: 16 }), "IO_ERROR");
  } finally {
    fsp.open = realOpen;
    syncBuiltinESMExports();
  }
  expect(folderOpens).toBe(2);
  const set = await open(first.indexPath);
  try {
    for (const name of ["a", "b"]) expect(Array.from((await set.read(name)).data as Float32Array)).toEqual([2, 2, 2, 2]);
  } finally {
    await set.close();
  }
});

test("a stem holding a lone surrogate is INVALID_ARGUMENT naming stem, before any file is made", async () => {
  const folder = dir.file("surrogate-stem");
  const error = await failure(() => saveSet(folder, arrays(1), { stem: "m\ud800" }), "INVALID_ARGUMENT");
  expect(error.field).toBe("stem");
  expect(existsSync(folder)).toBe(false);
});

test("readChunks made before the set is closed and iterated after is CLOSED, and opens no shard", async () => {
  const folder = dir.file("chunks-after-close");
  const { indexPath } = await saveSet(folder, arrays(3), { maxShardBytes: 16 });
  const set = await open(indexPath);
  const indexBytes = set.bytesRead;
  const chunks = set.readChunks("b");
  await set.close();
  await failure(() => chunks.next(), "CLOSED");
  expect(set.bytesRead).toBe(indexBytes);
});
