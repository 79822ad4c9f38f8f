/**
 * The golden fixtures (spec/conformance.md), run against this implementation: every valid file
 * decodes to exactly its expectations and re-encodes to the same bytes where it is canonical;
 * every invalid file fails with its code, at decode time or when its array is read. A freshness
 * test regenerates the fixtures and FORMAT.md's worked example and requires identical bytes.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import {
  bfloat16ToFloat32,
  decode,
  encode,
  float16ToFloat32,
  float8E4M3FNToFloat32,
  float8E5M2ToFloat32,
  isNdpackError,
  NdpackError,
  verify,
  type ArrayInput,
  type Codec,
  type Dtype,
  type NdArray,
  type NdpackFile,
  type TypedArray,
} from "../src/index.js";
import { withoutNativeZlib } from "./helpers/engines.js";
import { requirePython, runPython } from "./helpers/python-env.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = join(ROOT, "fixtures");
const HOST_LITTLE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

interface ExpectedArray {
  name: string;
  dtype: Dtype;
  shape: number[];
  order: "C" | "F";
  byteOrder: "little" | "big";
  codec: Codec;
  nbytes: number;
  hex?: string;
  sha256?: string;
  values?: unknown[];
}

interface ExpectedValid {
  description: string;
  canonical: boolean;
  /** Streams built bit by bit (FORMAT.md §5), which no compressor writes. */
  deflatedByHand?: true;
  version: { major: number; minor: number };
  alignment: number;
  checksum: "crc32" | "none";
  metadata: Record<string, unknown>;
  arrays: ExpectedArray[];
}

interface ExpectedInvalid {
  code: string;
  step: number;
  description: string;
  array?: string;
  when?: "read";
  verify?: true;
  others?: Record<string, string>;
}

/** FORMAT.md §9: the steps at which each code can be raised. */
const STEPS_OF_CODE: Readonly<Record<string, readonly number[]>> = {
  BAD_MAGIC: [1],
  TRUNCATED: [2, 5, 20],
  UNSUPPORTED_VERSION: [3],
  HEADER_TOO_LARGE: [4],
  HEADER_CHECKSUM: [6],
  HEADER_INVALID: [7, 8],
  LIMIT_EXCEEDED: [7, 9, 10, 12, 23],
  DUPLICATE_KEY: [7],
  BAD_NUMBER: [7],
  UNKNOWN_DTYPE: [8],
  UNSUPPORTED_CODEC: [8],
  UNSUPPORTED_CHECKSUM: [8],
  DUPLICATE_NAME: [11],
  BAD_SHAPE: [13],
  SIZE_MISMATCH: [14],
  MISALIGNED: [15],
  OVERLAP: [16],
  GAP: [17, 19],
  OUT_OF_BOUNDS: [18],
  TRAILING_BYTES: [20],
  BAD_PADDING: [21, 22],
  CHECKSUM: [22],
  CODEC_ERROR: [23],
};

function caseNames(kind: "valid" | "invalid"): string[] {
  return readdirSync(join(FIXTURES, kind))
    .filter((f) => f.endsWith(".ndp"))
    .map((f) => f.slice(0, -4))
    .sort();
}

function load<T>(kind: "valid" | "invalid", name: string): { bytes: Uint8Array; expected: T } {
  // A copy at offset 0 of its own buffer: views of it are aligned for every dtype.
  const bytes = new Uint8Array(readFileSync(join(FIXTURES, kind, `${name}.ndp`)));
  const expected = JSON.parse(readFileSync(join(FIXTURES, kind, `${name}.json`), "utf8")) as T;
  return { bytes, expected };
}

const VALID = caseNames("valid");
const INVALID = caseNames("invalid");

/** Runs `run` and returns what it threw, requiring an NdpackError (nothing else may escape). */
function ndpackErrorOf(run: () => unknown): NdpackError {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) throw new Error("expected an NdpackError, but nothing was thrown");
  if (!(thrown instanceof NdpackError) || !isNdpackError(thrown)) throw thrown;
  return thrown;
}

// ---------------------------------------------------------------------------------------------
// Reading decoded arrays back into the fixtures' notation

function floatValue(x: number): number | string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (Object.is(x, -0)) return "-0";
  return x;
}

/** The decoded elements as little-endian bytes (what the fixtures' "hex" and "sha256" describe). */
function littleEndianBytes(data: TypedArray): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const word = data.BYTES_PER_ELEMENT;
  if (HOST_LITTLE || word === 1) return bytes;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += word) for (let j = 0; j < word; j++) out[i + j] = bytes[i + word - 1 - j]!;
  return out;
}

