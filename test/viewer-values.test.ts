/** The viewer's numbers (src/viewer/values.ts, stats.ts): every dtype as float64, strides, 2-D slices of N-D arrays, numbers as printed, exact 64-bit statistics. */
import { describe, expect, test } from "vitest";
import { decode, encode, float32ToBfloat16, float32ToFloat16, float32ToFloat8E4M3FN, float32ToFloat8E5M2 } from "../src/index.js";
import { computeStats } from "../src/viewer/stats.js";
import { formatElement, formatValue, numericValues, sliceGrid, stridesOf } from "../src/viewer/values.js";

describe("numericValues: every dtype as the float values it holds", () => {
  const floats = Float32Array.of(0, 1.5, -2, 0.25);
  test.each([
    ["float16", float32ToFloat16(floats)],
    ["bfloat16", float32ToBfloat16(floats)],
    ["float8_e4m3fn", float32ToFloat8E4M3FN(floats)],
    ["float8_e5m2", float32ToFloat8E5M2(floats)],
  ] as const)("%s (stored as bits)", (dtype, bits) => {
    const array = decode(encode({ a: { data: bits, shape: [4], dtype } })).get("a");
    expect([...numericValues(array)]).toEqual([0, 1.5, -2, 0.25]);
  });

  test("int64 and uint64 as the nearest doubles, bool as 0 and 1", () => {
    const file = decode(encode({ i: BigInt64Array.of(-3n, 2n ** 53n + 1n), u: BigUint64Array.of(7n), b: { data: Uint8Array.of(1, 0), dtype: "bool" } }));
    expect([...numericValues(file.get("i"))]).toEqual([-3, 2 ** 53]);
    expect([...numericValues(file.get("u"))]).toEqual([7]);
    expect([...numericValues(file.get("b"))]).toEqual([1, 0]);
  });

  test("bool bytes other than 0 and 1 are true: 1 (FORMAT.md §3)", () => {
    expect([...numericValues({ dtype: "bool", data: Uint8Array.of(0, 1, 2, 255) })]).toEqual([0, 1, 1, 1]);
  });

  test("complex as magnitude or phase", () => {
    const array = decode(encode({ z: { data: Float64Array.of(3, 4, 0, -2), shape: [2], dtype: "complex128" } })).get("z");
    expect([...numericValues(array, "magnitude")]).toEqual([5, 2]);
    expect([...numericValues(array, "phase")]).toEqual([Math.atan2(4, 3), -Math.PI / 2]);
  });
});

describe("sliceGrid", () => {
  test("C and F order give the same slice of the same logical array", () => {
    expect(stridesOf([2, 3, 4], "C")).toEqual([12, 4, 1]);
    expect(stridesOf([2, 3, 4], "F")).toEqual([1, 2, 6]);
    const value = (i: number, j: number, k: number) => i * 100 + j * 10 + k;
    const c = Float64Array.from({ length: 24 }, (_, n) => value(Math.floor(n / 12), Math.floor(n / 4) % 3, n % 4));
    const f = Float64Array.from({ length: 24 }, (_, n) => value(n % 2, Math.floor(n / 2) % 3, Math.floor(n / 6)));
    for (const [values, order] of [[c, "C"], [f, "F"]] as const) {
      const grid = sliceGrid(values, [2, 3, 4], order, { rowAxis: 2, colAxis: 1, index: [1, 0, 0] }, 512);
      expect([grid.rows, grid.cols]).toEqual([4, 3]);
      expect(grid.values[2 * 3 + 1]).toBe(value(1, 1, 2));
      expect(grid.indexOf(2, 1)).toEqual([1, 1, 2]);
    }
  });

  test("a slice larger than maxSide shows every step-th row and column, and names cells by their array index", () => {
    const values = Float64Array.from({ length: 1000 * 10 }, (_, n) => n);
    const grid = sliceGrid(values, [1000, 10], "C", { rowAxis: 0, colAxis: 1, index: [0, 0] }, 100);
    expect([grid.step, grid.rows, grid.cols]).toEqual([10, 100, 1]);
    expect(grid.indexOf(7, 0)).toEqual([70, 0]);
    expect(grid.values[7]).toBe(700);
  });
});

describe("formatValue and formatElement: what the page prints", () => {
  test.each([
    [NaN, "NaN"],
    [Infinity, "Infinity"],
    [-Infinity, "-Infinity"],
    [-0, "-0"],
    [0, "0"],
    [2 ** 53 - 1, "9007199254740991"],
    [-42, "-42"],
    [0.1, "0.1"],
    [123.456789, "123.457"],
    [5e-324, "5e-324"],
    [Math.fround(1e-45), "1.4013e-45"],
    // From 10^6 up, a rounded number in exponent form: never read as exact.
    [1234567.5, "1.23457e+6"],
    [999999.5, "1e+6"],
    [2 ** 53, "9.0072e+15"],
    [Number(2n ** 63n - 1n), "9.22337e+18"],
    [Math.fround(3.4e38), "3.4e+38"],
  ])("%s as %s", (value, text) => {
    expect(formatValue(value)).toBe(text);
  });

  test("64-bit integers exactly, from their stored value; other dtypes as formatValue prints their numbers", () => {
    const int64 = { data: BigInt64Array.of(-(2n ** 63n), 2n ** 53n + 1n) };
    expect([0, 1].map((i) => formatElement(int64, numericValues({ dtype: "int64", ...int64 }), i))).toEqual(["-9223372036854775808", "9007199254740993"]);
    const uint64 = { data: BigUint64Array.of(2n ** 64n - 1n) };
    expect(formatElement(uint64, numericValues({ dtype: "uint64", ...uint64 }), 0)).toBe("18446744073709551615");
    const bool = { dtype: "bool" as const, data: Uint8Array.of(255) };
    expect(formatElement(bool, numericValues(bool), 0)).toBe("1");
  });
});

describe("computeStats", () => {
  test("the exact min and max of 64-bit integers, which doubles round; none for other dtypes or no elements", () => {
    const integers = BigInt64Array.of(2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n);
    const stats = computeStats(Float64Array.from(integers, Number), integers);
    expect(stats.exact).toEqual({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    expect([stats.min, stats.max]).toEqual([-(2 ** 63), 2 ** 63]);
    expect(computeStats(Float64Array.of(1, 2)).exact).toBeUndefined();
    expect(computeStats(new Float64Array(0), new BigUint64Array(0)).exact).toBeUndefined();
  });
});
