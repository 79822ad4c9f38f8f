// The Python reference implementation (spec/python/ndpack/reference.py) against the TypeScript one.
//  1. Conformance: both pass every golden fixture of fixtures/ (spec/conformance.md).
//  2. Cross-language property test: fast-check generates cases, TypeScript writes them, ONE python3
//     process reads them all, checks the values, and writes them back; TypeScript then checks the
//     Python-written files (byte-identical when uncompressed, same values when compressed).
// Both FAIL, never skip, when python3 or numpy is missing.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { crc32 } from "node:zlib";
import { decode, encode, verify } from "../src/index.js";
import { REPO, requirePython, runPython } from "./helpers/python-env.js";

const DTYPES = [
  "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
  "bfloat16", "float32", "float64", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2",
] as const;
type DtypeName = (typeof DTYPES)[number];
const ITEM_SIZE: Record<DtypeName, number> = {
  bool: 1, int8: 1, int16: 2, int32: 4, int64: 8, uint8: 1, uint16: 2, uint32: 4, uint64: 8,
  float16: 2, bfloat16: 2, float32: 4, float64: 8, complex64: 8, complex128: 16,
  float8_e4m3fn: 1, float8_e5m2: 1,
};
const CODECS = ["none", "deflate", "shuffle+deflate"] as const;
type Codec = (typeof CODECS)[number];

const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "ndpack-python-"));
  tempDirs.push(d);
  return d;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/** The typed array the TypeScript API takes for `dtype`, over a copy of `bytes` (little-endian). */
function typedArray(dtype: DtypeName, bytes: Uint8Array): ArrayBufferView {
  const buf = bytes.slice().buffer;
  switch (dtype) {
    case "int8": return new Int8Array(buf);
    case "int16": return new Int16Array(buf);
    case "int32": return new Int32Array(buf);
    case "int64": return new BigInt64Array(buf);
    case "uint16": case "float16": case "bfloat16": return new Uint16Array(buf);
    case "uint32": return new Uint32Array(buf);
    case "uint64": return new BigUint64Array(buf);
    case "float32": case "complex64": return new Float32Array(buf);
    case "float64": case "complex128": return new Float64Array(buf);
    default: return new Uint8Array(buf); // bool, uint8, float8_*
  }
}

// ------------------------------------------------------------------------------------------------
// Generators
// ------------------------------------------------------------------------------------------------

const wellFormed = (s: string) => s.isWellFormed();
const nameArb = fc.oneof(
  fc.string({ unit: "binary", minLength: 1, maxLength: 8 }).filter(wellFormed),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 6 }),
  fc.constantFrom("__proto__", "constructor", "a/b", "layer.0.weight", "é", "😀", "\u0000",
    "\n\t\"\\/", "\u2028\u2029", "\u007f", "x".repeat(300)),
);
const keyArb = fc.oneof(
  fc.string({ unit: "binary", maxLength: 6 }).filter(wellFormed),
  fc.constantFrom("", "__proto__", "constructor", "metadata", "arrays", "\u0001", "é😀"),
);
const SPECIAL_NUMBERS = [
  1e-7, 1e21, 0.1, -0, 0, 5e-324, -5e-324, 2 ** 60, -(2 ** 60), 2 ** 53, 2 ** 53 - 1, -(2 ** 53 - 1),
  1e-6, 1e-7 * 3, 123456789012345680000, 1e20, 1.7976931348623157e308, 2.2250738585072014e-308,
  1e300, 100, 1.5, -1.5e-10, 0.000001, 4.35, 1 / 3,
];
const leafArb = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(...SPECIAL_NUMBERS),
  fc.integer(),
  fc.string({ unit: "binary", maxLength: 8 }).filter(wellFormed),
  fc.constantFrom("", "\u0000\u001f\u007f\u2028\u2029\"\\/\b\f\n\r\t", "😀", "e\u0301"),
  fc.boolean(),
  fc.constant(null),
);
const { value: jsonValueArb } = fc.letrec((tie) => ({
  value: fc.oneof({ maxDepth: 4, depthSize: "small" }, leafArb, tie("array"), tie("object")),
  array: fc.array(tie("value"), { maxLength: 4 }),
  object: fc.dictionary(keyArb, tie("value"), { maxKeys: 4, noNullPrototype: true }),
}));
const metadataArb = fc.dictionary(keyArb, jsonValueArb, { maxKeys: 5, noNullPrototype: true });

const shapeArb = fc.oneof(
  fc.constant([] as number[]),
  fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 4 }),
  fc.array(fc.integer({ min: 1, max: 48 }), { minLength: 1, maxLength: 2 }),
);