/** The "values" notation, computed from the typed array's elements (not from its bytes). */
function valuesOf(array: NdArray): unknown[] {
  const data = array.data;
  switch (array.dtype) {
    case "bool":
      return Array.from(data as Uint8Array, (v) => v !== 0);
    case "int64":
    case "uint64":
      return Array.from(data as BigInt64Array, (v) => v.toString());
    case "float16":
      return Array.from(data instanceof Uint16Array ? float16ToFloat32(data) : (data as unknown as ArrayLike<number>), floatValue);
    case "bfloat16":
      return Array.from(bfloat16ToFloat32(data as Uint16Array), floatValue);
    case "float8_e4m3fn":
      return Array.from(float8E4M3FNToFloat32(data as Uint8Array), floatValue);
    case "float8_e5m2":
      return Array.from(float8E5M2ToFloat32(data as Uint8Array), floatValue);
    case "float32":
    case "float64":
      return Array.from(data as Float64Array, floatValue);
    case "complex64":
    case "complex128": {
      const parts = Array.from(data as Float64Array, floatValue);
      return Array.from({ length: parts.length / 2 }, (_, i) => [parts[2 * i], parts[2 * i + 1]]);
    }
    default:
      return Array.from(data as Int32Array);
  }
}

/** Compares a decoded file with its expectations, field by field and byte by byte. */
function expectContents(file: NdpackFile, expected: ExpectedValid): void {
  expect(file.version).toEqual(expected.version);
  expect(file.alignment).toBe(expected.alignment);
  expect(file.checksum).toBe(expected.checksum);
  expect(file.metadata).toStrictEqual(expected.metadata);
  expect(file.names).toEqual(expected.arrays.map((a) => a.name));
  expect(file.size).toBe(expected.arrays.length);
  for (const want of expected.arrays) {
    expect(file.has(want.name)).toBe(true);
    const array = file.get(want.name);
    const { name, dtype, shape, order, byteOrder, codec, nbytes } = array;
    expect({ name, dtype, shape, order, byteOrder, codec, nbytes }, want.name).toEqual({
      name: want.name,
      dtype: want.dtype,
      shape: want.shape,
      order: want.order,
      byteOrder: want.byteOrder,
      codec: want.codec,
      nbytes: want.nbytes,
    });
    expect(file.info(want.name)).toMatchObject({ name, dtype, shape, order, byteOrder, codec, nbytes });
    const bytes = littleEndianBytes(array.data);
    expect(bytes.length, want.name).toBe(want.nbytes);
    if (want.hex !== undefined) expect(Buffer.from(bytes).toString("hex"), want.name).toBe(want.hex);
    else expect(createHash("sha256").update(bytes).digest("hex"), want.name).toBe(want.sha256);
    if (want.values !== undefined) expect(valuesOf(array), want.name).toEqual(want.values);
  }
}

/** Dtypes of one byte, whose byte order writers always write as "little". */
const ONE_BYTE: readonly string[] = ["bool", "int8", "uint8", "float8_e4m3fn", "float8_e5m2"];

/** FORMAT.md §3: a bool byte other than 0 reads as true, and writers store true as 1. */
function asWritten(dtype: Dtype, data: TypedArray): TypedArray {
  return dtype === "bool" ? (data as Uint8Array).map((byte) => (byte === 0 ? 0 : 1)) : data;
}

/** Encodes a decoded file again with the file's own options. */
function reencode(file: NdpackFile, expected: ExpectedValid): Uint8Array {
  const multiByte = expected.arrays.find((a) => !ONE_BYTE.includes(a.dtype));
  const arrays = file.names.map((name): [string, ArrayInput] => {
    const { data, shape, dtype, order, codec } = file.get(name);
    return [name, { data: asWritten(dtype, data), shape, dtype, order, codec }];
  });
  return encode(arrays, { alignment: file.alignment, checksum: file.checksum, metadata: file.metadata, byteOrder: multiByte?.byteOrder ?? "little" });
}

// ---------------------------------------------------------------------------------------------

