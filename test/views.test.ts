/**
 * Zero-copy views: where decoded arrays view the caller's memory and where they must be copied
 * (absolute addresses that break element alignment, big-endian payloads, codecs, copy: "always"),
 * Node Buffers (read from disk, pooled), that decoding never writes to its input, and that decode
 * reads no payload byte (its cost does not depend on payload size).
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decode, encode, encodedSize, encodeInto, isNdpackError, type ArrayInput, type EncodeOptions, type NdArray, type NdpackFile } from "../src/index.js";
import { keptFileBytes } from "../src/decode.js";
import { bytesOfView, checkAgainstSpec, equalBytes, hex, SPEC_DTYPES, swapWords, type SpecDtype, type SpecLayout } from "./helpers/core-spec.js";

// ---------------------------------------------------------------------------------------------
// The fixture: one array of every word size and layout kind

interface FixtureArray {
  readonly name: string;
  readonly dtype: SpecDtype;
  readonly shape: readonly number[];
  readonly order: "C" | "F";
  readonly data: ArrayBufferView;
}

const floatBits = (bits: number[]) => new Float32Array(Uint32Array.from(bits).buffer);

function fixtureArrays(): FixtureArray[] {
  return [
    { name: "u8", dtype: "uint8", shape: [5], order: "C", data: Uint8Array.of(1, 2, 3, 250, 0) },
    { name: "i8", dtype: "int8", shape: [2], order: "C", data: Int8Array.of(-128, 127) },
    { name: "flags", dtype: "bool", shape: [3], order: "C", data: Uint8Array.of(1, 0, 1) },
    { name: "i16", dtype: "int16", shape: [3], order: "C", data: Int16Array.of(-2, 300, 32767) },
    { name: "f16", dtype: "float16", shape: [3], order: "C", data: Uint16Array.of(0x3c00, 0xc000, 0x7e01) },
    { name: "u32", dtype: "uint32", shape: [2], order: "C", data: Uint32Array.of(0xdeadbeef, 1) },
    // 1.5, a signalling NaN with payload 1, -0
    { name: "f32", dtype: "float32", shape: [3], order: "C", data: floatBits([0x3fc00000, 0x7f800001, 0x80000000]) },
    { name: "f64", dtype: "float64", shape: [4], order: "C", data: Float64Array.of(1.5, -2.25, 1e300, -0) },
    { name: "i64", dtype: "int64", shape: [3], order: "C", data: BigInt64Array.of(-1n, 2n ** 62n, -(2n ** 63n)) },
    { name: "u64", dtype: "uint64", shape: [1], order: "C", data: BigUint64Array.of(2n ** 64n - 1n) },
    { name: "c64", dtype: "complex64", shape: [2], order: "C", data: Float32Array.of(1, 2, 3, 4) },
    { name: "c128", dtype: "complex128", shape: [], order: "C", data: Float64Array.of(1, -1) },
    { name: "scalar", dtype: "float64", shape: [], order: "C", data: Float64Array.of(Math.PI) },
    { name: "empty", dtype: "float64", shape: [0, 3], order: "C", data: new Float64Array(0) },
    { name: "grid", dtype: "int32", shape: [2, 3], order: "F", data: Int32Array.of(-3, -2, -1, 0, 1, 2) },
  ];
}

function asInput(arrays: readonly FixtureArray[]): [string, ArrayInput][] {
  return arrays.map((a) => [a.name, { data: a.data, dtype: a.dtype, shape: a.shape, order: a.order }]);
}

interface Fixture {
  readonly bytes: Uint8Array;
  readonly arrays: readonly FixtureArray[];
  /** Where the payloads are, read independently of the library (FORMAT.md §4). */
  readonly layout: SpecLayout;
}

function buildFixture(options: EncodeOptions = {}): Fixture {
  const arrays = fixtureArrays();
  const bytes = encode(asInput(arrays), options);
  const byteOrder = options.byteOrder ?? "little";
  const layout = checkAgainstSpec(bytes, {
    alignment: options.alignment ?? 64,
    checksum: options.checksum ?? "crc32",
    metadata: options.metadata ?? {},
    entries: arrays.map((a) => {
      const row = SPEC_DTYPES[a.dtype];
      const order = row.itemSize === 1 ? "little" : byteOrder;
      const host = bytesOfView(a.data);
      return { ...a, byteOrder: order, fileOrderBytes: order === "big" ? swapWords(host, row.wordSize) : host, allowedCodecs: ["none"] };
    }),
  });
  return { bytes, arrays, layout };
}

