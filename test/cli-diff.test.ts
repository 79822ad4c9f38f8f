/**
 * `ndpack diff`, run as a child process of the built bin: arrays only in one file, dtype and shape
 * differences, value differences within and beyond --rtol/--atol (NaN equals NaN, complex numbers
 * by modulus, int64 exactly), memory order and format not being differences, metadata, --json,
 * and exit codes (0 same, 1 different, 2 bad usage or input).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decode } from "../src/index.js";
import { toNpy } from "../src/interop/index.js";
import { save } from "../src/node/index.js";
import { patchPayload } from "./helpers/cli-files.js";
import { errorLineOf, requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";

const tmp = tempDir("diff");

const base = {
  weights: { data: Float64Array.from({ length: 12 }, (_, i) => i / 4), shape: [3, 4] },
  nan: Float32Array.of(1, Number.NaN, 3),
  ids: BigInt64Array.of(1n, 2n ** 60n, -5n),
  z: { data: Float64Array.of(1, 1, 2, 2), dtype: "complex128" as const },
  flags: { data: Uint8Array.of(1, 0, 1), dtype: "bool" as const },
};

beforeAll(async () => {
  await requireBuiltCli();
  await save(tmp.path("a.ndp"), base, { metadata: { run: 1 } });
  // The same arrays: weights in Fortran order, compressed; another byte order and format.
  const fortran = Float64Array.from({ length: 12 }, (_, k) => (Math.floor(k / 3) + 4 * (k % 3)) / 4);
  await save(tmp.path("same.ndp"), { ...base, weights: { data: fortran, shape: [3, 4], order: "F", codec: "deflate" } }, { metadata: { run: 1 }, byteOrder: "big" });
  const noisy = Float64Array.from({ length: 12 }, (_, i) => i / 4 + (i === 6 ? 1e-3 : i === 9 ? -2e-6 : 0));
  await save(tmp.path("noisy.ndp"), { ...base, weights: { data: noisy, shape: [3, 4] } }, { metadata: { run: 1 } });
  await save(tmp.path("other.ndp"), {
    weights: { data: Float32Array.from({ length: 12 }, (_, i) => i / 4), shape: [3, 4] },
    nan: Float32Array.of(1, Number.NaN, 3, 4),
    ids: BigInt64Array.of(1n, 2n ** 60n + 1n, -5n),
    z: { data: Float64Array.of(1, 1, 2, 2.5), dtype: "complex128" as const },
    flags: { data: Uint8Array.of(1, 1, 1), dtype: "bool" as const },
    extra: Int8Array.of(1),
  }, { metadata: { run: 2 } });
});

afterAll(() => tmp.remove());

describe("diff", () => {
  test("the same values in another order, byte order, codec and format: no difference, exit 0", async () => {
    const same = await runCli(["diff", tmp.path("a.ndp"), tmp.path("same.ndp")]);
    expect([same.code, same.stderr, same.stdout]).toEqual([0, "", "no differences: 5 arrays equal\n"]);
    expect((await runCli(["convert", tmp.path("same.ndp"), tmp.path("same.npz")])).code).toBe(0);
    const acrossFormats = await runCli(["diff", tmp.path("same.npz"), tmp.path("a.ndp")]);
    expect([acrossFormats.code, acrossFormats.stdout]).toEqual([0, "no differences: 5 arrays equal\n"]);
  });

  test("value differences, and tolerances", async () => {
    const exact = await runCli(["diff", tmp.path("a.ndp"), tmp.path("noisy.ndp")]);
    expect(exact.code).toBe(1);
    expect(exact.stderr).toBe("");
    expect(exact.stdout).toBe("values differ: weights: 2 of 12 elements, max |a - b| 0.001; first at [1, 2]: 1.5 != 1.501\n1 array differs; 4 of 5 in both are equal\n");
    const absolute = await runCli(["diff", tmp.path("a.ndp"), tmp.path("noisy.ndp"), "--atol", "1e-5"]);
    expect(absolute.code).toBe(1);
    expect(absolute.stdout).toContain("values differ: weights: 1 of 12 elements");
    const loose = await runCli(["diff", tmp.path("a.ndp"), tmp.path("noisy.ndp"), "--atol", "1e-3"]);
    expect([loose.code, loose.stdout]).toEqual([0, "no differences: 5 arrays equal within rtol 0, atol 0.001\n"]);
    const relative = await runCli(["diff", tmp.path("a.ndp"), tmp.path("noisy.ndp"), "--rtol", "1e-3"]);
    expect(relative.code).toBe(0);
  });

  test("dtype, shape, values of every kind, arrays in one file only, metadata; --json", async () => {
    const result = await runCli(["diff", tmp.path("a.ndp"), tmp.path("other.ndp")]);
    expect(result.code).toBe(1);
    expect(result.stdout.split("\n")).toEqual([
      `only in ${tmp.path("other.ndp")}: extra`,
      "dtype differs: weights: float64 != float32",
      "shape differs: nan: [3] != [4]",
      "values differ: ids: 1 of 3 elements, max |a - b| 1.0; first at [1]: 1152921504606846976 != 1152921504606846977",
      "values differ: z: 1 of 2 elements, max |a - b| 0.5; first at [1]: (2+2j) != (2+2.5j)",
      "values differ: flags: 1 of 3 elements; first at [1]: False != True",
      'metadata differs: {"run":1} != {"run":2}',
      "6 arrays differ, and the metadata; 0 of 5 in both are equal",
      "",
    ]);
    const ignoring = await runCli(["diff", tmp.path("a.ndp"), tmp.path("noisy.ndp"), "--atol", "1", "--ignore-metadata"]);
    expect(ignoring.code).toBe(0);
    const json = await runCli(["diff", tmp.path("a.ndp"), tmp.path("other.ndp"), "--json"]);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ same: false, onlyInA: [], onlyInB: ["extra"], metadata: { a: { run: 1 }, b: { run: 2 } }, identical: 0 });
    expect(report.differences).toContainEqual({ name: "weights", kind: "dtype", a: "float64", b: "float32" });
    expect(report.differences).toContainEqual(expect.objectContaining({ name: "ids", kind: "values", count: 1, total: 3, first: { index: [1], a: "1152921504606846976", b: "1152921504606846977" } }));
  });

  test("two .npy files of the same content, named after their files, are the same; another value differs", async () => {
    writeFileSync(tmp.path("left.npy"), toNpy(Float32Array.of(1, 2, 3)));
    writeFileSync(tmp.path("right.npy"), toNpy(Float32Array.of(1, 2, 3)));
    writeFileSync(tmp.path("changed.npy"), toNpy(Float32Array.of(1, 2, 4)));
    const same = await runCli(["diff", tmp.path("left.npy"), tmp.path("right.npy")]);
    expect([same.code, same.stderr, same.stdout]).toEqual([0, "", "no differences: 1 array equal\n"]);
    const changed = await runCli(["diff", tmp.path("left.npy"), tmp.path("changed.npy")]);
    expect([changed.code, changed.stdout.split("\n")[0]]).toEqual([1, "values differ: left vs changed: 1 of 3 elements, max |a - b| 1.0; first at [2]: 3.0 != 4.0"]);
  });

  test("--by-position pairs the i-th arrays whatever their names; the rest are in one file only", async () => {
    await save(tmp.path("renamed.ndp"), { w: base.weights, n: base.nan });
    const byName = await runCli(["diff", tmp.path("renamed.ndp"), tmp.path("a.ndp"), "--ignore-metadata"]);
    expect(byName.stdout).toContain("only in");
    const byPosition = await runCli(["diff", tmp.path("renamed.ndp"), tmp.path("a.ndp"), "--by-position", "--ignore-metadata"]);
    expect(byPosition.code).toBe(1);
    expect(byPosition.stdout.split("\n")).toEqual([`only in ${tmp.path("a.ndp")}: ids`, `only in ${tmp.path("a.ndp")}: z`, `only in ${tmp.path("a.ndp")}: flags`, "3 arrays differ; 2 of 2 in both are equal", ""]);
  });

  test("bool arrays compare by truth value (bytes 1 and 2 are both True), byte for byte with --exact-bool", async () => {
    await save(tmp.path("bool1.ndp"), { flags: { data: Uint8Array.of(1, 0, 1), dtype: "bool" } });
    // Writers store only 0 and 1 (FORMAT.md §3); readers take any non-zero byte as True.
    await save(tmp.path("bool2.ndp"), { flags: { data: Uint8Array.of(1, 0, 1), dtype: "bool" } });
    patchPayload(tmp.path("bool2.ndp"), decode(readFileSync(tmp.path("bool2.ndp"))).info("flags"), Uint8Array.of(2, 0, 255));
    const truth = await runCli(["diff", tmp.path("bool1.ndp"), tmp.path("bool2.ndp")]);
    expect([truth.code, truth.stdout]).toEqual([0, "no differences: 1 array equal\n"]);
    const exact = await runCli(["diff", tmp.path("bool1.ndp"), tmp.path("bool2.ndp"), "--exact-bool"]);
    expect([exact.code, exact.stdout.split("\n")[0]]).toEqual([1, "values differ: flags: 2 of 3 elements; first at [0]: True (byte 1) != True (byte 2)"]);
    const json = JSON.parse((await runCli(["diff", tmp.path("bool1.ndp"), tmp.path("bool2.ndp"), "--exact-bool", "--json"])).stdout);
    expect(json.differences[0]).toMatchObject({ name: "flags", kind: "values", count: 2, first: { index: [0], a: 1, b: 2 } });
  });

  test("bad usage and bad input exit 2; a missing file 1", async () => {
    const negative = await runCli(["diff", tmp.path("a.ndp"), tmp.path("other.ndp"), "--rtol", "-1"]);
    expect(negative.code).toBe(2);
    expect(errorLineOf(negative)).toBe("ndpack diff: option '--rtol <x>' argument '-1' is invalid. must be a non-negative decimal number, such as 0.001 or 1e-6 (INVALID_ARGUMENT); see 'ndpack diff --help'");
    const missing = await runCli(["diff", tmp.path("a.ndp"), tmp.path("missing.ndp")]);
    expect(missing.code).toBe(1);
    expect(errorLineOf(missing)).toMatch(/^ndpack diff: cannot open .*missing\.ndp: ENOENT.*\(IO_ERROR\)$/);
    const one = await runCli(["diff", tmp.path("a.ndp")]);
    expect(one.code).toBe(2);
    expect(errorLineOf(one)).toContain("missing required argument 'b'");
  });

  test.concurrent.each([["--atol", "0x10"], ["--atol", "0b1"], ["--rtol", "0o7"], ["--rtol", "1e400"], ["--atol", "Infinity"], ["--atol", " 1"], ["--rtol", "1_000"], ["--atol", "1e"], ["--atol", "."], ["--rtol", "+1"]])("%s %s: only decimal numbers are tolerances (INVALID_ARGUMENT)", async (flag, value) => {
    const result = await runCli(["diff", tmp.path("a.ndp"), tmp.path("same.ndp"), flag, value]);
    expect([result.code, errorLineOf(result)]).toEqual([2, `ndpack diff: option '${flag} <x>' argument '${value}' is invalid. must be a non-negative decimal number, such as 0.001 or 1e-6 (INVALID_ARGUMENT); see 'ndpack diff --help'`]);
  });

  test.concurrent.each(["0", "1", "1.5", ".5", "5.", "1e-6", "2.5E+3", "0.000"])("--atol %s is a tolerance", async (value) => {
    const result = await runCli(["diff", tmp.path("a.ndp"), tmp.path("same.ndp"), "--atol", value, "--rtol", value]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
  });
});
