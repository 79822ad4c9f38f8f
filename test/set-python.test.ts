/**
 * Sets written by real writers: a Hugging Face sharded checkpoint written by the `safetensors`
 * Python package (bfloat16, float16, float32, int64, 0-d and empty tensors, `__metadata__`) with its
 * index in the layout transformers writes, read by ndpack and compared byte for byte with what
 * Python read; then broken in the ways FORMAT.md §12.3 lists, each a typed error with its code.
 */
import { createHash } from "node:crypto";
import { cpSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { ErrorCode, NdArray } from "../src/index.js";
import { open, saveSet, type SetReader } from "../src/node/index.js";
import { failure, tempDir } from "./helpers/node-files.js";
import { runPython } from "./helpers/python-env.js";
import { dataBytes, loadSet } from "./helpers/set-files.js";

const SCRIPT = "test/helpers/hf-sets.py";
interface Described {
  metadata: Record<string, unknown>;
  tensors: Record<string, { dtype: string; shape: number[]; shard: string; sha256: string }>;
}
const sha256 = (array: NdArray) => createHash("sha256").update(dataBytes(array)).digest("hex");

const dir = tempDir("ndpack-set-python-");
const checkpoint = join(dir.path, "checkpoint");
const indexPath = join(checkpoint, "model.safetensors.index.json");
let written: Described;
beforeAll(() => {
  written = JSON.parse(runPython(SCRIPT, ["write", checkpoint, "40000"]));
});
afterAll(() => dir.remove());

describe("a checkpoint written by safetensors (Python), read by ndpack", () => {
  test("five shards; every tensor, byte for byte, with its dtype and shape; the index's order and metadata", async () => {
    await using set = (await open(indexPath)) as SetReader;
    expect(set.format).toBe("safetensors");
    expect(set.index.shards).toHaveLength(5);
    expect(set.index.checked).toBe(false);
    expect(set.index.totalSize).toBe(written.metadata.total_size);
    expect(set.names).toEqual(Object.keys(written.tensors).sort());
    for (const [name, expected] of Object.entries(written.tensors)) {
      const array = await set.read(name);
      expect([array.dtype, array.shape, set.index.shardOf.get(name)!.name], name).toEqual([expected.dtype, expected.shape, expected.shard]);
      expect(sha256(array), name).toBe(expected.sha256);
    }
    const report = await set.verify();
    expect(report.ok).toBe(true);
    expect(report.shards.map((shard) => shard.arrays.length).reduce((a, b) => a + b)).toBe(Object.keys(written.tensors).length);
  });

  test("copied to an ndpack set by saveSet and read back: the same bytes; Python's reading of the original agrees", async () => {
    await using source = (await open(indexPath)) as SetReader;
    const arrays = await source.readMany(source.names);
    const saved = await saveSet(join(dir.path, "ndpack-copy"), arrays, { maxShardBytes: 50_000, metadata: { from: "safetensors" } });
    const copy = loadSet(saved.indexPath);
    for (const [name, expected] of Object.entries(written.tensors)) expect(sha256(copy.arrays.get(name)!), name).toBe(expected.sha256);
    const python = JSON.parse(runPython(SCRIPT, ["read", indexPath])) as Described & { shardMetadata: Record<string, string> };
    expect(python.tensors).toEqual(written.tensors);
    expect(python.shardMetadata).toEqual({ format: "pt" });
  });
});

describe("the checkpoint broken, each way a typed error with its code", () => {
  const variant = (name: string, edit: (folder: string, index: Record<string, any>) => void) => {
    const folder = join(dir.path, name);
    rmSync(folder, { recursive: true, force: true });
    cpSync(checkpoint, folder, { recursive: true });
    const index = JSON.parse(readFileSync(join(folder, "model.safetensors.index.json"), "utf8"));
    edit(folder, index);
    writeFileSync(join(folder, "model.safetensors.index.json"), `${JSON.stringify(index, null, 2)}\n`);
    return join(folder, "model.safetensors.index.json");
  };
  const LM_HEAD = "lm_head.weight";

  test.each<[string, (folder: string, index: Record<string, any>) => void, ErrorCode, "open" | "read"]>([
    ["a missing shard", (folder, index) => rmSync(join(folder, index.weight_map[LM_HEAD])), "IO_ERROR", "read"],
    ["a tensor mapped to a shard that does not hold it", (_, index) => (index.weight_map[LM_HEAD] = "model-00001-of-00005.safetensors"), "SET_INVALID", "read"],
    ["a name in the index that no shard holds", (_, index) => (index.weight_map.ghost = index.weight_map[LM_HEAD]), "SET_INVALID", "read"],
    ["a tensor of a shard missing from the index", (_, index) => delete index.weight_map[LM_HEAD], "SET_INVALID", "read"],
    ["a shard named ../x (path traversal)", (_, index) => (index.weight_map[LM_HEAD] = `../checkpoint/${index.weight_map[LM_HEAD]}`), "SET_INVALID", "open"],
    ["a shard named by an absolute path", (folder, index) => (index.weight_map[LM_HEAD] = join(folder, index.weight_map[LM_HEAD])), "SET_INVALID", "open"],
    ["a shard cut short", (folder, index) => truncateSync(join(folder, index.weight_map[LM_HEAD]), 1000), "TRUNCATED", "read"],
    ["weight_map missing", (_, index) => delete index.weight_map, "SET_INVALID", "open"],
  ])("%s: %s", async (name, edit, code, when) => {
    const path = variant(name.replace(/\W+/g, "-"), edit);
    if (when === "open") {
      await failure(() => open(path), code);
      return;
    }
    await using set = (await open(path)) as SetReader;
    const target = set.has(LM_HEAD) ? LM_HEAD : set.names.find((n) => set.index.shardOf.get(n)!.name === written.tensors[LM_HEAD]!.shard)!;
    await failure(() => set.read(target), code);
    const report = await set.verify();
    expect(report.ok).toBe(false);
    // Shards the change did not touch still read, byte for byte.
    for (const shard of report.shards.filter((s) => s.ok)) for (const array of shard.arrays) expect(sha256(await set.read(array.name))).toBe(written.tensors[array.name]!.sha256);
  });
});
