/**
 * A set reader over a folder keeps at most MAX_OPEN_SHARD_FILES shard files open, so that a set of
 * more shards than the process may open files reads (EMFILE before), and a shard whose handle was
 * closed in between is opened again only if it is the same file, unchanged (else FILE_CHANGED).
 */
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { open, saveSet, type SetReader } from "../src/node/index.js";
import { MAX_OPEN_SHARD_FILES } from "../src/node/set-open.js";
import { buildChildScript, childOutcome, failure, tempDir } from "./helpers/node-files.js";

/** More shards than the child's file limit below, one array each. */
const SHARDS = 400;
/** 8 KiB: past the first 4 KiB of a shard that the set reader keeps from its header check, so that reading the array reads the file. */
const LENGTH = 2048;
function array(i: number): Float32Array {
  const data = new Float32Array(LENGTH).fill(0.5);
  data[0] = i;
  return data;
}
const arrays = Object.fromEntries(Array.from({ length: SHARDS }, (_, i) => [`a${i}`, { data: array(i), shape: [LENGTH] }]));
const expectedSum = Array.from({ length: SHARDS }, (_, i) => i + (LENGTH - 1) * 0.5).reduce((a, b) => a + b, 0);

const dir = tempDir("ndpack-set-files-");
const index = dir.file("set/model.ndp.index.json");
let child: Awaited<ReturnType<typeof buildChildScript>>;
beforeAll(async () => {
  await saveSet(dir.file("set"), arrays, { maxShardBytes: 1, fsync: false });
  child = await buildChildScript();
}, 120_000);
afterAll(() => {
  dir.remove();
  child?.remove();
});

const openFiles = () => readdirSync("/proc/self/fd").length;
const shardPath = async (set: SetReader, name: string) => dir.file(`set/${set.index.shardOf.get(name)!.name}`);

describe("a set of more shards than the process may open files", () => {
  // 200: more than the reader keeps open; 40: fewer, so that opening a shard meets EMFILE first and must close an idle one or wait.
  test.each([200, 40])(`${SHARDS} shards read and verified in a process limited to %i open files`, async (limit) => {
    expect(readdirSync(dir.file("set")).length).toBe(SHARDS + 1);
    const outcome = await childOutcome(child.path, ["read-set", index], { shellPrefix: `ulimit -n ${limit}` });
    expect(outcome).toMatchObject({ ok: true, arrays: SHARDS, sum: expectedSum, verified: true });
  }, 120_000);

  test(`at most ${MAX_OPEN_SHARD_FILES} shard files are open at a time, and none after close`, async () => {
    const before = openFiles();
    const set = (await open(index)) as SetReader;
    let most = 0;
    const sample = setInterval(() => (most = Math.max(most, openFiles())), 1);
    try {
      const all = await set.readMany(set.names);
      expect([...all.values()].map((array) => array.data[0])).toEqual(set.names.map((_, i) => i));
      most = Math.max(most, openFiles());
      // Every shard read, one by one, in an order that reopens the ones closed since.
      for (const name of [...set.names].reverse()) expect((await set.read(name)).data[LENGTH - 1]).toBe(0.5);
      expect((await set.verify()).ok).toBe(true);
    } finally {
      clearInterval(sample);
    }
    expect(most - before).toBeGreaterThan(MAX_OPEN_SHARD_FILES / 2);
    expect(most - before).toBeLessThanOrEqual(MAX_OPEN_SHARD_FILES);
    await set.close();
    // None left open (a descriptor of something else may have closed meanwhile).
    expect(openFiles()).toBeLessThanOrEqual(before);
  }, 120_000);
});

test("two shards opened at once while the process has no descriptor left (EMFILE) and nothing to close: both end IO_ERROR, neither waits for the other", async () => {
  const { FileSource } = await import("../src/node/file-source.js");
  const { NdpackError } = await import("../src/errors.js");
  const set = (await open(index)) as SetReader;
  const real = FileSource.open;
  FileSource.open = async (path: string) => {
    throw new NdpackError("IO_ERROR", `cannot open ${path}: EMFILE`, { path, cause: Object.assign(new Error("EMFILE: too many open files"), { code: "EMFILE" }) });
  };
  try {
    const outcomes = await Promise.allSettled([set.read("a0"), set.read("a3")]);
    expect(outcomes.map((outcome) => (outcome.status === "rejected" ? (outcome.reason as { code: string }).code : "read"))).toEqual(["IO_ERROR", "IO_ERROR"]);
  } finally {
    FileSource.open = real;
    await set.close();
  }
  // And once descriptors are back, the same reader-less open reads them.
  await using again = (await open(index)) as SetReader;
  expect((await again.read("a3")).data[0]).toBe(3);
});

describe("a shard opened again is checked to be the same file", () => {
  async function withClosedFirstShard(change: (path: string) => void): Promise<SetReader> {
    const set = (await open(index)) as SetReader;
    expect((await set.read("a0")).data[0]).toBe(0);
    // Enough other shards to close a0's handle.
    await set.readMany(set.names.slice(1, MAX_OPEN_SHARD_FILES + 10));
    change(await shardPath(set, "a0"));
    return set;
  }

  test("unchanged: read again, values as before", async () => {
    await using set = await withClosedFirstShard(() => undefined);
    expect([...(await set.read("a0")).data]).toEqual([...array(0)]);
  });

  test("rewritten in place with other bytes of the same size: FILE_CHANGED", async () => {
    let original = new Uint8Array();
    const set = await withClosedFirstShard((path) => {
      original = readFileSync(path);
      const changed = Uint8Array.from(original);
      changed[changed.length - 1]! ^= 1; // a payload byte: the header, size and names still match the index
      writeFileSync(path, changed);
    });
    try {
      const error = await failure(() => set.read("a0"), "FILE_CHANGED");
      expect(error.path).toBe(await shardPath(set, "a0"));
    } finally {
      await set.close();
      writeFileSync(await shardPath(set, "a0"), original);
    }
  });

  test("removed (a set rewritten meanwhile removes its old shards): FILE_CHANGED", async () => {
    let original = new Uint8Array();
    const set = await withClosedFirstShard((path) => {
      original = readFileSync(path);
      rmSync(path);
    });
    try {
      await failure(() => set.read("a0"), "FILE_CHANGED");
    } finally {
      await set.close();
      writeFileSync(await shardPath(set, "a0"), original);
    }
  });

  test("replaced by another file (renamed over it): FILE_CHANGED", async () => {
    const set = await withClosedFirstShard((path) => {
      writeFileSync(`${path}.new`, readFileSync(path));
      renameSync(`${path}.new`, path);
    });
    try {
      await failure(() => set.read("a0"), "FILE_CHANGED");
    } finally {
      await set.close();
    }
  });
});