interface ArrayCase {
  name: string;
  dtype: DtypeName;
  shape: number[];
  order: "C" | "F";
  codec: Codec | null; // per-array codec, null to use the file's
  bytes: Uint8Array; // elements in memory order, little-endian
}
interface Case {
  arrays: ArrayCase[];
  metadata: Record<string, unknown>;
  alignment: number;
  byteOrder: "little" | "big";
  checksum: "crc32" | "none";
  codec: Codec;
  compressionLevel: number;
}

/** Element bytes from a seed: random bits, or low-entropy bytes (that compress). */
function elementBytes(dtype: DtypeName, count: number, seed: number, lowEntropy: boolean): Uint8Array {
  const out = new Uint8Array(count * ITEM_SIZE[dtype]);
  let x = seed | 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = lowEntropy ? ((x >>> 8) % 7 === 0 ? x & 0xff : (i % 5) * 3) : x & 0xff;
  }
  if (dtype === "bool") for (let i = 0; i < out.length; i++) out[i]! &= 1;
  return out;
}

const arrayCaseArb = fc
  .record({
    dtype: fc.constantFrom(...DTYPES),
    shape: shapeArb,
    order: fc.constantFrom("C" as const, "F" as const),
    codec: fc.option(fc.constantFrom("none" as const, "none" as const, "deflate" as const, "shuffle+deflate" as const), { nil: null, freq: 2 }),
    seed: fc.integer(),
    lowEntropy: fc.boolean(),
  })
  .filter((a) => a.shape.reduce((p, d) => p * d, 1) <= 2500);

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    arrays: fc.uniqueArray(fc.tuple(nameArb, arrayCaseArb), {
      maxLength: 4,
      selector: ([name]) => name,
    }),
    metadata: metadataArb,
    alignment: fc.constantFrom(8, 16, 32, 64, 64, 64, 128, 1024, 4096, 65536),
    byteOrder: fc.constantFrom("little" as const, "big" as const),
    checksum: fc.constantFrom("crc32" as const, "none" as const),
    codec: fc.constantFrom("none" as const, "none" as const, "none" as const, "deflate" as const, "shuffle+deflate" as const),
    compressionLevel: fc.integer({ min: 0, max: 9 }),
  })
  .map(({ arrays, ...rest }) => ({
    ...rest,
    arrays: arrays.map(([name, a]) => ({
      name,
      dtype: a.dtype,
      shape: a.shape,
      order: a.order,
      codec: a.codec,
      bytes: elementBytes(a.dtype, a.shape.reduce((p, d) => p * d, 1), a.seed, a.lowEntropy),
    })),
  }));

function encodeCase(c: Case): Uint8Array {
  return encode(
    c.arrays.map((a) => [
      a.name,
      {
        data: typedArray(a.dtype, a.bytes),
        shape: a.shape,
        dtype: a.dtype,
        order: a.order,
        ...(a.codec === null ? {} : { codec: a.codec }),
      },
    ]) as never,
    {
      metadata: c.metadata,
      alignment: c.alignment,
      byteOrder: c.byteOrder,
      checksum: c.checksum,
      codec: c.codec,
      compressionLevel: c.compressionLevel,
    } as never,
  );
}

// In both APIs a per-array codec of "none" leaves the choice to the file-wide option.
const uncompressed = (c: Case) => c.arrays.every((a) => (a.codec === null || a.codec === "none" ? c.codec : a.codec) === "none");

// ------------------------------------------------------------------------------------------------
// Damaged files: valid files with their header text, header structure or bytes changed
// ------------------------------------------------------------------------------------------------

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);

/** The file `orig` with another header (length and CRC made right) and the same data section. */
function withHeader(orig: Uint8Array, header: Uint8Array, minor = 0): Uint8Array {
  const h = u32(orig, 12);
  const alignment = (JSON.parse(new TextDecoder().decode(orig.subarray(20, 20 + h))) as { alignment: number }).alignment;
  const data = orig.subarray(Math.ceil((20 + h) / alignment) * alignment);
  const start = Math.ceil((20 + header.length) / alignment) * alignment;
  const out = new Uint8Array(start + data.length);
  out.set(orig.subarray(0, 8));
  const view = new DataView(out.buffer);
  view.setUint16(8, 1, true);
  view.setUint16(10, minor, true);
  view.setUint32(12, header.length, true);
  out.set(header, 20);
  view.setUint32(16, crc32(header, crc32(out.subarray(8, 16))) >>> 0, true);
  out.set(data, start);
  return out;
}

