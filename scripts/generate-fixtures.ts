/**
 * Writes the ndpack conformance vectors (spec/conformance.md) and FORMAT.md's worked example.
 *
 *   tsx scripts/generate-fixtures.ts [--out DIR] [--format-md FILE | --no-format-md]
 *
 * `--out` (default `fixtures/`) receives `valid/`, `invalid/`, `streams/` (message streams, FORMAT.md
 * §11: concatenations of those files, whole or cut), `index.json` and `.gitattributes`; the three
 * folders are emptied first. `--format-md` (default `FORMAT.md`) is the file whose
 * text between `<!-- worked-example:start -->` and `<!-- worked-example:end -->` is rewritten.
 * The output is deterministic: no clock, no unseeded randomness, pako (pinned) for DEFLATE: the
 * library's compressor in browsers, so its encoder reproduces the compressed vectors there (and in
 * Node when made to use it, as test/fixtures.test.ts does).
 *
 * Valid files are written by this library's encoder, and the same file is built a second time by
 * `test/helpers/fixture-builder.ts`, which shares no code with `src/`; the script stops when the two
 * differ. Expected contents are computed from the inputs, never by decoding the written file.
 * Invalid files are built byte by byte so that each fails at exactly one step of FORMAT.md §9.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";
import { deflate as zlibWrapped, gzip, inflateRaw } from "pako";
import { encode } from "../src/index.js";
import { bfloat16ToFloat32, float16ToFloat32, float8E4M3FNToFloat32, float8E5M2ToFloat32 } from "../src/floats.js";
import { withoutNativeZlib } from "../test/helpers/engines.js";
import * as B from "../test/helpers/fixture-builder.js";

type Codec = "none" | "deflate" | "shuffle+deflate";
type ByteOrder = "little" | "big";

// ---------------------------------------------------------------------------------------------
// Inputs: every array is defined by its elements as little-endian bytes in stored order

interface ArrayDef {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly order?: "C" | "F";
  /** The codec asked for (the writer may store the array raw when that is smaller). */
  readonly codec?: Codec;
  /** The elements, little-endian, in stored order: the single source of truth for the expectations. */
  readonly le: Uint8Array;
}

const HOST_LITTLE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function sizes(dtype: string): { itemSize: number; wordSize: number } {
  const info = B.DTYPE_SIZES[dtype];
  if (info === undefined) throw new Error(`unknown dtype ${dtype}`);
  return info;
}

/** Little-endian bytes of numeric values (bigint for 64-bit integers; complex as flat re, im, re, im...). */
function le(dtype: string, values: readonly (number | bigint)[]): Uint8Array {
  const { wordSize } = sizes(dtype);
  const out = new Uint8Array(values.length * wordSize);
  const view = new DataView(out.buffer);
  values.forEach((value, i) => {
    const at = i * wordSize;
    switch (dtype) {
      case "bool":
      case "uint8":
        view.setUint8(at, Number(value));
        break;
      case "int8":
        view.setInt8(at, Number(value));
        break;
      case "int16":
        view.setInt16(at, Number(value), true);
        break;
      case "uint16":
        view.setUint16(at, Number(value), true);
        break;
      case "int32":
        view.setInt32(at, Number(value), true);
        break;
      case "uint32":
        view.setUint32(at, Number(value), true);
        break;
      case "int64":
        view.setBigInt64(at, BigInt(value), true);
        break;
      case "uint64":
        view.setBigUint64(at, BigInt(value), true);
        break;
      case "float32":
      case "complex64":
        view.setFloat32(at, Number(value), true);
        break;
      case "float64":
      case "complex128":
        view.setFloat64(at, Number(value), true);
        break;
      default:
        throw new Error(`le(): use bits() for ${dtype}`);
    }
  });
  return out;
}

/** Little-endian bytes of raw bit patterns, `wordSize` bytes each (exact for NaN payloads). */
function bits(wordSize: number, patterns: readonly (number | bigint)[]): Uint8Array {
  const out = new Uint8Array(patterns.length * wordSize);
  const view = new DataView(out.buffer);
  patterns.forEach((p, i) => {
    const at = i * wordSize;
    if (wordSize === 1) view.setUint8(at, Number(p));
    else if (wordSize === 2) view.setUint16(at, Number(p), true);
    else if (wordSize === 4) view.setUint32(at, Number(p), true);
    else view.setBigUint64(at, BigInt(p), true);
  });
  return out;
}

/** Deterministic pseudo-random bytes (mulberry32), so the fixtures never depend on a run. */
function seededBytes(length: number, seed: number): Uint8Array {
  let state = seed >>> 0;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

const HOST_VIEWS: Readonly<Record<string, new (buffer: ArrayBuffer) => ArrayBufferView>> = {
  bool: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
  complex64: Float32Array,
  complex128: Float64Array,
  float8_e4m3fn: Uint8Array,
  float8_e5m2: Uint8Array,
};

/** The encoder's input: a typed array over a copy of the bytes, in this machine's byte order. */
function hostArray(def: ArrayDef): ArrayBufferView {
  const { wordSize } = sizes(def.dtype);
  const bytes = HOST_LITTLE ? def.le.slice() : B.swapWords(def.le, wordSize);
  return new HOST_VIEWS[def.dtype]!(bytes.buffer as ArrayBuffer);
}

// ---------------------------------------------------------------------------------------------
// Expectations

/** A float for the "values" list: numbers, except "nan", "inf", "-inf" and "-0". */
function floatValue(x: number): number | string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (Object.is(x, -0)) return "-0";
  return x;
}

/** The human-readable elements of little-endian bytes, flattened in stored order. */
function valuesOf(dtype: string, bytes: Uint8Array): unknown[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { itemSize, wordSize } = sizes(dtype);
  const n = bytes.length / itemSize;
  const out: unknown[] = [];
  const u16 = () => Uint16Array.from({ length: n }, (_, i) => view.getUint16(i * 2, true));
  const u8 = () => bytes.slice();
  switch (dtype) {
    case "float16":
      return [...float16ToFloat32(u16())].map(floatValue);
    case "bfloat16":
      return [...bfloat16ToFloat32(u16())].map(floatValue);
    case "float8_e4m3fn":
      return [...float8E4M3FNToFloat32(u8())].map(floatValue);
    case "float8_e5m2":
      return [...float8E5M2ToFloat32(u8())].map(floatValue);
  }
  for (let i = 0; i < n; i++) {
    const at = i * itemSize;
    switch (dtype) {
      case "bool":
        out.push(view.getUint8(at) !== 0);
        break;
      case "int8":
        out.push(view.getInt8(at));
        break;
      case "uint8":
        out.push(view.getUint8(at));
        break;
      case "int16":
        out.push(view.getInt16(at, true));
        break;
      case "uint16":
        out.push(view.getUint16(at, true));
        break;
      case "int32":
        out.push(view.getInt32(at, true));
        break;
      case "uint32":
        out.push(view.getUint32(at, true));
        break;
      case "int64":
        out.push(view.getBigInt64(at, true).toString());
        break;
      case "uint64":
        out.push(view.getBigUint64(at, true).toString());
        break;
      case "float32":
        out.push(floatValue(view.getFloat32(at, true)));
        break;
      case "float64":
        out.push(floatValue(view.getFloat64(at, true)));
        break;
      case "complex64":
        out.push([floatValue(view.getFloat32(at, true)), floatValue(view.getFloat32(at + wordSize, true))]);
        break;
      case "complex128":
        out.push([floatValue(view.getFloat64(at, true)), floatValue(view.getFloat64(at + wordSize, true))]);
        break;
      default:
        throw new Error(`valuesOf(): ${dtype}`);
    }
  }
  return out;
}

/** Arrays with at most this many elements get a "values" list. */
const MAX_VALUES = 64;
/** Decoded bytes up to this size are given as hex, larger ones as a SHA-256. */
const MAX_HEX_BYTES = 4096;

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The expected description of one array. */
function expectArray(def: ArrayDef, byteOrder: ByteOrder, codec: Codec): Record<string, unknown> {
  const { itemSize } = sizes(def.dtype);
  const count = def.shape.includes(0) ? 0 : elementCount(def.shape);
  if (count * itemSize !== def.le.length) throw new Error(`${def.name}: ${def.le.length} bytes for shape [${def.shape.join(",")}] of ${def.dtype}`);
  const out: Record<string, unknown> = {
    name: def.name,
    dtype: def.dtype,
    shape: [...def.shape],
    order: def.order ?? "C",
    byteOrder: itemSize === 1 ? "little" : byteOrder,
    codec,
    nbytes: def.le.length,
  };
  if (def.le.length <= MAX_HEX_BYTES) out.hex = B.toHex(def.le);
  else out.sha256 = sha256(def.le);
  if (count <= MAX_VALUES) out.values = valuesOf(def.dtype, def.le);
  return out;
}

/** JSON number text: `-0` keeps its sign; integral values past 2^53-1 in exponent form (as §8). */
function numberText(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`${x} in expectations`);
  if (Object.is(x, -0)) return "-0";
  if (Number.isInteger(x) && !Number.isSafeInteger(x)) return x.toExponential();
  return String(x);
}

function isFlat(value: unknown[]): boolean {
  return value.every((v) => v === null || typeof v !== "object" || (Array.isArray(v) && v.every((w) => w === null || typeof w !== "object")));
}

/** Pretty JSON for the expectation files: 2-space indent, lists of scalars on one line, -0 kept. */
function jsonText(value: unknown, indent = ""): string {
  if (value === null) return "null";
  if (typeof value === "number") return numberText(value);
  if (typeof value === "string" || typeof value === "boolean") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    if (isFlat(value)) return `[${value.map((v) => jsonText(v)).join(", ")}]`;
    const inner = indent + "  ";
    return `[\n${value.map((v) => inner + jsonText(v, inner)).join(",\n")}\n${indent}]`;
  }
  if (typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 0) return "{}";
    const inner = indent + "  ";
    return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${jsonText((value as Record<string, unknown>)[k], inner)}`).join(",\n")}\n${indent}}`;
  }
  throw new Error(`jsonText(): ${typeof value}`);
}

// ---------------------------------------------------------------------------------------------
// Valid cases

interface ValidCase {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly expected: Record<string, unknown>;
}

interface FileOptions {
  readonly alignment?: number;
  readonly checksum?: "crc32" | "none";
  readonly byteOrder?: ByteOrder;
  readonly metadata?: Record<string, unknown>;
}

const valid: ValidCase[] = [];

