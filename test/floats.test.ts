import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bfloat16ToFloat32,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  float32ToFloat8E4M3FN,
  float32ToFloat8E5M2,
  float8E4M3FNToFloat32,
  float8E5M2ToFloat32,
} from "../src/floats.js";

// ---------------------------------------------------------------------------------------------
// Independent references, written from the formats' definitions with plain arithmetic (no bit
// operations shared with the implementation). ml_dtypes is not available to these tests, so
// the float8 references are computed here and pinned by the documented constants further down.

interface Layout {
  name: string;
  exponentBits: number;
  mantissaBits: number;
  bias: number;
  /** IEEE-style Inf/NaN; false for "fn" formats (only all-ones is NaN, no infinities). */
  hasInfinity: boolean;
  decode: (bits: never) => Float32Array;
  encode: (values: Float32Array | Float64Array | ArrayLike<number>) => Uint8Array | Uint16Array;
  codes: () => Uint8Array | Uint16Array;
}

const allUint16 = () => Uint16Array.from({ length: 2 ** 16 }, (_, i) => i);
const allUint8 = () => Uint8Array.from({ length: 2 ** 8 }, (_, i) => i);

const FLOAT16: Layout = {
  name: "float16",
  exponentBits: 5,
  mantissaBits: 10,
  bias: 15,
  hasInfinity: true,
  decode: float16ToFloat32,
  encode: float32ToFloat16,
  codes: allUint16,
};
const BFLOAT16: Layout = {
  name: "bfloat16",
  exponentBits: 8,
  mantissaBits: 7,
  bias: 127,
  hasInfinity: true,
  decode: bfloat16ToFloat32,
  encode: float32ToBfloat16,
  codes: allUint16,
};
const E4M3FN: Layout = {
  name: "float8_e4m3fn",
  exponentBits: 4,
  mantissaBits: 3,
  bias: 7,
  hasInfinity: false,
  decode: float8E4M3FNToFloat32,
  encode: float32ToFloat8E4M3FN,
  codes: allUint8,
};
const E5M2: Layout = {
  name: "float8_e5m2",
  exponentBits: 5,
  mantissaBits: 2,
  bias: 15,
  hasInfinity: true,
  decode: float8E5M2ToFloat32,
  encode: float32ToFloat8E5M2,
  codes: allUint8,
};
const LAYOUTS = [FLOAT16, BFLOAT16, E4M3FN, E5M2];

const decode = (layout: Layout, codes: Uint8Array | Uint16Array) => layout.decode(codes as never);

/** sign * 2^(e - bias) * (1 + m / 2^k), subnormals and specials, straight from the definition. */
function referenceValue(code: number, layout: Layout): number {
  const signWeight = 2 ** (layout.exponentBits + layout.mantissaBits);
  const mantissaWeight = 2 ** layout.mantissaBits;
  const sign = code >= signWeight ? -1 : 1;
  const exponent = Math.floor((code % signWeight) / mantissaWeight);
  const mantissa = code % mantissaWeight;
  const maxExponent = 2 ** layout.exponentBits - 1;
  if (exponent === maxExponent && layout.hasInfinity) return mantissa === 0 ? sign * Infinity : NaN;
  if (exponent === maxExponent && mantissa === mantissaWeight - 1) return NaN;
  if (exponent === 0) return sign * 2 ** (1 - layout.bias) * (mantissa / mantissaWeight);
  return sign * 2 ** (exponent - layout.bias) * (1 + mantissa / mantissaWeight);
}

/** bfloat16 is the top half of a float32: put the 16 bits there and let DataView read it. */
function referenceBfloat16(code: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint16(0, code); // big-endian: the high half
  return view.getFloat32(0);
}

function isNegative(value: number): boolean {
  return value < 0 || Object.is(value, -0);
}

function float32Sign(values: Float32Array, index: number): number {
  return new Uint32Array(values.buffer, values.byteOffset, values.length)[index]! >>> 31;
}

function float32FromBits(...bits: number[]): Float32Array {
  return new Float32Array(Uint32Array.from(bits).buffer);
}

function signBitOf(layout: Layout): number {
  return 2 ** (layout.exponentBits + layout.mantissaBits);
}