/** The fixture at alignment 8: its payloads sit at file offsets that are multiples of 8 but mostly not of 16. */
const fixture = buildFixture({ alignment: 8 });

function expectValues(array: NdArray, expected: FixtureArray): void {
  expect(array.dtype).toBe(expected.dtype);
  expect(array.shape).toEqual(expected.shape);
  expect(array.data.constructor).toBe(SPEC_DTYPES[expected.dtype].decoded);
  const got = bytesOfView(array.data);
  const want = bytesOfView(expected.data);
  expect(equalBytes(got, want), `${expected.name}: ${hex(got)} != ${hex(want)}`).toBe(true);
}

function expectFreshMemory(array: NdArray, input: ArrayBufferLike): void {
  expect(array.copied).toBe(true);
  expect(array.data.buffer).not.toBe(input);
  // Memory of its own: the whole buffer is the array.
  expect(array.data.byteOffset).toBe(0);
  expect(array.data.buffer.byteLength).toBe(array.data.byteLength);
}

/** Places `bytes` at `offset` inside a larger ArrayBuffer whose other bytes are 0xEE. */
function placeAt(bytes: Uint8Array, offset: number): { buffer: ArrayBuffer; view: Uint8Array } {
  const buffer = new ArrayBuffer(offset + bytes.length + 16);
  new Uint8Array(buffer).fill(0xee);
  const view = new Uint8Array(buffer, offset, bytes.length);
  view.set(bytes);
  return { buffer, view };
}

/** The code and array of the NdpackError `run` throws, or `undefined` when it returns. */
function errorOf(run: () => unknown): { code: string; array: string | undefined } | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (!isNdpackError(error)) throw error;
    return { code: error.code, array: error.array };
  }
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

// ---------------------------------------------------------------------------------------------

describe("a file at every byte offset inside a larger ArrayBuffer", () => {
  const offsets = Array.from({ length: 16 }, (_, i) => i);
  const kinds = ["Uint8Array", "DataView", "Buffer"] as const;

  test.each(offsets)("at offset %i: values are right; arrays whose absolute address breaks word alignment are copied, the others viewed", (offset) => {
    const { buffer, view } = placeAt(fixture.bytes, offset);
    for (const kind of kinds) {
      const input = kind === "Uint8Array" ? view : kind === "DataView" ? new DataView(buffer, offset, view.length) : Buffer.from(buffer, offset, view.length);
      const file = decode(input);
      fixture.arrays.forEach((expected, i) => {
        const array = file.get(expected.name);
        expectValues(array, expected);
        const address = offset + fixture.layout.entries[i]!.start;
        const misaligned = address % SPEC_DTYPES[expected.dtype].wordSize !== 0;
        if (misaligned) {
          expectFreshMemory(array, buffer);
        } else {
          expect(array.copied, `${expected.name} at ${address} (${kind})`).toBe(false);
          expect(array.data.buffer).toBe(buffer);
          expect(array.data.byteOffset).toBe(address);
        }
      });
    }
  });

  test("a bare ArrayBuffer holding exactly the file is viewed in place", () => {
    const buffer = fixture.bytes.slice().buffer;
    const file = decode(buffer);
    fixture.arrays.forEach((expected, i) => {
      const array = file.get(expected.name);
      expectValues(array, expected);
      expect(array.copied).toBe(false);
      expect(array.data.buffer).toBe(buffer);
      expect(array.data.byteOffset).toBe(fixture.layout.entries[i]!.start);
    });
  });

  test("offsets that are multiples of 8 view every array; odd offsets copy every multi-byte array", () => {
    for (const offset of [0, 8, 3]) {
      const { buffer, view } = placeAt(fixture.bytes, offset);
      const file = decode(view);
      const copied = fixture.arrays.filter((a) => file.get(a.name).copied).map((a) => a.name);
      const multiByte = fixture.arrays.filter((a) => SPEC_DTYPES[a.dtype].wordSize > 1).map((a) => a.name);
      expect(copied).toEqual(offset % 8 === 0 ? [] : multiByte);
      expect(file.get("u8").data.buffer).toBe(buffer);
    }
  });

  test.each(offsets)('at offset %i with copy: "never": misaligned arrays throw COPY_REQUIRED naming the array, aligned ones are views', (offset) => {
    const { buffer, view } = placeAt(fixture.bytes, offset);
    const file = decode(view, { copy: "never" });
    fixture.arrays.forEach((expected, i) => {
      const address = offset + fixture.layout.entries[i]!.start;
      const misaligned = address % SPEC_DTYPES[expected.dtype].wordSize !== 0;
      const error = errorOf(() => file.get(expected.name));
      if (misaligned) {
        expect(error, `${expected.name} at ${address}`).toEqual({ code: "COPY_REQUIRED", array: expected.name });
      } else {
        expect(error).toBeUndefined();
        const array = file.get(expected.name);
        expect(array.copied).toBe(false);
        expect(array.data.buffer).toBe(buffer);
        expectValues(array, expected);
      }
    });
  });
});

