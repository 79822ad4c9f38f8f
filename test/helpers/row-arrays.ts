/**
 * Arrays and files for the tests of `readRows` (TypeScript's, and Python's `read_rows` against it):
 * every dtype in 1 to 4 dimensions, C and F order, of bytes deflate shrinks; the row ranges to ask
 * for; a damaged deflate stream.
 */
import { crc32 } from "../../src/crc32.js";
import { DTYPES } from "../../src/dtypes.js";
import { encode, type Codec, type Dtype } from "../../src/index.js";
import { noise } from "./common.js";

/** Dtypes of every item size and kind: bool, integers, floats of 2, 4 and 8 bytes, bfloat16, complex. */
export const DTYPE_NAMES: readonly Dtype[] = ["bool", "int8", "uint16", "float16", "bfloat16", "int32", "float32", "int64", "float64", "complex64", "complex128"];
/** Shapes of 1 to 4 dimensions, and an empty one. */
export const SHAPES: readonly (readonly number[])[] = [[40], [10, 6], [6, 5, 4], [4, 3, 2, 5], [4, 0, 2]];

/** An array of `dtype` and `shape` in `order`, of noise of 2 bits a byte (bools 0 or 1: 1 bit), which deflate shrinks, given as the dtype's typed array. */
export function arrayOf(dtype: Dtype, shape: readonly number[], order: "C" | "F", seed: number) {
  const { itemSize, wordSize, view } = DTYPES[dtype];
  const bytes = noise(shape.reduce((a, b) => a * b, 1) * itemSize, seed).map((b) => b & (dtype === "bool" ? 1 : 3));
  return { data: new view(bytes.buffer, 0, bytes.length / wordSize), dtype, shape: [...shape], order };
}

/** Every dtype in every shape, in C and F order. */
export function allArrays(codec: Codec) {
  const arrays: Record<string, ReturnType<typeof arrayOf> & { codec: Codec }> = {};
  let seed = 1;
  for (const dtype of DTYPE_NAMES) for (const shape of SHAPES) for (const order of ["C", "F"] as const) arrays[`${dtype}-${shape.join("x")}-${order}`] = { ...arrayOf(dtype, shape, order, seed++), codec };
  return arrays;
}

/** The row ranges asked for of an array of `rows` rows: all, none (at the start, inside, at the end), one, the middle. */
export function rangesOf(rows: number): [number, number][] {
  const ranges: [number, number][] = [[0, rows], [0, 0], [rows, rows], [0, Math.min(1, rows)], [rows - Math.min(1, rows), rows]];
  if (rows > 2) ranges.push([1, rows - 1], [2, 2]);
  return ranges;
}

/** A file of one deflated array, "a", whose stream has its second byte changed, and its CRC recomputed over the damaged bytes when `fixCrc`. */
export function damagedDeflate(fixCrc: boolean): Uint8Array {
  const bytes = encode({ a: { data: Float32Array.from({ length: 256 }, (_, i) => i), shape: [64, 4], codec: "deflate" } });
  const view = new DataView(bytes.buffer);
  const headerLength = view.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + headerLength))) as { alignment: number; arrays: { offset: number; byteLength: number }[] };
  const dataStart = Math.ceil((20 + headerLength) / header.alignment) * header.alignment;
  const { offset, byteLength } = header.arrays[0]!;
  const stored = bytes.subarray(dataStart + offset, dataStart + offset + byteLength);
  stored[1]! ^= 0xff;
  if (fixCrc) view.setUint32(dataStart + offset + byteLength, crc32(stored), true);
  return bytes;
}