describe("the fixture set", () => {
  test("is present, indexed, and covers every step and code of FORMAT.md §9", () => {
    expect(VALID.length).toBeGreaterThanOrEqual(50);
    expect(INVALID.length).toBeGreaterThanOrEqual(100);
    const index = JSON.parse(readFileSync(join(FIXTURES, "index.json"), "utf8")) as { valid: { name: string }[]; invalid: { name: string; code: string; step: number }[] };
    expect(index.valid.map((c) => c.name).sort()).toEqual(VALID);
    expect(index.invalid.map((c) => c.name).sort()).toEqual(INVALID);
    for (const kind of ["valid", "invalid"] as const) {
      const files = readdirSync(join(FIXTURES, kind)).sort();
      expect(files).toEqual(caseNames(kind).flatMap((n) => [`${n}.json`, `${n}.ndp`]).sort());
    }
    const codes = new Set(index.invalid.map((c) => c.code));
    expect([...codes].sort()).toEqual(Object.keys(STEPS_OF_CODE).sort());
    // Step 9 (more than maxArrays = 100,000 entries) would take a 10 MB header; test/errors.test.ts covers it with a lowered limit.
    const steps = new Set(index.invalid.map((c) => c.step));
    for (let step = 1; step <= 23; step++) if (step !== 9) expect(steps.has(step), `step ${step}`).toBe(true);
  });

  test("is made for the specification version FORMAT.md states (the Python reference checks it too)", () => {
    const index = JSON.parse(readFileSync(join(FIXTURES, "index.json"), "utf8")) as { specVersion: string };
    expect(index.specVersion).toMatch(/^1\.\d+\.\d+$/);
    expect(readFileSync(join(ROOT, "FORMAT.md"), "utf8")).toContain(`\nSpecification version ${index.specVersion}, describing file format version 1.0.\n`);
  });

  test("every dtype is covered in both byte orders", () => {
    for (const dtype of ["bool", "int8", "uint8", "float8_e4m3fn", "float8_e5m2"]) expect(VALID).toContain(`dtype-${dtype}`);
    for (const dtype of ["int16", "int32", "int64", "uint16", "uint32", "uint64", "float16", "bfloat16", "float32", "float64", "complex64", "complex128"]) {
      expect(VALID).toContain(`dtype-${dtype}`);
      expect(VALID).toContain(`dtype-${dtype}-big-endian`);
    }
  });
});

describe("valid fixtures", () => {
  test.each(VALID)("%s", (name) => {
    const { bytes, expected } = load<ExpectedValid>("valid", name);
    const file = decode(bytes);
    expectContents(file, expected);

    expect(() => decode(bytes, { verify: true })).not.toThrow();
    const report = verify(bytes);
    expect(report.ok, report.error?.message).toBe(true);
    expect(report.arrays.every((a) => a.ok)).toBe(true);
    expectContents(decode(bytes, { copy: "always" }), expected);

    const compressed = expected.arrays.some((a) => a.codec !== "none");
    // Compressed vectors were deflated by pako (level 6), the library's compressor in browsers, which
    // must reproduce them; Node's zlib compresses to other bytes of the same contents. Streams built
    // bit by bit (deflatedByHand) are no compressor's: their contents are compared.
    const again = compressed ? withoutNativeZlib(() => reencode(file, expected)) : reencode(file, expected);
    if (expected.canonical || (compressed && expected.deflatedByHand !== true)) {
      // Canonical files are reproduced by any conforming writer.
      expect(Buffer.from(again).equals(Buffer.from(bytes)), "re-encoded bytes differ").toBe(true);
    } else {
      // Written by another writer: ours writes the same contents in its own canonical form (1.0).
      const canonicalForm = expected.arrays.map((a) => {
        const written = a.dtype === "bool" && a.hex !== undefined ? { ...a, hex: Buffer.from(asWritten("bool", Buffer.from(a.hex, "hex")) as Uint8Array).toString("hex") } : a;
        return ONE_BYTE.includes(a.dtype) ? { ...written, byteOrder: "little" as const } : written;
      });
      expectContents(decode(again), { ...expected, version: { major: 1, minor: 0 }, arrays: canonicalForm });
    }
  });
});