describe("Node Buffers", () => {
  let dir: string;
  let path: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ndpack-views-"));
    path = join(dir, "fixture.ndp");
    writeFileSync(path, fixture.bytes);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function expectDecodesInPlaceWherePossible(buffer: Buffer): void {
    const file = decode(buffer);
    fixture.arrays.forEach((expected, i) => {
      const array = file.get(expected.name);
      expectValues(array, expected);
      const address = buffer.byteOffset + fixture.layout.entries[i]!.start;
      if (address % SPEC_DTYPES[expected.dtype].wordSize !== 0) {
        expectFreshMemory(array, buffer.buffer);
      } else {
        expect(array.copied).toBe(false);
        expect(array.data.buffer).toBe(buffer.buffer);
        expect(array.data.byteOffset).toBe(address);
      }
    });
  }

  test("a file read with fs.readFileSync decodes to the right values, viewing the Buffer's memory", () => {
    const buffer = readFileSync(path);
    expect(equalBytes(buffer, fixture.bytes)).toBe(true);
    expectDecodesInPlaceWherePossible(buffer);
  });

  test("a small file copied into a pooled Buffer (at an offset inside Node's shared pool) decodes correctly", () => {
    const bytes = readFileSync(path);
    expect(bytes.length).toBeLessThan(Buffer.poolSize >>> 1); // small enough for the pool
    let pooled = Buffer.from(bytes);
    // The pool may just have been replaced, leaving this Buffer at offset 0: take the next slice.
    for (let attempt = 0; attempt < 3 && pooled.byteOffset === 0; attempt++) {
      Buffer.from("x");
      pooled = Buffer.from(bytes);
    }
    expect(pooled.byteOffset).toBeGreaterThan(0);
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    expectDecodesInPlaceWherePossible(pooled);
  });

  test("a Buffer at an odd offset of its memory decodes to the right values, copying every multi-byte array", () => {
    const outer = Buffer.alloc(fixture.bytes.length + 8);
    const odd = outer.subarray(5, 5 + fixture.bytes.length);
    odd.set(fixture.bytes);
    expectDecodesInPlaceWherePossible(odd);
    const file = decode(odd);
    expect(fixture.arrays.filter((a) => !file.get(a.name).copied).map((a) => a.name)).toEqual(["u8", "i8", "flags"]);
  });
});

describe("big-endian files", () => {
  const big = buildFixture({ byteOrder: "big", alignment: 16 });

  test("encode with byteOrder big stores the big-endian bytes: float64 1.5 is 3F F8 00 00 00 00 00 00", () => {
    const start = big.layout.entries[fixture.arrays.findIndex((a) => a.name === "f64")]!.start;
    expect(hex(big.bytes.subarray(start, start + 16))).toBe("3ff8000000000000" + "c002000000000000");
    const i32 = big.layout.entries[fixture.arrays.findIndex((a) => a.name === "grid")]!.start;
    expect(hex(big.bytes.subarray(i32, i32 + 8))).toBe("fffffffd" + "fffffffe");
    const i64 = big.layout.entries[fixture.arrays.findIndex((a) => a.name === "i64")]!.start;
    expect(hex(big.bytes.subarray(i64, i64 + 8))).toBe("ffffffffffffffff");
    expect(hex(big.bytes.subarray(i64 + 8, i64 + 16))).toBe("4000000000000000");
  });

  test("a big-endian file decodes to the right values in fresh memory; 1-byte arrays stay views", () => {
    const file = decode(big.bytes);
    expect(file.get("f64").data[0]).toBe(1.5);
    expect(file.get("i64").data[2]).toBe(-(2n ** 63n));
    for (const expected of big.arrays) {
      const array = file.get(expected.name);
      expectValues(array, expected);
      if (SPEC_DTYPES[expected.dtype].itemSize === 1) {
        expect(array.byteOrder).toBe("little");
        expect(array.copied).toBe(false);
        expect(array.data.buffer).toBe(big.bytes.buffer);
      } else {
        expect(array.byteOrder).toBe("big");
        expectFreshMemory(array, big.bytes.buffer);
      }
    }
  });

  test('a big-endian array with copy: "never" throws COPY_REQUIRED', () => {
    const file = decode(big.bytes, { copy: "never" });
    for (const expected of big.arrays) {
      const error = errorOf(() => file.get(expected.name));
      if (SPEC_DTYPES[expected.dtype].itemSize === 1) expect(error).toBeUndefined();
      else expect(error).toEqual({ code: "COPY_REQUIRED", array: expected.name });
    }
  });
});

