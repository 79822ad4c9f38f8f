/**
 * `ndpack inspect`, run as a child process of the built bin, on .ndp files written by the library
 * and .npy/.npz/.safetensors files written by numpy and safetensors in Python; and on 10 GiB sparse
 * files of every format, where it must read only the headers (measured with /proc/<pid>/io).
 */
import { readFileSync, statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { crc32 } from "node:zlib";
import { verify } from "../src/index.js";
import { fromNpy, fromNpz, fromSafetensors } from "../src/interop/index.js";
import { open, save } from "../src/node/index.js";
import { crc32AppendZeros, sparseNdp, sparseNpy, sparseNpz, sparseSafetensors } from "./helpers/cli-files.js";
import { errorLineOf, requireBuiltCli, runCli, runCliCountingReads, tempDir } from "./helpers/cli-run.js";
import { runInteropPython, type WireArray } from "./helpers/interop-python.js";

const tmp = tempDir("inspect");
const TEN_GIB = 10 * 2 ** 30;

/** A wire array (hex little-endian bytes in `order`) from a typed array. */
function wire(name: string, dtype: string, data: ArrayBufferView, shape: number[], order: "C" | "F" = "C", byteOrder: "little" | "big" = "little"): WireArray {
  return { name, dtype, shape, order, byteOrder, hex: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("hex") };
}

const pyArrays = [
  wire("weights", "float32", Float32Array.from({ length: 6 }, (_, i) => i / 2), [2, 3]),
  wire("fortran", "float64", Float64Array.from({ length: 6 }, (_, i) => i), [2, 3], "F"),
  wire("big", "int32", Int32Array.of(1, -2, 3), [3], "C", "big"),
  wire("bf16", "bfloat16", Uint16Array.of(0x3f80, 0x4000), [2]),
];

interface InspectJson {
  file: string;
  format: string;
  version: string | null;
  size: number;
  alignment: number | null;
  checksum: string;
  metadata: Record<string, unknown>;
  arrays: { name: string; dtype: string; shape: number[]; order: string; byteOrder: string; nbytes: number; byteLength: number; offset: number; codec: string; checksum: string }[];
  bytesRead: number;
}

async function inspectJson(path: string, ...args: string[]): Promise<InspectJson> {
  const result = await runCli(["inspect", path, "--json", ...args]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as InspectJson;
}

beforeAll(async () => {
  await requireBuiltCli();
  await save(tmp.path("model.ndp"), {
    "encoder.weight": { data: Float32Array.from({ length: 12 }, (_, i) => i), shape: [3, 4] },
    ids: new BigInt64Array([1n, 2n]),
    packed: { data: new Float64Array(1000), codec: "shuffle+deflate" },
  }, { metadata: { step: 100, note: "trained" }, alignment: 128 });
  runInteropPython(tmp.dir, [], [
    { file: "arrays.npz", format: "npz", arrays: pyArrays.slice(0, 3) },
    { file: "arrays_c.npz", format: "npz_compressed", arrays: pyArrays.slice(0, 3) },
    { file: "fortran.npy", format: "npy", arrays: [pyArrays[1]!] },
    { file: "big.npy", format: "npy", arrays: [pyArrays[2]!] },
    { file: "tensors.safetensors", format: "safetensors", arrays: [pyArrays[0]!, pyArrays[3]!], metadata: { format: "pt" } },
  ]);
  for (const [make, name] of [[sparseNdp, "huge.ndp"], [sparseNpy, "huge.npy"], [sparseNpz, "huge.npz"], [sparseSafetensors, "huge.safetensors"]] as const) {
    make(tmp.path(name), TEN_GIB);
    make(tmp.path(`tiny-${name}`), 1024);
  }
});

afterAll(() => tmp.remove());

describe("inspect lists every array, with the file's version, alignment and metadata", () => {
  test("an ndpack file: the table and --json", async () => {
    const text = await runCli(["inspect", tmp.path("model.ndp")]);
    expect(text.code).toBe(0);
    expect(text.stderr).toBe("");
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/model\.ndp: ndpack 1\.0, 3 arrays, /);
    expect(lines[1]).toBe("alignment 128, checksum crc32");
    expect(lines[2]).toBe('metadata {"step":100,"note":"trained"}');
    expect(lines[4]!.split(/\s{2,}/)).toEqual(["name", "dtype", "shape", "order", "byte order", "bytes", "stored", "offset", "codec", "checksum"]);
    expect(lines[5]!.split(/\s{2,}/)).toEqual(["encoder.weight", "float32", "[3, 4]", "C", "little", "48", "48", expect.any(String), "none", "crc32"]);
    expect(lines[7]!.split(/\s{2,}/).slice(0, 2)).toEqual(["packed", "float64"]);
    expect(lines[7]).toContain("shuffle+deflate");

    const json = await inspectJson(tmp.path("model.ndp"));
    await using reader = await open(tmp.path("model.ndp"));
    expect(json).toMatchObject({ format: "ndpack", version: "1.0", alignment: 128, checksum: "crc32", size: statSync(tmp.path("model.ndp")).size, metadata: { step: 100, note: "trained" } });
    expect(json.arrays).toEqual(reader.names.map((name) => ({ ...reader.info(name), shape: [...reader.info(name).shape], checksum: "crc32" })));
  });

  test("numpy .npz (stored and deflated) and .npy files, as numpy wrote them", async () => {
    for (const file of ["arrays.npz", "arrays_c.npz"]) {
      const json = await inspectJson(tmp.path(file));
      const whole = fromNpz(readFileSync(tmp.path(file)));
      expect(json.format).toBe("npz");
      expect(json.version).toBe("1.0");
      expect(json.alignment).toBeNull();
      expect(json.checksum).toBe("crc32");
      // What the whole-file reader says, from the headers alone.
      expect(json.arrays).toEqual([...whole.arrays.values()].map(({ data: _d, copied: _c, ...info }) => ({ ...info, shape: [...info.shape], checksum: "crc32" })));
      expect(json.arrays.map((a) => [a.name, a.dtype, a.order, a.byteOrder, a.codec])).toEqual([
        ["weights", "float32", "C", "little", file === "arrays.npz" ? "none" : "deflate"],
        ["fortran", "float64", "F", "little", file === "arrays.npz" ? "none" : "deflate"],
        ["big", "int32", "C", "big", file === "arrays.npz" ? "none" : "deflate"],
      ]);
    }
    for (const [file, name] of [["fortran.npy", "fortran"], ["big.npy", "big"]] as const) {
      const json = await inspectJson(tmp.path(file));
      const { data: _d, copied: _c, ...info } = fromNpy(readFileSync(tmp.path(file)));
      expect(json.arrays).toEqual([{ ...info, name, shape: [...info.shape], checksum: "none" }]);
      expect(json).toMatchObject({ format: "npy", version: "1.0", checksum: "none", metadata: {} });
    }
  });

  test("a safetensors file written by safetensors, with its metadata", async () => {
    const json = await inspectJson(tmp.path("tensors.safetensors"));
    const whole = fromSafetensors(readFileSync(tmp.path("tensors.safetensors")));
    expect(json).toMatchObject({ format: "safetensors", version: null, checksum: "none", metadata: { format: "pt" } });
    expect(json.arrays).toEqual([...whole.arrays.values()].map(({ data: _d, copied: _c, ...info }) => ({ ...info, shape: [...info.shape], checksum: "none" })));
    const text = await runCli(["inspect", tmp.path("tensors.safetensors")]);
    expect(text.stdout).toMatch(/bf16\s+bfloat16\s+\[2\]\s+C\s+little\s+4\s+\d+\s+none\s+none/);
  });

  test("a void .npy member (an ml_dtypes array) needs --void-dtype", async () => {
    const npz = tmp.path("tensors.safetensors");
    const converted = await runCli(["convert", npz, tmp.path("bf16.npz")]);
    expect(converted.code).toBe(0);
    // ndpack's own .npz keeps the dtype in __ndpack__.json; a bare .npy cannot say it.
    expect((await inspectJson(tmp.path("bf16.npz"))).arrays.find((a) => a.name === "bf16")!.dtype).toBe("bfloat16");
    const extracted = await runCli(["extract", npz, "bf16", "-o", tmp.path("out")]);
    expect(extracted.code).toBe(0);
    const refused = await runCli(["inspect", tmp.path("out/bf16.npy")]);
    expect(refused.code).toBe(2);
    expect(errorLineOf(refused)).toMatch(/bf16\.npy.*void-dtype|bf16\.npy.*UNKNOWN_DTYPE/);
    expect(refused.stderr).toContain("(UNKNOWN_DTYPE)");
    expect((await inspectJson(tmp.path("out/bf16.npy"), "--void-dtype", "bfloat16")).arrays[0]!.dtype).toBe("bfloat16");
  });
});

describe("inspect reads only the headers: 10 GiB sparse files of every format", () => {
  test.each(["huge.ndp", "huge.npy", "huge.npz", "huge.safetensors"])("%s", async (name) => {
    const path = tmp.path(name);
    expect(statSync(path).size).toBeGreaterThan(TEN_GIB);
    const huge = await runCliCountingReads(["inspect", path, "--json"], tmp.dir);
    const tiny = await runCliCountingReads(["inspect", tmp.path(`tiny-${name}`), "--json"], tmp.dir);
    expect(huge.stderr).toBe("");
    expect(huge.code).toBe(0);
    const json = JSON.parse(huge.stdout) as InspectJson;
    // A .npy file's one array is named after the file.
    const zeros = json.arrays.find((a) => a.name === (name === "huge.npy" ? "huge" : "zeros"))!;
    expect(zeros).toMatchObject({ dtype: "uint8", shape: [TEN_GIB], nbytes: TEN_GIB });
    // Bytes read through read(2): the program's own modules, then the headers. The header of
    // the 10 GiB file is a few bytes longer than the 1 KiB one's; its payload is never read.
    // The reader's first read (64 KiB, FIRST_READ_BYTES) and, for .npz, its directory and member headers.
    expect(json.bytesRead).toBeLessThan(64 * 1024 + 16 * 1024);
    expect(huge.rchar - tiny.rchar).toBeLessThan(64 * 1024 + 16 * 1024);
    expect(huge.rchar).toBeLessThan(16 * 2 ** 20);
  });

  test("the sparse files are valid: the whole-file readers accept their 1 KiB twins, and the CRC of zeros is zlib's", async () => {
    const tiny = (name: string) => readFileSync(tmp.path(`tiny-${name}`));
    expect(fromNpy(tiny("huge.npy")).shape).toEqual([1024]);
    expect([...fromNpz(tiny("huge.npz")).arrays.keys()]).toEqual(["zeros"]); // checks the member's CRC-32
    expect([...fromSafetensors(tiny("huge.safetensors")).arrays.keys()]).toEqual(["zeros"]);
    expect(verify(tiny("huge.ndp")).ok).toBe(true);
    for (const n of [0, 1, 7, 4096, 100_003]) expect(crc32AppendZeros(crc32(Buffer.from("ndpack")), n)).toBe(crc32(Buffer.concat([Buffer.from("ndpack"), Buffer.alloc(n)])));
    await using reader = await open(tmp.path("huge.ndp"));
    expect(reader.names).toEqual(["small", "zeros"]);
    expect(Array.from((await reader.read("small")).data as Float32Array)).toEqual([1, 2, 3, 4]);
  });
});
