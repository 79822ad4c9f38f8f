/**
 * Array values for people: chunks of raw bytes to numbers, a one-pass summary (min, max, mean,
 * std, NaN and Inf counts), the elements a numpy-style preview shows, and the preview itself,
 * formatted as numpy's `str()` formats arrays (precision 8, edges of large arrays elided). Used by
 * `ndpack show` and `ndpack diff`.
 *
 * @module
 */
import { DTYPES, type Dtype, type DtypeInfo } from "../dtypes.js";
import type { Order } from "../format.js";
import { bfloat16ToFloat32, float16ToFloat32, float32ToFloat16, float8E4M3FNToFloat32, float8E5M2ToFloat32 } from "../floats.js";

/** How the elements of a dtype are read as numbers. */
export type ValueKind = "bool" | "int" | "bigint" | "float" | "complex";

/** The kind of a dtype's elements. */
export function kindOf(dtype: Dtype): ValueKind {
  if (dtype === "bool") return "bool";
  if (dtype === "int64" || dtype === "uint64") return "bigint";
  if (dtype === "complex64" || dtype === "complex128") return "complex";
  if (dtype.startsWith("int") || dtype.startsWith("uint")) return "int";
  return "float";
}

/** One element: a number, a bigint (int64, uint64), a boolean, or `[re, im]`. */
export type Value = number | bigint | boolean | readonly [number, number];

/**
 * A chunk's elements as numbers: a typed array of the values (complex interleaved as (re, im);
 * float16, bfloat16 and float8 converted to float32 exactly; int64 as BigInt64Array).
 */
export function numbersOf(dtype: DtypeInfo, bytes: Uint8Array): ArrayLike<number> | BigInt64Array | BigUint64Array {
  const aligned = bytes.byteOffset % dtype.wordSize === 0 ? bytes : bytes.slice();
  const words = aligned.length / dtype.wordSize;
  const { buffer, byteOffset } = aligned;
  switch (dtype.name) {
    case "float16":
      return float16ToFloat32(new Uint16Array(buffer, byteOffset, words));
    case "bfloat16":
      return bfloat16ToFloat32(new Uint16Array(buffer, byteOffset, words));
    case "float8_e4m3fn":
      return float8E4M3FNToFloat32(aligned);
    case "float8_e5m2":
      return float8E5M2ToFloat32(aligned);
    default:
      return new dtype.view(buffer, byteOffset, words) as ArrayLike<number> | BigInt64Array | BigUint64Array;
  }
}

/** The element `i` of numbers from {@link numbersOf}. */
export function valueAt(kind: ValueKind, numbers: ArrayLike<number> | BigInt64Array | BigUint64Array, i: number): Value {
  switch (kind) {
    case "bool":
      return (numbers as ArrayLike<number>)[i] !== 0;
    case "complex":
      return [(numbers as ArrayLike<number>)[2 * i]!, (numbers as ArrayLike<number>)[2 * i + 1]!];
    default:
      return numbers[i]!;
  }
}

// ---------------------------------------------------------------------------------------------
// Summary

/** Statistics of a run of real numbers (one part of complex numbers). */
export interface PartSummary {
  /** Smallest and largest finite value (exact for int64/uint64); `undefined` when there is none. */
  readonly min: number | bigint | undefined;
  readonly max: number | bigint | undefined;
  /** Mean and population standard deviation of the finite values. */
  readonly mean: number | undefined;
  readonly std: number | undefined;
}

/** What `ndpack show` prints under an array. */
export interface Summary extends PartSummary {
  readonly count: number;
  readonly nan: number;
  readonly inf: number;
  /** For bool arrays: the number of true elements. */
  readonly trues?: number;
  /** For complex arrays: the real and imaginary parts (`min`...`std` above are the real part's). */
  readonly real?: PartSummary;
  readonly imag?: PartSummary;
}

/** Mean and sum of squared deviations of finite values, merged chunk by chunk (Chan et al.), min and max. */
class Moments {
  n = 0;
  mean = 0;
  m2 = 0;
  min: number | bigint | undefined;
  max: number | bigint | undefined;