describe('copy: "always"', () => {
  test("gives every array fresh memory even when it could be viewed, and later writes to the input do not reach it", () => {
    const bytes = fixture.bytes.slice();
    const file = decode(bytes, { copy: "always" });
    const arrays = fixture.arrays.map((a) => file.get(a.name));
    arrays.forEach((array, i) => {
      expectFreshMemory(array, bytes.buffer);
      expectValues(array, fixture.arrays[i]!);
    });
    for (const entry of fixture.layout.entries) bytes.fill(0x5a, entry.start, entry.start + entry.byteLength);
    arrays.forEach((array, i) => expectValues(array, fixture.arrays[i]!));
  });
});

const compressible: [string, ArrayInput][] = [
  ["ones", { data: new Float64Array(256).fill(1), shape: [16, 16] }],
  ["steps", { data: Int32Array.from({ length: 300 }, (_, i) => i >> 4) }],
  ["c", { data: new Float32Array(64).fill(-0.5), dtype: "complex64" }],
  ["bytes", { data: new Uint8Array(500).fill(3) }],
];

describe("compressed arrays", () => {
  test.each(["deflate", "shuffle+deflate"] as const)("%s arrays decode to the right values in fresh memory of their own (the buffer holds exactly the array)", (codec) => {
    const bytes = encode(compressible, { codec });
    const file = decode(bytes);
    for (const [name, input] of compressible) {
      const array = file.get(name);
      expect(array.codec).toBe(codec);
      const source = ArrayBuffer.isView(input) ? input : input.data;
      expect(equalBytes(bytesOfView(array.data), bytesOfView(source)), name).toBe(true);
      expectFreshMemory(array, bytes.buffer);
    }
  });

  test('a compressed array with copy: "never" throws COPY_REQUIRED', () => {
    const file = decode(encode(compressible, { codec: "deflate" }), { copy: "never" });
    expect(errorOf(() => file.get("ones"))).toEqual({ code: "COPY_REQUIRED", array: "ones" });
  });
});

describe("decoding never writes to its input", () => {
  const cases: { name: string; bytes: () => Uint8Array; options: Parameters<typeof decode>[1]; compressed: boolean }[] = [
    { name: "little-endian, aligned", bytes: () => fixture.bytes.slice(), options: {}, compressed: false },
    { name: "little-endian at an odd offset", bytes: () => placeAt(fixture.bytes, 3).view, options: {}, compressed: false },
    { name: "big-endian", bytes: () => buildFixture({ byteOrder: "big" }).bytes, options: {}, compressed: false },
    { name: "big-endian at an odd offset, verified", bytes: () => placeAt(buildFixture({ byteOrder: "big" }).bytes, 7).view, options: { verify: true }, compressed: false },
    { name: "deflate", bytes: () => encode(compressible, { codec: "deflate" }), options: {}, compressed: true },
    { name: "shuffle+deflate, big-endian", bytes: () => encode(compressible, { codec: "shuffle+deflate", byteOrder: "big" }), options: { verify: true }, compressed: true },
    { name: 'copy: "always"', bytes: () => fixture.bytes.slice(), options: { copy: "always" }, compressed: false },
  ];

  test.each(cases)("$name: the input's bytes are identical after decoding and after writing to every decoded array", ({ bytes: make, options, compressed }) => {
    const bytes = make();
    const hashBefore = sha256(bytes);
    const snapshot = bytes.slice();
    const file: NdpackFile = decode(bytes, options);
    const arrays = [...file];
    expect(arrays.every((a) => a.codec !== "none"), "compressed cases store every array compressed").toBe(compressed);
    expect(sha256(bytes)).toBe(hashBefore);
    expect(equalBytes(bytes, snapshot)).toBe(true);
    // Writing through copies (swapped, decompressed, realigned) must not reach the input.
    for (const array of arrays) if (array.copied) bytesOfView(array.data).fill(0x11);
    expect(sha256(bytes)).toBe(hashBefore);
  });
});

