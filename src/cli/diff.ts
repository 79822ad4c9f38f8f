/**
 * `ndpack diff A B`: which arrays differ between two files (of any formats): arrays in one file
 * only, arrays whose dtype or shape differ, and arrays whose values differ beyond a tolerance
 * (`|a - b| <= atol + rtol * |b|`, exact by default; NaN equals NaN), with the number of differing
 * elements, the largest difference and the first differing element. The metadata is compared too
 * (unless `--ignore-metadata`). Memory order, byte order and compression are not differences:
 * values are compared by index. bool values compare by truth value, as numpy's `array_equal` does
 * (bytes 1 and 2 are both True), unless `--exact-bool`. Exit 1 on any difference, 0 when there is none.
 *
 * Arrays are paired by name; when each file holds one array (two .npy files, named after their
 * files), those two are compared whatever their names; `--by-position` pairs the i-th array of one
 * file with the i-th of the other.
 *
 * Values stream through in chunks when both arrays have the same memory order; otherwise both are
 * read whole and compared in C order.
 *
 * @module
 */
import { DTYPES, type Dtype } from "../dtypes.js";
import { cOrderBytes } from "../interop/common.js";
import { usageError } from "./errors.js";
import type { NdpackReader } from "../reader.js";
import { bytesOf, CHUNK_BYTES, chunksOf, entriesOf, openFile, type ArrayEntry } from "./formats.js";
import { displayName, escapeControls, formatShape, previewJson, print, printJson } from "./output.js";
import type { CliLimits } from "./limits.js";
import { compareChunks, formatStatistic, formatValue, indexOf, kindOf, numbersOf, valueAt, type Tolerance, type Value } from "./values.js";

/** Options of `ndpack diff`. */
export interface DiffOptions extends CliLimits {
  readonly rtol?: number;
  readonly atol?: number;
  readonly ignoreMetadata?: boolean;
  readonly json?: boolean;
  readonly voidDtype?: Dtype;
  readonly byPosition?: boolean;
  readonly exactBool?: boolean;
}

/** How the values of two arrays of the same dtype and shape differ. */
interface ValueDifference {
  readonly count: number;
  readonly total: number;
  readonly maxAbs: number;
  readonly first: { readonly index: readonly number[]; readonly a: Value; readonly b: Value };
}

/** One array present in both files that differs. */
interface ArrayDifference {
  /** The array's name, or both names (`a vs b`) when arrays of different names were paired. */
  readonly name: string;
  readonly kind: "dtype" | "shape" | "values";
  readonly a: string;
  readonly b: string;
  readonly values?: ValueDifference;
}

/** True when the C-order bytes of the array differ from its stored ones. */
function multiAxis(entry: ArrayEntry): boolean {
  return entry.shape.filter((d) => d > 1).length > 1;
}

/** Two chunk streams of the same array length, in lockstep (both give chunks of the same length). */
async function* lockstep(a: AsyncIterable<Uint8Array>, b: AsyncIterable<Uint8Array>): AsyncGenerator<[Uint8Array, Uint8Array], void, undefined> {
  const left = a[Symbol.asyncIterator]();
  const right = b[Symbol.asyncIterator]();
  try {
    for (;;) {
      const [x, y] = await Promise.all([left.next(), right.next()]);
      if (x.done || y.done) return;
      yield [x.value, y.value];
    }
  } finally {
    await Promise.all([left.return?.(), right.return?.()]);
  }
}

/** Compares the values of two arrays with the same dtype and shape; `undefined` when they are equal. */
async function compareValues(fileA: NdpackReader, a: ArrayEntry, fileB: NdpackReader, b: ArrayEntry, tolerance: Tolerance): Promise<ValueDifference | undefined> {
  const dtype = a.dtype;
  const itemSize = DTYPES[dtype].itemSize;
  const sameLayout = a.order === b.order || !multiAxis(a);
  const order = sameLayout ? a.order : "C";
  const pairs = sameLayout
    ? lockstep(chunksOf(fileA, a.name), chunksOf(fileB, b.name))
    : (async function* () {
        const x = cOrderBytes(await bytesOf(fileA, a.name), a.shape, a.order, itemSize);
        const y = cOrderBytes(await bytesOf(fileB, b.name), b.shape, b.order, itemSize);
        for (let at = 0; at < x.length; at += CHUNK_BYTES) yield [x.subarray(at, at + CHUNK_BYTES), y.subarray(at, at + CHUNK_BYTES)] as [Uint8Array, Uint8Array];
      })();
  let count = 0;
  let maxAbs = 0;
  let first: ValueDifference["first"] | undefined;
  let base = 0;
  const kind = kindOf(dtype);
  // With --exact-bool the first difference may be two True bytes (1 and 2): it is shown by its bytes.
  const valueOf = kind === "bool" && tolerance.exactBool ? (bytes: Uint8Array, i: number): Value => bytes[i]! : (bytes: Uint8Array, i: number) => valueAt(kind, numbersOf(DTYPES[dtype], bytes), i);
  for await (const [x, y] of pairs) {
    const difference = compareChunks(dtype, x, y, tolerance);
    if (difference.count > 0) {
      count += difference.count;
      maxAbs = Math.max(maxAbs, difference.maxAbs);
      if (first === undefined) {
        const i = difference.first!;
        first = { index: indexOf(base + i, a.shape, order), a: valueOf(x, i), b: valueOf(y, i) };
      }
    }
    base += x.length / itemSize;
  }
  return count === 0 ? undefined : { count, total: base, maxAbs, first: first! };
}