  /** Adds `values[start], values[start + step], ...` (`count` of them); returns how many were NaN and infinite. */
  addNumbers(values: ArrayLike<number>, start: number, step: number, count: number, nanFlags?: Uint8Array): void {
    let n = 0;
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let k = 0, i = start; k < count; k++, i += step) {
      const v = values[i]!;
      if (v - v !== 0) {
        if (nanFlags) nanFlags[k] = nanFlags[k]! | (v !== v ? 1 : 2);
        continue;
      }
      n++;
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (n === 0) return;
    const mean = sum / n;
    let m2 = 0;
    for (let k = 0, i = start; k < count; k++, i += step) {
      const v = values[i]!;
      if (v - v === 0) m2 += (v - mean) * (v - mean);
    }
    this.#merge(n, mean, m2);
    if (this.min === undefined || min < (this.min as number)) this.min = min;
    if (this.max === undefined || max > (this.max as number)) this.max = max;
  }

  addBigInts(values: BigInt64Array | BigUint64Array): void {
    if (values.length === 0) return;
    let min = values[0]!;
    let max = values[0]!;
    let sum = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
      sum += Number(v);
    }
    const mean = sum / values.length;
    let m2 = 0;
    for (let i = 0; i < values.length; i++) m2 += (Number(values[i]!) - mean) ** 2;
    this.#merge(values.length, mean, m2);
    if (this.min === undefined || min < (this.min as bigint)) this.min = min;
    if (this.max === undefined || max > (this.max as bigint)) this.max = max;
  }

  #merge(n: number, mean: number, m2: number): void {
    const total = this.n + n;
    const delta = mean - this.mean;
    this.mean += (delta * n) / total;
    this.m2 += m2 + (delta * delta * this.n * n) / total;
    this.n = total;
  }

  result(): PartSummary {
    if (this.n === 0) return { min: undefined, max: undefined, mean: undefined, std: undefined };
    return { min: this.min, max: this.max, mean: this.mean, std: Math.sqrt(this.m2 / this.n) };
  }
}

/** Accumulates the {@link Summary} of an array, chunk by chunk. */
export class SummaryBuilder {
  readonly #dtype: DtypeInfo;
  readonly #kind: ValueKind;
  #count = 0;
  #nan = 0;
  #inf = 0;
  #trues = 0;
  readonly #real = new Moments();
  readonly #imag = new Moments();

  constructor(dtype: Dtype) {
    this.#dtype = DTYPES[dtype];
    this.#kind = kindOf(dtype);
  }