/** The stored payload of `def` as a canonical writer makes it (pako at level 6, as the encoder in browsers by default). */
function storedOf(def: ArrayDef, byteOrder: ByteOrder): { stored: Uint8Array; codec: Codec } {
  const { wordSize } = sizes(def.dtype);
  const ordered = byteOrder === "big" && wordSize > 1 ? B.swapWords(def.le, wordSize) : def.le;
  const codec = def.codec ?? "none";
  if (codec === "none") return { stored: ordered, codec };
  const input = codec === "shuffle+deflate" && wordSize > 1 ? B.shuffleBytes(ordered, wordSize) : ordered;
  const compressed = B.rawDeflate(input, 6);
  return compressed.length < ordered.length ? { stored: compressed, codec } : { stored: ordered, codec: "none" };
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** The spec of a file, for the builder. */
function builderSpec(defs: readonly ArrayDef[], options: FileOptions): { spec: B.FileSpec; codecs: Codec[] } {
  const byteOrder = options.byteOrder ?? "little";
  const codecs: Codec[] = [];
  const arrays = defs.map((def): B.EntrySpec => {
    const { stored, codec } = storedOf(def, byteOrder);
    codecs.push(codec);
    return {
      name: def.name,
      dtype: def.dtype,
      shape: def.shape,
      order: def.order ?? "C",
      byteOrder: sizes(def.dtype).itemSize === 1 ? "little" : byteOrder,
      ...(codec === "none" ? {} : { codec }),
      stored,
    };
  });
  return { spec: { alignment: options.alignment ?? 64, checksum: options.checksum ?? "crc32", metadata: options.metadata ?? {}, arrays }, codecs };
}

function expectation(description: string, canonical: boolean, version: { major: number; minor: number }, defs: readonly ArrayDef[], options: FileOptions, codecs: readonly Codec[]): Record<string, unknown> {
  return {
    description,
    canonical,
    version,
    alignment: options.alignment ?? 64,
    checksum: options.checksum ?? "crc32",
    metadata: options.metadata ?? {},
    arrays: defs.map((def, i) => expectArray(def, options.byteOrder ?? "little", codecs[i]!)),
  };
}

/**
 * A file written by the encoder, checked against the independent builder. Canonical unless it
 * holds compressed payloads (whose DEFLATE bytes are particular to the writer, FORMAT.md §5).
 */
function validCase(name: string, description: string, defs: readonly ArrayDef[], options: FileOptions = {}): Uint8Array {
  // The encoder as in browsers (pako), whose DEFLATE bytes are pinned by the lockfile.
  const bytes = withoutNativeZlib(() => encode(
    defs.map((def) => [def.name, { data: hostArray(def), shape: def.shape, dtype: def.dtype as never, order: def.order ?? "C", ...(def.codec ? { codec: def.codec } : {}) }] as const),
    { ...options, metadata: options.metadata ?? {} },
  ));
  const { spec, codecs } = builderSpec(defs, options);
  const built = B.canonicalFile(spec);
  if (bytes.length !== built.length || firstDifference(bytes, built) !== bytes.length) {
    throw new Error(`${name}: the encoder and the independent builder disagree at byte ${firstDifference(bytes, built)} (lengths ${bytes.length} and ${built.length})`);
  }
  const canonical = codecs.every((c) => c === "none");
  valid.push({ name, bytes, expected: expectation(description, canonical, { major: 1, minor: 0 }, defs, options, codecs) });
  return bytes;
}

/** A valid file built by hand from the canonical parts (a writer other than ours); never canonical. */
function handBuiltCase(
  name: string,
  description: string,
  defs: readonly ArrayDef[],
  options: FileOptions,
  build: (parts: ReturnType<typeof B.canonicalParts>) => Uint8Array,
  overrides: { version?: { major: number; minor: number }; byteOrders?: Record<string, ByteOrder> } = {},
): void {
  const { spec, codecs } = builderSpec(defs, options);
  const bytes = build(B.canonicalParts(spec));
  const expected = expectation(description, false, overrides.version ?? { major: 1, minor: 0 }, defs, options, codecs);
  for (const entry of expected.arrays as Record<string, unknown>[]) {
    const byteOrder = overrides.byteOrders?.[entry.name as string];
    if (byteOrder) entry.byteOrder = byteOrder;
  }
  valid.push({ name, bytes, expected });
}

// -- one file per dtype, little- and big-endian ----------------------------------------------

const F16 = [0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000, 0x3555, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x7d01, 0xfe5a];
const BF16 = [0x0000, 0x8000, 0x0001, 0x007f, 0x0080, 0x3f80, 0xc049, 0x7f7f, 0xff7f, 0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffc1];
const F32 = [
  0x00000000, 0x80000000, 0x00000001, 0x007fffff, 0x00800000, 0x3f800000, 0xbfc00000, 0x3dcccccd, 0x40490fdb, 0x7f7fffff, 0xff7fffff,
  0x7f800000, 0xff800000, 0x7fc00000, 0x7fc12345, 0x7f800001, 0xffbadbad,
];
const F64 = [
  0x0000000000000000n, 0x8000000000000000n, 0x0000000000000001n, 0x000fffffffffffffn, 0x0010000000000000n, 0x3ff0000000000000n,
  0x3fb999999999999an, 0x400921fb54442d18n, 0x7fefffffffffffffn, 0xffefffffffffffffn, 0x7ff0000000000000n, 0xfff0000000000000n,
  0x7ff8000000000000n, 0x7ff8deadbeef0001n, 0x7ff0000000000001n, 0xfff4000000000abcn,
];

const DTYPE_CASES: readonly { dtype: string; shape: number[]; le: Uint8Array; about: string }[] = [
  { dtype: "bool", shape: [5], le: le("bool", [0, 1, 1, 0, 1]), about: "false and true as bytes 0 and 1" },
  { dtype: "int8", shape: [5], le: le("int8", [-128, -1, 0, 1, 127]), about: "min, -1, 0, 1, max" },
  { dtype: "int16", shape: [2, 3], le: le("int16", [-32768, -1, 0, 1, 32767, 0x1234]), about: "min, -1, 0, 1, max, 0x1234" },
  { dtype: "int32", shape: [3, 2], le: le("int32", [-2147483648, -1, 0, 1, 2147483647, 0x12345678]), about: "min, -1, 0, 1, max, 0x12345678" },
  {
    dtype: "int64",
    shape: [2, 2, 2],
    le: le("int64", [-(2n ** 63n), -1n, 0n, 1n, 2n ** 63n - 1n, 2n ** 53n + 1n, -(2n ** 53n + 1n), 0x0102030405060708n]),
    about: "min, -1, 0, 1, max, ±(2^53+1) (not representable as a double), 0x0102030405060708",
  },
  { dtype: "uint8", shape: [5], le: le("uint8", [0, 1, 127, 128, 255]), about: "0, 1, 127, 128, max" },
  { dtype: "uint16", shape: [6], le: le("uint16", [0, 1, 0x7fff, 0x8000, 0xffff, 0x1234]), about: "0, 1, 0x7fff, 0x8000, max, 0x1234" },
  { dtype: "uint32", shape: [6], le: le("uint32", [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678]), about: "0, 1, 2^31-1, 2^31, max, 0x12345678" },
  {
    dtype: "uint64",
    shape: [6],
    le: le("uint64", [0n, 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 0x0102030405060708n]),
    about: "0, 1, 2^53+1, 2^63, max, 0x0102030405060708",
  },
  { dtype: "float16", shape: [F16.length], le: bits(2, F16), about: "±0, min and max subnormal, min normal, 1, -2, 1/3, ±max, ±inf, quiet NaN, signalling NaN with payload, negative NaN with payload" },
  { dtype: "bfloat16", shape: [BF16.length], le: bits(2, BF16), about: "±0, min and max subnormal, min normal, 1, -3.140625, ±max, ±inf, quiet NaN, signalling NaN with payload, negative NaN with payload" },
  { dtype: "float32", shape: [F32.length], le: bits(4, F32), about: "±0, min and max subnormal, min normal, 1, -1.5, 0.1, pi, ±max, ±inf, quiet NaN, NaN with payload, signalling NaN, negative NaN with payload" },
  { dtype: "float64", shape: [F64.length], le: bits(8, F64), about: "±0, min and max subnormal, min normal, 1, 0.1, pi, ±max, ±inf, quiet NaN, NaN with payload, signalling NaN, negative signalling NaN with payload" },
  {
    dtype: "complex64",
    shape: [5],
    le: bits(4, [0x3f800000, 0xbf800000, 0x00000000, 0x80000000, 0x7f800000, 0x7fc12345, 0x00000001, 0x7f7fffff, 0x3dcccccd, 0x40490fdb]),
    about: "(1, -1), (0, -0), (inf, NaN with payload), (min subnormal, max), (0.1, pi)",
  },
  {
    dtype: "complex128",
    shape: [5],
    le: bits(8, [0x3ff0000000000000n, 0xbff0000000000000n, 0n, 0x8000000000000000n, 0x7ff0000000000000n, 0x7ff8deadbeef0001n, 1n, 0x7fefffffffffffffn, 0x3fb999999999999an, 0x400921fb54442d18n]),
    about: "(1, -1), (0, -0), (inf, NaN with payload), (min subnormal, max), (0.1, pi)",
  },
  {
    dtype: "float8_e4m3fn",
    shape: [13],
    le: bits(1, [0x00, 0x80, 0x01, 0x07, 0x08, 0x38, 0xb8, 0x40, 0x31, 0x7e, 0xfe, 0x7f, 0xff]),
    about: "±0, min and max subnormal, min normal, ±1, 2, 0.5625, ±448 (max), NaN 0x7f and 0xff (no infinities)",
  },
  {
    dtype: "float8_e5m2",
    shape: [15],
    le: bits(1, [0x00, 0x80, 0x01, 0x03, 0x04, 0x3c, 0xbc, 0x7b, 0xfb, 0x7c, 0xfc, 0x7d, 0x7e, 0x7f, 0xff]),
    about: "±0, min and max subnormal, min normal, ±1, ±57344 (max), ±inf, NaN 0x7d 0x7e 0x7f 0xff",
  },
];

for (const { dtype, shape, le: bytes, about } of DTYPE_CASES) {
  validCase(`dtype-${dtype}`, `One ${dtype} array "x" of shape [${shape.join(", ")}], little-endian: ${about}.`, [{ name: "x", dtype, shape, le: bytes }]);
}
for (const { dtype, shape, le: bytes, about } of DTYPE_CASES) {
  if (sizes(dtype).itemSize === 1) continue;
  validCase(`dtype-${dtype}-big-endian`, `One ${dtype} array "x" of shape [${shape.join(", ")}], stored big-endian (byte order applies to each ${sizes(dtype).wordSize}-byte word): ${about}.`, [{ name: "x", dtype, shape, le: bytes }], { byteOrder: "big" });
}

// -- memory order, 0-d, zero-size --------------------------------------------------------------

{
  const c: number[] = [];
  const f: number[] = [];
  for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) c.push(100 * i + 10 * j + k);
  for (let k = 0; k < 4; k++) for (let j = 0; j < 3; j++) for (let i = 0; i < 2; i++) f.push(100 * i + 10 * j + k);
  validCase(
    "order-fortran",
    'The same 2x3x4 int32 array, element (i, j, k) = 100i + 10j + k, stored twice: "c" in C order (last index fastest) and "f" in Fortran order (first index fastest). Values are listed in stored order; readers never transpose.',
    [
      { name: "c", dtype: "int32", shape: [2, 3, 4], order: "C", le: le("int32", c) },
      { name: "f", dtype: "int32", shape: [2, 3, 4], order: "F", le: le("int32", f) },
    ],
  );
}

validCase("scalar-0d", "0-d arrays (shape []), each holding exactly one element: float64 pi, bool true, int64 -42.", [
  { name: "pi", dtype: "float64", shape: [], le: le("float64", [Math.PI]) },
  { name: "flag", dtype: "bool", shape: [], le: le("bool", [1]) },
  { name: "n", dtype: "int64", shape: [], le: le("int64", [-42n]) },
]);

validCase("zero-size", 'Arrays with a zero dimension hold no bytes; with checksums, each still has its 4-byte CRC (of no bytes: 0x00000000). "after" checks the layout that follows them.', [
  { name: "empty", dtype: "float32", shape: [0], le: new Uint8Array(0) },
  { name: "empty3d", dtype: "int16", shape: [3, 0, 2], le: new Uint8Array(0) },
  { name: "after", dtype: "uint8", shape: [3], le: le("uint8", [7, 8, 9]) },
]);

validCase("zero-size-big-dims", "A zero dimension makes the element count 0; the other dimensions may be as large as step 13 allows (here 2^53-1 / 8 elements of float64).", [
  { name: "z", dtype: "float64", shape: [1125899906842623, 0], le: new Uint8Array(0) },
]);

validCase("no-arrays", "No arrays at all, default options: the file ends at the data section's start D (dataLength 0).", []);

// -- metadata ------------------------------------------------------------------------------------

{
  const metadata: Record<string, unknown> = { "10": "an integer-like key (JavaScript lists these first, so it is written first)" };
  metadata.title = "ndpack ✓ 日本語 λ 🙂";
  metadata.nested = { a: { b: { c: [1, 2, { d: null }] } }, empty: {}, list: [], mixed: [1, "two", true, false, null, 2.5, [], {}] };
  metadata.numbers = {
    zero: 0,
    negativeZero: -0,
    int: 42,
    negative: -7,
    maxSafe: 9007199254740991,
    minSafe: -9007199254740991,
    big: 1e21,
    twoTo60: 2 ** 60,
    tenth: 0.1,
    third: 1 / 3,
    small: 1e-7,
    minSubnormal: 5e-324,
    maxDouble: 1.7976931348623157e308,
    negativeExponent: -2.5e-8,
  };
  metadata.escapes = 'quote" backslash\\ slash/ \b\f\n\r\t \u0001 \u001f \u007f \u2028 \u2029 é 🙂';
  B.withOwn(metadata, "__proto__", { polluted: true });
  metadata["constructor"] = "a plain string";
  metadata[""] = "the empty key";
  metadata["hasOwnProperty"] = { toString: "not a function" };
  metadata.deep = B.withOwn({}, "__proto__", B.withOwn({}, "__proto__", "nested"));
  validCase(
    "metadata",
    'Metadata only: nested objects and lists, Unicode, every escape, -0 (written -0), 1e21 (written 1e+21), 2^60 (written 1.152921504606847e+18), ±(2^53-1), the smallest subnormal, the largest double; "__proto__", "constructor", "hasOwnProperty" and "" as ordinary keys. Key order is as written.',
    [],
    { metadata },
  );
}

{
  let metadata: Record<string, unknown> = { leaf: true };
  for (let depth = 64; depth > 2; depth--) metadata = { d: metadata };
  validCase("depth-64", "Nesting exactly at the default maxDepth: the header object is depth 1, metadata depth 2, the innermost metadata object depth 64 (FORMAT.md §7).", [], { metadata });
}

// -- names ---------------------------------------------------------------------------------------

{
  const names = [
    "__proto__",
    "constructor",
    "toString",
    "hasOwnProperty",
    "a/b",
    "layer.0.weight",
    "λ",
    "🙂",
    " ",
    "tab\there, newline\nthere",
    "nul\u0000byte",
    'quote" backslash\\',
    "\u007f\u2028\u2029",
    "é",
    "e\u0301",
    "abcdefghij".repeat(20),
  ];
  validCase(
    "names",
    'Names are any non-empty Unicode strings, compared as code points: "__proto__", "constructor", "toString", "hasOwnProperty", "a/b", Greek, an emoji (a surrogate pair in UTF-16), a space, control characters, quotes, U+2028, "é" precomposed and "e" + combining acute (two different names), and a 200-character name. Each holds one uint8, its index.',
    names.map((name, i) => ({ name, dtype: "uint8", shape: [1], le: le("uint8", [i]) })),
  );
}

validCase("name-4096-bytes", "A name of exactly 4096 UTF-8 bytes (1024 emoji, 2048 UTF-16 code units), the default maxNameBytes.", [
  { name: "🙂".repeat(1024), dtype: "int8", shape: [2], le: le("int8", [-1, 1]) },
]);

{
  const dtypes = ["uint8", "int16", "float32", "float64"];
  const defs: ArrayDef[] = [];
  for (let i = 0; i < 1000; i++) {
    const dtype = dtypes[i % 4]!;
    const n = i % 5;
    const values = Array.from({ length: n }, (_, j) => ((i * 7 + j * 13) % 120) - (dtype === "uint8" ? 0 : 60));
    defs.push({ name: `a${String(i).padStart(3, "0")}`, dtype, shape: [n], le: le(dtype, values) });
  }
  validCase("many-arrays", "1000 small arrays a000..a999 (uint8, int16, float32, float64 in turn, 0 to 4 elements), alignment 8.", defs, { alignment: 8 });
}

validCase("dims-64", "An array with 64 dimensions, the default maxDims (62 ones, then 2 and 3).", [
  { name: "x", dtype: "uint8", shape: [...Array<number>(62).fill(1), 2, 3], le: le("uint8", [1, 2, 3, 4, 5, 6]) },
]);

// -- layout options ------------------------------------------------------------------------------

const MIXED: readonly ArrayDef[] = [
  { name: "f64", dtype: "float64", shape: [3], le: le("float64", [1, -2.5, 1e-300]) },
  { name: "u8", dtype: "uint8", shape: [5], le: le("uint8", [1, 2, 3, 4, 5]) },
  { name: "scalar", dtype: "int16", shape: [], le: le("int16", [-300]) },
  { name: "c64", dtype: "complex64", shape: [2], le: le("complex64", [1, 2, -3, 0.5]) },
  { name: "none", dtype: "bool", shape: [0], le: new Uint8Array(0) },
  { name: "fortran", dtype: "float32", shape: [2, 2], order: "F", le: le("float32", [1, 3, 2, 4]) },
];

validCase("mixed-layout", "Six arrays of different dtypes and sizes (one 0-d, one empty, one Fortran-order) with the default alignment 64: records separated by zero padding.", MIXED);
validCase("alignment-8", "The arrays of mixed-layout with alignment 8, the smallest allowed.", MIXED, { alignment: 8 });
validCase("alignment-4096", "The first three arrays of mixed-layout with alignment 4096 (page-aligned payloads).", MIXED.slice(0, 3), { alignment: 4096 });
validCase("alignment-65536", "Two arrays with alignment 65536, the largest allowed.", MIXED.slice(0, 2), { alignment: 65536 });
validCase("checksum-none", 'The arrays of mixed-layout with checksum "none": no CRC after the payloads.', MIXED, { checksum: "none" });
validCase("large-array", "A uint16 100x100 array (20000 bytes): its expected bytes are given as a SHA-256.", [
  { name: "ramp", dtype: "uint16", shape: [100, 100], le: le("uint16", Array.from({ length: 10000 }, (_, i) => (i * 2654435761) % 65536)) },
]);

// -- codecs ----------------------------------------------------------------------------------

{
  const smooth = Array.from({ length: 1024 }, (_, i) => Math.sin(i / 16) * 100);
  validCase("codec-deflate-float32", 'Smooth float32 data (100 sin(i/16)), 32x32, codec "deflate".', [{ name: "x", dtype: "float32", shape: [32, 32], codec: "deflate", le: le("float32", smooth) }]);
  validCase("codec-shuffle-float32", 'The same float32 data with codec "shuffle+deflate" (word size 4).', [{ name: "x", dtype: "float32", shape: [32, 32], codec: "shuffle+deflate", le: le("float32", smooth) }]);
  validCase("codec-shuffle-int16", 'int16 sawtooth data, 2000 elements, codec "shuffle+deflate" (word size 2).', [
    { name: "x", dtype: "int16", shape: [2000], codec: "shuffle+deflate", le: le("int16", Array.from({ length: 2000 }, (_, i) => ((i * 37) % 1000) - 500)) },
  ]);
  validCase("codec-shuffle-float64-big-endian", 'A big-endian float64 array, 512 elements, codec "shuffle+deflate": the big-endian bytes are shuffled (word size 8), then deflated.', [
    { name: "x", dtype: "float64", shape: [512], codec: "shuffle+deflate", le: le("float64", Array.from({ length: 512 }, (_, i) => Math.cos(i / 32))) },
  ], { byteOrder: "big" });
  validCase("codec-shuffle-complex64", 'complex64, 256 elements, codec "shuffle+deflate": the word size of a complex dtype is half its item size (4 here).', [
    { name: "z", dtype: "complex64", shape: [16, 16], codec: "shuffle+deflate", le: le("complex64", Array.from({ length: 512 }, (_, i) => (i % 2 === 0 ? Math.cos(i / 64) : Math.sin(i / 64)))) },
  ]);
  validCase("codec-shuffle-uint8", 'uint8 data with codec "shuffle+deflate": with word size 1 shuffling changes nothing.', [
    { name: "x", dtype: "uint8", shape: [600], codec: "shuffle+deflate", le: le("uint8", Array.from({ length: 600 }, (_, i) => (i >> 3) % 256)) },
  ]);
  validCase("codec-mixed", 'Three arrays in one file: "deflate" (compressed), no codec, and "deflate" asked for a 3-element array that compression would make larger (stored raw, no codec key).', [
    { name: "compressed", dtype: "int32", shape: [256], codec: "deflate", le: le("int32", Array.from({ length: 256 }, (_, i) => i % 10)) },
    { name: "raw", dtype: "uint16", shape: [3], le: le("uint16", [1, 2, 3]) },
    { name: "tiny", dtype: "int32", shape: [3], codec: "deflate", le: le("int32", [1, 2, 3]) },
  ]);
  validCase("codec-raw-fallback", 'Random bytes asked to be stored with "deflate": compression does not make them smaller, so the writer stores them raw (FORMAT.md §5), with no codec key.', [
    { name: "noise", dtype: "uint8", shape: [1000], codec: "deflate", le: seededBytes(1000, 0x5eed) },
  ]);
}

