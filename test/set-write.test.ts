/**
 * Writing sharded sets (FORMAT.md §12.4): saveSet and createSetWriter pack arrays into shards in
 * order without splitting one, name them with a generation tag, write the index last, replace an
 * old set and remove its shards, and leave the old set untouched on any failure.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { encode, type ArraysInput, type ErrorCode } from "../src/index.js";
import { createSetWriter, saveSet, type WriterEntry } from "../src/node/index.js";
import { expectBytes, failure, noise, tempDir } from "./helpers/node-files.js";
import { dataBytes, loadSet } from "./helpers/set-files.js";

const dir = tempDir("ndpack-set-write-");
afterAll(() => dir.remove());
let counter = 0;
const freshFolder = () => dir.file(`set-${counter++}`);
const SHARD = /^model-([0-9a-f]{8})-(\d{5})-of-(\d{5})\.ndp$/;

/** Six arrays of 100, 100, 250, 0, 40 and 60 bytes. */
const arrays = (seed = 1): [string, { data: ArrayBufferView; shape?: number[]; dtype?: "uint8" | "float32" | "bfloat16" }][] => [
  ["a", { data: noise(100, seed) }],
  ["b", { data: new Float32Array(noise(100, seed + 1).buffer), shape: [5, 5] }],
  ["c", { data: noise(250, seed + 2) }],
  ["empty", { data: new Float32Array(0), shape: [0, 4] }],
  ["d", { data: new Uint16Array(noise(40, seed + 3).buffer), dtype: "bfloat16" }],
  ["e", { data: noise(60, seed + 4) }],
];

function expectSet(folder: string, input: ReturnType<typeof arrays>, shardsOf: string[][], metadata: Record<string, unknown> = {}) {
  const set = loadSet(join(folder, "model.ndp.index.json"));
  expect(set.index.names).toEqual(input.map(([name]) => name));
  expect(set.index.metadata).toEqual(metadata);
  expect(set.index.totalSize).toBe(input.reduce((sum, [, a]) => sum + a.data.byteLength, 0));
  expect(set.index.shards.map((s) => [...s.arrays])).toEqual(shardsOf);
  for (const [name, spec] of input) expectBytes(dataBytes(set.arrays.get(name)!), dataBytes(spec), name);
  const names = set.index.shards.map((s) => s.name);
  const generations = new Set(names.map((name) => SHARD.exec(name)![1]));
  expect(generations.size).toBe(1);
  names.forEach((name, i) => expect(SHARD.exec(name)!.slice(2)).toEqual([String(i + 1).padStart(5, "0"), String(names.length).padStart(5, "0")]));
  // Nothing else in the folder: no temporary file, no other shard.
  expect(readdirSync(folder).sort()).toEqual(["model.ndp.index.json", ...names].sort());
  return set;
}