/**
 * True when two metadata values are the same JSON whatever the order of their keys, compared in
 * place: no text is made of them (metadata may hold a 99 MiB string).
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameJson(item, b[i]));
  if (a !== null && typeof a === "object" && b !== null && typeof b === "object") {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
  }
  return a === b;
}

function checkTolerance(value: number | undefined, option: string): number {
  if (value === undefined) return 0;
  if (!Number.isFinite(value) || value < 0) throw usageError(`${option} must be a non-negative number, got ${value}`, option);
  return value;
}

/** Which arrays of the two files are compared with which, and which have no partner. */
function pairArrays(a: readonly ArrayEntry[], b: readonly ArrayEntry[], byPosition: boolean): { pairs: [ArrayEntry, ArrayEntry][]; onlyA: string[]; onlyB: string[] } {
  if (byPosition || (a.length === 1 && b.length === 1)) {
    return {
      pairs: a.slice(0, b.length).map((entry, i) => [entry, b[i]!]),
      onlyA: a.slice(b.length).map((e) => e.name),
      onlyB: b.slice(a.length).map((e) => e.name),
    };
  }
  const byName = new Map(b.map((e) => [e.name, e]));
  const namesA = new Set(a.map((e) => e.name));
  return {
    pairs: a.flatMap((entry) => (byName.has(entry.name) ? [[entry, byName.get(entry.name)!] as [ArrayEntry, ArrayEntry]] : [])),
    onlyA: a.filter((e) => !byName.has(e.name)).map((e) => e.name),
    onlyB: b.filter((e) => !namesA.has(e.name)).map((e) => e.name),
  };
}

/** Runs `ndpack diff`; returns 0 (no difference) or 1. */
export async function diffCommand(pathA: string, pathB: string, options: DiffOptions): Promise<number> {
  const tolerance = { rtol: checkTolerance(options.rtol, "--rtol"), atol: checkTolerance(options.atol, "--atol"), exactBool: options.exactBool ?? false };
  const fileA = await openFile(pathA, options);
  let fileB: NdpackReader;
  try {
    fileB = await openFile(pathB, options);
  } catch (error) {
    await fileA.close();
    throw error;
  }
  const { pairs, onlyA, onlyB } = pairArrays(entriesOf(fileA), entriesOf(fileB), options.byPosition ?? false);
  const differences: ArrayDifference[] = [];
  let same = 0;
  try {
    for (const [a, b] of pairs) {
      const name = a.name === b.name ? a.name : `${a.name} vs ${b.name}`;
      if (a.dtype !== b.dtype) differences.push({ name, kind: "dtype", a: a.dtype, b: b.dtype });
      else if (formatShape(a.shape) !== formatShape(b.shape)) differences.push({ name, kind: "shape", a: formatShape(a.shape), b: formatShape(b.shape) });
      else {
        const values = await compareValues(fileA, a, fileB, b, tolerance);
        if (values === undefined) same++;
        else differences.push({ name, kind: "values", a: a.dtype, b: b.dtype, values });
      }
    }
  } finally {
    await Promise.all([fileA.close(), fileB.close()]);
  }
  const metadataDiffers = !options.ignoreMetadata && !sameJson(fileA.metadata, fileB.metadata);
  const differs = onlyA.length + onlyB.length + differences.length > 0 || metadataDiffers;

  if (options.json) {
    await printJson({
      a: pathA,
      b: pathB,
      same: !differs,
      onlyInA: onlyA,
      onlyInB: onlyB,
      differences: differences.map((d) => (d.kind === "values" ? { name: d.name, kind: d.kind, ...d.values } : d)),
      metadata: metadataDiffers ? { a: fileA.metadata, b: fileB.metadata } : null,
      identical: same,
    });
    return differs ? 1 : 0;
  }
  for (const name of onlyA) print(`only in ${escapeControls(pathA)}: ${displayName(name)}`);
  for (const name of onlyB) print(`only in ${escapeControls(pathB)}: ${displayName(name)}`);
  for (const d of differences) {
    if (d.kind !== "values") {
      print(`${d.kind} differs: ${displayName(d.name)}: ${d.a} != ${d.b}`);
      continue;
    }
    const v = d.values!;
    const dtype = d.a as Dtype;
    const show = (x: Value) => (typeof x === "number" && kindOf(dtype) === "bool" ? `${formatValue(dtype, x)} (byte ${x})` : formatValue(dtype, x));
    print(
      `values differ: ${displayName(d.name)}: ${v.count} of ${v.total} elements` +
        (kindOf(dtype) === "bool" ? "" : `, max |a - b| ${formatStatistic(v.maxAbs)}`) +
        `; first at ${formatShape(v.first.index)}: ${show(v.first.a)} != ${show(v.first.b)}`,
    );
  }
  if (metadataDiffers) print(`metadata differs: ${previewJson(fileA.metadata, 0)} != ${previewJson(fileB.metadata, 0)}`);
  const total = same + differences.length;
  if (!differs) print(`no differences: ${same} ${same === 1 ? "array" : "arrays"} equal${tolerance.rtol > 0 || tolerance.atol > 0 ? ` within rtol ${tolerance.rtol}, atol ${tolerance.atol}` : ""}`);
  else print(`${differences.length + onlyA.length + onlyB.length} ${differences.length + onlyA.length + onlyB.length === 1 ? "array differs" : "arrays differ"}${metadataDiffers ? ", and the metadata" : ""}; ${same} of ${total} in both are equal`);
  return differs ? 1 : 0;
}
