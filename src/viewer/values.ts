/**
 * Array elements as numbers for display: every dtype to float64 (bfloat16, float16 and float8 as
 * their float values, 64-bit integers rounded to the nearest double, bool as 0 and 1, complex
 * numbers as magnitude or phase), the 2-D slices the heatmap shows, and numbers as the page prints
 * them (64-bit integers exactly, from their stored value). Pure functions, shared by the page and
 * its tests.
 *
 * @module
 */
import type { NdArray } from "../decode.js";
import { bfloat16ToFloat32, float16ToFloat32, float8E4M3FNToFloat32, float8E5M2ToFloat32 } from "../floats.js";

/** How a complex element becomes one number. */
export type ComplexMode = "magnitude" | "phase";

/** Raw bits to float, for the dtypes typed arrays cannot hold. */
const FROM_BITS: Partial<Record<string, (bits: never) => Float32Array>> = {
  float16: float16ToFloat32,
  bfloat16: bfloat16ToFloat32,
  float8_e4m3fn: float8E4M3FNToFloat32,
  float8_e5m2: float8E5M2ToFloat32,
};

/** The elements of `array` as float64, in its storage order (see {@link stridesOf}). */
export function numericValues(array: Pick<NdArray, "dtype" | "data">, complex: ComplexMode = "magnitude"): Float64Array {
  const { dtype, data } = array;
  if (dtype === "complex64" || dtype === "complex128") {
    const parts = data as Float32Array | Float64Array;
    const out = new Float64Array(parts.length / 2);
    for (let i = 0; i < out.length; i++) {
      const re = parts[2 * i]!;
      const im = parts[2 * i + 1]!;
      out[i] = complex === "magnitude" ? Math.hypot(re, im) : Math.atan2(im, re);
    }
    return out;
  }
  // Every non-zero byte is true (FORMAT.md §3): a stored 2 or 255 is shown as 1, as numpy shows True.
  if (dtype === "bool") return Float64Array.from(data as Uint8Array, (byte) => (byte === 0 ? 0 : 1));
  const fromBits = FROM_BITS[dtype];
  // float16 arrives as Float16Array where the runtime has one (already numbers), raw bits otherwise.
  if (fromBits && (data instanceof Uint16Array || data instanceof Uint8Array)) return Float64Array.from(fromBits(data as never));
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float64Array.from(data, Number);
  return Float64Array.from(data as ArrayLike<number>);
}

/** Element strides of each axis for an array of `shape` in `order` (C: last axis fastest). */
export function stridesOf(shape: readonly number[], order: "C" | "F"): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let k = 0; k < shape.length; k++) {
    const axis = order === "C" ? shape.length - 1 - k : k;
    strides[axis] = stride;
    stride *= shape[axis]!;
  }
  return strides;
}

/** Which 2-D slice of an N-D array to show: the row and column axes, and an index for every axis. */
export interface SliceSpec {
  readonly rowAxis: number;
  readonly colAxis: number;
  /** One index per axis; those of the row and column axes are ignored. */
  readonly index: readonly number[];
  /** When the values are a sample of rows: the original index of each row along axis 0. */
  readonly axis0?: readonly number[];
}

/** A 2-D grid of values taken from an array, every `step`-th row and column. */
export interface Grid {
  readonly rows: number;
  readonly cols: number;
  /** Rows and columns of the array between two grid cells. */
  readonly step: number;
  readonly values: Float64Array;
  /** The array index of grid cell (r, c). */
  indexOf(r: number, c: number): number[];
  /** Where grid cell (r, c) is in the values sliced (the element's position in storage order). */
  offsetOf(r: number, c: number): number;
}

/**
 * The slice `spec` of values of `shape`/`order`, sampled every `step` rows and columns where
 * `step` keeps both sides within `maxSide` cells (1 when the slice fits).
 */
export function sliceGrid(values: Float64Array, shape: readonly number[], order: "C" | "F", spec: SliceSpec, maxSide: number): Grid {
  const strides = stridesOf(shape, order);
  const fullRows = shape[spec.rowAxis] ?? 1;
  const fullCols = spec.colAxis === spec.rowAxis ? 1 : (shape[spec.colAxis] ?? 1);
  const step = Math.max(1, Math.ceil(Math.max(fullRows, fullCols) / maxSide));
  const rows = Math.ceil(fullRows / step);
  const cols = Math.ceil(fullCols / step);
  let base = 0;
  for (let axis = 0; axis < shape.length; axis++) if (axis !== spec.rowAxis && axis !== spec.colAxis) base += (spec.index[axis] ?? 0) * strides[axis]!;
  const rowStride = (strides[spec.rowAxis] ?? 0) * step;
  const colStride = spec.colAxis === spec.rowAxis ? 0 : (strides[spec.colAxis] ?? 0) * step;
  const offsetOf = (r: number, c: number) => base + r * rowStride + c * colStride;
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = values[offsetOf(r, c)]!;
  return {
    rows,
    cols,
    step,
    values: out,
    offsetOf,
    indexOf(r, c) {
      const index = shape.map((_, axis) => spec.index[axis] ?? 0);
      index[spec.rowAxis] = r * step;
      if (spec.colAxis !== spec.rowAxis) index[spec.colAxis] = c * step;
      if (spec.axis0) index[0] = spec.axis0[index[0]!]!;
      return index;
    },
  };
}

/**
 * A number as the page prints it: integers up to 2^53 whole, -0 as `-0`, others with 6 significant
 * digits, in exponent form from 10^6 up (`1.23457e+6`), so that a rounded value never reads as an
 * exact one (1234567.5 is not `1234570`, nor int64's 2^63 - 1 `9223370000000000000`).
 */
export function formatValue(value: number): string {
  if (Object.is(value, -0)) return "-0";
  if (Number.isSafeInteger(value)) return String(value);
  const rounded = Number(value.toPrecision(6));
  return Math.abs(rounded) >= 1e6 ? rounded.toExponential() : String(rounded);
}

/**
 * The element at `offset` (storage order) of `array`, whose values as numbers are `values`: a
 * 64-bit integer exactly, from its stored value (a double holds integers exactly only up to 2^53),
 * any other element as {@link formatValue} prints its number.
 */
export function formatElement(array: Pick<NdArray, "data">, values: Float64Array, offset: number): string {
  const data = array.data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return String(data[offset]!);
  return formatValue(values[offset]!);
}