// -- DEFLATE streams built bit by bit (FORMAT.md §5, which streams are valid) -----------------
// No compressor writes these: incomplete Huffman codes, a code of one symbol, bits after the end
// code. Each is checked against two inflaters (Node's zlib and pako) before it becomes a vector.

/**
 * One item of a block: a literal byte, or a match (length 3 to 258, distance 1 to 32768), whose
 * distance is sent with `distanceCode` ([code, bit count]) instead of its own code when given.
 */
type DeflateToken = { readonly literal: number } | { readonly length: number; readonly distance: number; readonly distanceCode?: readonly [number, number] };

/** A block: its items, and its code lengths (a dynamic block) or none (the fixed codes). */
interface DeflateBlock {
  readonly tokens: readonly DeflateToken[];
  readonly lengths?: { readonly literal: readonly number[]; readonly distance: readonly number[] };
}

class BitWriter {
  readonly bits: number[] = [];
  /** `count` bits of `value`, least significant first (block headers and extra bits, RFC 1951 §3.1.1). */
  put(value: number, count: number): void {
    for (let i = 0; i < count; i++) this.bits.push((value >>> i) & 1);
  }
  /** A Huffman code of `count` bits, most significant first. */
  code(code: number, count: number): void {
    for (let i = count - 1; i >= 0; i--) this.bits.push((code >>> i) & 1);
  }
  /** The bytes; the bits of the last byte after the last bit written are `fill`. */
  bytes(fill: 0 | 1): Uint8Array {
    const out = new Uint8Array(Math.ceil(this.bits.length / 8));
    for (let i = 0; i < out.length * 8; i++) out[i >> 3]! |= (this.bits[i] ?? fill) << (i & 7);
    return out;
  }
}

/** The codes of the canonical Huffman code of these code lengths (RFC 1951 §3.2.2); length 0: no code. */
function canonicalCodes(lengths: readonly number[]): number[] {
  const count = new Array<number>(16).fill(0);
  for (const n of lengths) if (n > 0) count[n]!++;
  const next = new Array<number>(16).fill(0);
  for (let bits = 1, code = 0; bits < 16; bits++) {
    code = (code + count[bits - 1]!) << 1;
    next[bits] = code;
  }
  return lengths.map((n) => (n > 0 ? next[n]!++ : 0));
}

/** Code lengths for `size` symbols giving each of `symbols` (two or more) a code: a complete code (the sum of 2^-length is 1). */
function completeLengths(symbols: readonly number[], size: number): number[] {
  const bits = Math.ceil(Math.log2(symbols.length));
  const shorter = 2 ** bits - symbols.length;
  const lengths = new Array<number>(size).fill(0);
  symbols.forEach((s, i) => (lengths[s] = i < shorter ? bits - 1 : bits));
  return lengths;
}

/** Code lengths for `size` symbols from a list of [symbol, length] pairs. */
function lengthsOf(size: number, pairs: readonly (readonly [number, number])[]): number[] {
  const lengths = new Array<number>(size).fill(0);
  for (const [symbol, length] of pairs) lengths[symbol] = length;
  return lengths;
}

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DISTANCE_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DISTANCE_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const FIXED_LITERAL_LENGTHS = Array.from({ length: 288 }, (_, s) => (s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8));
const FIXED_DISTANCE_LENGTHS = new Array<number>(30).fill(5);
/** The order of the code length code's lengths in a dynamic block's header (RFC 1951 §3.2.7). */
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** The index in `base` of the range holding `value`. */
function rangeOf(value: number, base: readonly number[]): number {
  let i = base.length - 1;
  while (base[i]! > value) i--;
  return i;
}

/**
 * A raw DEFLATE stream of `blocks`, the last one final, each ended by its end-of-block code; the
 * bits of the last byte after the final end code are `fill`. A dynamic block's code lengths are
 * sent with a complete code length code, zero runs of 3 or more as symbols 17 and 18.
 */
function deflateBits(blocks: readonly DeflateBlock[], fill: 0 | 1 = 0): Uint8Array {
  const w = new BitWriter();
  blocks.forEach(({ tokens, lengths }, b) => {
    w.put(b === blocks.length - 1 ? 1 : 0, 1);
    const literalLengths = lengths?.literal ?? FIXED_LITERAL_LENGTHS;
    const distanceLengths = lengths?.distance ?? FIXED_DISTANCE_LENGTHS;
    if (lengths === undefined) w.put(1, 2);
    else {
      w.put(2, 2);
      const all = [...literalLengths, ...distanceLengths];
      const items: { symbol: number; extra?: [number, number] }[] = [];
      for (let i = 0; i < all.length; ) {
        let run = 0;
        while (all[i + run] === 0 && run < 138) run++;
        if (run >= 11) items.push({ symbol: 18, extra: [run - 11, 7] });
        else if (run >= 3) items.push({ symbol: 17, extra: [run - 3, 3] });
        else {
          items.push({ symbol: all[i]! });
          run = 1;
        }
        i += run;
      }
      const codeLengths = completeLengths([...new Set(items.map((t) => t.symbol))].sort((x, y) => x - y), 19);
      const codes = canonicalCodes(codeLengths);
      let hclen = 19;
      while (hclen > 4 && codeLengths[CODE_LENGTH_ORDER[hclen - 1]!] === 0) hclen--;
      w.put(literalLengths.length - 257, 5);
      w.put(distanceLengths.length - 1, 5);
      w.put(hclen - 4, 4);
      for (let i = 0; i < hclen; i++) w.put(codeLengths[CODE_LENGTH_ORDER[i]!]!, 3);
      for (const item of items) {
        w.code(codes[item.symbol]!, codeLengths[item.symbol]!);
        if (item.extra) w.put(...item.extra);
      }
    }
    const literalCodes = canonicalCodes(literalLengths);
    const distanceCodes = canonicalCodes(distanceLengths);
    const symbol = (s: number) => {
      if (!literalLengths[s]) throw new Error(`deflateBits: literal/length symbol ${s} has no code`);
      w.code(literalCodes[s]!, literalLengths[s]!);
    };
    for (const token of tokens) {
      if ("literal" in token) symbol(token.literal);
      else {
        const l = rangeOf(token.length, LENGTH_BASE);
        symbol(257 + l);
        w.put(token.length - LENGTH_BASE[l]!, LENGTH_EXTRA[l]!);
        const d = rangeOf(token.distance, DISTANCE_BASE);
        if (token.distanceCode) w.code(...token.distanceCode);
        else if (!distanceLengths[d]) throw new Error(`deflateBits: distance symbol ${d} has no code`);
        else w.code(distanceCodes[d]!, distanceLengths[d]!);
        w.put(token.distance - DISTANCE_BASE[d]!, DISTANCE_EXTRA[d]!);
      }
    }
    symbol(256);
  });
  return w.bytes(fill);
}