function isNaNCode(code: number, layout: Layout): boolean {
  return Number.isNaN(referenceValue(code, layout));
}

interface Representable {
  value: number;
  code: number;
}

/**
 * Positive finite values with their codes, ascending, plus the value one unit past the largest
 * (standing for the overflow code: Inf, or NaN for e4m3fn), so nearest-even rounding can be
 * decided by looking up neighbours, independently of the implementation's bit arithmetic.
 */
function positiveGrid(layout: Layout): Representable[] {
  const grid: Representable[] = [];
  for (let code = 0; code < signBitOf(layout); code++) {
    const value = referenceValue(code, layout);
    if (Number.isFinite(value)) grid.push({ value, code });
  }
  grid.sort((a, b) => a.value - b.value);
  const largest = grid[grid.length - 1]!;
  const unitInLastPlace = largest.value - grid[grid.length - 2]!.value;
  const overflowCode = layout.hasInfinity
    ? (2 ** layout.exponentBits - 1) * 2 ** layout.mantissaBits
    : largest.code + 1;
  grid.push({ value: largest.value + unitInLastPlace, code: overflowCode });
  return grid;
}

/** The code nearest to `value` (ties to the even code), by binary search on the grid. */
function referenceEncode(value: number, layout: Layout, grid: Representable[]): number {
  const sign = isNegative(value) ? signBitOf(layout) : 0;
  const magnitude = Math.abs(value);
  const top = grid[grid.length - 1]!;
  if (magnitude >= top.value) return sign + top.code;
  let low = 0;
  let high = grid.length - 1; // grid[low].value <= magnitude < grid[high].value
  while (high - low > 1) {
    const middle = (low + high) >> 1;
    if (grid[middle]!.value <= magnitude) low = middle;
    else high = middle;
  }
  const below = grid[low]!;
  const above = grid[high]!;
  const distanceBelow = magnitude - below.value;
  const distanceAbove = above.value - magnitude;
  if (distanceBelow !== distanceAbove)
    return sign + (distanceBelow < distanceAbove ? below.code : above.code);
  return sign + (below.code % 2 === 0 ? below.code : above.code);
}

// ---------------------------------------------------------------------------------------------

