/**
 * Sharded sets against the library that defines their layout, huggingface_hub (its serialization
 * API, run by test/helpers/hf-hub-sets.py): a checkpoint written by `save_torch_state_dict` (every
 * dtype torch and ndpack share, 0-d, empty, non-contiguous and tied tensors, several shards) read by
 * `open`, `openSet` and the CLI bit for bit as torch held it; the checkpoints it writes that
 * FORMAT.md §12 refuses, SET_INVALID; a set of .safetensors shards written by `ndpack convert`
 * loaded by `load_torch_model` (strict) and `load_state_dict_from_file` bit for bit, with the
 * `total_size` Hugging Face counts; sets of .ndp shards, which no Hugging Face loader takes for a
 * checkpoint, never named as one; and one file of `toSafetensors`, which its loader reads only
 * without metadata or with `"format": "pt"`.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { ArrayInput, NdArray } from "../src/index.js";
import { bytesSource, createSetWriter, open, openSet, save, saveSet, type SetReader } from "../src/node/index.js";
import { toSafetensors } from "../src/interop/index.js";
import { errorLineOf, requireBuiltCli, runCli } from "./helpers/cli-run.js";
import { tempDir } from "./helpers/node-files.js";
import { startPythonWorker } from "./helpers/python-env.js";
import { dataBytes } from "./helpers/set-files.js";

/** huggingface_hub's side, one process for the whole file. */
const hub = startPythonWorker("test/helpers/hf-hub-sets.py");
interface Tensor {
  dtype: string;
  shape: number[];
  sha256: string;
}
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

const dir = tempDir("ndpack-set-huggingface-");
afterAll(async () => {
  await hub.close();
  dir.remove();
});

describe("a checkpoint written by huggingface_hub's save_torch_state_dict, read by ndpack", () => {
  const checkpoint = join(dir.path, "hf");
  const indexPath = join(checkpoint, "model.safetensors.index.json");
  let tensors: Record<string, Tensor>;
  let index: { metadata: Record<string, unknown>; weight_map: Record<string, string> };
  beforeAll(async () => {
    await requireBuiltCli();
    tensors = ((await hub.call("write", checkpoint)) as { tensors: Record<string, Tensor> }).tensors;
    index = JSON.parse(readFileSync(indexPath, "utf8"));
  });

  test("open: every tensor in the index's order, bit for bit with its dtype and shape; the tied head is the metadata's alias", async () => {
    await using set = (await open(indexPath)) as SetReader;
    expect(set.index.shards.length).toBeGreaterThanOrEqual(3);
    expect(set.names).toEqual(Object.keys(index.weight_map));
    // HF writes a storage once: the dropped name is the index metadata's, mapped to the kept one.
    expect(set.names).not.toContain("lm_head.weight");
    expect(set.metadata).toEqual({ source: "hf-hub-sets", "lm_head.weight": "model.embed_tokens.weight" });
    expect(set.index.totalSize).toBe(index.metadata.total_size);
    let nbytes = 0;
    for (const name of set.names) {
      const array = await set.read(name);
      expect({ dtype: array.dtype, shape: array.shape, sha256: sha256(dataBytes(array)) }, name).toEqual(tensors[name]);
      nbytes += array.nbytes;
    }
    expect(nbytes).toBe(index.metadata.total_size);
    expect(sha256(dataBytes(await set.read("model.embed_tokens.weight")))).toBe(tensors["lm_head.weight"]!.sha256);
    // Rejected, as a file reader's read rejects (both threw at the call: a .catch() missed it).
    await expect(set.read("lm_head.weight")).rejects.toMatchObject({ code: "NOT_FOUND", array: "lm_head.weight" });
    await expect(set.readRows("lm_head.weight", 0, 1)).rejects.toMatchObject({ code: "NOT_FOUND", array: "lm_head.weight" });
    const rows = await set.readRows("model.layers.0.k_proj.weight", 3, 11);
    expect(dataBytes(rows)).toEqual(dataBytes(await set.read("model.layers.0.k_proj.weight")).subarray(3 * 48 * 4, 11 * 48 * 4));
    const report = await set.verify();
    expect(report.ok).toBe(true);
    expect(report.shards.flatMap((shard) => shard.arrays.map((array) => array.name)).sort()).toEqual([...set.names].sort());
  });

  test("openSet (ndpack/sets, browsers too) over the index's bytes and each shard's: the same tensors", async () => {
    await using set = await openSet(new Uint8Array(readFileSync(indexPath)), async (shard) => {
      const path = join(checkpoint, shard.name);
      return { source: bytesSource(new Uint8Array(readFileSync(path))), name: path };
    });
    const arrays = await set.readMany(set.names);
    expect(Object.fromEntries([...arrays].map(([name, array]) => [name, sha256(dataBytes(array))]))).toEqual(Object.fromEntries(set.names.map((name) => [name, tensors[name]!.sha256])));
    expect((await set.verify()).ok).toBe(true);
  });

  test("the CLI: inspect lists every tensor with its shard, dtype and shape; verify passes", async () => {
    const inspect = await runCli(["inspect", "--json", indexPath]);
    expect(inspect.code, inspect.stderr).toBe(0);
    const listed = JSON.parse(inspect.stdout).arrays as { name: string; shard: string; dtype: string; shape: number[] }[];
    expect(listed.map((a) => [a.name, a.shard, a.dtype, a.shape])).toEqual(Object.entries(index.weight_map).map(([name, shard]) => [name, shard, tensors[name]!.dtype, tensors[name]!.shape]));
    const verify = await runCli(["verify", "--json", indexPath]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, format: "set" });
  });
});