/** What Node's zlib and pako make of `stream`: its bytes, or the error both give. */
function inflateBoth(stream: Uint8Array): Uint8Array | Error {
  const outcome = (run: () => Uint8Array): Uint8Array | Error => {
    try {
      return run();
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  };
  const node = outcome(() => new Uint8Array(inflateRawSync(stream)));
  const browser = outcome(() => inflateRaw(stream));
  if (node instanceof Error !== browser instanceof Error || (!(node instanceof Error) && B.toHex(node) !== B.toHex(browser as Uint8Array))) {
    throw new Error(`zlib and pako disagree on the stream ${B.toHex(stream)}`);
  }
  return node;
}

/** A stream both inflaters decode to `expected`, or refuse when `expected` is "refused". */
function checkedStream(stream: Uint8Array, expected: Uint8Array | "refused"): Uint8Array {
  const got = inflateBoth(stream);
  if (expected === "refused" ? !(got instanceof Error) : got instanceof Error || B.toHex(got) !== B.toHex(expected)) {
    throw new Error(`the stream ${B.toHex(stream)} gives ${got instanceof Error ? got.message : B.toHex(got)}`);
  }
  return stream;
}

/** 64 uint8 elements 1, 2, 3, 4, 1, 2...: four literals and a match (length 60, distance 4). */
const REPEATS = Uint8Array.from({ length: 64 }, (_, i) => (i % 4) + 1);
const REPEATS_TOKENS: readonly DeflateToken[] = [{ literal: 1 }, { literal: 2 }, { literal: 3 }, { literal: 4 }, { length: 60, distance: 4 }];
/** A complete literal/length code for REPEATS_TOKENS: the four literals, the end code and length symbol 276 (lengths 59 to 66). */
const REPEATS_LITERAL_LENGTHS = completeLengths([1, 2, 3, 4, 256, 276], 277);

/** A valid file holding REPEATS as a "deflate" array whose stored payload is `stream`, built bit by bit. */
function deflatedByHandCase(name: string, description: string, stream: Uint8Array): void {
  checkedStream(stream, REPEATS);
  const def: ArrayDef = { name: "a", dtype: "uint8", shape: [REPEATS.length], codec: "deflate", le: REPEATS };
  const parts = B.canonicalParts({ alignment: 8, checksum: "crc32", arrays: [{ name: "a", dtype: "uint8", shape: def.shape, codec: "deflate", stored: stream }] });
  const bytes = B.buildFile({ header: parts.header, data: parts.data, alignment: 8 });
  // Not pako's output: re-encoding gives other bytes (spec/conformance.md, "deflatedByHand").
  const { description: about, canonical, ...rest } = expectation(description, false, { major: 1, minor: 0 }, [def], { alignment: 8 }, ["deflate"]);
  valid.push({ name, bytes, expected: { description: about, canonical, deflatedByHand: true, ...rest } });
}

deflatedByHandCase(
  "codec-deflate-final-byte-bits",
  'A "deflate" array of 64 uint8 (1, 2, 3, 4 repeated) whose stream is one fixed-Huffman block; the 7 bits of its last byte after the end-of-block code are ones, not zeros. Readers ignore them (FORMAT.md §5), as zlib does.',
  deflateBits([{ tokens: REPEATS_TOKENS }], 1),
);
deflatedByHandCase(
  "codec-deflate-one-distance-code",
  'A "deflate" array of 64 uint8 (1, 2, 3, 4 repeated): one dynamic block whose distance code has a single code, of length 1 (distance 4, the code 0), which the block uses. An incomplete code, which RFC 1951 §3.2.7 and zlib allow: a reader that refuses every incomplete code refuses this file.',
  deflateBits([{ tokens: REPEATS_TOKENS, lengths: { literal: REPEATS_LITERAL_LENGTHS, distance: lengthsOf(4, [[3, 1]]) } }]),
);
deflatedByHandCase(
  "codec-deflate-no-distance-codes",
  'A "deflate" array of 64 uint8 (1, 2, 3, 4 repeated) stored as 64 literals in one dynamic block whose distance code has no code at all (one distance code length, 0), as RFC 1951 §3.2.7 allows for a block without matches.',
  deflateBits([{ tokens: Array.from(REPEATS, (literal) => ({ literal })), lengths: { literal: completeLengths([1, 2, 3, 4, 256], 257), distance: [0] } }]),
);
deflatedByHandCase(
  "codec-deflate-end-of-block-only-code",
  'A "deflate" array of 64 uint8 (1, 2, 3, 4 repeated): a fixed-Huffman block holding the data, then a final dynamic block whose literal/length code is the end-of-block code alone, of length 1 (and whose distance code is complete). zlib allows a single code of length 1 in a literal/length code too.',
  deflateBits([{ tokens: REPEATS_TOKENS }, { tokens: [], lengths: { literal: lengthsOf(257, [[256, 1]]), distance: [1, 1] } }]),
);

// -- the worked examples of FORMAT.md §10 ----------------------------------------------------

interface WorkedExample {
  /** The subsection's title, after its number. */
  readonly title: string;
  /** What the file holds, in words (Markdown lines). */
  readonly about: readonly string[];
  readonly defs: readonly ArrayDef[];
  readonly options: FileOptions;
  /** The file: a valid vector of the same name. */
  readonly bytes: Uint8Array;
}

function workedCase(name: string, title: string, about: readonly string[], defs: readonly ArrayDef[], options: FileOptions): WorkedExample {
  const description = `The file of FORMAT.md §10 "${title}".`;
  const bytes = validCase(name, description, defs, options);
  const codecs = builderSpec(defs, options).codecs;
  defs.forEach((def, i) => {
    if ((def.codec ?? "none") !== codecs[i]) throw new Error(`${name}: "${def.name}" was stored without its codec; pick data that compresses`);
  });
  return { title, about, defs, options, bytes };
}

const WORKED: readonly WorkedExample[] = [
  workedCase(
    "worked-example",
    "Two arrays",
    [
      'A float32 array "x" of shape [2, 2] (elements 1, 2.5, -0.5, 3 in C order) and an int16 array "n" of shape [3]',
      '(1, -2, 300), with metadata `{"unit":"m"}`, alignment 8 and checksum `"crc32"`. A conforming writer must reproduce',
      "this file byte for byte.",
    ],
    [
      { name: "x", dtype: "float32", shape: [2, 2], le: le("float32", [1, 2.5, -0.5, 3]) },
      { name: "n", dtype: "int16", shape: [3], le: le("int16", [1, -2, 300]) },
    ],
    { alignment: 8, metadata: { unit: "m" } },
  ),
  workedCase(
    "worked-example-fortran-order",
    "Fortran order",
    [
      'An int16 array "a" of shape [2, 3] whose element (i, j) is 10i + j, stored in Fortran order (`"order":"F"`, the first',
      "index varies fastest): the payload lists (0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2). Alignment 8, checksum",
      '`"crc32"`. A conforming writer must reproduce this file byte for byte.',
    ],
    [{ name: "a", dtype: "int16", shape: [2, 3], order: "F", le: le("int16", [0, 10, 1, 11, 2, 12]) }],
    { alignment: 8 },
  ),
  workedCase(
    "worked-example-big-endian-complex",
    "Big-endian complex",
    [
      'A complex64 array "z" of shape [2] holding 1 - 2i and 0.5 + 3i, stored big-endian (`"byteOrder":"big"`): each',
      "element is two binary32 words, real part first, and byte order applies to each word on its own. Alignment 8,",
      'checksum `"crc32"`. A conforming writer must reproduce this file byte for byte.',
    ],
    [{ name: "z", dtype: "complex64", shape: [2], le: le("complex64", [1, -2, 0.5, 3]) }],
    { alignment: 8, byteOrder: "big" },
  ),
  workedCase(
    "worked-example-checksum-none",
    "No checksums",
    [
      'A uint8 array "u" of shape [3] (1, 2, 3) and a float64 array "d" of shape [1] (0.25), with checksum `"none"`:',
      "no CRC follows the payloads, so the record of an array is its payload alone. Alignment 8. A conforming writer",
      "must reproduce this file byte for byte.",
    ],
    [
      { name: "u", dtype: "uint8", shape: [3], le: le("uint8", [1, 2, 3]) },
      { name: "d", dtype: "float64", shape: [1], le: le("float64", [0.25]) },
    ],
    { alignment: 8, checksum: "none" },
  ),
  workedCase(
    "worked-example-shuffle-deflate",
    "shuffle+deflate",
    [
      'A float32 array "s" of shape [8] (1, 2, ..., 8) with codec `"shuffle+deflate"`, alignment 8, checksum `"crc32"`.',
      "The stored payload is one writer's DEFLATE output (pako, level 6): another writer's may differ (section 5),",
      "but it must decode to the same bytes, and the CRC covers the stored bytes.",
    ],
    [{ name: "s", dtype: "float32", shape: [8], codec: "shuffle+deflate", le: le("float32", [1, 2, 3, 4, 5, 6, 7, 8]) }],
    { alignment: 8 },
  ),
];

// -- files from other writers: valid, not canonical -----------------------------------------

const SMALL: readonly ArrayDef[] = [
  { name: "a", dtype: "float32", shape: [2], le: le("float32", [1.5, -2]) },
  { name: "b", dtype: "uint8", shape: [3], le: le("uint8", [1, 2, 3]) },
];

handBuiltCase(
  "newer-minor-version",
  "Version 1.7 with keys a 1.0 reader does not know, at the top level and in an entry: a reader of 1.0 must ignore them and read the file (FORMAT.md §2.3).",
  SMALL,
  { alignment: 8 },
  ({ header, data }) => {
    const [a, b] = header.arrays;
    const future = {
      writer: "some future writer",
      alignment: header.alignment,
      checksum: header.checksum,
      dataLength: header.dataLength,
      metadata: header.metadata,
      arrays: [{ ...a, units: "m/s", chunks: [1, 2], attributes: { scale: 2, tags: ["x"] } }, b],
      index: { a: 0, b: 1 },
    };
    return B.buildFile({ header: future, minor: 7, data, alignment: 8 });
  },
  { version: { major: 1, minor: 7 } },
);

handBuiltCase(
  "newer-minor-version-1",
  "Version 1.1 with a key a 1.0 reader does not know, at the top level and in an entry: the m of FORMAT.md §2.3 is the minor version of the file format a reader implements (0 for every reader of this specification), not the second number of the specification's version, so a reader of specification 1.2.0 must ignore them and read the file. One that took itself for a reader of 1.1 or later would refuse the keys (HEADER_INVALID).",
  SMALL,
  { alignment: 8 },
  ({ header, data }) => {
    const [a, b] = header.arrays;
    return B.buildFile({ header: { ...header, arrays: [{ ...a, units: "m/s" }, b], writer: "a writer of 1.1" }, minor: 1, data, alignment: 8 });
  },
  { version: { major: 1, minor: 1 } },
);

handBuiltCase(
  "header-trailing-spaces",
  "The header text is followed by ASCII spaces, counted in the header length H, so that 20 + H is exactly a multiple of the alignment (a writer that reserved room for its header). There is no zero padding.",
  SMALL,
  {},
  ({ header, data, alignment }) => {
    const text = B.canonicalJson(header);
    const spaces = B.alignUp(20 + text.length + 1, alignment) - 20 - text.length;
    return B.buildFile({ header: text + " ".repeat(spaces), data, alignment });
  },
);

handBuiltCase(
  "header-whitespace",
  "JSON white space inside the header object: tabs, CR LF line breaks and spaces between tokens (allowed; only the first byte must be '{' and only spaces may follow the object).",
  SMALL,
  {},
  ({ header, data, alignment }) => B.buildFile({ header: JSON.stringify(header, null, "\t").replace(/\n/g, "\r\n").replace(/":/g, '" : '), data, alignment }),
);

handBuiltCase(
  "header-key-order",
  "Header keys in reverse order, at the top level and in each entry: readers find keys by name.",
  SMALL,
  {},
  ({ header, data, alignment }) => {
    const reverse = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).reverse());
    const reordered = reverse({ ...header, arrays: header.arrays.map(reverse) });
    return B.buildFile({ header: reordered, data, alignment });
  },
);

handBuiltCase(
  "header-codec-none-explicit",
  'An entry with an explicit "codec": "none", which canonical writers omit.',
  SMALL,
  {},
  ({ header, data, alignment }) => {
    const arrays = header.arrays.map(({ offset, byteLength, ...rest }) => ({ ...rest, codec: "none", offset, byteLength }));
    return B.buildFile({ header: { ...header, arrays }, data, alignment });
  },
);

handBuiltCase(
  "header-escaped-strings",
  'Strings written with JSON escapes: names "a" as "\\u0061", "x/y" as "x\\/y", "é" as "\\u00e9", an emoji as a surrogate-pair escape; the key "name" as "\\u006eame" and the dtype "float32" as "\\u0066loat32". Readers compare strings after unescaping.',
  [
    { name: "a", dtype: "float32", shape: [1], le: le("float32", [1]) },
    { name: "x/y", dtype: "uint8", shape: [1], le: le("uint8", [2]) },
    { name: "é", dtype: "uint8", shape: [1], le: le("uint8", [3]) },
    { name: "🙂", dtype: "uint8", shape: [1], le: le("uint8", [4]) },
  ],
  { alignment: 8 },
  ({ header, data, alignment }) => {
    let text = B.canonicalJson(header);
    const swaps: [string, string][] = [
      ['"name":"a"', '"\\u006eame":"\\u0061"'],
      ['"dtype":"float32"', '"dtype":"\\u0066loat32"'],
      ['"name":"x/y"', '"name":"x\\/y"'],
      ['"name":"é"', '"name":"\\u00e9"'],
      ['"name":"🙂"', '"name":"\\ud83d\\ude42"'],
    ];
    for (const [from, to] of swaps) text = replaceOnce(text, from, to);
    return B.buildFile({ header: text, data, alignment });
  },
);

handBuiltCase(
  "byte-order-big-1-byte",
  'One-byte dtypes declared "big": byte order has no effect on them (writers must write "little", readers accept both).',
  [
    { name: "u", dtype: "uint8", shape: [3], le: le("uint8", [1, 2, 255]) },
    { name: "b", dtype: "bool", shape: [2], le: le("bool", [1, 0]) },
  ],
  { alignment: 8 },
  ({ header, data, alignment }) => B.buildFile({ header: { ...header, arrays: header.arrays.map((e) => ({ ...e, byteOrder: "big" })) }, data, alignment }),
  { byteOrders: { u: "big", b: "big" } },
);

handBuiltCase(
  "bool-other-byte-values",
  'A bool array holding the bytes 0, 1, 2 and 255: writers must store only 0 and 1, but readers must not reject other bytes (FORMAT.md §3); any non-zero byte reads as true.',
  [{ name: "b", dtype: "bool", shape: [4], le: Uint8Array.of(0, 1, 2, 255) }],
  { alignment: 8 },
  ({ header, data, alignment }) => B.buildFile({ header, data, alignment }),
);

// ---------------------------------------------------------------------------------------------
// Invalid cases

interface InvalidCase {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly expected: { code: string; step: number; description: string; array?: string; when?: "read"; verify?: true; others?: Readonly<Record<string, string>> };
}

const invalid: InvalidCase[] = [];

function bad(name: string, code: string, step: number, description: string, bytes: Uint8Array): void {
  invalid.push({ name, bytes, expected: { code, step, description } });
}

/** `others`: the other arrays that fail verification too, each with its code (every other array passes). */
function badRead(name: string, code: string, step: number, description: string, bytes: Uint8Array, array: string, verify = false, others?: Readonly<Record<string, string>>): void {
  invalid.push({ name, bytes, expected: { code, step, description, array, when: "read", ...(verify ? { verify: true as const } : {}), ...(others ? { others } : {}) } });
}

function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`replaceOnce: ${JSON.stringify(from)} must occur exactly once in ${text}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/** One uint8 array "a" = [1, 2, 3, 4], alignment 8, crc32: the base most header cases alter. */
function one(): ReturnType<typeof B.canonicalParts> {
  return B.canonicalParts({ alignment: 8, checksum: "crc32", arrays: [{ name: "a", dtype: "uint8", shape: [4], stored: Uint8Array.of(1, 2, 3, 4) }] });
}

/** Two uint8 arrays, "a" = [1..5] at 0 and "b" = [6, 7, 8] at 16, alignment 8, crc32. */
function two(): ReturnType<typeof B.canonicalParts> {
  return B.canonicalParts({
    alignment: 8,
    checksum: "crc32",
    arrays: [
      { name: "a", dtype: "uint8", shape: [5], stored: Uint8Array.of(1, 2, 3, 4, 5) },
      { name: "b", dtype: "uint8", shape: [3], stored: Uint8Array.of(6, 7, 8) },
    ],
  });
}

/** No arrays, checksum none, alignment 8. */
function empty(): ReturnType<typeof B.canonicalParts> {
  return B.canonicalParts({ alignment: 8, checksum: "none", arrays: [] });
}

/** The file of `parts` with its header text passed through `edit` (the CRC follows the new text). */
function editText(parts: ReturnType<typeof B.canonicalParts>, edit: (text: string) => string, extra: Partial<B.FileParts> = {}): Uint8Array {
  return B.buildFile({ header: edit(B.canonicalJson(parts.header)), data: parts.data, alignment: parts.alignment, ...extra });
}

/** The file of `parts` with its header object passed through `edit`. */
function editHeader(parts: ReturnType<typeof B.canonicalParts>, edit: (header: ReturnType<typeof B.canonicalParts>["header"]) => object, extra: Partial<B.FileParts> = {}): Uint8Array {
  return B.buildFile({ header: edit(parts.header), data: parts.data, alignment: parts.alignment, ...extra });
}

function entry0(header: ReturnType<typeof B.canonicalParts>["header"]): Record<string, unknown> {
  return header.arrays[0]!;
}

/** A copy of `bytes` with `byte` at `at`. */
function poke(bytes: Uint8Array, at: number, byte: number): Uint8Array {
  const out = bytes.slice();
  out[at] = byte;
  return out;
}

/** Text-header bytes with a raw byte sequence substituted for a marker (for invalid UTF-8). */
function withRawBytes(text: string, marker: string, raw: readonly number[]): Uint8Array {
  const [before, after] = replaceOnce(text, marker, "\u0000").split("\u0000") as [string, string];
  return B.concat(B.utf8(before), Uint8Array.from(raw), B.utf8(after));
}

const ONE = B.buildFile({ header: one().header, data: one().data, alignment: 8 });
const ONE_D = B.dataStart(ONE, 8);
const EMPTY = B.buildFile({ header: empty().header, alignment: 8 });
const EMPTY_TEXT = B.canonicalJson(empty().header);
const ONE_TEXT = B.canonicalJson(one().header);

// -- §9 steps 1-2: magic and length ----------------------------------------------------------

bad("bad-magic-text-file", "BAD_MAGIC", 1, "A 13-byte text file: its first byte differs from the magic. Shorter than the preamble, but step 1 comes before step 2.", B.utf8("hello, world\n"));
bad("bad-magic-short-prefix", "BAD_MAGIC", 1, "4 bytes \\x89 N D X: within the first min(len, 8) bytes one differs from the magic.", Uint8Array.of(0x89, 0x4e, 0x44, 0x58));
bad("bad-magic-png", "BAD_MAGIC", 1, "A PNG signature (\\x89 P N G \\r \\n \\x1a \\n) followed by zeros: byte 1 differs.", B.concat(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), new Uint8Array(12)));
{
  const crlfToLf: number[] = [];
  ONE.forEach((byte, i) => {
    if (!(byte === 0x0d && ONE[i + 1] === 0x0a)) crlfToLf.push(byte);
  });
  bad("bad-magic-crlf-to-lf", "BAD_MAGIC", 1, "A valid file after a CRLF-to-LF conversion (every \\r\\n became \\n): byte 4 of the magic is now \\n.", Uint8Array.from(crlfToLf));
  const lfToCrlf: number[] = [];
  ONE.forEach((byte, i) => {
    if (byte === 0x0a && ONE[i - 1] !== 0x0d) lfToCrlf.push(0x0d);
    lfToCrlf.push(byte);
  });
  bad("bad-magic-lf-to-crlf", "BAD_MAGIC", 1, "A valid file after an LF-to-CRLF conversion (every lone \\n became \\r\\n): byte 7 of the magic is now \\r.", Uint8Array.from(lfToCrlf));
  bad("bad-magic-7-bit", "BAD_MAGIC", 1, "A valid file passed through a 7-bit channel (the high bit of every byte cleared): byte 0 is 0x09.", ONE.map((b) => b & 0x7f));
}
bad("truncated-empty", "TRUNCATED", 2, "An empty input: no byte differs from the magic, and it is shorter than the 20-byte preamble.", new Uint8Array(0));
bad("truncated-partial-magic", "TRUNCATED", 2, "The first 4 bytes of the magic only: they match, so this is a truncated file, not a foreign one.", B.MAGIC.subarray(0, 4));
bad("truncated-magic-only", "TRUNCATED", 2, "The 8-byte magic and nothing else.", B.MAGIC.subarray(0, 8));
bad("truncated-in-preamble", "TRUNCATED", 2, "The first 19 bytes of a valid file.", ONE.subarray(0, 19));

// -- steps 3-6: version, header length, header CRC -------------------------------------------

bad("version-major-2", "UNSUPPORTED_VERSION", 3, "A valid 1.0 file whose major version says 2 (header CRC recomputed).", editText(one(), (t) => t, { major: 2 }));
bad("version-major-0", "UNSUPPORTED_VERSION", 3, "A valid 1.0 file whose major version says 0 (header CRC recomputed).", editText(one(), (t) => t, { major: 0 }));
bad("version-major-256", "UNSUPPORTED_VERSION", 3, "The major version written big-endian (bytes 00 01, read as u16 LE: 256).", editText(one(), (t) => t, { major: 256 }));
bad("version-before-header-length", "UNSUPPORTED_VERSION", 3, "A 20-byte file, major version 2, claiming a 200 MiB header: step 3 comes before steps 4 and 5.", B.preamble(new Uint8Array(0), { major: 2, headerLength: 200 * 1024 * 1024, headerCrc: 0 }));
bad("header-too-large-200mib", "HEADER_TOO_LARGE", 4, "A 20-byte file claiming a 200 MiB header (209715200 > maxHeaderBytes 104857600): rejected before anything is read or allocated.", B.preamble(new Uint8Array(0), { headerLength: 200 * 1024 * 1024, headerCrc: 0 }));
bad("header-too-large-4gib", "HEADER_TOO_LARGE", 4, "A 20-byte file claiming a header of 2^32-1 bytes.", B.preamble(new Uint8Array(0), { headerLength: 0xffffffff, headerCrc: 0 }));
bad("header-too-large-limit-plus-one", "HEADER_TOO_LARGE", 4, "A 20-byte file claiming a header of 104857601 bytes, one more than the default maxHeaderBytes.", B.preamble(new Uint8Array(0), { headerLength: 104857601, headerCrc: 0 }));
bad("truncated-header-at-limit", "TRUNCATED", 5, "A 20-byte file claiming a header of exactly maxHeaderBytes (104857600): not too large, but the header is missing.", B.preamble(new Uint8Array(0), { headerLength: 104857600, headerCrc: 0 }));
bad("truncated-in-header", "TRUNCATED", 5, "A valid file cut 10 bytes into its header.", ONE.subarray(0, 30));
bad("truncated-header-last-byte", "TRUNCATED", 5, "A valid file cut one byte before the end of its header.", ONE.subarray(0, 20 + ONE_TEXT.length - 1));
{
  const header = B.utf8(ONE_TEXT);
  const withCrc = (crc: number) => B.concat(B.preamble(header, { headerCrc: crc }), ONE.subarray(20));
  const correct = new DataView(ONE.buffer).getUint32(16, true);
  const headerOnly = B.crc32(header);
  bad("header-checksum-zero", "HEADER_CHECKSUM", 6, "A valid file whose header CRC field is 0.", withCrc(0));
  bad("header-checksum-header-only", "HEADER_CHECKSUM", 6, "The header CRC computed over the header bytes only, leaving out preamble bytes 8..15 (version and header length) that it must cover.", withCrc(headerOnly));
  bad("header-checksum-big-endian", "HEADER_CHECKSUM", 6, "The right header CRC stored big-endian.", withCrc(((correct & 0xff) << 24) | ((correct & 0xff00) << 8) | ((correct >>> 8) & 0xff00) | (correct >>> 24)));
  bad("header-checksum-minor-changed", "HEADER_CHECKSUM", 6, "A valid 1.0 file whose minor version was changed to 1 afterwards: the CRC covers the version.", poke(ONE, 10, 1));
  const flipped = ONE.slice();
  const at = 20 + ONE_TEXT.indexOf('"name":"a"') + 8;
  flipped[at] = flipped[at]! ^ 0x02; // "a" -> "c": still valid JSON, so only the CRC can tell
  bad("header-checksum-bit-flip", "HEADER_CHECKSUM", 6, 'One flipped bit in the header text (the name "a" became "c"): still valid JSON, caught by the CRC.', flipped);
  bad("header-checksum-before-json", "HEADER_CHECKSUM", 6, "A header that is not JSON at all and a CRC that does not match: step 6 comes before step 7.", B.buildFile({ header: "{not json", headerCrc: 0x12345678 }));
}

// -- step 7: header text ---------------------------------------------------------------------

bad("header-empty", "HEADER_INVALID", 7, "A header of length 0 (H = 0, CRC over the 8 preamble bytes only).", B.buildFile({ header: "" }));
bad("header-bad-utf8", "HEADER_INVALID", 7, "A 0xFF byte inside a metadata string: not UTF-8.", B.buildFile({ header: withRawBytes(EMPTY_TEXT, '"metadata":{}', [...B.utf8('"metadata":{"s":"'), 0xff, ...B.utf8('"}')]) }));
bad("header-bad-utf8-overlong", "HEADER_INVALID", 7, "An overlong UTF-8 encoding of '/' (C0 AF) inside a metadata string.", B.buildFile({ header: withRawBytes(EMPTY_TEXT, '"metadata":{}', [...B.utf8('"metadata":{"s":"'), 0xc0, 0xaf, ...B.utf8('"}')]) }));
bad("header-bad-utf8-surrogate", "HEADER_INVALID", 7, "A surrogate encoded in UTF-8 (ED A0 80, as CESU-8 would) inside a metadata string.", B.buildFile({ header: withRawBytes(EMPTY_TEXT, '"metadata":{}', [...B.utf8('"metadata":{"s":"'), 0xed, 0xa0, 0x80, ...B.utf8('"}')]) }));
bad("header-bad-utf8-cut-sequence", "HEADER_INVALID", 7, "A 3-byte UTF-8 sequence cut after 2 bytes (E2 82) before the closing quote.", B.buildFile({ header: withRawBytes(EMPTY_TEXT, '"metadata":{}', [...B.utf8('"metadata":{"s":"'), 0xe2, 0x82, ...B.utf8('"}')]) }));
bad("header-bom", "HEADER_INVALID", 7, "A UTF-8 byte order mark (EF BB BF) before the '{'.", B.buildFile({ header: B.concat(Uint8Array.of(0xef, 0xbb, 0xbf), B.utf8(EMPTY_TEXT)) }));
bad("header-leading-space", "HEADER_INVALID", 7, "A space before the '{'.", B.buildFile({ header: ` ${EMPTY_TEXT}` }));
bad("header-trailing-newline", "HEADER_INVALID", 7, "A newline after the header object (only spaces may follow it).", B.buildFile({ header: `${EMPTY_TEXT}\n` }));
bad("header-trailing-nul", "HEADER_INVALID", 7, "A NUL byte after the header object, inside H (padding belongs after the header, not in it).", B.buildFile({ header: `${EMPTY_TEXT}\u0000` }));
bad("header-trailing-tab", "HEADER_INVALID", 7, "A tab after the header object (only spaces may follow it).", B.buildFile({ header: `${EMPTY_TEXT}\t` }));
bad("header-not-an-object", "HEADER_INVALID", 7, "The header is a JSON array holding the header object: its first byte is not '{'.", B.buildFile({ header: `[${EMPTY_TEXT}]` }));
bad("header-two-objects", "HEADER_INVALID", 7, "A second JSON object after the header object.", B.buildFile({ header: `${EMPTY_TEXT}{}` }));
bad("header-incomplete", "HEADER_INVALID", 7, "The header text lacks its closing '}' (the header length matches the shortened text).", B.buildFile({ header: EMPTY_TEXT.slice(0, -1) }));
bad("header-trailing-comma", "HEADER_INVALID", 7, "A trailing comma after the last member of the header object.", B.buildFile({ header: `${EMPTY_TEXT.slice(0, -1)},}` }));
bad("header-nan", "HEADER_INVALID", 7, "NaN in metadata: not JSON.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"x":NaN}') }));
bad("header-comment", "HEADER_INVALID", 7, "A /* comment */ in the header: not JSON.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":/* none */{}') }));
bad("header-single-quotes", "HEADER_INVALID", 7, "A single-quoted string in metadata: not JSON.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', "\"metadata\":{'x':1}") }));
bad("header-lone-surrogate-escape", "HEADER_INVALID", 7, "A \\ud800 escape with no low surrogate after it, in a metadata string.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"s":"\\ud800x"}') }));
bad("header-reversed-surrogate-escapes", "HEADER_INVALID", 7, "A low surrogate escape before a high one (\\udc00\\ud800), in a name.", editText(one(), (t) => replaceOnce(t, '"name":"a"', '"name":"\\udc00\\ud800"')));
bad("header-raw-control-character", "HEADER_INVALID", 7, "A raw tab (0x09) inside a metadata string; it must be escaped.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"s":"a\tb"}') }));
bad("header-invalid-escape", "HEADER_INVALID", 7, "The escape \\x41, which JSON does not have.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"s":"\\x41"}') }));
bad("limit-depth-65", "LIMIT_EXCEEDED", 7, "Metadata objects nested to depth 65 (the header object is depth 1), one more than the default maxDepth 64.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', `"metadata":${'{"d":'.repeat(63)}{}${"}".repeat(63)}`) }));
bad("limit-depth-65-lists", "LIMIT_EXCEEDED", 7, "Lists nested inside metadata to depth 65: lists count as well as objects.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', `"metadata":{"l":${"[".repeat(63)}${"]".repeat(63)}}`) }));
{
  // The default maxHeaderNodes (1,000,000) needs a header of about 2 MB: the one vector that big.
  const countValues = (value: unknown): number => (typeof value !== "object" || value === null ? 1 : 1 + Object.values(value).reduce((n: number, v) => n + countValues(v), 0));
  // The values before the list's first element, in text order (the header object's keys after metadata come later).
  const prefix = replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"l":[');
  const before = countValues(JSON.parse(`${prefix.slice(0, prefix.indexOf('"l":[') + 5)}]}}`));
  const zeros = 1_000_000 - before;
  bad(
    "limit-header-nodes",
    "LIMIT_EXCEEDED",
    7,
    `A metadata list of ${zeros} zeros and then x: with the ${before} values up to and including the list in text order (the header object, its three keys' values before metadata, the metadata object, the list), x is where the 1,000,001st value starts, one over the default maxHeaderNodes. A value counts before its first character is looked at, so it is LIMIT_EXCEEDED, not the HEADER_INVALID of text that starts no value (which a reader without the limit, one that checks a value before counting it, or one that counts only what starts a value reports).`,
    B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', `"metadata":{"l":[${"0,".repeat(zeros)}x]}`) }),
  );
}
bad("text-order-duplicate-key-before-colon", "DUPLICATE_KEY", 7, 'The header {"alignment":8,"alignment"}: a repeated key is reported as soon as the key string ends, before the colon that should follow it, so DUPLICATE_KEY, not the HEADER_INVALID of the missing colon (which a reader that reports the key once its value starts gives).', B.buildFile({ header: '{"alignment":8,"alignment"}' }));
bad("duplicate-key-top-level", "DUPLICATE_KEY", 7, 'The key "checksum" twice in the header object, with the same value.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"checksum":"none"', '"checksum":"none","checksum":"none"') }));
bad("duplicate-key-entry", "DUPLICATE_KEY", 7, 'The key "dtype" twice in an entry, with the same value.', editText(one(), (t) => replaceOnce(t, '"dtype":"uint8"', '"dtype":"uint8","dtype":"uint8"')));
bad("duplicate-key-metadata", "DUPLICATE_KEY", 7, "The same key twice in metadata.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"unit":"m","unit":"s"}') }));
bad("duplicate-key-after-unescaping", "DUPLICATE_KEY", 7, 'Metadata keys "a" and "\\u0061": the same key once unescaped.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"a":1,"\\u0061":2}') }));
bad("duplicate-key-proto", "DUPLICATE_KEY", 7, 'The metadata key "__proto__" twice: an ordinary key, so a repeat is a duplicate.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"__proto__":{},"__proto__":{}}') }));
bad("duplicate-key-nested", "DUPLICATE_KEY", 7, "A repeated key in an object nested inside metadata.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"a":{"b":[{"c":1,"c":1}]}}') }));
bad("bad-number-metadata-overflow", "BAD_NUMBER", 7, 'metadata {"x":1e400}: a number that rounds to infinity as a double.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"x":1e400}') }));
bad("bad-number-negative-zero", "BAD_NUMBER", 7, '"offset":-0: a minus sign outside metadata, even on zero.', editText(one(), (t) => replaceOnce(t, '"offset":0', '"offset":-0')));
bad("bad-number-negative", "BAD_NUMBER", 7, '"alignment":-8.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"alignment":8', '"alignment":-8') }));
bad("bad-number-fraction", "BAD_NUMBER", 7, '"dataLength":8.0: a fraction, although the value is integral and right.', editText(one(), (t) => replaceOnce(t, '"dataLength":8', '"dataLength":8.0')));
bad("bad-number-fraction-alignment", "BAD_NUMBER", 7, '"alignment":64.0 in a file whose alignment is 64.', B.buildFile({ header: replaceOnce(B.canonicalJson({ ...empty().header, alignment: 64 }), '"alignment":64', '"alignment":64.0'), alignment: 64 }));
bad("bad-number-exponent", "BAD_NUMBER", 7, '"byteLength":4e0: an exponent, although the value is integral and right.', editText(one(), (t) => replaceOnce(t, '"byteLength":4', '"byteLength":4e0')));
bad("bad-number-exponent-1e3", "BAD_NUMBER", 7, '"alignment":1e3 (1000 would also be a bad alignment, but the number is rejected first).', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"alignment":8', '"alignment":1e3') }));
bad("bad-number-2-53", "BAD_NUMBER", 7, '"dataLength":9007199254740992 (2^53), one more than the largest integer allowed.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"dataLength":0', '"dataLength":9007199254740992') }));
bad("bad-number-2-64-in-shape", "BAD_NUMBER", 7, "A dimension of 18446744073709551616 (2^64).", editText(one(), (t) => replaceOnce(t, '"shape":[4]', '"shape":[18446744073709551616]')));
bad("bad-number-metadata-2-64", "BAD_NUMBER", 7, "The integer 18446744073709551616 (2^64) in metadata: a double cannot hold it exactly.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"n":18446744073709551616}') }));
bad("bad-number-metadata-minus-2-53", "BAD_NUMBER", 7, "The integer -9007199254740992 (-2^53) in metadata.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"n":-9007199254740992}') }));
bad("bad-number-metadata-1e400", "BAD_NUMBER", 7, "1e400 in metadata: it rounds to infinity as a double.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"x":1e400}') }));
bad("bad-number-unknown-key", "BAD_NUMBER", 7, "A file of a newer minor version (1.1) with an unknown key holding -1: unknown keys are ignored, but only after the text has passed step 7, whose number rules apply outside metadata.", B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"arrays":[]', '"arrays":[],"future":-1'), minor: 1 }));
bad("text-order-duplicate-key-before-bad-number", "DUPLICATE_KEY", 7, '"alignment":8,"alignment":-8: the repeated key comes before the bad number in text order.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"alignment":8', '"alignment":8,"alignment":-8') }));
bad("text-order-bad-number-before-duplicate-key", "BAD_NUMBER", 7, '"alignment":-8 followed later by a repeated "checksum": the bad number comes first in text order.', B.buildFile({ header: replaceOnce(replaceOnce(EMPTY_TEXT, '"alignment":8', '"alignment":-8'), '"checksum":"none"', '"checksum":"none","checksum":"none"') }));
bad(
  "text-bad-utf8-after-duplicate-key",
  "HEADER_INVALID",
  7,
  'A repeated "checksum" key, then invalid UTF-8 (0xFF) later in a metadata string: step 7 checks that the whole header is UTF-8 before it reads any JSON.',
  B.buildFile({ header: withRawBytes(replaceOnce(EMPTY_TEXT, '"checksum":"none"', '"checksum":"none","checksum":"none"'), '"metadata":{}', [...B.utf8('"metadata":{"s":"'), 0xff, ...B.utf8('"}')]) }),
);
// Where a number ends (FORMAT.md §2.1): the longest text of the form -? digits* (. digits*)? ([eE] [+-]? digits*)?,
// which is HEADER_INVALID unless it is an RFC 8259 number; only a well-formed number can be BAD_NUMBER.
bad("header-malformed-number-minus-leading-zero", "HEADER_INVALID", 7, '"offset":-01: the number text is -01, malformed JSON (a digit after a leading 0), so HEADER_INVALID although it has a minus sign. A reader that stops at the well-formed -0 would report BAD_NUMBER.', editText(one(), (t) => replaceOnce(t, '"offset":0', '"offset":-01')));
bad("header-malformed-number-leading-zero", "HEADER_INVALID", 7, '"byteLength":04: a leading zero, malformed JSON.', editText(one(), (t) => replaceOnce(t, '"byteLength":4', '"byteLength":04')));
bad("header-malformed-number-point", "HEADER_INVALID", 7, '"dataLength":8.: a fraction without digits is malformed JSON, HEADER_INVALID, not a BAD_NUMBER fraction.', editText(one(), (t) => replaceOnce(t, '"dataLength":8', '"dataLength":8.')));
bad("header-malformed-number-exponent", "HEADER_INVALID", 7, '"byteLength":4e+: an exponent without digits is malformed JSON.', editText(one(), (t) => replaceOnce(t, '"byteLength":4', '"byteLength":4e+')));
bad("header-malformed-number-minus-only", "HEADER_INVALID", 7, '"offset":- (a minus sign and no digits) is malformed JSON.', editText(one(), (t) => replaceOnce(t, '"offset":0', '"offset":-')));
bad("header-malformed-number-metadata", "HEADER_INVALID", 7, 'metadata {"x":-01}: inside metadata too, a malformed number is HEADER_INVALID.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":{"x":-01}') }));
bad("text-order-number-ends-before-second-sign", "BAD_NUMBER", 7, '"offset":-1-2: the number is -1 (a second sign can only follow an e), well-formed and negative, so BAD_NUMBER as soon as it ends, before the junk -2 is seen. A reader that reads every character of 0-9 + - . e E as one number would call -1-2 malformed (HEADER_INVALID).', editText(one(), (t) => replaceOnce(t, '"offset":0', '"offset":-1-2')));
// Text after the object is a problem at the place it starts: everything before it is checked first.
bad("text-order-duplicate-key-before-trailing-text", "DUPLICATE_KEY", 7, 'A repeated "checksum" key in a header object followed by the text x: the repeated key comes first in text order. A reader that first checks that only spaces follow the object (as a standard JSON parser does) would report HEADER_INVALID.', B.buildFile({ header: `${replaceOnce(EMPTY_TEXT, '"checksum":"none"', '"checksum":"none","checksum":"none"')}x` }));
bad("text-order-bad-number-before-trailing-text", "BAD_NUMBER", 7, '"alignment":-8 in a header object followed by a second object {}: the bad number comes first in text order.', B.buildFile({ header: `${replaceOnce(EMPTY_TEXT, '"alignment":8', '"alignment":-8')}{}` }));
bad("text-order-depth-before-trailing-text", "LIMIT_EXCEEDED", 7, "Metadata nested to depth 65 in a header object followed by a newline: the nesting comes first in text order.", B.buildFile({ header: `${replaceOnce(EMPTY_TEXT, '"metadata":{}', `"metadata":${'{"d":'.repeat(63)}{}${"}".repeat(63)}`)}\n` }));
// Only the value of the top-level key "metadata" has the relaxed number rules.
bad("bad-number-metadata-key-in-entry", "BAD_NUMBER", 7, 'A 1.1 file whose entry has a key "metadata" holding {"scale":0.5}: a key of a newer minor version, ignored by a 1.0 reader, but not the top-level metadata, so 0.5 breaks the number rules of step 7. A reader that relaxes them for any key named metadata reads the file.', editText(one(), (t) => replaceOnce(t, '"byteLength":4}', '"byteLength":4,"metadata":{"scale":0.5}}'), { minor: 1 }));
bad("bad-number-metadata-key-nested", "BAD_NUMBER", 7, 'A 1.1 file with an unknown top-level key "future" holding {"metadata":-1}: a nested key named metadata has the strict number rules.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"arrays":[]', '"arrays":[],"future":{"metadata":-1}'), minor: 1 }));
bad("text-before-structure", "BAD_NUMBER", 7, 'A header missing "metadata" (a step 8 failure) with "dataLength":8.0 (a step 7 failure): the text is checked first.', editText(one(), (t) => replaceOnce(replaceOnce(t, '"metadata":{},', ""), '"dataLength":8', '"dataLength":8.0')));

