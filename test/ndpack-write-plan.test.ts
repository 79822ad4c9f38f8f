/**
 * ndpack's writer without I/O (`formats/ndpack-write.ts`): its plan run in memory (`writeToBytes`)
 * and into a file (`writeToFile`, the CLI's path) writes exactly what `encode` writes for the same
 * arrays and options (raw, deflate, shuffle+deflate, big-endian, Fortran order, alignments, no
 * checksum, empty and 0-d arrays, metadata, per-array codecs, an array that does not shrink),
 * and with the header written last (`"reserved"`) exactly what `createWriter` writes. Its checks
 * come before the first step; the shuffle's scratch file is removed.
 */
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, describe, expect, test } from "vitest";
import { decode, encode, type EncodeOptions } from "../src/index.js";
import { formatNamed } from "../src/formats/index.js";
import { planNdpackWrite, type NdpackPlanOptions } from "../src/formats/ndpack-write.js";
import { writeToBytes } from "../src/formats/write.js";
import { createWriter } from "../src/node/index.js";
import { writeToFile } from "../src/node/write-file.js";
import { expectCode, noise } from "./helpers/common.js";
import { bytesOf, inChunks, inMemory, specs, type Source } from "./helpers/write-sources.js";
import { tempDir } from "./helpers/interop-python.js";

const tmp = tempDir("ndpack-plan");
afterAll(() => tmp.remove());

const SOURCES: readonly Source[] = [
  { name: "smooth", dtype: "float32", shape: [300, 70], order: "C", data: Float32Array.from({ length: 21000 }, (_, i) => Math.sin(i / 40)) },
  { name: "fortran", dtype: "float64", shape: [3, 4], order: "F", data: Float64Array.from({ length: 12 }, (_, i) => i * 1.5 - 4) },
  { name: "scalar", dtype: "int32", shape: [], order: "C", data: Int32Array.of(-7) },
  { name: "empty", dtype: "uint16", shape: [0, 3], order: "C", data: new Uint16Array(0) },
  { name: "mask", dtype: "bool", shape: [6], order: "C", data: Uint8Array.of(1, 0, 0, 1, 1, 0) },
  { name: "c64", dtype: "complex64", shape: [2], order: "C", data: Float32Array.of(1, -1, 0.5, 2) },
  // Random bytes do not shrink: the exact layout stores them raw, as encode does.
  { name: "noise", dtype: "uint8", shape: [5000], order: "C", data: noise(5000) },
  { name: "ü/名", dtype: "int64", shape: [3], order: "C", data: BigInt64Array.of(-(2n ** 62n), 0n, 2n ** 62n) },
];
const PER_ARRAY_CODEC: readonly Source[] = [
  { ...SOURCES[0]!, codec: "shuffle+deflate" },
  { ...SOURCES[1]!, codec: "none" },
  { ...SOURCES[2]!, codec: "deflate" },
  SOURCES[6]!,
];
const METADATA = { step: 1200, nested: { a: [1, 2] } };