  /** Adds a chunk of raw bytes (this machine's byte order, whole elements). */
  add(bytes: Uint8Array): void {
    const numbers = numbersOf(this.#dtype, bytes);
    const count = bytes.length / this.#dtype.itemSize;
    this.#count += count;
    switch (this.#kind) {
      case "bigint":
        this.#real.addBigInts(numbers as BigInt64Array | BigUint64Array);
        return;
      case "bool": {
        const values = numbers as ArrayLike<number>;
        for (let i = 0; i < count; i++) if (values[i] !== 0) this.#trues++;
        const asBits = Float64Array.from({ length: count }, (_, i) => (values[i] !== 0 ? 1 : 0));
        this.#real.addNumbers(asBits, 0, 1, count);
        return;
      }
      case "complex": {
        const flags = new Uint8Array(count);
        this.#real.addNumbers(numbers as ArrayLike<number>, 0, 2, count, flags);
        this.#imag.addNumbers(numbers as ArrayLike<number>, 1, 2, count, flags);
        for (let i = 0; i < count; i++) {
          if (flags[i]! & 1) this.#nan++;
          else if (flags[i]! & 2) this.#inf++;
        }
        return;
      }
      default: {
        const flags = this.#kind === "float" ? new Uint8Array(count) : undefined;
        this.#real.addNumbers(numbers as ArrayLike<number>, 0, 1, count, flags);
        if (flags) {
          for (let i = 0; i < count; i++) {
            if (flags[i]! & 1) this.#nan++;
            else if (flags[i]! & 2) this.#inf++;
          }
        }
      }
    }
  }

  result(): Summary {
    const real = this.#real.result();
    const summary: Summary = { count: this.#count, nan: this.#nan, inf: this.#inf, ...real };
    if (this.#kind === "bool") return { ...summary, trues: this.#trues };
    if (this.#kind === "complex") return { ...summary, real, imag: this.#imag.result() };
    return summary;
  }
}

// ---------------------------------------------------------------------------------------------
// Which elements a preview shows

/** numpy's defaults: arrays of more than `threshold` elements show `edgeItems` at each end of each long axis. */
const PREVIEW_THRESHOLD = 1000;
const EDGE_ITEMS = 3;
/** Past this many shown elements (possible with many short axes), no element preview is made. */
const MAX_PREVIEW_ELEMENTS = 50_000;

/** The elements a preview shows, by their position in storage order (sorted). */
export interface PreviewPlan {
  readonly shape: readonly number[];
  /** Whether each axis is elided in the middle. */
  readonly summarized: readonly boolean[];
  /** Element strides in storage order, per axis. */
  readonly strides: readonly number[];
  /** Storage positions of the shown elements, ascending; `undefined` when there are too many to show. */
  readonly positions: readonly number[] | undefined;
}

/** The storage strides, in elements, of an array of `shape` in `order`. */
function elementStrides(shape: readonly number[], order: Order): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  if (order === "C") for (let k = shape.length - 2; k >= 0; k--) strides[k] = strides[k + 1]! * shape[k + 1]!;
  else for (let k = 1; k < shape.length; k++) strides[k] = strides[k - 1]! * shape[k - 1]!;
  return strides;
}

/** The logical index (one number per axis) of the element at storage position `position`. */
export function indexOf(position: number, shape: readonly number[], order: Order): number[] {
  const index = new Array<number>(shape.length).fill(0);
  let rest = position;
  const axes = order === "C" ? [...shape.keys()].reverse() : [...shape.keys()];
  for (const k of axes) {
    index[k] = rest % shape[k]!;
    rest = Math.floor(rest / shape[k]!);
  }
  return index;
}

/** Plans the preview of an array: numpy's summarization rule, then the positions it needs. */
export function planPreview(shape: readonly number[], order: Order): PreviewPlan {
  const count = shape.reduce((a, b) => a * b, 1);
  const summarize = count > PREVIEW_THRESHOLD;
  const summarized = shape.map((d) => summarize && d > 2 * EDGE_ITEMS);
  const strides = elementStrides(shape, order);
  // An empty array shows no element: listing the indices of its other axes (shape [0, 2^32])
  // would allocate in proportion to a dimension of nothing.
  if (count === 0) return { shape, summarized, strides, positions: [] };
  const kept = shape.map((d, k) => (summarized[k] ? [0, 1, 2, d - 3, d - 2, d - 1] : Array.from({ length: d }, (_, i) => i)));
  const total = kept.reduce((a, b) => a * b.length, 1);
  if (total > MAX_PREVIEW_ELEMENTS) return { shape, summarized, strides, positions: undefined };
  let positions = [0];
  kept.forEach((indices, k) => {
    const next: number[] = [];
    for (const base of positions) for (const i of indices) next.push(base + i * strides[k]!);
    positions = next;
  });
  positions.sort((a, b) => a - b);
  return { shape, summarized, strides, positions };
}

/** Picks the planned elements out of the chunks as they pass. */
export class PreviewCollector {
  readonly #plan: PreviewPlan;
  readonly #dtype: DtypeInfo;
  readonly #kind: ValueKind;
  readonly values = new Map<number, Value>();
  #next = 0;
  #base = 0;

  constructor(plan: PreviewPlan, dtype: Dtype) {
    this.#plan = plan;
    this.#dtype = DTYPES[dtype];
    this.#kind = kindOf(dtype);
  }

  /** Looks at the next chunk (whole elements, in storage order). */
  add(bytes: Uint8Array): void {
    const positions = this.#plan.positions;
    const count = bytes.length / this.#dtype.itemSize;
    if (positions !== undefined && this.#next < positions.length && positions[this.#next]! < this.#base + count) {
      const numbers = numbersOf(this.#dtype, bytes);
      while (this.#next < positions.length && positions[this.#next]! < this.#base + count) {
        const position = positions[this.#next++]!;
        this.values.set(position, valueAt(this.#kind, numbers, position - this.#base));
      }
    }
    this.#base += count;
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting, as numpy's arrayprint does

/** Rounds a number to the precision of a float dtype, so that its shortest digits can be found. */
function rounderOf(dtype: Dtype): (x: number) => number {
  switch (dtype) {
    case "float32":
    case "complex64":
      return Math.fround;
    case "float16":
      return (x) => float16ToFloat32(float32ToFloat16([x]))[0]!;
    default:
      return (x) => x;
  }
}

/** The shortest significant digits that read back as `x` in the dtype, and the decimal exponent of the first. */
function shortestDigits(x: number, round: (x: number) => number): { digits: string; exponent: number } {
  const abs = Math.abs(x);
  if (abs === 0) return { digits: "0", exponent: 0 };
  let text = abs.toExponential();
  for (let p = 0; p < 17; p++) {
    const candidate = abs.toExponential(p);
    if (round(Number(candidate)) === abs) {
      text = candidate;
      break;
    }
  }
  const [mantissa, exp] = text.split("e") as [string, string];
  return { digits: mantissa.replace(".", "").replace(/0+$/, "") || "0", exponent: Number(exp) };
}

/** Digits of `x` in positional notation, at most `precision` after the point (unique, then cut off). */
function positional(x: number, round: (x: number) => number, precision: number): { int: string; frac: string } {
  const { digits, exponent } = shortestDigits(x, round);
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  if (digits.length - 1 - exponent > precision) {
    const [int, frac = ""] = Math.abs(x).toFixed(precision).split(".") as [string, string?];
    return { int: sign + int, frac: frac.replace(/0+$/, "") };
  }
  const padded = exponent >= 0 ? digits.padEnd(exponent + 1, "0") : "0".repeat(-exponent) + digits;
  const point = exponent >= 0 ? exponent + 1 : 1;
  return { int: sign + padded.slice(0, point), frac: padded.slice(point).replace(/0+$/, "") };
}

/** Digits of `x` in scientific notation, at most `precision` after the point (exactly `precision` with `exact`). */
function scientific(x: number, round: (x: number) => number, precision: number, exact?: number): { int: string; frac: string; exp: number } {
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  let { digits, exponent } = shortestDigits(x, round);
  if (exact !== undefined || digits.length - 1 > precision) {
    const [mantissa, exp] = Math.abs(x).toExponential(precision).split("e") as [string, string];
    digits = mantissa.replace(".", "");
    if (exact === undefined) digits = digits.replace(/0+$/, "") || "0";
    exponent = Number(exp);
  }
  return { int: sign + digits[0]!, frac: digits.slice(1), exp: exponent };
}

/** numpy's FloatingFormat (default print options: precision 8, maxprec, no suppression). */
function floatFormatter(values: readonly number[], dtype: Dtype, sign: "-" | "+" = "-"): (x: number) => string {
  const precision = 8;
  const round = rounderOf(dtype);
  const finite = values.filter((v) => Number.isFinite(v));
  const nonZero = finite.map(Math.abs).filter((v) => v !== 0);
  const maxVal = nonZero.length > 0 ? Math.max(...nonZero) : 0;
  const minVal = nonZero.length > 0 ? Math.min(...nonZero) : 0;
  const expFormat = nonZero.length > 0 && (maxVal >= 1e8 || minVal < 0.0001 || maxVal / minVal > 1000);
  const plus = (x: number) => (sign === "+" && !(x < 0 || Object.is(x, -0)) ? "+" : "");
  let padLeft = 0;
  let padRight = 0;
  let format: (x: number) => string;
  if (finite.length === 0) {
    format = () => "";
  } else if (expFormat) {
    const parts = finite.map((v) => scientific(v, round, precision));
    const fracDigits = Math.max(...parts.map((p) => p.frac.length));
    const expDigits = Math.max(2, ...parts.map((p) => String(Math.abs(p.exp)).length));
    padLeft = Math.max(...parts.map((p, i) => plus(finite[i]!).length + p.int.length));
    padRight = expDigits + 2 + fracDigits;
    format = (x) => {
      // Every element shows as many digits as the longest needs: more digits of its exact value (numpy's min_digits).
      let p = scientific(x, round, precision);
      if (p.frac.length < fracDigits) p = scientific(x, (v) => v, fracDigits, fracDigits);
      const text = `${plus(x)}${p.int}.${p.frac.padEnd(fracDigits, "0")}e${p.exp < 0 ? "-" : "+"}${String(Math.abs(p.exp)).padStart(expDigits, "0")}`;
      return text.padStart(padLeft + 1 + padRight);
    };
  } else {
    const parts = finite.map((v) => positional(v, round, precision));
    padLeft = Math.max(...parts.map((p, i) => plus(finite[i]!).length + p.int.length));
    padRight = Math.max(...parts.map((p) => p.frac.length));
    format = (x) => {
      const p = positional(x, round, precision);
      return `${(plus(x) + p.int).padStart(padLeft)}.${p.frac.padEnd(padRight)}`;
    };
  }
  if (finite.length !== values.length) {
    const negInf = sign === "+" || values.some((v) => v === -Infinity);
    padLeft = Math.max(padLeft, 3 - (padRight + 1), 3 + (negInf ? 1 : 0) - (padRight + 1));
  }
  return (x) => {
    if (Number.isFinite(x)) return format(x).padStart(padLeft + 1 + padRight);
    const text = x !== x ? (sign === "+" ? "+nan" : "nan") : x > 0 ? (sign === "+" ? "+inf" : "inf") : "-inf";
    return text.padStart(padLeft + padRight + 1);
  };
}

/**
 * A float of a dtype that numpy knows only through ml_dtypes (bfloat16, float8), as ml_dtypes
 * prints it: C++'s `ostream << float`, which is printf's `%g` (6 significant digits, a tie rounded
 * to even as glibc does, trailing zeros dropped, an exponent below 1e-4 and from 1e6), unpadded.
 */
function mlDtypesFloat(x: number): string {
  if (x !== x) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  if (x === 0) return `${sign}0`;
  const SIGNIFICANT = 6;
  // toExponential(100) gives the exact decimal expansion of every bfloat16 and float8 value.
  const [mantissa, exp] = Math.abs(x).toExponential(100).split("e") as [string, string];
  const all = mantissa.replace(".", "");
  let exponent = Number(exp);
  let digits = all.slice(0, SIGNIFICANT);
  const next = all[SIGNIFICANT]!;
  const rest = all.slice(SIGNIFICANT + 1);
  if (next > "5" || (next === "5" && (/[1-9]/.test(rest) || Number(digits.at(-1)) % 2 === 1))) {
    const rounded = String(Number(digits) + 1);
    if (rounded.length > SIGNIFICANT) exponent++;
    digits = rounded.slice(0, SIGNIFICANT);
  }
  digits = digits.replace(/0+$/, "") || "0";
  if (exponent < -4 || exponent >= SIGNIFICANT) {
    return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ""}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  const whole = digits.padEnd(exponent + 1, "0");
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole.slice(0, exponent + 1)}${fraction ? `.${fraction}` : ""}`;
}

/** True for the dtypes numpy prints through ml_dtypes' scalar types. */
const printedByMlDtypes = (dtype: Dtype) => DTYPES[dtype].mlDtypes !== null;

/** A formatter for the shown elements of an array, all formatted to one width. */
function elementFormatter(dtype: Dtype, values: readonly Value[]): (value: Value) => string {
  const kind = kindOf(dtype);
  if (printedByMlDtypes(dtype)) return (v) => mlDtypesFloat(v as number);
  switch (kind) {
    case "bool":
      // numpy's BoolFormat: " True" in arrays, so that True and False line up.
      return (v) => (v ? " True" : "False");
    case "int":
    case "bigint": {
      const width = Math.max(0, ...values.map((v) => String(v).length));
      return (v) => String(v).padStart(width);
    }
    case "float": {
      const format = floatFormatter(values as number[], dtype);
      return (v) => format(v as number);
    }
    case "complex": {
      const pairs = values as (readonly [number, number])[];
      const real = floatFormatter(pairs.map((p) => p[0]), dtype);
      const imag = floatFormatter(pairs.map((p) => p[1]), dtype, "+");
      return (v) => {
        const [re, im] = v as readonly [number, number];
        const i = imag(im);
        const end = i.trimEnd().length;
        return `${real(re)}${i.slice(0, end)}j${i.slice(end)}`;
      };
    }
  }
}

/** numpy's `str()` line width. */
const LINE_WIDTH = 75;

/** A float as Python and numpy print a scalar: shortest digits, positional from 1e-4 to 1e16, `.0` when integral. */
function scalarFloat(x: number, round: (x: number) => number): string {
  if (!Number.isFinite(x)) return x !== x ? "nan" : x > 0 ? "inf" : "-inf";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  const { digits, exponent } = shortestDigits(x, round);
  if (exponent < -4 || exponent >= 16) return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ""}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  const p = positional(x, round, 64);
  return `${p.int}.${p.frac || "0"}`;
}

/** Formats one value on its own, as numpy prints a scalar of the dtype (and a 0-d array). */
export function formatValue(dtype: Dtype, value: Value): string {
  if (printedByMlDtypes(dtype)) return mlDtypesFloat(value as number);
  switch (kindOf(dtype)) {
    case "float":
      return scalarFloat(value as number, rounderOf(dtype));
    case "complex": {
      // Python's complex repr: parts without a trailing ".0", the real part left out when it is +0.
      const [re, im] = value as readonly [number, number];
      const round = rounderOf(dtype);
      const part = (x: number) => scalarFloat(x, round).replace(/\.0$/, "");
      const i = part(im);
      if (re === 0 && !Object.is(re, -0)) return `${i}j`;
      return `(${part(re)}${i.startsWith("-") ? "" : "+"}${i}j)`;
    }
    case "bool":
      return value ? "True" : "False";
    default:
      return String(value);
  }
}

/** A statistic (mean, standard deviation) to 8 significant digits, printed as a scalar. */
export function formatStatistic(x: number): string {
  return scalarFloat(Number(x.toPrecision(8)), (v) => v);
}

/**
 * The preview of an array, as numpy's `str(array)` prints it (numpy's `_formatArray`): nested
 * brackets, lines wrapped at 75 characters, `...` for the elided middle of long axes.
 */
export function formatPreview(plan: PreviewPlan, dtype: Dtype, values: ReadonlyMap<number, Value>): string {
  const { shape, summarized, strides } = plan;
  if (plan.positions === undefined) return `(${shape.reduce((a, b) => a * b, 1)} elements in ${shape.length} dimensions: too many short axes to preview)`;
  const format = elementFormatter(dtype, [...values.values()]);
  const element = (position: number) => format(values.get(position)!);
  if (shape.length === 0) return formatValue(dtype, values.get(0)!);
  if (shape.includes(0)) return "[]";

  const extendLine = (state: { s: string; line: string }, word: string, width: number, indent: string) => {
    if (state.line.length + word.length > width && state.line.length > indent.length) {
      state.s += state.line.trimEnd() + "\n";
      state.line = indent;
    }
    state.line += word;
  };

  const recurse = (axis: number, position: number, hanging: string, width: number): string => {
    const length = shape[axis]!;
    const summary = summarized[axis]!;
    const leading = summary ? EDGE_ITEMS : length;
    const trailing = summary ? EDGE_ITEMS : 0;
    const indices = [...Array.from({ length: leading }, (_, i) => i), ...Array.from({ length: trailing }, (_, i) => length - trailing + i)];
    const at = (i: number) => position + i * strides[axis]!;
    let s = "";
    if (axis === shape.length - 1) {
      const elemWidth = width - 1;
      const state = { s: "", line: hanging };
      indices.forEach((i, n) => {
        if (summary && n === leading) {
          extendLine(state, "...", elemWidth, hanging);
          state.line += " ";
        }
        extendLine(state, element(at(i)), elemWidth, hanging);
        if (n < indices.length - 1) state.line += " ";
      });
      s = state.s + state.line;
    } else {
      const lineSep = "\n".repeat(shape.length - axis - 1);
      const next = hanging + " ";
      indices.forEach((i, n) => {
        if (summary && n === leading) s += hanging + "..." + lineSep;
        s += hanging + recurse(axis + 1, at(i), next, width - 1);
        if (n < indices.length - 1) s += lineSep;
      });
    }
    return "[" + s.slice(hanging.length) + "]";
  };
  return recurse(0, 0, " ", LINE_WIDTH);
}

// ---------------------------------------------------------------------------------------------
// Comparing

/** Tolerances of `ndpack diff`: `|a - b| <= atol + rtol * |b|`, as numpy's `isclose`. */
export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
  /** Compare bool bytes exactly (1 and 2 differ) instead of by truth value, as numpy's `array_equal` does. */
  readonly exactBool: boolean;
}

/** What differs between two runs of elements. */
export interface ChunkDifference {
  /** Elements that differ. */
  count: number;
  /** Largest |a - b| among them (for bigints, as a number). */
  maxAbs: number;
  /** Storage position of the first differing element, relative to the chunk. */
  first: number | undefined;
}

/**
 * Compares two chunks of the same dtype element by element: equal when both are NaN (in the same
 * part, for complex numbers), when they are equal (infinities included), or when they are within
 * the tolerance; complex numbers by the modulus of their difference.
 */
export function compareChunks(dtype: Dtype, a: Uint8Array, b: Uint8Array, tolerance: Tolerance): ChunkDifference {
  const info = DTYPES[dtype];
  const kind = kindOf(dtype);
  const x = numbersOf(info, a);
  const y = numbersOf(info, b);
  const count = a.length / info.itemSize;
  const exact = tolerance.rtol === 0 && tolerance.atol === 0;
  const out: ChunkDifference = { count: 0, maxAbs: 0, first: undefined };
  const differ = (i: number, abs: number) => {
    out.count++;
    if (abs > out.maxAbs || abs !== abs) out.maxAbs = abs !== abs ? out.maxAbs : abs;
    out.first ??= i;
  };
  for (let i = 0; i < count; i++) {
    if (kind === "bigint") {
      const p = (x as BigInt64Array)[i]!;
      const q = (y as BigInt64Array)[i]!;
      if (p === q) continue;
      const abs = Math.abs(Number(p - q));
      if (!exact && abs <= tolerance.atol + tolerance.rtol * Math.abs(Number(q))) continue;
      differ(i, abs);
    } else if (kind === "complex") {
      const [pr, pi, qr, qi] = [(x as ArrayLike<number>)[2 * i]!, (x as ArrayLike<number>)[2 * i + 1]!, (y as ArrayLike<number>)[2 * i]!, (y as ArrayLike<number>)[2 * i + 1]!];
      const same = (u: number, v: number) => u === v || (u !== u && v !== v);
      if (same(pr, qr) && same(pi, qi)) continue;
      const abs = Math.hypot(pr - qr, pi - qi);
      if (!exact && abs <= tolerance.atol + tolerance.rtol * Math.hypot(qr, qi)) continue;
      differ(i, abs);
    } else if (kind === "bool" && !tolerance.exactBool) {
      if (((x as ArrayLike<number>)[i] === 0) === ((y as ArrayLike<number>)[i] === 0)) continue;
      differ(i, 1);
    } else {
      const p = (x as ArrayLike<number>)[i]!;
      const q = (y as ArrayLike<number>)[i]!;
      if (p === q || (p !== p && q !== q)) continue;
      const abs = Math.abs(p - q);
      if (!exact && abs <= tolerance.atol + tolerance.rtol * Math.abs(q)) continue;
      differ(i, abs);
    }
  }
  return out;
}