// -- step 8: header structure ------------------------------------------------------------------

const structural = (name: string, code: string, description: string, bytes: Uint8Array) => bad(name, code, 8, description, bytes);
structural("header-missing-key", "HEADER_INVALID", 'The header object has no "metadata" key.', editHeader(one(), ({ metadata: _, ...rest }) => rest));
structural("header-missing-entry-key", "HEADER_INVALID", 'An entry has no "byteOrder" key.', editHeader(one(), (h) => ({ ...h, arrays: [(({ byteOrder: _, ...rest }) => rest)(entry0(h))] })));
structural("header-wrong-type-alignment", "HEADER_INVALID", '"alignment":"8", a string.', editText(one(), (t) => replaceOnce(t, '"alignment":8', '"alignment":"8"')));
structural("header-wrong-type-shape", "HEADER_INVALID", '"shape":4, a number instead of a list.', editText(one(), (t) => replaceOnce(t, '"shape":[4]', '"shape":4')));
structural("header-wrong-type-dimension", "HEADER_INVALID", '"shape":["4"], a string dimension.', editText(one(), (t) => replaceOnce(t, '"shape":[4]', '"shape":["4"]')));
structural("header-wrong-type-metadata-list", "HEADER_INVALID", '"metadata":[], a list instead of an object.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":[]') }));
structural("header-wrong-type-metadata-null", "HEADER_INVALID", '"metadata":null.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"metadata":{}', '"metadata":null') }));
structural("header-wrong-type-arrays", "HEADER_INVALID", '"arrays":{}, an object instead of a list.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"arrays":[]', '"arrays":{}') }));
structural("header-wrong-type-entry", "HEADER_INVALID", '"arrays":["a"], an entry that is not an object.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"arrays":[]', '"arrays":["a"]') }));
structural("header-wrong-type-name", "HEADER_INVALID", '"name":1, a number.', editText(one(), (t) => replaceOnce(t, '"name":"a"', '"name":1')));
structural("header-wrong-type-dtype", "HEADER_INVALID", '"dtype":8, a number: a value of the wrong JSON type, not a dtype name at all.', editText(one(), (t) => replaceOnce(t, '"dtype":"uint8"', '"dtype":8')));
structural("header-wrong-type-codec", "HEADER_INVALID", '"codec":null: the key is present with the wrong JSON type (absent would mean "none").', editText(one(), (t) => replaceOnce(t, '"byteOrder":"little"', '"byteOrder":"little","codec":null')));
structural("header-wrong-type-checksum", "HEADER_INVALID", '"checksum":32, a number.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"checksum":"none"', '"checksum":32') }));
// true and false are not integers (in Python, bool is a subclass of int).
structural("header-wrong-type-offset-false", "HEADER_INVALID", '"offset":false where an integer is required: true and false are not numbers (a Python reader using isinstance(v, int) would read 0).', editText(one(), (t) => replaceOnce(t, '"offset":0', '"offset":false')));
structural("header-wrong-type-data-length-false", "HEADER_INVALID", 'No arrays and "dataLength":false.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"dataLength":0', '"dataLength":false') }));
{
  const p = B.canonicalParts({ alignment: 8, checksum: "crc32", arrays: [{ name: "a", dtype: "uint8", shape: [1], stored: Uint8Array.of(7) }] });
  structural("header-wrong-type-dimension-true", "HEADER_INVALID", 'A uint8 array of "shape":[true] and byteLength 1: a dimension must be an integer, and true is not 1.', editText(p, (t) => replaceOnce(t, '"shape":[1]', '"shape":[true]')));
}
structural("header-unknown-key", "HEADER_INVALID", 'An unknown top-level key "extra" in a 1.0 file.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"arrays":[]', '"arrays":[],"extra":0') }));
structural("header-unknown-key-version", "HEADER_INVALID", 'A "version" key in the header of a 1.0 file (the version lives in the preamble).', B.buildFile({ header: `{"version":1,${EMPTY_TEXT.slice(1)}` }));
structural("header-unknown-entry-key", "HEADER_INVALID", 'An unknown key "units" in an entry of a 1.0 file.', editText(one(), (t) => replaceOnce(t, '"byteOrder":"little"', '"byteOrder":"little","units":"m"')));
structural("header-alignment-48", "HEADER_INVALID", '"alignment":48: not a power of two.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"alignment":8', '"alignment":48'), alignment: 48 }));
structural("header-alignment-4", "HEADER_INVALID", '"alignment":4: a power of two below 8.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"alignment":8', '"alignment":4'), alignment: 4 }));
structural("header-alignment-131072", "HEADER_INVALID", '"alignment":131072: a power of two above 65536.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"alignment":8', '"alignment":131072'), alignment: 8 }));
structural("header-alignment-0", "HEADER_INVALID", '"alignment":0.', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"alignment":8', '"alignment":0'), alignment: 8 }));
structural("header-empty-name", "HEADER_INVALID", 'An entry named "".', editText(one(), (t) => replaceOnce(t, '"name":"a"', '"name":""')));
structural("header-order-x", "HEADER_INVALID", '"order":"X".', editText(one(), (t) => replaceOnce(t, '"order":"C"', '"order":"X"')));
structural("header-order-lower-case", "HEADER_INVALID", '"order":"c": values are case-sensitive.', editText(one(), (t) => replaceOnce(t, '"order":"C"', '"order":"c"')));
structural("header-byte-order-native", "HEADER_INVALID", '"byteOrder":"native".', editText(one(), (t) => replaceOnce(t, '"byteOrder":"little"', '"byteOrder":"native"')));
structural("unknown-dtype-capitalized", "UNKNOWN_DTYPE", '"dtype":"Float32": dtype names are lower case, exactly.', editText(one(), (t) => replaceOnce(t, '"dtype":"uint8"', '"dtype":"Float32"')));
structural("unknown-dtype-float128", "UNKNOWN_DTYPE", '"dtype":"float128".', editText(one(), (t) => replaceOnce(t, '"dtype":"uint8"', '"dtype":"float128"')));
structural("unknown-dtype-newer-minor", "UNKNOWN_DTYPE", 'A 1.3 file using a dtype "int4" this reader does not know: newer minor versions may add keys, but a new value of a known key is rejected.', editText(one(), (t) => replaceOnce(t, '"dtype":"uint8"', '"dtype":"int4"'), { minor: 3 }));
structural("unsupported-codec-zstd", "UNSUPPORTED_CODEC", '"codec":"zstd".', editText(one(), (t) => replaceOnce(t, '"byteOrder":"little"', '"byteOrder":"little","codec":"zstd"')));
structural("unsupported-codec-capitalized", "UNSUPPORTED_CODEC", '"codec":"Deflate": values are case-sensitive.', editText(one(), (t) => replaceOnce(t, '"byteOrder":"little"', '"byteOrder":"little","codec":"Deflate"')));
structural("unsupported-checksum-sha256", "UNSUPPORTED_CHECKSUM", '"checksum":"sha256".', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"checksum":"none"', '"checksum":"sha256"') }));
structural("unsupported-checksum-crc32c", "UNSUPPORTED_CHECKSUM", '"checksum":"crc32c".', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"checksum":"none"', '"checksum":"crc32c"') }));
structural("unsupported-checksum-upper-case", "UNSUPPORTED_CHECKSUM", '"checksum":"CRC32".', B.buildFile({ header: replaceOnce(EMPTY_TEXT, '"checksum":"none"', '"checksum":"CRC32"') }));
structural("structure-before-entries", "UNKNOWN_DTYPE", 'Two entries named "a", the second with dtype "float128": the whole header is checked for structure (step 8) before any entry check (step 11).', editHeader(two(), (h) => ({ ...h, arrays: [h.arrays[0], { ...h.arrays[1], name: "a", dtype: "float128" }] })));

// -- steps 9-19: entries and layout ------------------------------------------------------------

{
  const p = one();
  const bigName = "a" + "🙂".repeat(1024);
  bad("limit-name-4097-bytes", "LIMIT_EXCEEDED", 10, "A name of 4097 UTF-8 bytes ('a' and 1024 emoji; only 2049 UTF-16 code units), one more than the default maxNameBytes.", editHeader(p, (h) => ({ ...h, arrays: [{ ...entry0(h), name: bigName }] })));
}
bad("duplicate-name", "DUPLICATE_NAME", 11, 'Two entries named "a".', editHeader(two(), (h) => ({ ...h, arrays: [h.arrays[0], { ...h.arrays[1], name: "a" }] })));
bad("duplicate-name-escaped", "DUPLICATE_NAME", 11, 'Entries named "a" and "\\u0061": the same name once unescaped.', editText(two(), (t) => replaceOnce(t, '"name":"b"', '"name":"\\u0061"')));
bad("entry-order-dims-before-shape-size", "LIMIT_EXCEEDED", 12, "One entry of 65 dimensions, [2^20, 2^20, 2^20] then 62 ones, whose 2^60 bytes also exceed 2^53-1: step 12 (maxDims) comes before step 13 (BAD_SHAPE).", editHeader(one(), (h) => ({ ...h, arrays: [{ ...entry0(h), shape: [1048576, 1048576, 1048576, ...Array<number>(62).fill(1)] }] })));
bad("entry-order-name-before-dims", "DUPLICATE_NAME", 11, "A second entry that repeats a name and has 65 dimensions: within an entry, the name is checked before the shape.", editHeader(two(), (h) => ({ ...h, arrays: [h.arrays[0], { ...h.arrays[1], name: "a", shape: [...Array<number>(62).fill(1), 3, 1, 1] }] })));
{
  const p = B.canonicalParts({ alignment: 8, checksum: "none", arrays: [{ name: "a", dtype: "uint8", shape: Array<number>(65).fill(1), stored: Uint8Array.of(9) }] });
  bad("limit-dims-65", "LIMIT_EXCEEDED", 12, "A shape of 65 ones, one more dimension than the default maxDims.", B.buildFile({ header: p.header, data: p.data, alignment: 8 }));
}
{
  const shapeCase = (name: string, dtype: string, shape: number[], description: string) => {
    const p = B.canonicalParts({ alignment: 8, checksum: "none", arrays: [{ name: "a", dtype, shape, stored: new Uint8Array(0) }] });
    bad(name, "BAD_SHAPE", 13, description, B.buildFile({ header: p.header, data: p.data, alignment: 8 }));
  };
  shapeCase("bad-shape-bytes-over-2-53", "float64", [1125899906842624], "float64 of shape [2^50]: 2^50 elements fit, but 2^53 bytes exceed 2^53-1.");
  shapeCase("bad-shape-product-over-2-64", "uint8", [4294967296, 4294967296, 2], "uint8 of shape [2^32, 2^32, 2]: the product 2^65 overflows 64-bit arithmetic; it must be computed exactly (or checked step by step).");
  shapeCase("bad-shape-2-53-plus-1", "uint8", [3002399751580331, 3], "uint8 of shape [3002399751580331, 3]: 2^53+1 bytes, which a double rounds to 2^53.");
  shapeCase("bad-shape-complex128", "complex128", [562949953421312], "complex128 (16 bytes an element) of shape [2^49]: 2^53 bytes.");
  shapeCase("bad-shape-zero-dim-does-not-excuse", "complex128", [0, 9007199254740991, 9007199254740991], "complex128 of shape [0, 2^53-1, 2^53-1]: empty, but its non-zero dimensions exceed 2^53-1 bytes, which numpy (among others) cannot hold.");
}
{
  const p = B.canonicalParts({ alignment: 8, checksum: "crc32", arrays: [{ name: "a", dtype: "uint8", shape: [4], stored: Uint8Array.of(1, 2, 3) }] });
  bad("size-mismatch-short", "SIZE_MISMATCH", 14, "uint8 of shape [4] with byteLength 3 (and a 3-byte payload).", B.buildFile({ header: p.header, data: p.data, alignment: 8 }));
  const q = B.canonicalParts({ alignment: 8, checksum: "crc32", arrays: [{ name: "a", dtype: "uint8", shape: [4], stored: Uint8Array.of(1, 2, 3, 4, 0, 0, 0, 0) }] });
  bad("size-mismatch-crc-counted", "SIZE_MISMATCH", 14, "byteLength 8 for 4 bytes of data: the CRC counted in byteLength.", B.buildFile({ header: q.header, data: q.data, alignment: 8 }));
  const r = B.canonicalParts({ alignment: 8, checksum: "none", arrays: [{ name: "a", dtype: "float64", shape: [], stored: new Uint8Array(0) }] });
  bad("size-mismatch-scalar", "SIZE_MISMATCH", 14, "A 0-d float64 (one element, 8 bytes) with byteLength 0: shape [] is not empty.", B.buildFile({ header: r.header, data: r.data, alignment: 8 }));
  const n = B.canonicalParts({ alignment: 8, checksum: "crc32", arrays: [{ name: "a", dtype: "uint8", shape: [4], stored: Uint8Array.of(1, 2, 3) }] });
  const fiveForFour = B.canonicalParts({ alignment: 8, checksum: "crc32", arrays: [{ name: "a", dtype: "uint8", shape: [4], stored: Uint8Array.of(1, 2, 3, 4, 5) }] });
  bad("entry-order-size-before-bounds", "SIZE_MISMATCH", 14, "uint8 of shape [4] with byteLength 5, whose record (5 bytes and a CRC) runs past a dataLength of 8: step 14 (SIZE_MISMATCH) comes before step 18 (OUT_OF_BOUNDS).", editHeader(fiveForFour, (h) => ({ ...h, dataLength: 8 }), { data: fiveForFour.data.subarray(0, 8) }));
  bad("entry-order-size-before-alignment", "SIZE_MISMATCH", 14, "uint8 of shape [4] with byteLength 5 at offset 3, not a multiple of the alignment 8: step 14 (SIZE_MISMATCH) comes before step 15 (MISALIGNED).", editHeader(fiveForFour, (h) => ({ ...h, dataLength: 12, arrays: [{ ...entry0(h), offset: 3 }] }), { data: B.concat(new Uint8Array(3), fiveForFour.data.subarray(0, 9)) }));
  bad("size-mismatch-explicit-codec-none", "SIZE_MISMATCH", 14, 'uint8 of shape [4] with byteLength 3 and "codec":"none" written: an explicit "none" is no codec (FORMAT.md §2.2), so step 14 applies as when the key is absent. A reader that takes any codec key for a codec lets it through.', B.buildFile({ header: { ...n.header, arrays: n.header.arrays.map(({ offset, byteLength, ...rest }) => ({ ...rest, codec: "none", offset, byteLength })) }, data: n.data, alignment: 8 }));
}
{
  // two(): "a" = 5 bytes at 0 (record ends at 9), "b" = 3 bytes at 16 (record ends at 23).
  const withOffsets = (a: number, b: number, dataLength?: number) =>
    editHeader(two(), (h) => ({ ...h, ...(dataLength === undefined ? {} : { dataLength }), arrays: [{ ...h.arrays[0], offset: a }, { ...h.arrays[1], offset: b }] }));
  bad("misaligned", "MISALIGNED", 15, 'The second record at offset 9, right after the first record, not at the next multiple of the alignment 8.', withOffsets(0, 9));
  bad("misaligned-first", "MISALIGNED", 15, "The first record at offset 4 with alignment 8.", withOffsets(4, 16));
  bad("overlap", "OVERLAP", 16, "The second record at offset 8, inside the first record (which ends at 9).", withOffsets(0, 8));
  bad("overlap-same-offset", "OVERLAP", 16, "Both records at offset 0.", withOffsets(0, 0));
  bad("gap-first-record", "GAP", 17, "The first record at offset 8 instead of 0: 8 unaccounted bytes.", withOffsets(8, 24, 31));
  bad("gap-between-records", "GAP", 17, "The second record at offset 24 instead of 16.", withOffsets(0, 24, 31));
  bad("entry-order-misaligned-before-overlap", "MISALIGNED", 15, 'The second record at offset 4: not a multiple of 8, and inside the first record (which ends at 9). Step 15 comes before step 16.', withOffsets(0, 4));
  bad("entry-order-misaligned-before-gap", "MISALIGNED", 15, 'The second record at offset 20: not a multiple of 8, and after the next aligned offset 16. Step 15 comes before step 17.', withOffsets(0, 20, 27));
  bad("entry-order-layout-before-next-name", "GAP", 17, 'Entry 0 leaves a gap and entry 1 repeats its name: entries are checked one after the other, all checks of entry 0 first.', editHeader(two(), (h) => ({ ...h, dataLength: 31, arrays: [{ ...h.arrays[0], offset: 8 }, { ...h.arrays[1], name: "a", offset: 24 }] })));
}
{
  const p = one();
  bad("out-of-bounds", "OUT_OF_BOUNDS", 18, "dataLength 4 for a 4-byte payload and its 4-byte CRC (the CRC left out of dataLength); the file ends at D + 4.", B.buildFile({ header: { ...p.header, dataLength: 4 }, data: p.data.subarray(0, 4), alignment: 8 }));
  const q = B.canonicalParts({ alignment: 8, checksum: "none", arrays: [{ name: "a", dtype: "uint8", shape: [4], stored: Uint8Array.of(1, 2, 3, 4) }] });
  bad("out-of-bounds-no-checksum", "OUT_OF_BOUNDS", 18, 'checksum "none", dataLength 2 for a 4-byte payload.', B.buildFile({ header: { ...q.header, dataLength: 2 }, data: q.data.subarray(0, 2), alignment: 8 }));
  bad("gap-data-length-too-large", "GAP", 19, "dataLength 16 where the records end at 8; the file is padded with zeros to D + 16.", B.buildFile({ header: { ...p.header, dataLength: 16 }, data: B.concat(p.data, new Uint8Array(8)), alignment: 8 }));
  bad("gap-data-length-no-arrays", "GAP", 19, "No arrays and dataLength 8 (it must be 0); the file has 8 zero bytes after D.", B.buildFile({ header: { ...empty().header, dataLength: 8 }, data: new Uint8Array(8), alignment: 8 }));
  bad("layout-before-length", "GAP", 19, "dataLength 16 where the records end at 8, and the file ends at D + 8: step 19 comes before the length check of step 20.", B.buildFile({ header: { ...p.header, dataLength: 16 }, data: p.data, alignment: 8 }));
}

// -- steps 20-21: file length and padding ----------------------------------------------------

{
  const header64 = { ...empty().header, alignment: 64 };
  const file64 = B.buildFile({ header: header64 });
  const paddingStart = 20 + B.canonicalJson(header64).length;
  if (file64.length - paddingStart < 2) throw new Error("truncated-in-header-padding needs padding");
  bad("truncated-in-header-padding", "TRUNCATED", 20, "A file with no arrays (alignment 64) cut inside the zero padding after its header: the file must run to D.", file64.subarray(0, paddingStart + 1));
  bad("truncated-data-section", "TRUNCATED", 20, "A valid file cut right at the start of its data section.", ONE.subarray(0, ONE_D));
  bad("truncated-in-payload", "TRUNCATED", 20, "A valid file cut in the middle of its payload.", ONE.subarray(0, ONE_D + 2));
  bad("truncated-last-crc-byte", "TRUNCATED", 20, "A valid file missing the last byte of its last CRC.", ONE.subarray(0, ONE.length - 1));
  bad("trailing-bytes", "TRAILING_BYTES", 20, "A valid file followed by one zero byte.", B.concat(ONE, new Uint8Array(1)));
  bad("trailing-bytes-two-files", "TRAILING_BYTES", 20, "Two valid files, one after the other.", B.concat(ONE, ONE));
  bad("trailing-bytes-no-arrays", "TRAILING_BYTES", 20, "A valid file with no arrays followed by 8 zero bytes.", B.concat(EMPTY, new Uint8Array(8)));
  const padAt = 20 + ONE_TEXT.length;
  if (padAt >= ONE_D) throw new Error("bad-padding cases need padding after the header");
  bad("bad-padding-after-header", "BAD_PADDING", 21, "A 0x01 byte in the zero padding between the header and the data section.", poke(ONE, ONE_D - 1, 0x01));
  bad("bad-padding-space", "BAD_PADDING", 21, "A space in the padding after the header: spaces may end the header (inside H), but the padding after H must be zeros.", poke(ONE, padAt, 0x20));
  bad("length-before-padding", "TRUNCATED", 20, "A non-zero padding byte after the header and a file cut short: step 20 comes before step 21.", poke(ONE, ONE_D - 1, 0x01).subarray(0, ONE.length - 1));
}

// -- steps 22-23: when an array is read ------------------------------------------------------

{
  const damagedPayload = poke(ONE, ONE_D + 1, 0x03);
  badRead("checksum-payload", "CHECKSUM", 22, "A valid file with one payload byte changed: the file decodes, verification fails for array \"a\".", damagedPayload, "a", true);
  badRead("checksum-field", "CHECKSUM", 22, "A valid file whose payload CRC field has a flipped bit.", poke(ONE, ONE_D + 4, ONE[ONE_D + 4]! ^ 0x80), "a", true);
  const q = two();
  const TWO = B.buildFile({ header: q.header, data: q.data, alignment: 8 });
  const twoD = B.dataStart(TWO, 8);
  badRead("checksum-second-array", "CHECKSUM", 22, 'Two arrays; the payload of "b" is damaged, "a" is intact and must still be readable: each array is checked on its own.', poke(TWO, twoD + 16, 0x00), "b", true);
  badRead("verify-order-checksum-before-padding", "CHECKSUM", 22, 'The payload of "a" is damaged and the padding after its record holds a non-zero byte: within step 22, the CRC comes first.', poke(poke(TWO, twoD + 1, 0x09), twoD + 12, 0x01), "a", true);
  badRead("verify-order-arrays-in-file-order", "BAD_PADDING", 22, 'The padding after the record of "a" holds a non-zero byte and the payload of "b" is damaged: a reader that stops at the first failure reports "a" (arrays in file order, each completely before the next), not the CRC of "b"; one that reports each array on its own reports both.', poke(poke(TWO, twoD + 12, 0x01), twoD + 16, 0x00), "a", true, { b: "CHECKSUM" });
  const unchecked = B.canonicalParts({ alignment: 8, checksum: "none", arrays: [{ name: "a", dtype: "uint8", shape: [5], stored: Uint8Array.of(1, 2, 3, 4, 5) }, { name: "b", dtype: "uint8", shape: [3], stored: Uint8Array.of(6, 7, 8) }] });
  const UNCHECKED = B.buildFile({ header: unchecked.header, data: unchecked.data, alignment: 8 });
  badRead("bad-padding-after-record-checksum-none", "BAD_PADDING", 22, 'checksum "none", and a non-zero byte in the padding between the record of "a" (5 bytes, no CRC) and that of "b": step 22 checks the padding without a CRC too.', poke(UNCHECKED, B.dataStart(UNCHECKED, 8) + 6, 0x01), "a", true);
  badRead("bad-padding-after-record", "BAD_PADDING", 22, 'A non-zero byte in the padding between the record of "a" and the record of "b", found when verifying.', poke(TWO, twoD + 12, 0x01), "a", true);
}
{
  /** A one-array file whose single payload is `stored`, with the right CRC, for codec cases. */
  const codecFile = (stored: Uint8Array, dtype: string, shape: number[], codec: Codec, crc?: number) => {
    const parts = B.canonicalParts({ alignment: 8, checksum: "crc32", arrays: [{ name: "a", dtype, shape, codec, stored }] });
    if (crc !== undefined) parts.data.set(B.u32le(crc), stored.length);
    return B.buildFile({ header: parts.header, data: parts.data, alignment: 8 });
  };
  const pattern = Uint8Array.from({ length: 64 }, (_, i) => i % 7);
  const stream = B.rawDeflate(pattern, 6);
  badRead("checksum-over-decoded-bytes", "CHECKSUM", 22, "A compressed array whose CRC was computed over the decoded bytes instead of the stored (compressed) ones.", codecFile(stream, "uint8", [64], "deflate", B.crc32(pattern)), "a", true);
  badRead("codec-error-invalid-block", "CODEC_ERROR", 23, "A deflate payload of one byte 0x07: a final block of the reserved type 3.", codecFile(Uint8Array.of(0x07), "uint8", [64], "deflate"), "a");
  badRead("codec-error-zlib-wrapper", "CODEC_ERROR", 23, "A zlib stream (RFC 1950, with its 2-byte header and Adler-32) where a raw DEFLATE stream is required.", codecFile(zlibWrapped(pattern, { level: 6 }), "uint8", [64], "deflate"), "a");
  badRead("codec-error-gzip-wrapper", "CODEC_ERROR", 23, "A gzip stream (RFC 1952) where a raw DEFLATE stream is required.", codecFile(gzip(pattern, { level: 6 }), "uint8", [64], "deflate"), "a");
  badRead("codec-error-truncated-stream", "CODEC_ERROR", 23, "A deflate stream cut in the middle: it ends before its final block does.", codecFile(stream.subarray(0, Math.floor(stream.length / 2)), "uint8", [64], "deflate"), "a");
  badRead("codec-error-short-output", "CODEC_ERROR", 23, "A complete deflate stream of 63 bytes for a uint8 array of shape [64].", codecFile(B.rawDeflate(pattern.subarray(0, 63), 6), "uint8", [64], "deflate"), "a");
  badRead("codec-error-long-output", "CODEC_ERROR", 23, "A complete deflate stream of 65 bytes for a uint8 array of shape [64].", codecFile(B.rawDeflate(new Uint8Array(65), 6), "uint8", [64], "deflate"), "a");
  badRead("codec-error-bomb", "CODEC_ERROR", 23, "A small deflate stream that inflates to 16 MiB of zeros, for a uint8 array of shape [16]: a reader must stop after 16 bytes (plus what one step of its inflater produces) without allocating the rest.", codecFile(B.rawDeflate(new Uint8Array(16 << 20), 9), "uint8", [16], "deflate"), "a");
  badRead("codec-error-empty-payload", "CODEC_ERROR", 23, 'codec "deflate" with byteLength 0: no stream at all.', codecFile(new Uint8Array(0), "uint8", [4], "deflate"), "a");
  badRead("codec-error-empty-payload-zero-size", "CODEC_ERROR", 23, 'codec "deflate", shape [0] and byteLength 0: even an empty array needs a DEFLATE stream (the shortest is 03 00).', codecFile(new Uint8Array(0), "uint8", [0], "deflate"), "a");
  badRead("codec-error-shuffle-short", "CODEC_ERROR", 23, 'codec "shuffle+deflate" for float32 of shape [4] (16 bytes), with a stream of 15 bytes.', codecFile(B.rawDeflate(new Uint8Array(15), 6), "float32", [4], "shuffle+deflate"), "a");
  badRead("codec-error-trailing-bytes", "CODEC_ERROR", 23, "A complete deflate stream of the right 64 bytes followed by 3 more bytes inside the payload: data no reader would see, so it is refused.", codecFile(B.concat(B.rawDeflate(pattern, 6), Uint8Array.of(1, 2, 3)), "uint8", [64], "deflate"), "a");
  // Which DEFLATE streams are valid (FORMAT.md §5): those zlib's inflate accepts. Built bit by bit.
  badRead(
    "codec-error-incomplete-literal-length-code",
    "CODEC_ERROR",
    23,
    'A "deflate" array of one uint8 whose stream is one dynamic block with an incomplete literal/length code: the literal 1 has a code of length 1 and the end-of-block code one of length 2, so a quarter of the code space is no code. zlib, and every reader using it, refuses the code set ("invalid literal/lengths set"); an inflater that accepts incomplete codes decodes the byte 1, exactly nbytes.',
    codecFile(checkedStream(deflateBits([{ tokens: [{ literal: 1 }], lengths: { literal: lengthsOf(257, [[1, 1], [256, 2]]), distance: [1, 1] } }]), "refused"), "uint8", [1], "deflate"),
    "a",
  );
  badRead(
    "codec-error-unused-code",
    "CODEC_ERROR",
    23,
    'The stream of valid/codec-deflate-one-distance-code (a distance code of one code of length 1: the bit 0), except that its match sends the bit 1, which is no code. zlib refuses it ("invalid distance code"); an inflater that reads either bit as the one distance decodes the same 64 bytes.',
    codecFile(checkedStream(deflateBits([{ tokens: [...REPEATS_TOKENS.slice(0, 4), { length: 60, distance: 4, distanceCode: [1, 1] }], lengths: { literal: REPEATS_LITERAL_LENGTHS, distance: lengthsOf(4, [[3, 1]]) } }]), "refused"), "uint8", [64], "deflate"),
    "a",
  );
  badRead(
    "codec-error-32-distance-code-lengths",
    "CODEC_ERROR",
    23,
    'A "deflate" array of 64 uint8 (1, 2, 3, 4 repeated) whose dynamic block header lists 32 distance code lengths, the last two zero. The 5-bit field of RFC 1951 §3.2.7 can say 32, but distance codes 30 and 31 do not exist, and zlib refuses more than 30 lengths ("too many length or distance symbols"); an inflater that reads what the field says decodes the 64 bytes.',
    codecFile(checkedStream(deflateBits([{ tokens: REPEATS_TOKENS, lengths: { literal: REPEATS_LITERAL_LENGTHS, distance: lengthsOf(32, [[3, 1], [4, 1]]) } }]), "refused"), "uint8", [64], "deflate"),
    "a",
  );
  badRead("limit-decoded-bytes-before-inflating", "LIMIT_EXCEEDED", 23, 'A "deflate" array of shape [1073741825] uint8 (one byte over the default maxDecodedBytes) whose payload, 0xFF, is no DEFLATE stream: the limit is checked before anything is inflated, so LIMIT_EXCEEDED, not the CODEC_ERROR an inflater would give.', codecFile(Uint8Array.of(0xff), "uint8", [1073741825], "deflate"), "a");
  badRead("limit-decoded-bytes", "LIMIT_EXCEEDED", 23, 'A "deflate" array of shape [2147483648] uint8 (2 GiB decoded, more than the default maxDecodedBytes of 1 GiB): refused before anything is allocated or inflated. The file itself is valid.', codecFile(Uint8Array.of(0x03, 0x00), "uint8", [2147483648], "deflate"), "a");
}

// ---------------------------------------------------------------------------------------------
// FORMAT.md §10

function hexBytes(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** The elements of `def` for a payload row: "float32 LE 1, 2.5", complex as (re, im). */
function describeElements(def: ArrayDef, byteOrder: ByteOrder): string {
  const values = valuesOf(def.dtype, def.le).map((v) => (Array.isArray(v) ? `(${v.join(", ")})` : String(v)));
  const order = sizes(def.dtype).itemSize === 1 ? "" : byteOrder === "big" ? " BE" : " LE";
  return `${def.dtype}${order} ${values.join(", ")}`;
}

/** One subsection of FORMAT.md §10: what the file holds, the arithmetic of section 4, and every byte. */
function workedSection(number: string, example: WorkedExample): string {
  const { bytes, defs, options } = example;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const H = view.getUint32(12, true);
  const headerCrc = view.getUint32(16, true);
  const headerText = new TextDecoder().decode(bytes.subarray(20, 20 + H));
  const header = JSON.parse(headerText) as { alignment: number; checksum: string; dataLength: number; arrays: { name: string; dtype: string; codec?: string; offset: number; byteLength: number }[] };
  const a = header.alignment;
  const c = header.checksum === "crc32" ? 4 : 0;
  const byteOrder = options.byteOrder ?? "little";
  const D = B.alignUp(20 + H, a);
  const rows: string[] = [];
  const off = (n: number) => n.toString(16).padStart(6, "0");
  const row = (at: number, length: number, meaning: string) => {
    for (let i = 0; i < Math.max(length, 1); i += 16) {
      rows.push(`${off(at + i)}  ${hexBytes(bytes.subarray(at + i, at + Math.min(length, i + 16))).padEnd(47)}  ${i === 0 ? meaning : ""}`.trimEnd());
    }
  };
  row(0, 8, "magic: \\x89 N D P \\r \\n \\x1a \\n");
  row(8, 2, "major version: 1 (u16 LE)");
  row(10, 2, "minor version: 0 (u16 LE)");
  row(12, 4, `header length H: ${H} (u32 LE)`);
  row(16, 4, `header CRC: 0x${headerCrc.toString(16).padStart(8, "0")} = CRC-32 of bytes 0x08 to 0x0f, then the header`);
  for (let at = 20; at < 20 + H; at += 16) {
    const chunk = bytes.subarray(at, Math.min(at + 16, 20 + H));
    rows.push(`${off(at)}  ${hexBytes(chunk).padEnd(47)}  ${at === 20 ? "header: " : "        "}${new TextDecoder().decode(chunk)}`);
  }
  const zeros = (n: number) => `${n} zero byte${n === 1 ? "" : "s"}`;
  if (D > 20 + H) row(20 + H, D - 20 - H, `padding: ${zeros(D - 20 - H)}, to D = alignUp(20 + ${H}, ${a}) = ${D} (0x${D.toString(16)})`);
  const arithmetic: string[] = [`- The header is ${H} bytes, so the data section starts at D = alignUp(20 + ${H}, ${a}) = ${D}.`];
  let end = 0;
  header.arrays.forEach((entry, i) => {
    const def = defs[i]!;
    const start = D + entry.offset;
    const where = i === 0 ? "offset 0" : `offset alignUp(${end}, ${a}) = ${entry.offset}`;
    if (entry.offset > end) row(D + end, entry.offset - end, `padding: ${zeros(entry.offset - end)}, to offset ${entry.offset} = alignUp(${end}, ${a})`);
    const stored = entry.codec === undefined ? describeElements(def, byteOrder) : `raw DEFLATE stream of the shuffled bytes above`;
    row(start, entry.byteLength, `payload of "${entry.name}" (offset ${entry.offset}, byteLength ${entry.byteLength}): ${stored}`);
    if (c) {
      const crc = view.getUint32(start + entry.byteLength, true);
      row(start + entry.byteLength, 4, `CRC-32 of the payload of "${entry.name}": 0x${crc.toString(16).padStart(8, "0")} (u32 LE)`);
    }
    end = entry.offset + entry.byteLength + c;
    const record = c ? "its record (payload and CRC)" : "its record (the payload alone)";
    const size = entry.codec === undefined ? `byteLength ${entry.byteLength} (= nbytes)` : `byteLength ${entry.byteLength} (stored, compressed; nbytes is ${def.le.length})`;
    arithmetic.push(`- "${entry.name}" starts at ${where}, ${size}; ${record} ends at ${end}${i === header.arrays.length - 1 ? " = dataLength" : ""}.`);
  });
  if (header.arrays.length === 0) arithmetic.push("- There are no arrays: dataLength is 0.");
  arithmetic.push(`- The file is D + dataLength = ${D} + ${header.dataLength} = ${bytes.length} bytes long.`);
  rows.push(`${off(bytes.length)}  ${"".padEnd(47)}  end of file: D + dataLength = ${D} + ${header.dataLength} = ${bytes.length}`);
  const lines = [`### ${number} ${example.title}`, "", ...example.about, "", "The arithmetic of section 4:", "", ...arithmetic, ""];
  header.arrays.forEach((entry, i) => {
    if (entry.codec !== "shuffle+deflate") return;
    const def = defs[i]!;
    const { wordSize } = sizes(def.dtype);
    const ordered = byteOrder === "big" && wordSize > 1 ? B.swapWords(def.le, wordSize) : def.le;
    lines.push(
      `The ${def.le.length} bytes of "${entry.name}" (${describeElements(def, byteOrder)}) are shuffled with word size ${wordSize} (byte j of word i goes to position j * ${def.le.length / wordSize} + i), then deflated:`,
      "",
      "```",
      `array bytes:    ${hexBytes(ordered)}`,
      `shuffled bytes: ${hexBytes(B.shuffleBytes(ordered, wordSize))}`,
      "```",
      "",
    );
  });
  lines.push(`The header text (${H} bytes, UTF-8, no white space):`, "", "```json", headerText, "```", "", "Every byte of the file (offsets in hex):", "", "```", "offset  bytes                                            meaning", ...rows, "```", "");
  return lines.join("\n");
}

function workedExamples(): string {
  return [
    "",
    "This section is informative. It is generated by `npm run fixtures` (`scripts/generate-fixtures.ts`); each file",
    "is also a valid vector, `fixtures/valid/<name>.ndp`, named in its subsection.",
    "",
    ...WORKED.map((example, i) => `${workedSection(`10.${i + 1}`, example)}\nThis file is \`fixtures/valid/${valid.find((c) => c.bytes === example.bytes)!.name}.ndp\`.\n`),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Writing

interface CliOptions {
  out: string;
  formatMd: string | undefined;
}

function parseArgs(argv: readonly string[], root: string): CliOptions {
  const options: CliOptions = { out: join(root, "fixtures"), formatMd: join(root, "FORMAT.md") };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return resolve(next);
    };
    if (arg === "--out") options.out = value();
    else if (arg === "--format-md") options.formatMd = value();
    else if (arg === "--no-format-md") options.formatMd = undefined;
    else throw new Error(`unknown argument ${arg}; usage: generate-fixtures.ts [--out DIR] [--format-md FILE | --no-format-md]`);
  }
  return options;
}

const START = "<!-- worked-example:start -->";
const END = "<!-- worked-example:end -->";

function rewriteFormatMd(path: string, section: string): void {
  const text = readFileSync(path, "utf8");
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${path}: markers ${START} and ${END} not found`);
  const next = text.slice(0, start + START.length) + section + text.slice(end);
  if (next !== text) writeFileSync(path, next);
}

/** The specification version FORMAT.md states on its line "Specification version X.Y.Z, ...". */
function specVersion(formatMd: string): string {
  const match = /^Specification version (\d+\.\d+\.\d+),/m.exec(formatMd);
  if (!match) throw new Error('FORMAT.md has no line "Specification version X.Y.Z, ..."');
  return match[1]!;
}

// ---------------------------------------------------------------------------------------------
// Message streams (FORMAT.md §11): concatenations of the files above, whole or cut

interface StreamError {
  readonly messageIndex: number;
  readonly code: string;
  readonly recoverable: boolean;
}

interface StreamCase {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly expected: { readonly description: string; readonly messages: readonly string[]; readonly errors: readonly StreamError[] };
}

const streams: StreamCase[] = [];

function caseBytes(name: string): Uint8Array {
  const found = [...valid, ...invalid].find((c) => c.name === name);
  if (found === undefined) throw new Error(`no case ${name}`);
  return found.bytes;
}

/** `D` of a valid file: where its data section starts (alignUp(20 + H, alignment)). */
function dataStartOf(name: string): number {
  const bytes = caseBytes(name);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  const { alignment } = JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + headerLength))) as { alignment: number };
  return Math.ceil((20 + headerLength) / alignment) * alignment;
}

function streamCase(name: string, description: string, parts: readonly Uint8Array[], messages: readonly string[], errors: readonly StreamError[] = []): void {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  streams.push({ name, bytes, expected: { description, messages, errors } });
}

streamCase("three-messages", "Three files one after another, the second with no arrays: three messages, each as its valid case says.", [caseBytes("dtype-float32"), caseBytes("no-arrays"), caseBytes("dtype-int16-big-endian")], ["dtype-float32", "no-arrays", "dtype-int16-big-endian"]);
streamCase("empty", "No bytes: a stream of no messages, which ends cleanly.", [], []);
streamCase("one-message", "One file alone is a stream of one message.", [caseBytes("mixed-layout")], ["mixed-layout"]);
streamCase(
  "truncated-second-message",
  "The stream ends in the middle of the second message's data section: the first message is read whole, then TRUNCATED for message 1.",
  [caseBytes("dtype-float32"), caseBytes("order-fortran").subarray(0, dataStartOf("order-fortran") + 8)],
  ["dtype-float32"],
  [{ messageIndex: 1, code: "TRUNCATED", recoverable: false }],
);
streamCase(
  "truncated-inside-preamble",
  "The stream ends 10 bytes into the second message (inside its preamble, after a correct magic): TRUNCATED for message 1, not BAD_MAGIC.",
  [caseBytes("dtype-float32"), caseBytes("order-fortran").subarray(0, 10)],
  ["dtype-float32"],
  [{ messageIndex: 1, code: "TRUNCATED", recoverable: false }],
);
streamCase(
  "truncated-at-data-section",
  "The stream ends exactly where the second message's data section starts (its header and padding are whole): TRUNCATED for message 1.",
  [caseBytes("dtype-float32"), caseBytes("order-fortran").subarray(0, dataStartOf("order-fortran"))],
  ["dtype-float32"],
  [{ messageIndex: 1, code: "TRUNCATED", recoverable: false }],
);
{
  // A non-zero byte in the padding after the header, then the end of the stream before D.
  const bytes = caseBytes("order-fortran");
  const padding = 20 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  if (dataStartOf("order-fortran") - padding < 3) throw new Error("truncated-in-header-padding-after-bad-byte needs 3 bytes of padding");
  streamCase(
    "truncated-in-header-padding-after-bad-byte",
    "The second message's first padding byte after its header is 0x01, and the stream ends one byte later, before the data section: TRUNCATED for message 1 (check 20 comes before check 21's BAD_PADDING, as in a file), not BAD_PADDING.",
    [caseBytes("dtype-float32"), poke(bytes, padding, 0x01).subarray(0, padding + 2)],
    ["dtype-float32"],
    [{ messageIndex: 1, code: "TRUNCATED", recoverable: false }],
  );
}
{
  // A non-zero byte in the padding after the header, all of which arrived, then the end of the stream inside the data section.
  const bytes = caseBytes("order-fortran");
  const padding = 20 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  streamCase(
    "bad-padding-then-cut-in-data-section",
    "The second message's first padding byte after its header is 0x01, and the stream ends 8 bytes into its data section: BAD_PADDING for message 1, not recoverable. The padding has arrived whole, and a stream reader runs check 21 before it reads the data section (FORMAT.md §11), where a reader of the same bytes as one file knows their length and reports TRUNCATED (check 20: invalid/length-before-padding; FORMAT.md §9's second latitude).",
    [caseBytes("dtype-float32"), poke(bytes, padding, 0x01).subarray(0, dataStartOf("order-fortran") + 8)],
    ["dtype-float32"],
    [{ messageIndex: 1, code: "BAD_PADDING", recoverable: false }],
  );
}
streamCase(
  "not-a-message-after-the-last",
  "One byte (a line feed) after a whole message: it is not the start of another one, BAD_MAGIC for message 1 (never TRAILING_BYTES in a stream).",
  [caseBytes("dtype-float32"), Uint8Array.of(0x0a)],
  ["dtype-float32"],
  [{ messageIndex: 1, code: "BAD_MAGIC", recoverable: false }],
);
streamCase(
  "damaged-payload-then-valid",
  "The second message's header is valid and a payload of it is damaged (invalid/checksum-second-array): CHECKSUM for message 1, recoverable, and a reader that goes on reads the third message.",
  [caseBytes("dtype-float32"), caseBytes("checksum-second-array"), caseBytes("no-arrays")],
  ["dtype-float32", "no-arrays"],
  [{ messageIndex: 1, code: "CHECKSUM", recoverable: true }],
);
streamCase(
  "codec-error-then-valid",
  "The second message's header is valid and its one array's deflate stream is cut short (invalid/codec-error-truncated-stream): CODEC_ERROR (check 23, when the array is handed out) for message 1, recoverable, and the third message is read.",
  [caseBytes("dtype-float32"), caseBytes("codec-error-truncated-stream"), caseBytes("no-arrays")],
  ["dtype-float32", "no-arrays"],
  [{ messageIndex: 1, code: "CODEC_ERROR", recoverable: true }],
);
streamCase(
  "two-bad-arrays-one-error",
  'The second message has two bad arrays (invalid/verify-order-arrays-in-file-order: non-zero padding after "a", then a damaged "b"): one error for message 1, its first array\'s BAD_PADDING, recoverable; a reader that goes on skips the rest of the message, so "b" is not reported, and reads the third message.',
  [caseBytes("dtype-float32"), caseBytes("verify-order-arrays-in-file-order"), caseBytes("no-arrays")],
  ["dtype-float32", "no-arrays"],
  [{ messageIndex: 1, code: "BAD_PADDING", recoverable: true }],
);
streamCase(
  "bad-header-ends-the-stream",
  "The second message's header fails its CRC (invalid/header-checksum-bit-flip): HEADER_CHECKSUM for message 1, not recoverable, so the third message, valid, is never read.",
  [caseBytes("dtype-float32"), caseBytes("header-checksum-bit-flip"), caseBytes("dtype-float32")],
  ["dtype-float32"],
  [{ messageIndex: 1, code: "HEADER_CHECKSUM", recoverable: false }],
);

function main(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const options = parseArgs(process.argv.slice(2), root);
  const version = specVersion(readFileSync(options.formatMd ?? join(root, "FORMAT.md"), "utf8"));
  const names = new Set<string>();
  for (const c of [...valid, ...invalid]) {
    if (names.has(c.name)) throw new Error(`duplicate case name ${c.name}`);
    names.add(c.name);
  }
  rmSync(join(options.out, "valid"), { recursive: true, force: true });
  rmSync(join(options.out, "invalid"), { recursive: true, force: true });
  rmSync(join(options.out, "streams"), { recursive: true, force: true });
  mkdirSync(join(options.out, "valid"), { recursive: true });
  mkdirSync(join(options.out, "invalid"), { recursive: true });
  mkdirSync(join(options.out, "streams"), { recursive: true });
  for (const c of valid) {
    writeFileSync(join(options.out, "valid", `${c.name}.ndp`), c.bytes);
    writeFileSync(join(options.out, "valid", `${c.name}.json`), `${jsonText(c.expected)}\n`);
  }
  for (const c of invalid) {
    writeFileSync(join(options.out, "invalid", `${c.name}.ndp`), c.bytes);
    writeFileSync(join(options.out, "invalid", `${c.name}.json`), `${jsonText(c.expected)}\n`);
  }
  for (const c of streams) {
    writeFileSync(join(options.out, "streams", `${c.name}.ndps`), c.bytes);
    writeFileSync(join(options.out, "streams", `${c.name}.json`), `${jsonText(c.expected)}\n`);
  }
  const index = {
    description: `ndpack conformance vectors for specification ${version} (file format 1.0); see spec/conformance.md`,
    specVersion: version,
    valid: valid.map((c) => ({ name: c.name, canonical: c.expected.canonical })),
    invalid: invalid.map((c) => ({ name: c.name, code: c.expected.code, step: c.expected.step, ...(c.expected.when ? { when: c.expected.when } : {}) })),
    streams: streams.map((c) => ({ name: c.name, messages: c.expected.messages.length, errors: c.expected.errors.map((e) => e.code) })),
  };
  writeFileSync(join(options.out, "index.json"), `${JSON.stringify(index, null, 2)}\n`);
  // The vectors are bytes: no line-ending conversion, no diff as text (some look like text).
  writeFileSync(join(options.out, ".gitattributes"), "* -text\n*.ndp binary\n*.ndps binary\n");
  if (options.formatMd !== undefined) rewriteFormatMd(options.formatMd, workedExamples());
  console.log(`wrote ${valid.length} valid, ${invalid.length} invalid and ${streams.length} stream cases to ${options.out}${options.formatMd ? ` and the worked example to ${options.formatMd}` : ""}`);
}

main();