let fileCount = 0;
async function throughFile(sources: readonly Source[], options: NdpackPlanOptions): Promise<Uint8Array> {
  const path = tmp.path(`plan-${fileCount++}.ndp`);
  await writeToFile(path, planNdpackWrite(inMemory(sources), options), inChunks(sources, 4096), { durable: false });
  return new Uint8Array(readFileSync(path));
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

const CASES: { label: string; sources: readonly Source[]; options: EncodeOptions }[] = [
  { label: "raw, with metadata", sources: SOURCES, options: { metadata: METADATA } },
  { label: "raw, big-endian, alignment 8, no checksum", sources: SOURCES, options: { byteOrder: "big", alignment: 8, checksum: "none" } },
  { label: "deflate", sources: SOURCES, options: { codec: "deflate" } },
  { label: "deflate level 1, big-endian, alignment 4096", sources: SOURCES, options: { codec: "deflate", compressionLevel: 1, byteOrder: "big", alignment: 4096 } },
  { label: "shuffle+deflate, with metadata", sources: SOURCES, options: { codec: "shuffle+deflate", metadata: METADATA } },
  { label: "shuffle+deflate, big-endian, no checksum", sources: SOURCES, options: { codec: "shuffle+deflate", byteOrder: "big", checksum: "none" } },
  { label: "per-array codecs", sources: PER_ARRAY_CODEC, options: { codec: "deflate" } },
  { label: "no arrays", sources: [], options: { metadata: METADATA } },
];

describe("the plan writes encode's bytes, in memory and into a file", () => {
  test.each(CASES)("$label", async ({ sources, options }) => {
    const expected = encode(specs(sources), options);
    expect(same(writeToBytes(planNdpackWrite(inMemory(sources), options), inMemory(sources)), expected)).toBe(true);
    expect(same(await throughFile(sources, options), expected)).toBe(true);
    // The format table's row is this plan.
    expect(same(writeToBytes(formatNamed("ndpack").planWrite(inMemory(sources), { ...options }), inMemory(sources)), expected)).toBe(true);
  });

  test("an array that does not shrink is stored raw, read again from its source by the file driver", async () => {
    const bytes = await throughFile(SOURCES, { codec: "deflate" });
    const file = decode(bytes, { verify: true });
    expect(file.info("noise").codec).toBe("none");
    expect(file.info("smooth").codec).toBe("deflate");
    expect(same(bytesOf(file.get("noise").data), bytesOf(SOURCES[6]!.data))).toBe(true);
  });
});

describe('the header written last ("reserved"): createWriter\'s bytes, in memory and into a file', () => {
  test.each(CASES.filter((c) => c.options.codec !== undefined))("$label", async ({ sources, options }) => {
    const plan: NdpackPlanOptions = { ...options, header: "reserved" };
    const inFile = await throughFile(sources, plan);
    expect(same(writeToBytes(planNdpackWrite(inMemory(sources), plan), inMemory(sources)), inFile)).toBe(true);
    const path = tmp.path(`writer-${fileCount++}.ndp`);
    const writer = await createWriter(path, sources.map((s) => ({ name: s.name, dtype: s.dtype, shape: s.shape, order: s.order, ...(s.codec === undefined ? {} : { codec: s.codec }) })), { ...options, fsync: false });
    for (const s of sources) if (s.data.byteLength > 0) await writer.write(s.name, bytesOf(s.data));
    await writer.close();
    expect(same(new Uint8Array(readFileSync(path)), inFile)).toBe(true);
    // Valid, with every compressed array kept compressed (nothing is held to choose), and the same arrays.
    const file = decode(inFile, { verify: true });
    const reference = decode(encode(specs(sources), options));
    for (const s of sources) {
      expect(file.info(s.name).codec).toBe((s.codec === undefined || s.codec === "none" ? options.codec : s.codec) ?? "none");
      expect(same(bytesOf(file.get(s.name).data), bytesOf(reference.get(s.name).data))).toBe(true);
    }
  });

  test("without compressed arrays, both layouts are encode's", async () => {
    const expected = encode(specs(SOURCES), { metadata: METADATA });
    expect(same(await throughFile(SOURCES, { metadata: METADATA, header: "reserved" }), expected)).toBe(true);
  });
});

describe("the file driver", () => {
  test("shuffles through a scratch file next to the temporary file, and removes it", async () => {
    const big: Source = { name: "big", dtype: "float32", shape: [700_000], order: "C", data: Float32Array.from({ length: 700_000 }, (_, i) => Math.sin(i / 100)), codec: "shuffle+deflate" };
    const before = new Set(readdirSync(tmp.dir));
    const bytes = await throughFile([big], { header: "reserved", byteOrder: "big" });
    const file = decode(bytes, { verify: true });
    expect(file.info("big").codec).toBe("shuffle+deflate");
    expect(file.info("big").byteLength).toBeLessThan(big.data.byteLength);
    expect(same(bytesOf(file.get("big").data), bytesOf(big.data))).toBe(true);
    expect(readdirSync(tmp.dir).filter((name) => !before.has(name) && !name.endsWith(".ndp"))).toEqual([]);
  });
});

describe("the plan checks before its first step", () => {
  const arrays = inMemory(SOURCES);
  test.each([
    ["INVALID_ARGUMENT", "an unknown header layout", () => planNdpackWrite(arrays, { header: "late" as never })],
    ["INVALID_ARGUMENT", "an unknown option", () => planNdpackWrite(arrays, { compress: true } as never)],
    ["INVALID_ARGUMENT", "an alignment that is not a power of two", () => planNdpackWrite(arrays, { alignment: 12 })],
    ["INVALID_ARGUMENT", "a compression level past 9", () => planNdpackWrite(arrays, { codec: "deflate", compressionLevel: 11 })],
    ["INVALID_ARGUMENT", "an empty name", () => planNdpackWrite([{ ...arrays[0]!, name: "" }])],
    ["UNSUPPORTED_CODEC", "an unknown codec", () => planNdpackWrite([{ ...arrays[0]!, codec: "zstd" as never }])],
    ["DUPLICATE_NAME", "a name given twice", () => planNdpackWrite([arrays[0]!, arrays[0]!])],
    ["BAD_SHAPE", "a negative dimension", () => planNdpackWrite([{ ...arrays[0]!, shape: [-1] }])],
  ] as const)("%s: %s", (code, _label, plan) => {
    expectCode(plan, code);
  });
});