describe("the checkpoints save_torch_state_dict writes that ndpack refuses, for the reasons FORMAT.md §12 gives", () => {
  test("a filename_pattern with a folder or in capitals, an empty tensor name, pickles: SET_INVALID from open and the CLI, before any shard", async () => {
    const written = (await hub.call("refused", join(dir.path, "refused-by-ndpack"))) as Record<string, string>;
    expect(Object.keys(written)).toHaveLength(4);
    for (const [name, indexPath] of Object.entries(written)) {
      await expect(open(indexPath), name).rejects.toMatchObject({ code: "SET_INVALID" });
      const inspect = await runCli(["inspect", indexPath]);
      expect([inspect.code, errorLineOf(inspect)], name).toEqual([2, expect.stringMatching(/\(SET_INVALID\)$/)]);
    }
  });
});

describe("a set of .safetensors shards written by ndpack convert, loaded by huggingface_hub", () => {
  // Stored big-endian, one array in Fortran order: the shards are little-endian, C order.
  const F_ROWS = 5;
  const F_COLUMNS = 7;
  const fortran = Float32Array.from({ length: F_ROWS * F_COLUMNS }, (_, k) => (k % F_ROWS) * 100 + Math.floor(k / F_ROWS));
  const fortranInC = Float32Array.from({ length: F_ROWS * F_COLUMNS }, (_, k) => Math.floor(k / F_COLUMNS) * 100 + (k % F_COLUMNS));
  const arrays: Record<string, ArrayInput> = {
    "encoder.embed.weight": { data: Float32Array.from({ length: 64 * 32 }, (_, k) => Math.sin(k)), shape: [64, 32] },
    "encoder.proj.weight": { data: Uint16Array.from({ length: 40 * 8 }, (_, k) => 0x3f80 + k), dtype: "bfloat16", shape: [40, 8] },
    "encoder.norm.weight": { data: Uint16Array.from({ length: 48 }, (_, k) => 0x3c00 + k), dtype: "float16", shape: [48] },
    "encoder.scale": { data: Uint8Array.from({ length: 32 }, (_, k) => k * 3), dtype: "float8_e4m3fn", shape: [32] },
    "encoder.grad_scale": { data: Uint8Array.from({ length: 16 }, (_, k) => k * 5), dtype: "float8_e5m2", shape: [16] },
    "encoder.rotary": { data: Float32Array.from({ length: 12 }, (_, k) => k / 7), dtype: "complex64", shape: [6] },
    "encoder.fortran": { data: fortran, shape: [F_ROWS, F_COLUMNS], order: "F" },
    "positions": { data: BigInt64Array.from({ length: 100 }, (_, k) => BigInt(k) * 1_000_000_007n), shape: [1, 100] },
    "ids": { data: Uint32Array.of(0, 1, 0xffffffff), shape: [3] },
    "mask": { data: Uint8Array.of(1, 0, 1, 1), dtype: "bool", shape: [2, 2] },
    "extremes": { data: Float64Array.of(Math.PI, -0, Number.MAX_VALUE), shape: [3] },
    "step": { data: BigInt64Array.of(1200n), shape: [] },
    "empty": { data: new Float32Array(0), shape: [0, 4] },
  };
  /** What each array is as torch holds it: little-endian, C order. */
  const expected = Object.fromEntries(
    Object.entries(arrays).map(([name, input]) => {
      const spec = input as { data: ArrayBufferView; dtype?: string; shape: number[] };
      const data = name === "encoder.fortran" ? fortranInC : spec.data;
      const dtype = spec.dtype ?? ({ Float32Array: "float32", Float64Array: "float64", BigInt64Array: "int64", Uint32Array: "uint32" } as Record<string, string>)[data.constructor.name]!;
      return [name, { dtype, shape: spec.shape, sha256: sha256(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) }];
    }),
  );
  const totalSize = Object.values(arrays).reduce((sum, input) => sum + (input as { data: ArrayBufferView }).data.byteLength, 0);
  const source = join(dir.path, "source.ndp");
  const out = join(dir.path, "converted");
  const indexPath = join(out, "model.safetensors.index.json");
  beforeAll(async () => {
    await requireBuiltCli();
    await save(source, arrays, { byteOrder: "big", metadata: { step: 1200, note: "from ndpack" } });
    const convert = await runCli(["convert", source, indexPath, "--max-shard-size", "1KB"]);
    expect(convert.code, convert.stderr).toBe(0);
  });

  /** Loads the set in `folder` with huggingface_hub: what load_torch_model and load_state_dict_from_file give must be `expected`. */
  const expectLoadedByHuggingFace = async (folder: string) => {
    const wanted = Object.fromEntries(Object.entries(expected).map(([name, { dtype, shape }]) => [name, { dtype, shape }]));
    const loaded = (await hub.call("load", folder, wanted)) as { loaded: Record<string, Tensor>; shards: Record<string, Record<string, Tensor>>; total_size: number };
    expect(loaded.loaded).toEqual(expected);
    const index = JSON.parse(readFileSync(join(folder, "model.safetensors.index.json"), "utf8"));
    expect(Object.keys(loaded.shards).length).toBeGreaterThanOrEqual(3);
    for (const [shard, held] of Object.entries(loaded.shards)) {
      expect(Object.keys(held).sort(), shard).toEqual(Object.keys(index.weight_map).filter((name) => index.weight_map[name] === shard).sort());
      for (const [name, tensor] of Object.entries(held)) expect(tensor, name).toEqual(expected[name]);
    }
    // total_size as Hugging Face counts it; the user's metadata beside it, which its loaders ignore.
    expect(index.metadata).toEqual({ total_size: loaded.total_size, step: 1200, note: "from ndpack" });
    expect(loaded.total_size).toBe(totalSize);
    return index as { weight_map: Record<string, string> };
  };

  test("load_torch_model, strict, into a module of these tensors: every one bit for bit; each shard by load_state_dict_from_file too", async () => {
    await expectLoadedByHuggingFace(out);
  });

  test("written over a checkpoint of Hugging Face's: its shards are removed (the index named them), and the set loads", async () => {
    const folder = join(dir.path, "replaced");
    await hub.call("write", folder);
    const convert = await runCli(["convert", source, join(folder, "model.safetensors.index.json"), "--max-shard-size", "1KB"]);
    expect(convert.code, convert.stderr).toBe(0);
    const index = await expectLoadedByHuggingFace(folder);
    const ours = [...new Set(Object.values(index.weight_map))];
    expect(readdirSync(folder).sort()).toEqual([...ours, "model.safetensors.index.json"].sort());
    // In turn, save_torch_state_dict removes only the files named as it names shards: ndpack's
    // tagged ones stay, named by no index (FORMAT.md §12.4), and the set is Hugging Face's.
    const { tensors } = (await hub.call("write", folder)) as { tensors: Record<string, Tensor> };
    expect(readdirSync(folder).filter((name) => ours.includes(name)).sort()).toEqual(ours.sort());
    await using set = (await open(join(folder, "model.safetensors.index.json"))) as SetReader;
    for (const name of set.names) expect(sha256(dataBytes(await set.read(name))), name).toBe(tensors[name]!.sha256);
  });

  test("ndpack reads the set it wrote as the source holds it", async () => {
    await using set = (await open(indexPath)) as SetReader;
    expect(set.names).toEqual(Object.keys(arrays));
    for (const name of set.names) {
      const array: NdArray = await set.read(name);
      expect({ dtype: array.dtype, shape: array.shape, sha256: sha256(dataBytes(array)) }, name).toEqual(expected[name]);
    }
  });
});

