/**
 * The public types, checked by the compiler (`npm run typecheck` compiles this file; a wrong type
 * or an unused `@ts-expect-error` fails it) and the runtime behaviour they promise, checked by
 * vitest: NdArray is a union discriminated by `dtype`, so narrowing on `dtype` narrows `data`, and
 * `get(name, dtype)` returns the typed array of that dtype or throws DTYPE_MISMATCH.
 */
import { describe, expect, expectTypeOf, test } from "vitest";
import { decode, encode, type Dtype, type NdArray, type NdArrayOf } from "../src/index.js";
import { fromNpy, toNpy } from "../src/interop/index.js";
import { failure } from "./helpers/common.js";

const bytes = encode({
  w: { data: new Float32Array([1, 2, 3]), shape: [3] },
  n: new BigInt64Array([1n, 2n]),
  h: { data: new Uint16Array([0x3c00]), dtype: "float16" },
});

describe("NdArray narrows on dtype", () => {
  test("narrowing on dtype narrows data", () => {
    const w = decode(bytes).get("w");
    expectTypeOf(w).toEqualTypeOf<NdArray>();
    if (w.dtype === "float32") {
      const f: Float32Array = w.data;
      expectTypeOf(w.data).toEqualTypeOf<Float32Array>();
      expect(w.data.reduce((a, b) => a + b, 0)).toBe(6);
      expect(f.length).toBe(3);
    } else {
      expect.unreachable();
    }
    const n = decode(bytes).get("n");
    if (n.dtype === "int64") expectTypeOf(n.data).toEqualTypeOf<BigInt64Array>();
    const any: NdArray = decode(bytes).get("h");
    switch (any.dtype) {
      case "bfloat16":
      case "float8_e4m3fn":
        expectTypeOf(any.data).toEqualTypeOf<Uint16Array | Uint8Array>();
        break;
      case "complex128":
        expectTypeOf(any.data).toEqualTypeOf<Float64Array>();
        break;
    }
  });

  test("without narrowing, data is every typed array, and a number-only sum does not compile", () => {
    const w = decode(bytes).get("w");
    // @ts-expect-error data may hold BigInts until dtype is checked
    const f: Float32Array = w.data;
    expect(f).toBeInstanceOf(Float32Array);
  });

  test("float16 is raw Uint16Array bits on a runtime without Float16Array (Node 20), and typed so", () => {
    const h = decode(bytes).get("h", "float16");
    // With "lib": ["ES2024"] (this repository's), TypeScript declares no Float16Array: data is
    // Uint16Array; with "ESNext" it is Float16Array | Uint16Array.
    expectTypeOf(h.data).toEqualTypeOf<Uint16Array>();
    const Float16 = (globalThis as { Float16Array?: new (n: number) => unknown }).Float16Array;
    expect(h.data).toBeInstanceOf(Float16 ?? Uint16Array);
  });

  test("iteration and the interop readers keep the union", () => {
    for (const a of decode(bytes)) if (a.dtype === "float32") expectTypeOf(a.data).toEqualTypeOf<Float32Array>();
    const npy = fromNpy(toNpy(new Float64Array([1.5])));
    if (npy.dtype === "float64") expect(npy.data.reduce((a, b) => a + b, 0)).toBe(1.5);
    else expect.unreachable();
  });
});

describe("get(name, dtype)", () => {
  test("returns the typed array of that dtype", () => {
    const w = decode(bytes).get("w", "float32");
    expectTypeOf(w).toEqualTypeOf<NdArrayOf<"float32">>();
    expectTypeOf(w.data).toEqualTypeOf<Float32Array>();
    expect(w.data.reduce((a, b) => a + b, 0)).toBe(6);
    const n = decode(bytes).get("n", "int64");
    expect(n.data.reduce((a, b) => a + b, 0n)).toBe(3n);
  });

  test("DTYPE_MISMATCH when the array has another dtype, naming both", () => {
    const error = failure(() => decode(bytes).get("w", "float64"), "DTYPE_MISMATCH");
    expect(error).toMatchObject({ array: "w", expected: "float64", actual: "float32" });
    expect(error.message).toContain('is float32, not float64');
  });

  test("INVALID_ARGUMENT for a name that is no dtype, suggesting the one meant", () => {
    // @ts-expect-error "<f4" is numpy's name, not a Dtype
    const error = failure(() => decode(bytes).get("w", "<f4"), "INVALID_ARGUMENT");
    expect(error.message).toContain('did you mean "float32"?');
  });

  test("INVALID_ARGUMENT for decode's options given to get: taken for the dtype asked for, which the message names", () => {
    // No message of its own: the bundles that carry get are within bytes of their budgets.
    for (const options of [{ copy: "never" }, { verify: true }]) {
      // @ts-expect-error get takes no options
      const error = failure(() => decode(bytes).get("w", options), "INVALID_ARGUMENT");
      expect(error.message).toContain(`the dtype asked for array "w": unknown dtype ${JSON.stringify(options)}`);
    }
  });

  test("NOT_FOUND comes first, before the dtype is looked at", () => {
    failure(() => decode(bytes).get("nope", "float32"), "NOT_FOUND");
  });

  test("the dtype parameter takes only dtype names", () => {
    const dtype = "float32" as Dtype;
    expectTypeOf(decode(bytes).get("w", dtype)).toEqualTypeOf<NdArray>();
  });
});