describe("invalid fixtures", () => {
  test.each(INVALID)("%s", (name) => {
    const { bytes, expected } = load<ExpectedInvalid>("invalid", name);
    expect(STEPS_OF_CODE[expected.code], `unknown code ${expected.code}`).toContain(expected.step);
    expect(expected.when === "read", "read-time cases are exactly steps 22 and 23").toBe(expected.step >= 22);

    if (expected.when !== "read") {
      const error = ndpackErrorOf(() => decode(bytes));
      expect(error.code, error.message).toBe(expected.code);
      const report = verify(bytes);
      expect(report.ok).toBe(false);
      expect(report.error?.code).toBe(expected.code);
      return;
    }

    const arrayName = expected.array!;
    const file = decode(bytes);
    expect(file.has(arrayName)).toBe(true);
    if (expected.verify) {
      // Verifying the whole file stops at the first failing array in file order, which is `array`.
      const error = ndpackErrorOf(() => decode(bytes, { verify: true }));
      expect(error.code, error.message).toBe(expected.code);
      expect(error.array).toBe(arrayName);
      const failing: Record<string, string> = { ...expected.others, [arrayName]: expected.code };
      const report = verify(bytes);
      expect(report.ok).toBe(false);
      expect(Object.fromEntries(report.arrays.filter((r) => !r.ok).map((r) => [r.name, r.error?.code]))).toEqual(failing);
      for (const other of file.names) if (failing[other] === undefined) expect(() => file.get(other)).not.toThrow();
    } else {
      const error = ndpackErrorOf(() => file.get(arrayName));
      expect(error.code, error.message).toBe(expected.code);
      expect(error.array).toBe(arrayName);
      // The stored bytes and their CRC are intact: only decoding the payload fails.
      expect(verify(bytes).ok).toBe(true);
      expect(() => decode(bytes, { verify: true })).not.toThrow();
    }
  });
});

describe("misreadings of FORMAT.md (issue 19)", () => {
  test("each is caught: the Python reference with one rule misread fails the vectors that pin it", () => {
    requirePython();
    // spec/python/test_misreadings.py patches one rule at a time into the reference and runs the vectors.
    const report = JSON.parse(runPython(join(ROOT, "spec", "python", "test_misreadings.py"), [FIXTURES])) as {
      ok: boolean;
      failures: string[];
      misreadings: Record<string, { vectors: Record<string, { expected: string; misread: string }> }>;
    };
    expect(report.failures).toEqual([]);
    expect(Object.keys(report.misreadings).length).toBeGreaterThanOrEqual(6);
    // Sets' too (FORMAT.md §12), each run on the set vectors that pin its rule.
    expect(Object.keys(report.misreadings).filter((name) => name.startsWith("set-")).length).toBeGreaterThanOrEqual(6);
    for (const [name, { vectors }] of Object.entries(report.misreadings)) {
      expect(Object.keys(vectors).length, name).toBeGreaterThan(0);
      for (const [vector, { expected, misread }] of Object.entries(vectors)) expect(misread, `${name}: ${vector}`).not.toBe(expected);
    }
    expect(report.ok).toBe(true);
  }, 120_000);
});

describe("freshness", () => {
  test("regenerating the fixtures and the worked example gives the committed bytes", () => {
    const dir = mkdtempSync(join(tmpdir(), "ndpack-fixtures-"));
    try {
      const formatMd = join(dir, "FORMAT.md");
      copyFileSync(join(ROOT, "FORMAT.md"), formatMd);
      const tsx = join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
      execFileSync(process.execPath, [tsx, join(ROOT, "scripts", "generate-fixtures.ts"), "--out", join(dir, "fixtures"), "--format-md", formatMd], { stdio: "pipe" });
      const listing = (base: string): string[] => {
        const out: string[] = [];
        const walk = (at: string) => {
          for (const entry of readdirSync(at)) {
            const path = join(at, entry);
            if (statSync(path).isDirectory()) walk(path);
            else out.push(relative(base, path));
          }
        };
        walk(base);
        return out.sort();
      };
      // Only what the generator owns: other tools (the fuzzer's fuzz-found/) may keep files in fixtures/ too.
      const owned = (path: string) => path === ".gitattributes" || path === "index.json" || /^(valid|invalid|streams)[\\/]/.test(path);
      const fresh = listing(join(dir, "fixtures"));
      expect(fresh.every(owned)).toBe(true);
      expect(listing(FIXTURES).filter(owned), "run `npm run fixtures` and commit fixtures/").toEqual(fresh);
      const stale = fresh.filter((path) => !readFileSync(join(dir, "fixtures", path)).equals(readFileSync(join(FIXTURES, path))));
      expect(stale, "run `npm run fixtures` and commit fixtures/").toEqual([]);
      expect(readFileSync(formatMd, "utf8") === readFileSync(join(ROOT, "FORMAT.md"), "utf8"), "FORMAT.md §10 is stale: run `npm run fixtures`").toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