describe("saveSet", () => {
  test("fills shards in order up to maxShardBytes of array bytes, never splitting an array", async () => {
    const folder = freshFolder();
    const input = arrays();
    const saved = await saveSet(folder, input, { maxShardBytes: 250, metadata: { step: 7 } });
    expect(saved.indexPath).toBe(join(folder, "model.ndp.index.json"));
    const set = expectSet(folder, input, [["a", "b"], ["c", "empty"], ["d", "e"]], { step: 7 });
    expect(saved.shards).toEqual(set.index.shards.map((s) => s.name));
    // Each shard is the file `encode` writes for its arrays (no metadata of its own).
    expectBytes(readFileSync(join(folder, saved.shards[0]!)), encode(input.slice(0, 2)));
  });

  test("one shard by default; an array larger than maxShardBytes has a shard of its own", async () => {
    const one = freshFolder();
    await saveSet(one, arrays());
    expectSet(one, arrays(), [["a", "b", "c", "empty", "d", "e"]]);
    const small = freshFolder();
    await saveSet(small, arrays(), { maxShardBytes: 90 });
    expectSet(small, arrays(), [["a"], ["b"], ["c", "empty"], ["d"], ["e"]]);
  });

  test("each array is read once: a spec whose data getter gives another array each time is written as the one checked and counted (the shard held the second, total_size counted the first)", async () => {
    const folder = freshFolder();
    let reads = 0;
    const spec = {
      get data() {
        return reads++ === 0 ? new Float32Array([1]) : new Float32Array(1000);
      },
    };
    await saveSet(folder, { a: spec, b: new Float32Array([2, 3]) }, { maxShardBytes: 8 });
    const set = loadSet(join(folder, "model.ndp.index.json"));
    expect(Array.from(set.arrays.get("a")!.data as Float32Array)).toEqual([1]);
    expect(reads).toBe(1);
  });

  test("a set of no arrays is an index alone", async () => {
    const folder = freshFolder();
    await saveSet(folder, {}, { metadata: { note: "none" } });
    expect(readdirSync(folder)).toEqual(["model.ndp.index.json"]);
    expect(loadSet(join(folder, "model.ndp.index.json")).index.metadata).toEqual({ note: "none" });
  });

  test("options reach every shard; stem names the files", async () => {
    const folder = freshFolder();
    const saved = await saveSet(folder, arrays(), { maxShardBytes: 250, stem: "ckpt.v2", alignment: 4096, byteOrder: "big", codec: "shuffle+deflate", fsync: false });
    expect(saved.indexPath).toBe(join(folder, "ckpt.v2.ndp.index.json"));
    expect(saved.shards.every((name) => /^ckpt\.v2-[0-9a-f]{8}-0000\d-of-00003\.ndp$/.test(name))).toBe(true);
    const set = loadSet(saved.indexPath);
    for (const [name, spec] of arrays()) expectBytes(dataBytes(set.arrays.get(name)!), dataBytes(spec), name);
    expect(set.arrays.get("b")!.byteOrder).toBe("big");
  });

  test("replacing a set: the new index names new shards, the old shards are removed, other files stay", async () => {
    const folder = freshFolder();
    const first = await saveSet(folder, arrays(1), { maxShardBytes: 250 });
    writeFileSync(join(folder, "notes.txt"), "mine");
    const second = await saveSet(folder, arrays(2), { maxShardBytes: 100 });
    expect(second.shards.some((name) => first.shards.includes(name))).toBe(false);
    expect(first.shards.some((name) => existsSync(join(folder, name)))).toBe(false);
    const set = loadSet(second.indexPath);
    for (const [name, spec] of arrays(2)) expectBytes(dataBytes(set.arrays.get(name)!), dataBytes(spec), name);
    expect(readdirSync(folder).sort()).toEqual(["model.ndp.index.json", "notes.txt", ...second.shards].sort());
  });

  test("an old index that cannot be read is replaced, and no file is removed on its say", async () => {
    const folder = freshFolder();
    mkdirSync(folder);
    writeFileSync(join(folder, "model.ndp.index.json"), '{"weight_map":{"x":"../victim.ndp"}}');
    writeFileSync(join(folder, "keep.ndp"), "x");
    await saveSet(folder, arrays());
    expect(existsSync(join(folder, "keep.ndp"))).toBe(true);
    expect(loadSet(join(folder, "model.ndp.index.json")).index.names).toHaveLength(6);
  });

  test.each([
    ["stem with a slash", { stem: "a/b" }, "INVALID_ARGUMENT"],
    ["stem empty", { stem: "" }, "INVALID_ARGUMENT"],
    ["stem a Windows device", { stem: "CON" }, "INVALID_ARGUMENT"],
    ["stem holding a character Windows forbids", { stem: "run?" }, "INVALID_ARGUMENT"],
    ["metadata key total_size", { metadata: { total_size: 1 } }, "INVALID_ARGUMENT"],
    ["metadata JSON cannot hold", { metadata: { x: Number.NaN } }, "INVALID_ARGUMENT"],
    // Not an object: written as {"0": 1, "total_size": ...} before; encode refuses it, and so does Python's save_set.
    ["metadata an array", { metadata: [1] }, "INVALID_ARGUMENT"],
    ["metadata a string", { metadata: "ab" }, "INVALID_ARGUMENT"],
    ["metadata null", { metadata: null }, "INVALID_ARGUMENT"],
    ["maxShardBytes 0", { maxShardBytes: 0 }, "INVALID_ARGUMENT"],
    ["maxShardBytes fractional", { maxShardBytes: 1.5 }, "INVALID_ARGUMENT"],
    ["bad alignment", { alignment: 3 }, "INVALID_ARGUMENT"],
    ["bad codec", { codec: "zstd" }, "INVALID_ARGUMENT"],
  ] as const)("%s: %s, before any file is touched", async (_, options, code) => {
    const folder = freshFolder();
    await failure(() => saveSet(folder, arrays(), options as never), code);
    expect(existsSync(folder)).toBe(false);
  });

  test.each([
    ["a name in two shards", [...arrays(), ["a", { data: noise(5) }]] as ArraysInput, "DUPLICATE_NAME"],
    ["an empty name", [["", { data: noise(5) }]] as ArraysInput, "INVALID_ARGUMENT"],
    ["a shape that does not fit the data", [["x", { data: noise(5), shape: [2, 2] }]] as ArraysInput, "SIZE_MISMATCH"],
    ["an array's unknown codec", [["x", { data: noise(5), codec: "lz4" }]] as ArraysInput, "UNSUPPORTED_CODEC"],
  ] satisfies [string, ArraysInput, ErrorCode][])("%s: %s, before any file is touched", async (_, input, code) => {
    const folder = freshFolder();
    await failure(() => saveSet(folder, input, { maxShardBytes: 100 }), code);
    expect(existsSync(folder)).toBe(false);
  });

  test("IO_ERROR when the folder cannot be made", async () => {
    const file = dir.file(`plain-file-${counter++}`);
    writeFileSync(file, "x");
    await failure(() => saveSet(join(file, "sub"), arrays()), "IO_ERROR");
  });
});