describe("decode reads no payload byte", () => {
  test("payload bytes overwritten after decode() show through get(): the arrays view memory decode never read", () => {
    const bytes = fixture.bytes.slice();
    const file = decode(bytes);
    const i = fixture.arrays.findIndex((a) => a.name === "f64");
    const start = fixture.layout.entries[i]!.start;
    new DataView(bytes.buffer, start, 8).setFloat64(0, 42.5, true);
    const f64 = file.get("f64");
    expect(f64.data.buffer).toBe(bytes.buffer);
    expect(f64.data[0]).toBe(42.5);
  });

  test("a file whose every payload byte was replaced before decode() decodes: only get()'s values and verify see the damage", () => {
    const bytes = fixture.bytes.slice();
    for (const entry of fixture.layout.entries) bytes.fill(0xa7, entry.start, entry.start + entry.byteLength + 4);
    const file = decode(bytes);
    expect(file.names).toEqual(fixture.arrays.map((a) => a.name));
    expect(file.get("u32").data[0]).toBe(0xa7a7a7a7);
    const error = errorOf(() => decode(bytes, { verify: true }));
    expect(error?.code).toBe("CHECKSUM");
  });

  test("decoding a 256 MiB file allocates nothing in proportion to it and gives the same header result as a 1 KiB file", () => {
    const options: EncodeOptions = { checksum: "none", metadata: { note: "size test" } };
    const header = (n: number, memory?: Uint8Array) => encodedSize([["a", { data: memory ?? new Uint8Array(n), shape: [n] }]], options);

    // 1 KiB file (the header is as long for 0 as for a 3-digit element count, after padding).
    const n = 1024 - header(0);
    const small = encode([["a", { data: new Uint8Array(n).fill(7), shape: [n] }]], options);
    expect(small.length).toBe(1024);

    // 256 MiB payload, written in place: the source array already sits where its payload goes.
    const N = 256 * 1024 * 1024;
    const memory = new Uint8Array(N + 65536);
    const length = header(N, memory.subarray(0, N));
    const dataStart = length - N;
    memory.fill(9, dataStart, dataStart + 16);
    expect(encodeInto(memory, [["a", { data: memory.subarray(dataStart, dataStart + N), shape: [N] }]], options)).toBe(length);
    const large = memory.subarray(0, length);

    const arrayBuffersBefore = process.memoryUsage().arrayBuffers;
    const largeFile = decode(large);
    const largeArray = largeFile.get("a");
    const grown = process.memoryUsage().arrayBuffers - arrayBuffersBefore;
    expect(grown).toBeLessThan(16 * 1024 * 1024);
    expect(largeArray.copied).toBe(false);
    expect(largeArray.data.buffer).toBe(memory.buffer);
    expect(largeArray.data.length).toBe(N);
    expect(largeArray.data[0]).toBe(9);

    const smallFile = decode(small);
    const summary = (file: NdpackFile) => {
      const array = file.get("a");
      return {
        version: file.version,
        alignment: file.alignment,
        checksum: file.checksum,
        metadata: file.metadata,
        names: file.names,
        size: file.size,
        info: Object.fromEntries(Object.entries(file.info("a")).map(([k, v]) => [k, typeof v === "number" ? "number" : Array.isArray(v) ? v.map((d) => typeof d) : v])),
        arrayKeys: Object.keys(array).sort(),
        copied: array.copied,
        view: array.data.constructor,
      };
    };
    expect(summary(largeFile)).toEqual(summary(smallFile));
    expect(largeFile.info("a").nbytes).toBe(N);
    expect(smallFile.info("a").nbytes).toBe(n);
  });
});

describe("the file decode.ts decodes when the module loads", () => {
  // Its bytes are written out by hand (the core must not bundle the encoder): were they to drift
  // from what the writers write, it would warm the strict reader instead of the canonical one.
  test("is exactly what encode writes for one empty float32 array (alignment 8, no checksum)", () => {
    const written = encode({ a: { data: new Float32Array(0), shape: [0] } }, { alignment: 8, checksum: "none" });
    expect(hex(keptFileBytes())).toBe(hex(written));
  });

  test("decodes to that array", () => {
    const array = decode(keptFileBytes()).get("a", "float32");
    expect([array.shape, array.data.length, array.copied]).toEqual([[0], 0, false]);
  });
});
