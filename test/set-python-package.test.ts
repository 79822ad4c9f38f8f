/**
 * Sets across languages: a set written by the Python package (`ndpack.save_set`, spec/python) read
 * by ndpack in Node byte for byte, and sets written in Node (`saveSet`, `createSetWriter`)
 * read by the Python package, every array byte for byte and its
 * verify passing. Fails (never skips) without the Python package installed (`.ci/run` installs it).
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import type { NdArray } from "../src/index.js";
import { createSetWriter, open, saveSet, type SetReader } from "../src/node/index.js";
import { noise, tempDir } from "./helpers/node-files.js";
import { runPython } from "./helpers/python-env.js";
import { dataBytes } from "./helpers/set-files.js";

const SCRIPT = "test/helpers/ndpack-sets.py";
interface Described {
  metadata: Record<string, unknown>;
  tensors: Record<string, { dtype: string; shape: number[]; shard: string; sha256: string }>;
  ok: boolean;
}
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const hashOf = (array: NdArray) => sha256(dataBytes(array));

const dir = tempDir("ndpack-set-python-package-");
afterAll(() => dir.remove());

describe("Python writes, Node reads", () => {
  test("ndpack.save_set: three shards of bfloat16, float32, float16, uint8 and a 0-d int64; names, metadata, bytes", async () => {
    const index = join(dir.path, "from-python", "model.ndp.index.json");
    const written = JSON.parse(runPython(SCRIPT, ["write", index, "10000"])) as Described;
    await using set = (await open(index)) as SetReader;
    expect(set.index.checked).toBe(true);
    expect(set.index.shards.length).toBe(3);
    expect(set.names).toEqual(Object.keys(written.tensors));
    expect(set.metadata).toEqual(written.metadata);
    for (const [name, expected] of Object.entries(written.tensors)) {
      const array = await set.read(name);
      expect([array.dtype, array.shape, set.index.shardOf.get(name)!.name], name).toEqual([expected.dtype, expected.shape, expected.shard]);
      expect(hashOf(array), name).toBe(expected.sha256);
    }
    expect((await set.verify()).ok).toBe(true);
  });
});

describe("Node writes, Python reads", () => {
  const arrays = (): [string, { data: ArrayBufferView; shape?: number[]; dtype?: "bfloat16" }][] => [
    ["embed.weight", { data: new Uint16Array(noise(8192, 1).buffer), shape: [64, 64], dtype: "bfloat16" }],
    ["layers.0.weight", { data: new Float32Array(noise(16384, 2).buffer), shape: [64, 64] }],
    ["step", { data: BigInt64Array.of(1200n), shape: [] }],
    ["tokens", { data: noise(3000, 3) }],
  ];
  const expectPythonReads = (index: string) => {
    const read = JSON.parse(runPython(SCRIPT, ["read", index])) as Described;
    expect(read.ok).toBe(true);
    for (const [name, spec] of arrays()) expect(read.tensors[name]?.sha256, name).toBe(sha256(dataBytes(spec)));
    return read;
  };

  test("saveSet", async () => {
    const saved = await saveSet(join(dir.path, "save-set"), arrays(), { maxShardBytes: 10_000, metadata: { writer: "node", n: [1, 2] } });
    expect(saved.shards).toHaveLength(3);
    const read = expectPythonReads(saved.indexPath);
    expect(read.metadata).toEqual({ writer: "node", n: [1, 2] });
    expect(new Set(Object.values(read.tensors).map((t) => t.shard))).toEqual(new Set(saved.shards));
  });

  test("createSetWriter, in chunks", async () => {
    const folder = join(dir.path, "set-writer");
    const writer = await createSetWriter(folder, arrays().map(([name, spec]) => ({ name, dtype: spec.dtype ?? (name === "step" ? "int64" : name === "tokens" ? "uint8" : "float32"), shape: spec.shape ?? [spec.data.byteLength] })), { maxShardBytes: 10_000 });
    for (const [name, spec] of arrays()) {
      const bytes = dataBytes(spec);
      for (let at = 0; at < bytes.length; at += 1000) await writer.write(name, bytes.subarray(at, at + 1000));
    }
    expectPythonReads((await writer.close()).indexPath);
  });
});