describe("decoding every bit pattern", () => {
  it.each(LAYOUTS)("$name matches the definition-based reference", (layout) => {
    const codes = layout.codes();
    const decoded = decode(layout, codes);
    expect(decoded.length).toBe(codes.length);
    for (let code = 0; code < codes.length; code++) {
      const expected = referenceValue(code, layout);
      const actual = decoded[code]!;
      if (Number.isNaN(expected)) {
        expect(actual, `code 0x${code.toString(16)}`).toBeNaN();
        expect(float32Sign(decoded, code), `sign of NaN 0x${code.toString(16)}`).toBe(
          code >= signBitOf(layout) ? 1 : 0,
        );
      } else if (!Object.is(actual, expected)) {
        expect.fail(`code 0x${code.toString(16)}: got ${actual}, expected ${expected}`);
      }
    }
  });

  it("bfloat16 matches a DataView reference for all 65536 patterns", () => {
    const decoded = bfloat16ToFloat32(allUint16());
    for (let code = 0; code < 2 ** 16; code++) {
      const expected = referenceBfloat16(code);
      const ok = Number.isNaN(expected) ? Number.isNaN(decoded[code]!) : Object.is(decoded[code], expected);
      if (!ok) expect.fail(`code 0x${code.toString(16)}: got ${decoded[code]}, expected ${expected}`);
    }
  });

  it("float16 documented constants", () => {
    const values = float16ToFloat32(
      new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x3555, 0x7c00, 0xfc00, 0x8000, 0x7e00]),
    );
    expect(Array.from(values)).toEqual([
      1,
      -2,
      65504,
      2 ** -14,
      2 ** -24,
      0.333251953125,
      Infinity,
      -Infinity,
      -0,
      NaN,
    ]);
  });

  it("bfloat16 documented constants", () => {
    const values = bfloat16ToFloat32(
      new Uint16Array([0x3f80, 0xc049, 0x7f7f, 0x0080, 0x0001, 0x7f80, 0xff80, 0x7fc0]),
    );
    expect(Array.from(values)).toEqual([
      1,
      -3.140625,
      3.3895313892515355e38,
      2 ** -126,
      2 ** -133,
      Infinity,
      -Infinity,
      NaN,
    ]);
  });

  it("float8_e4m3fn documented constants (ml_dtypes / OCP)", () => {
    const values = float8E4M3FNToFloat32(
      new Uint8Array([0x7e, 0x01, 0x08, 0x38, 0x07, 0xfe, 0x80, 0x7f, 0xff, 0x78]),
    );
    expect(Array.from(values)).toEqual([448, 2 ** -9, 2 ** -6, 1, 7 * 2 ** -9, -448, -0, NaN, NaN, 256]);
  });

  it("float8_e5m2 documented constants (ml_dtypes / OCP)", () => {
    const values = float8E5M2ToFloat32(
      new Uint8Array([0x7b, 0x7c, 0xfc, 0x01, 0x04, 0x3c, 0x7d, 0x7e, 0x7f, 0x80]),
    );
    expect(Array.from(values)).toEqual([
      57344,
      Infinity,
      -Infinity,
      2 ** -16,
      2 ** -14,
      1,
      NaN,
      NaN,
      NaN,
      -0,
    ]);
  });

  it("reads views at any byteOffset", () => {
    const backing16 = new Uint16Array([0xffff, 0x3c00, 0x4000, 0xffff]);
    expect(Array.from(float16ToFloat32(backing16.subarray(1, 3)))).toEqual([1, 2]);
    expect(Array.from(bfloat16ToFloat32(backing16.subarray(1, 3)))).toEqual([referenceBfloat16(0x3c00), 2]);
    const backing8 = new Uint8Array([0x7f, 0x38, 0x40, 0x7f]);
    expect(Array.from(float8E4M3FNToFloat32(backing8.subarray(1, 3)))).toEqual([1, 2]);
    expect(Array.from(float8E5M2ToFloat32(new Uint8Array([0xff, 0x3c, 0x40]).subarray(1)))).toEqual([1, 2]);
  });

  it("returns empty arrays for empty input", () => {
    for (const layout of LAYOUTS) {
      expect(decode(layout, layout.codes().subarray(0, 0)).length).toBe(0);
      expect(layout.encode([]).length).toBe(0);
    }
  });
});

describe("round trips", () => {
  it.each(LAYOUTS)("$name: encode(decode(b)) === b for every non-NaN pattern; NaN stays NaN", (layout) => {
    const codes = layout.codes();
    const reencoded = layout.encode(decode(layout, codes));
    const quietBit = 2 ** (layout.mantissaBits - 1);
    for (let code = 0; code < codes.length; code++) {
      const actual = reencoded[code]!;
      if (!isNaNCode(code, layout)) {
        if (actual !== code) expect.fail(`0x${code.toString(16)} re-encoded as 0x${actual.toString(16)}`);
        continue;
      }
      expect(isNaNCode(actual, layout), `NaN 0x${code.toString(16)}`).toBe(true);
      // IEEE-style NaNs keep sign and payload, quieted; e4m3fn has one NaN per sign.
      const expected = layout.hasInfinity ? code | quietBit : code;
      expect(actual, `NaN 0x${code.toString(16)}`).toBe(expected);
    }
  });
});

