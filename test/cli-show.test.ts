/**
 * `ndpack show`, run as a child process of the built bin: its preview is exactly what numpy's
 * `str(array)` prints (Python loads the same file with spec/python/ndpack/reference.py), and its summary
 * (count, min, max, mean, std, NaN, Inf) is numpy's, for every kind of dtype, shape and order,
 * for arrays read in several chunks, and for .npz/.npy inputs written by numpy.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { toNpy } from "../src/interop/index.js";
import { decode, float32ToBfloat16, float32ToFloat16, float32ToFloat8E4M3FN, float32ToFloat8E5M2 } from "../src/index.js";
import { save } from "../src/node/index.js";
import { patchPayload } from "./helpers/cli-files.js";
import { describeWithNumpy, type NumpyArray, type NumpyPart } from "./helpers/cli-numpy.js";
import { errorLineOf, requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";
import { runInteropPython } from "./helpers/interop-python.js";

const tmp = tempDir("show");

const arrays = {
  mixed: Float64Array.of(1.5, -2.25, 3, NaN, -Infinity),
  grid32: { data: Float32Array.from({ length: 2000 }, (_, i) => i / 7), shape: [40, 50] },
  cube64: { data: BigInt64Array.from({ length: 3000 }, (_, i) => BigInt(i * 3 - 1000)), shape: [10, 10, 30] },
  image: { data: Uint8Array.from({ length: 64 * 48 * 3 }, (_, i) => (i * 7) % 256), shape: [64, 48, 3] },
  flags: { data: Uint8Array.of(1, 0, 1), dtype: "bool" as const },
  z128: { data: Float64Array.of(1, 2, 3, -4.5), dtype: "complex128" as const },
  z64: { data: Float32Array.of(0.1, -1, 2.5, 0, NaN, 1), dtype: "complex64" as const, shape: [3] },
  fortran: { data: Float64Array.from({ length: 12 }, (_, i) => i), shape: [3, 4], order: "F" as const },
  scalar: { data: Float64Array.of(3.5), shape: [] },
  empty: { data: new Float32Array(0), shape: [0, 3] },
  half: { data: float32ToFloat16([0.1, 1 / 3, 100.7, 2, 65504, -0.000061]), dtype: "float16" as const },
  expmix: Float64Array.of(1e-5, 1e10, -3),
  zeros: Float64Array.of(-0, 0),
  wide: { data: Float64Array.from({ length: 100 }, (_, i) => i), shape: [2, 50] },
  long: Float64Array.from({ length: 2000 }, (_, i) => Math.sin(i) * 10 ** ((i % 7) - 3)),
  ints16: Int16Array.of(-32768, 5, 32767),
  u64: BigUint64Array.of(0n, 18446744073709551615n, 12345678901234567890n),
  // ml_dtypes prints these with C++'s %g (448 stays 448, a tie rounds to even: 0.101562).
  e4m3: { data: float32ToFloat8E4M3FN([448, 1.5, -3.25, 0.1, 240, -0, 0.001953125, -448]), dtype: "float8_e4m3fn" as const },
  e4m3scalar: { data: float32ToFloat8E4M3FN([448]), dtype: "float8_e4m3fn" as const, shape: [] },
  e5m2: { data: float32ToFloat8E5M2([57344, 1.5, -3, 0.1, Infinity, NaN, -0]), dtype: "float8_e5m2" as const },
  bf16: { data: float32ToBfloat16([448, 1.5, -3.25, 0.1, 3.140625, 1e10, 1e-5, 123456, -0, NaN, -Infinity]), dtype: "bfloat16" as const },
  bf16long: { data: float32ToBfloat16(Float32Array.from({ length: 2000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4))), dtype: "bfloat16" as const, shape: [40, 50] },
  // numpy prints a 0-d array as its scalar: Python's complex repr.
  complexScalar: { data: Float32Array.of(1, -2), dtype: "complex64" as const, shape: [] },
  complexImag: { data: Float64Array.of(0, 2.5), dtype: "complex128" as const, shape: [] },
  // numpy's bool arrays pad True to False's width; byte 2 is True too (patched in below: writers store only 0 and 1).
  trues: { data: Uint8Array.of(1, 1), dtype: "bool" as const },
  boolScalar: { data: Uint8Array.of(1), dtype: "bool" as const, shape: [] },
  // 9.6 MB: read in two chunks.
  chunks: { data: Float64Array.from({ length: 1200 * 1000 }, (_, i) => Math.sin(i / 1000)), shape: [1200, 1000] },
};
const bigEndian = { be32: Int32Array.of(1, -2, 300000), be64: Float64Array.of(0.5, -1e30, 7) };

interface ShowJson {
  name: string;
  dtype: string;
  shape: number[];
  order: string;
  summary: { count: number; nan: number; inf: number; min?: number | string; max?: number | string; mean?: number; std?: number; trues?: number; real?: NumpyPart; imag?: NumpyPart };
  preview: string;
}

let numpy: Map<string, NumpyArray>;

beforeAll(async () => {
  await requireBuiltCli();
  await save(tmp.path("arrays.ndp"), arrays);
  patchPayload(tmp.path("arrays.ndp"), decode(readFileSync(tmp.path("arrays.ndp"))).info("trues"), Uint8Array.of(1, 2));
  await save(tmp.path("big-endian.ndp"), bigEndian, { byteOrder: "big" });
  const wanted = [...Object.keys(arrays).map((name) => ({ path: tmp.path("arrays.ndp"), name })), ...Object.keys(bigEndian).map((name) => ({ path: tmp.path("big-endian.ndp"), name }))];
  const described = describeWithNumpy(wanted);
  numpy = new Map(wanted.map((w, i) => [w.name, described[i]!]));
});

afterAll(() => tmp.remove());

async function showJson(path: string, name: string): Promise<ShowJson> {
  const result = await runCli(["show", path, name, "--json"]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as ShowJson;
}

function expectPart(actual: Partial<NumpyPart> | undefined, expected: NumpyPart, relative: number) {
  if (expected.min === null) {
    expect(actual?.min).toBeUndefined();
    return;
  }
  expect(String(actual!.min)).toBe(String(expected.min));
  expect(String(actual!.max)).toBe(String(expected.max));
  expect(actual!.mean!).toBeCloseTo(expected.mean!, Math.max(0, -Math.log10(relative * Math.max(1, Math.abs(expected.mean!)))));
  expect(Math.abs(actual!.std! - expected.std!)).toBeLessThanOrEqual(relative * Math.max(1e-300, expected.std!) + 1e-12);
}

describe("show previews values as numpy prints them", () => {
  const names = [...Object.keys(arrays), ...Object.keys(bigEndian)];
  test.concurrent.each(names)("%s", async (name) => {
    const path = Object.hasOwn(bigEndian, name) ? tmp.path("big-endian.ndp") : tmp.path("arrays.ndp");
    const shown = await showJson(path, name);
    const expected = numpy.get(name)!;
    expect(shown.preview).toBe(expected.str);
    expect(shown.summary.count).toBe(expected.count);
    if (expected.nan !== undefined) expect([shown.summary.nan, shown.summary.inf]).toEqual([expected.nan, expected.inf]);
    // numpy sums float32 in float32; the command line in float64.
    const relative = shown.dtype === "float32" || shown.dtype === "complex64" || shown.dtype === "float16" ? 1e-5 : 1e-9;
    if (expected.real) {
      expectPart(shown.summary.real, expected.real, relative);
      expectPart(shown.summary.imag, expected.imag!, relative);
    } else {
      expectPart(shown.summary, expected, relative);
    }
    if (expected.trues !== undefined) expect(shown.summary.trues).toBe(expected.trues);
  });
});

describe("show prints a description, the preview and the summary", () => {
  test("text output", async () => {
    const result = await runCli(["show", tmp.path("arrays.ndp"), "mixed"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(["mixed: float64 [5], C order, little-endian, 40 bytes", "[ 1.5  -2.25  3.     nan  -inf]", "count 5  min -2.25  max 3.0  mean 0.75  std 2.2079402  NaN 1  Inf 1", ""].join("\n"));
    const bools = await runCli(["show", tmp.path("arrays.ndp"), "flags"]);
    expect(bools.stdout).toBe(["flags: bool [3], C order, 3 bytes", "[ True False  True]", "count 3  true 2  false 1  mean 0.66666667", ""].join("\n"));
    const complex = await runCli(["show", tmp.path("arrays.ndp"), "z128"]);
    expect(complex.stdout.split("\n").slice(2, 5)).toEqual(["count 2  NaN 0  Inf 0", "real: min 1.0  max 3.0  mean 2.0  std 1.0", "imag: min -4.5  max 2.0  mean -1.25  std 3.25"]);
    const float8 = await runCli(["show", tmp.path("arrays.ndp"), "e4m3"]);
    expect(float8.stdout.split("\n").slice(1, 3)).toEqual(["[448 1.5 -3.25 0.101562 240 -0 0.00195312 -448]", "count 8  min -448  max 448  mean 29.794189  std 237.67606  NaN 0  Inf 0"]);
    const empty = await runCli(["show", tmp.path("arrays.ndp"), "empty"]);
    expect(empty.stdout.split("\n").slice(1, 3)).toEqual(["[]", "count 0 (empty)"]);
  });

  test("arrays of numpy-written .npz (deflated) and big-endian .npy files", async () => {
    const grid = Float32Array.from({ length: 2000 }, (_, i) => i / 7);
    const hex = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
    runInteropPython(tmp.dir, [], [
      { file: "grid.npz", format: "npz_compressed", arrays: [{ name: "grid32", dtype: "float32", shape: [40, 50], order: "C", byteOrder: "little", hex: hex(grid) }] },
      { file: "be.npy", format: "npy", arrays: [{ name: "be", dtype: "int32", shape: [3], order: "C", byteOrder: "big", hex: hex(Int32Array.of(1, -2, 300000)) }] },
    ]);
    expect((await showJson(tmp.path("grid.npz"), "grid32")).preview).toBe(numpy.get("grid32")!.str);
    expect((await showJson(tmp.path("be.npy"), "be")).preview).toBe(numpy.get("be32")!.str);
  });

  test("an unknown array is NOT_FOUND (exit 2), naming the file and listing its arrays", async () => {
    const result = await runCli(["show", tmp.path("arrays.ndp"), "nope"]);
    expect(result.code).toBe(2);
    const count = Object.keys(arrays).length;
    expect(errorLineOf(result)).toBe(`ndpack show: no array named "nope" in ${tmp.path("arrays.ndp")} (it holds ${count} arrays: "mixed", "grid32", "cube64", "image", "flags" and ${count - 5} more) (NOT_FOUND)`);
    const typo = await runCli(["show", tmp.path("arrays.ndp"), "grid23"]);
    expect(errorLineOf(typo)).toContain('; did you mean "grid32"? (it holds');
  });

  test("without a name: the file's only array (a .npy file's); a file of several is INVALID_ARGUMENT listing them", async () => {
    writeFileSync(tmp.path("one.npy"), toNpy(Int32Array.of(1, -2, 300000)));
    const result = await runCli(["show", tmp.path("one.npy")]);
    expect(result.stderr).toBe("");
    expect(result.stdout.split("\n").slice(0, 2)).toEqual(["one: int32 [3], C order, little-endian, 12 bytes", numpy.get("be32")!.str]);
    const several = await runCli(["show", tmp.path("big-endian.ndp")]);
    expect(several.code).toBe(2);
    expect(errorLineOf(several)).toBe(`ndpack show: ${tmp.path("big-endian.ndp")} holds 2 arrays: name the one to show (be32, be64) (INVALID_ARGUMENT)`);
  });

  test("a closed pipe ends the output quietly", async () => {
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync("sh", ["-c", `node "${process.cwd()}/dist/cli/main.js" show "${tmp.path("arrays.ndp")}" chunks | head -c 10`], { encoding: "utf8" });
    expect(r.stdout).toHaveLength(10);
    expect(r.stderr).toBe("");
  });

  // Output to a file that cannot take it (a full disk) was an uncaught exception: a stack trace.
  test.runIf(process.platform === "linux")("standard output on a full disk: one line, IO_ERROR, exit 1", async () => {
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync("sh", ["-c", `node "${process.cwd()}/dist/cli/main.js" show "${tmp.path("arrays.ndp")}" chunks > /dev/full`], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(errorLineOf({ code: r.status, stdout: "", stderr: r.stderr })).toBe("ndpack show: cannot write to standard output: ENOSPC: no space left on device, write (IO_ERROR)");
  });
});
