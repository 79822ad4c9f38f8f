/**
 * Test arrays for the interop tests: every dtype in 1-D, 2-D C and Fortran order, 0-d, empty and
 * big-endian variants, with deterministic bytes that include the special floating-point values
 * (zeros of both signs, infinities, NaNs, subnormals). Also the conversions between these cases,
 * ndpack arrays and the JSON wire format of interop-check.py.
 */
import { expect } from "vitest";
import type { NdArray } from "../../src/decode.js";
import { DTYPES, DTYPE_NAMES, type Dtype } from "../../src/dtypes.js";
import type { ArraySpec } from "../../src/encode.js";
import { bfloat16ToFloat32, float16ToFloat32, float8E4M3FNToFloat32, float8E5M2ToFloat32 } from "../../src/floats.js";
import type { WireArray } from "./interop-python.js";

export const ML_DTYPES: readonly Dtype[] = ["bfloat16", "float8_e4m3fn", "float8_e5m2"];

/** One array: its bytes are little-endian, laid out in `order`. */
export interface Case {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly order: "C" | "F";
  /** The byte order a writer should store it in. */
  readonly byteOrder: "little" | "big";
  readonly bytes: Uint8Array;
}

/**
 * A name `toNpz` writes: no U+0000 (Python's zipfile cuts member names there), and a member
 * `<name>.npy` that is a plain relative path (not absolute, no drive, no `\`, no `..` segment).
 */
export function isNpzName(name: string): boolean {
  const member = `${name}.npy`;
  return !name.includes("\0") && !/^\/|^[A-Za-z]:|\\/.test(member) && !member.split("/").includes("..");
}

/** mulberry32: a small seeded generator, so that every run tests the same bytes. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Little-endian bit patterns of special values, per floating-point word size. */
const SPECIAL_WORDS: Record<string, readonly number[][]> = {
  float16: [[0x00, 0x00], [0x00, 0x80], [0x00, 0x7c], [0x00, 0xfc], [0x00, 0x7e], [0x01, 0x00], [0x00, 0x3c]],
  bfloat16: [[0x00, 0x00], [0x00, 0x80], [0x80, 0x7f], [0x80, 0xff], [0xc0, 0x7f], [0x01, 0x00], [0x80, 0x3f]],
  float32: [[0, 0, 0, 0], [0, 0, 0, 0x80], [0, 0, 0x80, 0x7f], [0, 0, 0x80, 0xff], [0, 0, 0xc0, 0x7f], [1, 0, 0, 0], [0, 0, 0x80, 0x3f]],
  float64: [[0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0x80], [0, 0, 0, 0, 0, 0, 0xf0, 0x7f], [0, 0, 0, 0, 0, 0, 0xf8, 0x7f], [1, 0, 0, 0, 0, 0, 0, 0]],
  float8_e4m3fn: [[0x00], [0x80], [0x7f], [0xff], [0x7e], [0x01], [0x38]],
  float8_e5m2: [[0x00], [0x80], [0x7c], [0xfc], [0x7e], [0x01], [0x3c]],
};
SPECIAL_WORDS.complex64 = SPECIAL_WORDS.float32!;
SPECIAL_WORDS.complex128 = SPECIAL_WORDS.float64!;

/** Deterministic bytes for `count` elements: special values first (for floats), then random bits (0/1 for bool). */
export function caseBytes(dtype: Dtype, count: number, random: () => number): Uint8Array {
  const info = DTYPES[dtype];
  const bytes = new Uint8Array(count * info.itemSize);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  if (dtype === "bool") for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! & 1;
  const specials = SPECIAL_WORDS[dtype] ?? [];
  for (let w = 0; w < Math.min(specials.length, bytes.length / info.wordSize); w++) bytes.set(specials[w]!, w * info.wordSize);
  return bytes;
}