describe("createSetWriter", () => {
  const entries = (): WriterEntry[] => [
    { name: "a", dtype: "uint8", shape: [100] },
    { name: "b", dtype: "float32", shape: [5, 5] },
    { name: "c", dtype: "uint8", shape: [250] },
    { name: "empty", dtype: "float32", shape: [0, 4] },
    { name: "d", dtype: "bfloat16", shape: [20] },
    { name: "e", dtype: "uint8", shape: [60] },
  ];

  test.each([1, 7, 64, 1000])("chunks of %i bytes across shards: the same shards, byte for byte, as saveSet", async (size) => {
    const folder = freshFolder();
    const writer = await createSetWriter(folder, entries(), { maxShardBytes: 250, metadata: { step: 7 } });
    expect(writer.names).toEqual(["a", "b", "c", "empty", "d", "e"]);
    for (const [name, spec] of arrays()) {
      const bytes = dataBytes(spec);
      expect(bytes.length === 0 || writer.current === name).toBe(true);
      for (let at = 0; at < bytes.length; at += size) await writer.write(name, bytes.subarray(at, at + size));
    }
    expect(writer.current).toBeUndefined();
    const saved = await writer.close();
    expect(await writer.close()).toEqual(saved);
    const set = expectSet(folder, arrays(), [["a", "b"], ["c", "empty"], ["d", "e"]], { step: 7 });
    const reference = freshFolder();
    const expected = await saveSet(reference, arrays(), { maxShardBytes: 250 });
    set.index.shards.forEach((shard, i) => expectBytes(readFileSync(join(folder, shard.name)), readFileSync(join(reference, expected.shards[i]!))));
  });

  test("each declaration is read once: a shape getter that says [2], then [1000], declares the shard's writer [2] too (it was WRITE_SIZE at close)", async () => {
    const folder = freshFolder();
    let reads = 0;
    const entry = {
      name: "a",
      dtype: "float32",
      get shape() {
        return reads++ === 0 ? [2] : [1000];
      },
    } as WriterEntry;
    const writer = await createSetWriter(folder, [entry]);
    await writer.write("a", new Float32Array([1, 2]));
    await writer.close();
    expect(Array.from(loadSet(join(folder, "model.ndp.index.json")).arrays.get("a")!.data as Float32Array)).toEqual([1, 2]);
  });

  test("calls issued without waiting are queued in order", async () => {
    const folder = freshFolder();
    const writer = await createSetWriter(folder, entries(), { maxShardBytes: 100 });
    // As with createWriter, an empty array is complete from the start: it takes no write.
    await Promise.all(arrays().filter(([name]) => name !== "empty").map(([name, spec]) => writer.write(name, dataBytes(spec))));
    await writer.close();
    expectSet(folder, arrays(), [["a"], ["b"], ["c", "empty"], ["d", "e"]]);
  });

  test("a codec on path shards (the header is written last in each)", async () => {
    const folder = freshFolder();
    const writer = await createSetWriter(folder, entries(), { maxShardBytes: 250, codec: "shuffle+deflate" });
    for (const [name, spec] of arrays()) if (name !== "empty") await writer.write(name, dataBytes(spec));
    await writer.close();
    expectSet(folder, arrays(), [["a", "b"], ["c", "empty"], ["d", "e"]]);
  });

  test.each([
    ["bytes for a later shard's array while one is incomplete", async (w: Awaited<ReturnType<typeof createSetWriter>>) => { await w.write("a", noise(10)); await w.write("c", noise(10)); }, "WRITE_SIZE"],
    ["bytes for a later array of the same shard while one is incomplete", async (w: Awaited<ReturnType<typeof createSetWriter>>) => { await w.write("a", noise(10)); await w.write("b", noise(10)); }, "WRITE_SIZE"],
    ["more bytes than an array holds", async (w: Awaited<ReturnType<typeof createSetWriter>>) => w.write("a", noise(101)), "WRITE_SIZE"],
    ["bytes for a complete array of a closed shard", async (w: Awaited<ReturnType<typeof createSetWriter>>) => { await w.write("a", noise(100)); await w.write("b", noise(100)); await w.write("a", noise(1)); }, "WRITE_SIZE"],
    ["an undeclared name", async (w: Awaited<ReturnType<typeof createSetWriter>>) => w.write("zz", noise(1)), "NOT_FOUND"],
    ["close() with an incomplete array", async (w: Awaited<ReturnType<typeof createSetWriter>>) => { await w.write("a", noise(100)); await w.write("b", noise(100)); await w.write("c", noise(5)); await w.close(); }, "WRITE_SIZE"],
  ] as const satisfies readonly (readonly [string, unknown, ErrorCode])[])("%s: %s; the shards written are removed and the old set stays", async (_, run, code) => {
    const folder = freshFolder();
    const old = await saveSet(folder, arrays(9), { maxShardBytes: 250 });
    const before = readdirSync(folder).sort();
    const writer = await createSetWriter(folder, entries(), { maxShardBytes: 250 });
    await failure(() => run(writer), code);
    await failure(() => writer.write("a", noise(1)), code);
    expect(readdirSync(folder).sort()).toEqual(before);
    const set = loadSet(old.indexPath);
    for (const [name, spec] of arrays(9)) expectBytes(dataBytes(set.arrays.get(name)!), dataBytes(spec), name);
  });

  test("abort() and leaving `await using` without close() write nothing", async () => {
    const folder = freshFolder();
    const writer = await createSetWriter(folder, entries(), { maxShardBytes: 100 });
    await writer.write("a", noise(100));
    await writer.write("b", noise(100));
    expect(readdirSync(folder).length).toBeGreaterThan(0);
    await writer.abort();
    expect(readdirSync(folder)).toEqual([]);
    await failure(() => writer.close(), "CLOSED");
    {
      await using disposed = await createSetWriter(folder, entries(), { maxShardBytes: 100 });
      await disposed.write("a", noise(100));
    }
    expect(readdirSync(folder)).toEqual([]);
  });

  test.each([
    ["a duplicate name", [{ name: "a", dtype: "uint8", shape: [1] }, { name: "a", dtype: "uint8", shape: [1] }], {}, "DUPLICATE_NAME"],
    ["an unknown dtype", [{ name: "a", dtype: "float128", shape: [1] }], {}, "UNKNOWN_DTYPE"],
    ["a bad shape", [{ name: "a", dtype: "uint8", shape: [-1] }], {}, "BAD_SHAPE"],
    ["a total_size metadata key", [], { metadata: { total_size: 3 } }, "INVALID_ARGUMENT"],
    ["metadata an array", [], { metadata: [1] }, "INVALID_ARGUMENT"],
    ["a bad maxShardBytes", [], { maxShardBytes: -1 }, "INVALID_ARGUMENT"],
  ] as const)("%s: %s before any file is touched", async (_, list, options, code) => {
    const folder = freshFolder();
    await failure(() => createSetWriter(folder, list as never, options as never), code);
    expect(existsSync(folder)).toBe(false);
  });
});