describe("rounding", () => {
  const grids = new Map(LAYOUTS.map((layout) => [layout, positiveGrid(layout)]));

  it.each(LAYOUTS)("$name: every midpoint between neighbours rounds to the even code", (layout) => {
    const grid = grids.get(layout)!;
    const inputs: number[] = [];
    for (let i = 0; i + 1 < grid.length; i++) {
      const midpoint = (grid[i]!.value + grid[i + 1]!.value) / 2;
      // The midpoint, and the float32 values just beside it, for both signs.
      const beside = new Float32Array([midpoint, midpoint, midpoint]);
      new Uint32Array(beside.buffer)[1]! -= 1;
      new Uint32Array(beside.buffer)[2]! += 1;
      for (const value of beside) inputs.push(value, -value);
    }
    expect(inputs.every((value) => Math.fround(value) === value)).toBe(true); // exact in float32
    const encoded = layout.encode(Float32Array.from(inputs));
    for (let i = 0; i < inputs.length; i++) {
      const expected = referenceEncode(inputs[i]!, layout, grid);
      if (encoded[i] !== expected) {
        expect.fail(
          `${inputs[i]} encoded as 0x${encoded[i]!.toString(16)}, expected 0x${expected.toString(16)}`,
        );
      }
    }
  });

  it.each(LAYOUTS)("$name: random float32 values round to nearest, ties to even", (layout) => {
    const grid = grids.get(layout)!;
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (value) => {
        expect(layout.encode(new Float32Array([value]))[0]).toBe(referenceEncode(value, layout, grid));
      }),
      { numRuns: 5000 },
    );
  });

  it.each(LAYOUTS)("$name: random float64 values are rounded once, directly", (layout) => {
    const grid = grids.get(layout)!;
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (value) => {
        const expected = referenceEncode(value, layout, grid);
        expect(layout.encode(new Float64Array([value]))[0]).toBe(expected);
        expect(layout.encode([value])[0]).toBe(expected);
      }),
      { numRuns: 5000 },
    );
  });

  it("hand-picked ties go to the even neighbour", () => {
    expect(
      Array.from(float32ToFloat16([1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 3 * 2 ** -25, -(1 + 2 ** -11)])),
    ).toEqual([0x3c00, 0x3c02, 0x0000, 0x0002, 0xbc00]);
    expect(Array.from(float32ToBfloat16([1 + 2 ** -8, 1 + 3 * 2 ** -8, 2 ** -134, 3 * 2 ** -134]))).toEqual([
      0x3f80, 0x3f82, 0x0000, 0x0002,
    ]);
    // 7.5 * 2^-9 lies between the largest subnormal (0x07) and the smallest normal (0x08).
    expect(
      Array.from(
        float32ToFloat8E4M3FN([1 + 2 ** -4, 1 + 3 * 2 ** -4, 2 ** -10, 3 * 2 ** -10, 7.5 * 2 ** -9]),
      ),
    ).toEqual([0x38, 0x3a, 0x00, 0x02, 0x08]);
    expect(
      Array.from(float32ToFloat8E5M2([1 + 2 ** -3, 1 + 3 * 2 ** -3, 2 ** -17, 3 * 2 ** -17, -(1 + 2 ** -3)])),
    ).toEqual([0x3c, 0x3e, 0x00, 0x02, 0xbc]);
  });

  it("float64 inputs just past a midpoint do not round twice", () => {
    // Rounding these to float32 first would land exactly on the midpoint and then round down.
    const tiny = 2 ** -40;
    expect(float32ToFloat16(new Float64Array([1 + 2 ** -11 + tiny]))[0]).toBe(0x3c01);
    expect(float32ToBfloat16([1 + 2 ** -8 + tiny])[0]).toBe(0x3f81);
    expect(float32ToFloat8E4M3FN([1 + 2 ** -4 + tiny])[0]).toBe(0x39);
    expect(float32ToFloat8E5M2([-(1 + 2 ** -3 + tiny)])[0]).toBe(0xbd);
    expect(float32ToFloat16([-(2 ** -25 + 2 ** -60)])[0]).toBe(0x8001);
  });
});