/** Every dtype in several shapes and layouts. `bigEndian` adds big-endian variants of multi-byte numpy dtypes. */
export function standardCases(options: { dtypes?: readonly Dtype[]; bigEndian?: boolean; seed?: number } = {}): Case[] {
  const random = rng(options.seed ?? 1);
  const cases: Case[] = [];
  for (const dtype of options.dtypes ?? DTYPE_NAMES) {
    const add = (suffix: string, shape: number[], order: "C" | "F" = "C", byteOrder: "little" | "big" = "little") => {
      const count = shape.reduce((a, b) => a * b, 1);
      cases.push({ name: `${dtype}_${suffix}`, dtype, shape, order, byteOrder, bytes: caseBytes(dtype, count, random) });
    };
    add("1d", [9]);
    add("2d", [2, 3]);
    add("fortran", [3, 2, 2], "F");
    add("scalar", []);
    add("empty", [0, 3]);
    if (options.bigEndian && DTYPES[dtype].itemSize > 1 && !ML_DTYPES.includes(dtype)) add("big", [2, 4], "C", "big");
  }
  return cases;
}

/** The case as `encode` input (this machine is little-endian in these tests). */
export function specOf(c: Case): ArraySpec {
  const info = DTYPES[c.dtype];
  const copy = c.bytes.slice();
  const ctor = dtypeInput(c.dtype);
  return { data: new ctor(copy.buffer, 0, copy.length / ctor.BYTES_PER_ELEMENT), shape: c.shape, dtype: info.name, order: c.order };
}

type InputCtor = { new (buffer: ArrayBuffer, offset: number, length: number): ArrayBufferView; BYTES_PER_ELEMENT: number };

/** The typed array encode takes for a dtype (raw bits for float16, bfloat16 and float8). */
export function dtypeInput(dtype: Dtype): InputCtor {
  const tag = DTYPES[dtype].accepts.find((t) => t !== "Float16Array")!;
  return (globalThis as unknown as Record<string, InputCtor>)[tag]!;
}

export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export function wireOf(c: Case): WireArray {
  return { name: c.name, dtype: c.dtype, shape: c.shape, order: c.order, byteOrder: c.byteOrder, hex: hexOf(c.bytes) };
}

/** The bytes of a decoded array's data (this machine's byte order, little-endian here). */
export function dataBytes(array: Pick<NdArray, "data">): Uint8Array {
  return new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
}

/** A decoded array's values as numbers (bfloat16, float16 and float8 decoded; complex interleaved; int64 as strings). */
export function valuesOf(array: Pick<NdArray, "data" | "dtype">): (number | string)[] {
  const bits = array.data;
  switch (array.dtype) {
    case "bfloat16":
      return [...bfloat16ToFloat32(bits as Uint16Array)];
    case "float16":
      return bits instanceof Uint16Array ? [...float16ToFloat32(bits)] : [...(bits as unknown as Iterable<number>)];
    case "float8_e4m3fn":
      return [...float8E4M3FNToFloat32(bits as Uint8Array)];
    case "float8_e5m2":
      return [...float8E5M2ToFloat32(bits as Uint8Array)];
    case "int64":
    case "uint64":
      return [...(bits as BigInt64Array)].map((v) => v.toString());
    default:
      return [...(bits as unknown as Iterable<number>)];
  }
}

/** Python's repr of a float to a number. */
function pythonFloat(text: string): number {
  if (text === "nan") return NaN;
  if (text === "inf") return Infinity;
  if (text === "-inf") return -Infinity;
  return Number(text);
}

/** Checks a decoded array's values against the strings Python reported (numbers compared with Object.is, so -0 and NaN count). */
export function expectValues(array: Pick<NdArray, "data" | "dtype">, python: readonly string[], label: string): void {
  const ours = valuesOf(array);
  expect(ours.length, `${label}: value count`).toBe(python.length);
  const floating = !["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"].includes(array.dtype);
  ours.forEach((value, i) => {
    const theirs = python[i]!;
    if (floating) {
      const expected = pythonFloat(theirs);
      if (!Object.is(value, expected)) throw new Error(`${label}: element ${i} is ${String(value)}, Python says ${theirs}`);
    } else if (String(value) !== theirs) {
      throw new Error(`${label}: element ${i} is ${String(value)}, Python says ${theirs}`);
    }
  });
}