const TOKENS = ["{", "}", "[", "]", '"', ",", ":", "0", "1", "-", ".", "e", " ", "\n", "\\", "x",
  '"metadata"', '"arrays"', "1e3", "64.0", "-0", "-01", "1.", "99999999999999999", "NaN", "null",
  "true", "\\ud800", "é", "\u0001", '"codec":"zstd",', '"dtype":"int3",', '"checksum":"md5",',
  '"extra":1,', "[[[[[[[[", "1e400", '"name":"a",', '"order":"K",', '"offset":8,'];
const VALUES: unknown[] = [0, 1, 3, 8, 4096, 1.5, "x", "", "big", "F", "int3", "zstd", "md5", null,
  true, [], {}, [1], "float32", "deflate", "none", "crc32", 9007199254740991];

/** One damaged variant of `orig`, chosen by `rnd`. */
function damage(orig: Uint8Array, rnd: () => number): Uint8Array {
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const h = u32(orig, 12);
  const text = new TextDecoder().decode(orig.subarray(20, 20 + h));
  const kind = rnd();
  if (kind < 0.3) {
    // the header's structure: keys removed, replaced, added; names repeated
    const header = JSON.parse(text) as Record<string, unknown> & { arrays: Record<string, unknown>[] };
    for (let i = 0, n = 1 + Math.floor(rnd() * 3); i < n; i++) {
      const entries = Array.isArray(header.arrays) ? header.arrays.filter((e) => e !== null && typeof e === "object") : [];
      const target: Record<string, unknown> = entries.length > 0 && rnd() < 0.6 ? pick(entries) : header;
      const keys = Object.keys(target);
      const op = rnd();
      if (op < 0.3 && keys.length > 0) delete target[pick(keys)];
      else if (op < 0.7 && keys.length > 0) target[pick(keys)] = pick(VALUES);
      else if (op < 0.85) target[pick(["zz", "name", "codec", "metadata"])] = pick(VALUES);
      else if (entries.length > 1) entries[1]!.name = entries[0]!.name;
    }
    return withHeader(orig, new TextEncoder().encode(JSON.stringify(header)), rnd() < 0.15 ? 2 : 0);
  }
  if (kind < 0.65) {
    // the header's text: tokens inserted, characters deleted, numbers and strings replaced
    let t = text;
    for (let i = 0, n = 1 + Math.floor(rnd() * 3); i < n; i++) {
      const p = Math.floor(rnd() * (t.length + 1));
      const op = rnd();
      if (op < 0.4) t = t.slice(0, p) + pick(TOKENS) + t.slice(p);
      else if (op < 0.65) t = t.slice(0, p) + t.slice(p + 1 + Math.floor(rnd() * 3));
      else {
        const found = [...t.matchAll(op < 0.85 ? /\d+/g : /"[^"\\]*"/g)];
        if (found.length === 0) continue;
        const m = pick(found);
        const by = op < 0.85 ? String(pick([0, 1, 4, 8, 16, 63, 64, 65, 128, Number(m[0]) + 1, Number(m[0]) - 1, Number(m[0]) + 8]))
          : pick(['"a"', '""', '"none"', '"deflate"', '"big"', '"F"', '"float64"', "1", "[]", "{}", "null"]);
        t = t.slice(0, m.index) + by + t.slice(m.index! + m[0].length);
      }
    }
    let header = new TextEncoder().encode(t);
    if (rnd() < 0.15) {
      const p = Math.floor(rnd() * header.length);
      header = new Uint8Array([...header.subarray(0, p), pick([0xff, 0xc0, 0xed, 0x80]), ...header.subarray(p)]);
    }
    return withHeader(orig, header, rnd() < 0.1 ? 1 : 0);
  }
  // bytes: a flipped bit or a cut, mostly in the data section
  const bytes = orig.slice();
  const at = rnd() < 0.7 && bytes.length > 20 + h ? 20 + h + Math.floor(rnd() * (bytes.length - 20 - h)) : Math.floor(rnd() * bytes.length);
  if (rnd() < 0.75) {
    bytes[at]! ^= 1 << Math.floor(rnd() * 8);
    return bytes;
  }
  return bytes.subarray(0, at);
}

/** What the TypeScript reader makes of a file, in the form python-codes.py reports. */
function tsOutcome(bytes: Uint8Array): { load: string; verify?: string[]; read?: string[] } {
  let file;
  try {
    file = decode(bytes);
  } catch (e) {
    return { load: (e as { code?: string }).code ?? String(e) };
  }
  return {
    load: "OK",
    verify: verify(bytes).arrays.map((a) => (a.ok ? "OK" : a.error!.code)),
    read: file.names.map((name) => {
      try {
        file.get(name);
        return "OK";
      } catch (e) {
        return (e as { code?: string }).code ?? String(e);
      }
    }),
  };
}

// ------------------------------------------------------------------------------------------------

describe("Python reference implementation (spec/python/ndpack/reference.py)", () => {
  it("python3 and numpy are available", () => {
    const env = requirePython();
    expect(env.numpy).toMatch(/^\d+\./);
  });

  it("passes every golden fixture (conformance, one Python process)", () => {
    requirePython();
    const fixtures = join(REPO, "fixtures");
    const indexPath = join(fixtures, "index.json");
    if (!existsSync(indexPath)) {
      throw new Error(`${indexPath} is missing: generate the golden fixtures with \`npm run fixtures\``);
    }
    const index = JSON.parse(readFileSync(indexPath, "utf8")) as {
      valid: { name: string }[];
      invalid: { name: string; code: string }[];
    };
    interface Result { name: string; ok: boolean; errors: string[]; notes?: string[]; expected?: string; got?: string; when?: string }
    const report = JSON.parse(runPython(join(REPO, "spec/python/conformance.py"), [fixtures])) as {
      ok: boolean;
      valid: Result[];
      invalid: Result[];
    };
    // Every fixture of the index was run, and nothing else.
    expect(report.valid.map((r) => r.name).sort()).toEqual(index.valid.map((f) => f.name).sort());
    expect(report.invalid.map((r) => r.name).sort()).toEqual(index.invalid.map((f) => f.name).sort());
    const failures = [
      ...report.valid.filter((r) => !r.ok).map((r) => `valid/${r.name}: ${r.errors.join("; ")}`),
      ...report.invalid
        .filter((r) => !r.ok)
        .map((r) => `invalid/${r.name}: expected ${r.expected}${r.when === "read" ? " when the array is read" : ""}, Python gave ${r.got}${r.errors.length ? `; ${r.errors.join("; ")}` : ""}`),
    ];
    expect(failures.length, `Python fails ${failures.length} fixtures:\n${failures.join("\n")}`).toBe(0);
    // The same code as the fixture (and as each fixture's index entry).
    const codes = new Map(index.invalid.map((f) => [f.name, f.code]));
    for (const r of report.invalid) expect(r.got, r.name).toBe(codes.get(r.name));
    expect(report.ok).toBe(true);
  });

  it("passes every golden fixture with bfloat16 and float8 read as raw bits (as without ml_dtypes)", () => {
    requirePython();
    const report = JSON.parse(
      runPython(join(REPO, "spec/python/conformance.py"), [join(REPO, "fixtures"), "--raw-bits"]),
    ) as { ok: boolean; valid: { name: string; ok: boolean; errors: string[] }[]; invalid: { name: string; ok: boolean }[] };
    const failures = [...report.valid, ...report.invalid].filter((r) => !r.ok);
    expect(failures, JSON.stringify(failures, null, 1)).toEqual([]);
  });

  it("passes its own unit tests (spec/python/test_ndpack.py: views, copies, byte order, writer refusals, limits, hostile headers)", () => {
    const env = requirePython();
    // ndpack.py works without ml_dtypes (bfloat16 and float8 as raw bits, tested above), but the
    // project's tests run with it, so that its ml_dtypes path is tested too.
    if (env.mlDtypes === null) {
      throw new Error(`ml_dtypes is missing from ${env.python}: install it with \`${env.python} -m pip install ml_dtypes\``);
    }
    runPython(join(REPO, "spec/python/test_ndpack.py"), []);
  });

  it("rejects damaged files with the same code as the TypeScript reader (one Python process)", () => {
    requirePython();
    const seed = Number(process.env.NDPACK_SEED ?? Date.now() % 2 ** 31);
    const numRuns = Number(process.env.NDPACK_RUNS ?? 300) * 2;
    let x = seed | 1;
    const rnd = () => {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      return (x >>> 0) / 2 ** 32;
    };
    const dir = tempDir();
    const originals = fc.sample(caseArb, { numRuns, seed }).map(encodeCase);
    const files: string[] = [];
    const expected = originals.map((orig, i) => {
      const bytes = damage(orig, rnd);
      const file = join(dir, `damaged-${i}.ndp`);
      writeFileSync(file, bytes);
      files.push(file);
      return tsOutcome(bytes);
    });
    const manifestPath = join(dir, "damaged.json");
    writeFileSync(manifestPath, JSON.stringify({ files }));
    const got = JSON.parse(runPython(join(REPO, "test/helpers/python-codes.py"), [manifestPath])) as unknown[];
    const differences: string[] = [];
    expected.forEach((ts, i) => {
      if (JSON.stringify(ts) !== JSON.stringify(got[i])) {
        const bytes = readFileSync(files[i]!);
        const h = bytes.length >= 16 ? bytes.readUInt32LE(12) : 0;
        differences.push(`file ${i} (rerun with NDPACK_SEED=${seed}): TypeScript ${JSON.stringify(ts)}, Python ${JSON.stringify(got[i])}; header ${JSON.stringify(bytes.subarray(20, 20 + Math.min(h, 600)).toString("latin1"))}`);
      }
    });
    expect(differences.length, `${differences.length} of ${numRuns} damaged files get different codes:\n${differences.slice(0, 5).join("\n")}`).toBe(0);
    // The damage reaches every part of §9, not only the JSON.
    const codes = new Set(expected.map((o) => o.load));
    for (const code of ["OK", "HEADER_INVALID", "HEADER_CHECKSUM", "TRUNCATED", "BAD_NUMBER"]) expect(codes).toContain(code);
  });

  it("reads TypeScript-written files and writes them back identically (cross-language property test, one Python process)", () => {
    requirePython();
    const seed = Number(process.env.NDPACK_SEED ?? Date.now() % 2 ** 31);
    const numRuns = Number(process.env.NDPACK_RUNS ?? 300);
    const cases = fc.sample(caseArb, { numRuns, seed });
    const dir = tempDir();
    const tsFiles: Uint8Array[] = [];
    const manifest = {
      cases: cases.map((c, id) => {
        const bytes = encodeCase(c);
        tsFiles.push(bytes);
        const file = join(dir, `case-${id}.ndp`);
        writeFileSync(file, bytes);
        return {
          id,
          file,
          out: join(dir, `case-${id}.py.ndp`),
          options: {
            alignment: c.alignment,
            byte_order: c.byteOrder,
            checksum: c.checksum,
            codec: c.codec,
            compression_level: c.compressionLevel,
          },
          arrays: c.arrays.map((a) => ({
            name: a.name,
            dtype: a.dtype,
            shape: a.shape,
            order: a.order,
            codec: a.codec,
            hex: hex(a.bytes),
          })),
        };
      }),
    };
    const manifestPath = join(dir, "manifest.json");
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const report = JSON.parse(
      runPython(join(REPO, "test/helpers/python-roundtrip.py"), [manifestPath]),
    ) as { ok: boolean; cases: { id: number; errors: string[] }[] };

    const failures: string[] = [];
    const describeCase = (id: number) => {
      const c = cases[id]!;
      const json = JSON.stringify({ ...c, arrays: c.arrays.map((a) => ({ ...a, bytes: hex(a.bytes) })) });
      return `case ${id} (rerun with NDPACK_SEED=${seed}): ${json.length > 2000 ? `${json.slice(0, 2000)}...` : json}`;
    };
    for (const r of report.cases) {
      if (r.errors.length) failures.push(`Python, ${describeCase(r.id)}:\n  ${r.errors.join("\n  ")}`);
    }
    let identical = 0;
    let compressed = 0;
    cases.forEach((c, id) => {
      if (report.cases[id]!.errors.length) return;
      const py = new Uint8Array(readFileSync(manifest.cases[id]!.out));
      const ts = tsFiles[id]!;
      try {
        if (uncompressed(c)) {
          if (Buffer.compare(py, ts) !== 0) {
            failures.push(`bytes differ, ${describeCase(id)}:\n  ts ${hex(ts)}\n  py ${hex(py)}`);
            return;
          }
          identical++;
        } else compressed++;
        const file = decode(py, { verify: true });
        expect(file.names).toEqual(c.arrays.map((a) => a.name));
        expect(file.metadata).toEqual(c.metadata);
        for (const a of c.arrays) {
          const got = file.get(a.name);
          expect(got.dtype).toBe(a.dtype);
          expect(got.shape).toEqual(a.shape);
          expect(got.order).toBe(a.order);
          expect(hex(bytesOf(got.data))).toBe(hex(a.bytes));
        }
      } catch (e) {
        failures.push(`TypeScript reading Python's file, ${describeCase(id)}:\n  ${String(e)}`);
      }
    });
    expect(failures.length, `${failures.length} failures; the first:\n${failures.slice(0, 3).join("\n\n")}`).toBe(0);
    expect(identical + compressed).toBe(numRuns);
    expect(identical, `only ${identical} of ${numRuns} cases were compared byte for byte`).toBeGreaterThan(numRuns / 4);
    console.log(`cross-language property test: ${numRuns} cases (seed ${seed}), ${identical} byte-identical, ${compressed} compressed compared by value`);
  });
});