describe("sets of .ndp shards are not Hugging Face checkpoints", () => {
  const arrays = { "a.weight": new Float32Array(300).fill(1), "b.weight": new Float32Array(300).fill(2) };

  test("saveSet and createSetWriter name the index <stem>.ndp.index.json: load_torch_model finds no checkpoint", async () => {
    const saved = await saveSet(join(dir.path, "saved"), arrays, { maxShardBytes: 1500 });
    expect(saved.indexPath).toBe(join(dir.path, "saved", "model.ndp.index.json"));
    const writer = await createSetWriter(join(dir.path, "streamed"), [{ name: "a.weight", dtype: "float32", shape: [300] }], { maxShardBytes: 1500, stem: "model.safetensors" });
    await writer.write("a.weight", arrays["a.weight"]);
    expect((await writer.close()).indexPath).toBe(join(dir.path, "streamed", "model.safetensors.ndp.index.json"));
    for (const folder of ["saved", "streamed"]) {
      const { error } = (await hub.call("refuses", join(dir.path, folder))) as { error: string };
      expect(error, folder).toMatch(/does not contain a valid checkpoint/);
    }
  });

  test("convert --to ndpack refuses an index named for .safetensors shards, and writes nothing", async () => {
    const source = join(dir.path, "two.ndp");
    await save(source, arrays);
    const target = join(dir.path, "refused", "model.safetensors.index.json");
    const result = await runCli(["convert", source, target, "--to", "ndpack", "--max-shard-size", "1500"]);
    expect(result.code).toBe(2);
    expect(errorLineOf(result)).toMatch(/written as <stem>\.ndp\.index\.json, not model\.safetensors\.index\.json \(INVALID_ARGUMENT\)$/);
    expect(() => readFileSync(target)).toThrow();
  });
});

describe("one .safetensors file of toSafetensors, loaded by huggingface_hub's load_state_dict_from_file", () => {
  test('read without metadata or with "format": "pt"; refused with other metadata alone, as the README says', async () => {
    const weight = { data: Float32Array.from({ length: 12 }, (_, i) => i / 3), shape: [3, 4] };
    const cases = [
      ["no metadata", undefined],
      ["format pt", { format: "pt", step: 3 }],
      ["other metadata", { step: 3 }],
    ] as const;
    const outcomes = [];
    for (const [label, metadata] of cases) {
      const file = join(dir.path, `${label.replace(" ", "-")}.safetensors`);
      writeFileSync(file, toSafetensors({ weight }, metadata === undefined ? {} : { metadata }));
      outcomes.push((await hub.call("file", file)) as { loaded?: Record<string, Tensor>; error?: string });
    }
    const expected = { weight: { dtype: "float32", shape: [3, 4], sha256: sha256(new Uint8Array(weight.data.buffer)) } };
    expect(outcomes.map((o) => o.loaded)).toEqual([expected, expected, undefined]);
    expect(outcomes[2]!.error).toMatch(/does not contain the valid metadata/);
  });
});