describe("overflow, infinities and NaN", () => {
  it("float16: overflow rounds to ±Inf from the midpoint 65520 on", () => {
    expect(
      Array.from(float32ToFloat16([65504, 65519.99, 65520, -65520, 1e6, Infinity, -Infinity, 1e300])),
    ).toEqual([0x7bff, 0x7bff, 0x7c00, 0xfc00, 0x7c00, 0x7c00, 0xfc00, 0x7c00]);
  });

  it("bfloat16: overflow rounds to ±Inf", () => {
    const encoded = float32ToBfloat16(
      float32FromBits(0x7f7f7fff, 0x7f7f8000, 0x7f7fffff, 0xff7fffff, 0x7f800000),
    );
    expect(Array.from(encoded)).toEqual([0x7f7f, 0x7f80, 0x7f80, 0xff80, 0x7f80]);
    expect(float32ToBfloat16([1e39, -1e300])).toEqual(new Uint16Array([0x7f80, 0xff80]));
  });

  it("float8_e4m3fn: like ml_dtypes, past the largest finite value is NaN, and so is ±Inf", () => {
    expect(
      Array.from(float32ToFloat8E4M3FN([448, 464, 464.0001, 480, -1000, Infinity, -Infinity, 1e300])),
    ).toEqual([0x7e, 0x7e, 0x7f, 0x7f, 0xff, 0x7f, 0xff, 0x7f]);
  });

  it("float8_e5m2: overflow rounds to ±Inf from the midpoint 61440 on", () => {
    expect(Array.from(float32ToFloat8E5M2([57344, 61439, 61440, -61440, 1e6, Infinity, -Infinity]))).toEqual([
      0x7b, 0x7b, 0x7c, 0xfc, 0x7c, 0x7c, 0xfc,
    ]);
  });

  it("NaN keeps its sign and top payload bits, with the quiet bit set", () => {
    // Quiet NaN with payload, negative quiet NaN, signalling NaN whose payload is below every kept bit.
    const nans = float32FromBits(0x7fa00001, 0xffc00000, 0x7f800001, 0xff800001);
    expect(Array.from(float32ToFloat16(nans))).toEqual([0x7f00, 0xfe00, 0x7e00, 0xfe00]);
    expect(Array.from(float32ToBfloat16(nans))).toEqual([0x7fe0, 0xffc0, 0x7fc0, 0xffc0]);
    expect(Array.from(float32ToFloat8E5M2(nans))).toEqual([0x7f, 0xfe, 0x7e, 0xfe]);
    expect(Array.from(float32ToFloat8E4M3FN(nans))).toEqual([0x7f, 0xff, 0x7f, 0xff]);
  });

  it("NaN from float64 input keeps its sign", () => {
    const negativeNaN = new Float64Array(new BigUint64Array([0xfff8000000000000n]).buffer);
    expect(float32ToFloat16(negativeNaN)[0]).toBe(0xfe00);
    expect(float32ToFloat16([NaN])[0]).toBe(0x7e00);
    expect(float32ToFloat8E4M3FN(negativeNaN)[0]).toBe(0xff);
  });

  it("signed zeros and float32 subnormals", () => {
    const inputs = float32FromBits(0x00000000, 0x80000000, 0x00000001, 0x807fffff);
    expect(Array.from(float32ToFloat16(inputs))).toEqual([0x0000, 0x8000, 0x0000, 0x8000]);
    expect(Array.from(float32ToBfloat16(inputs))).toEqual([0x0000, 0x8000, 0x0000, 0x8080]);
    expect(Array.from(float32ToFloat8E4M3FN(inputs))).toEqual([0x00, 0x80, 0x00, 0x80]);
    expect(Array.from(float32ToFloat8E5M2(inputs))).toEqual([0x00, 0x80, 0x00, 0x80]);
  });
});

describe("encoding inputs", () => {
  it("reads Float32Array and Float64Array views at their byteOffset", () => {
    const float32 = new Float32Array([99, 1, -2, 99]).subarray(1, 3);
    const float64 = new Float64Array([99, 1, -2, 99]).subarray(1, 3);
    for (const values of [float32, float64, [1, -2]]) {
      expect(Array.from(float32ToFloat16(values))).toEqual([0x3c00, 0xc000]);
      expect(Array.from(float32ToBfloat16(values))).toEqual([0x3f80, 0xc000]);
      expect(Array.from(float32ToFloat8E4M3FN(values))).toEqual([0x38, 0xc0]);
      expect(Array.from(float32ToFloat8E5M2(values))).toEqual([0x3c, 0xc0]);
    }
  });

  it("does not modify its input", () => {
    const values = new Float32Array([1.1, NaN, -3]);
    const before = Array.from(new Uint32Array(values.buffer));
    for (const layout of LAYOUTS) layout.encode(values);
    expect(Array.from(new Uint32Array(values.buffer))).toEqual(before);
  });
});
