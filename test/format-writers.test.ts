/**
 * Each format has one writer (a plan that yields the file's steps, `formats/write.ts`), run in
 * memory by the whole-buffer writers (ndpack's is `encode`, whose bytes its plan writes too) and
 * into files by `writeToFile` (the CLI's path): the same arrays and options give the same bytes
 * both ways, for every format and every path through the drivers (stored and deflated zip members, small ones held with their header and large ones
 * whose header is filled in place, byte swapping, Fortran order rearranged for safetensors,
 * ZIP64), and through the built command line too. numpy and safetensors read the outputs.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DTYPES, encode } from "../src/index.js";
import { formatNamed } from "../src/formats/index.js";
import { writeToBytes } from "../src/formats/write.js";
import { toNpy, toNpz, toSafetensors } from "../src/interop/index.js";
import { planNpzWrite } from "../src/interop/npz.js";
import { planNdpackWrite } from "../src/formats/ndpack-write.js";
import { cOrderBytes } from "../src/interop/common.js";
import { save } from "../src/node/index.js";
import { writeToFile } from "../src/node/write-file.js";
import type { ArrayInChunks } from "../src/node/write-steps.js";
import { expectCode, failureAsync } from "./helpers/common.js";
import { requireBuiltCli, runCli } from "./helpers/cli-run.js";
import { runInteropPython, tempDir, type WireFile } from "./helpers/interop-python.js";
import { bytesOf, inChunks, inMemory, specs, type Source } from "./helpers/write-sources.js";

const tmp = tempDir("format-writers");
afterAll(() => tmp.remove());

/** Larger than the 64 KiB the file driver holds after a reserved zip header: its header is filled in place. */
const LARGE: Source = { name: "large", dtype: "float32", shape: [300, 70], order: "C", data: Float32Array.from({ length: 21000 }, (_, i) => Math.sin(i)) };
const FORTRAN: Source = { name: "fortran", dtype: "float64", shape: [3, 4], order: "F", data: Float64Array.from({ length: 12 }, (_, i) => i * 1.5 - 4) };
const SOURCES: readonly Source[] = [
  LARGE,
  FORTRAN,
  { name: "i16", dtype: "int16", shape: [2, 2], order: "C", data: Int16Array.of(-32768, -1, 1, 32767) },
  { name: "mask", dtype: "bool", shape: [6], order: "C", data: Uint8Array.of(1, 0, 0, 1, 1, 0) },
  { name: "bf16", dtype: "bfloat16", shape: [4], order: "C", data: Uint16Array.of(0x3f80, 0xc000, 0x7f80, 0x0001) },
  { name: "empty", dtype: "uint8", shape: [0], order: "C", data: new Uint8Array(0) },
  { name: "ü/名", dtype: "int64", shape: [3], order: "C", data: BigInt64Array.of(-(2n ** 62n), 0n, 2n ** 62n) },
];
const METADATA = { step: 1200, note: "ok", nested: { a: [1, 2] } };

let fileCount = 0;
/** The bytes `writeToFile` writes for the same plan. */
async function throughFile(plan: () => ReturnType<NonNullable<ReturnType<typeof formatNamed>["planWrite"]>>, sources: readonly Source[]): Promise<Uint8Array> {
  const path = tmp.path(`driver-${fileCount++}`);
  await writeToFile(path, plan(), inChunks(sources, 8192), { durable: false });
  return new Uint8Array(readFileSync(path));
}

describe("the memory and file drivers write the same bytes for every format", () => {
  const cases: { label: string; format: "ndpack" | "npy" | "npz" | "safetensors"; sources: readonly Source[]; options: Record<string, unknown>; memory: () => Uint8Array }[] = [
    { label: ".npy, C order", format: "npy", sources: [LARGE], options: {}, memory: () => toNpy(specs([LARGE])[0]![1]) },
    { label: ".npy, Fortran order, big-endian", format: "npy", sources: [FORTRAN], options: { byteOrder: "big" }, memory: () => toNpy(specs([FORTRAN])[0]![1], { byteOrder: "big" }) },
    { label: ".npz, stored", format: "npz", sources: SOURCES, options: {}, memory: () => toNpz(specs(SOURCES)) },
    { label: ".npz, stored, with metadata, ZIP64 forced", format: "npz", sources: SOURCES, options: { metadata: METADATA, forceZip64: true }, memory: () => toNpz(specs(SOURCES), { metadata: METADATA, forceZip64: true }) },
    { label: ".npz, deflated (level 1 and 6)", format: "npz", sources: SOURCES, options: { compress: true, compressionLevel: 1, metadata: METADATA }, memory: () => toNpz(specs(SOURCES), { compress: true, compressionLevel: 1, metadata: METADATA }) },
    { label: ".npz, deflated, level 6", format: "npz", sources: SOURCES, options: { compress: true }, memory: () => toNpz(specs(SOURCES), { compress: true }) },
    { label: ".npz, big-endian (the CLI's --big-endian)", format: "npz", sources: SOURCES, options: { byteOrder: "big" }, memory: () => writeToBytes(planNpzWrite(inMemory(SOURCES), { byteOrder: "big" }), inMemory(SOURCES)) },
    { label: ".safetensors, Fortran order rearranged", format: "safetensors", sources: SOURCES, options: { metadata: METADATA }, memory: () => toSafetensors(specs(SOURCES), { metadata: METADATA }) },
    { label: ".ndp, Fortran order kept, with metadata", format: "ndpack", sources: SOURCES, options: { metadata: METADATA }, memory: () => encode(specs(SOURCES), { metadata: METADATA }) },
    { label: ".ndp, shuffle+deflate, big-endian, alignment 8", format: "ndpack", sources: SOURCES, options: { codec: "shuffle+deflate", byteOrder: "big", alignment: 8 }, memory: () => encode(specs(SOURCES), { codec: "shuffle+deflate", byteOrder: "big", alignment: 8 }) },
  ];
  test.each(cases)("$label", async ({ format, sources, options, memory }) => {
    const expected = memory();
    const planWrite = formatNamed(format).planWrite!;
    expect(Buffer.from(await throughFile(() => planWrite(inMemory(sources), options), sources)).equals(Buffer.from(expected))).toBe(true);
    // The format table's whole-buffer writer is the same writer (toNpz has no byte order option).
    if (format !== "npz" || options.byteOrder === undefined) {
      const table = formatNamed(format).write(specs(sources), options);
      expect(Buffer.from(table).equals(Buffer.from(expected))).toBe(true);
    }
  });

  test("a Fortran-order array goes to .safetensors in C order, whole, from chunks", async () => {
    const bytes = await throughFile(() => formatNamed("safetensors").planWrite!(inMemory([FORTRAN]), {}), [FORTRAN]);
    const expectedPayload = cOrderBytes(bytesOf(FORTRAN.data), FORTRAN.shape, "F", 8);
    expect(Buffer.from(bytes.subarray(bytes.length - 96)).equals(Buffer.from(expectedPayload))).toBe(true);
  });

  test("INVALID_ARGUMENT: an array that gives fewer or more bytes than its shape says; the path is left as it was", async () => {
    const path = tmp.path("short.npy");
    const [array] = inMemory([LARGE]);
    const short: ArrayInChunks = { ...array!, chunks: async function* () { yield array!.source.subarray(0, 4096); } };
    await failureAsync(() => writeToFile(path, formatNamed("npy").planWrite!([short]), [short], { durable: false }), "INVALID_ARGUMENT");
    const long: ArrayInChunks = { ...array!, chunks: async function* () { yield array!.source; yield new Uint8Array(8); } };
    await failureAsync(() => writeToFile(path, formatNamed("npz").planWrite!([long]), [long], { durable: false }), "INVALID_ARGUMENT");
    expect(() => readFileSync(path)).toThrow(/ENOENT/);
  });

  test("the plans check before the first byte: UNKNOWN_DTYPE, DUPLICATE_NAME, INVALID_ARGUMENT", () => {
    const complex = inMemory([{ name: "z", dtype: "complex128", shape: [1], order: "C", data: new Float64Array(2) }]);
    expectCode(() => formatNamed("safetensors").planWrite!(complex), "UNKNOWN_DTYPE");
    const twice = inMemory([LARGE, LARGE]);
    expectCode(() => formatNamed("npz").planWrite!(twice), "DUPLICATE_NAME");
    expectCode(() => formatNamed("safetensors").planWrite!(twice), "DUPLICATE_NAME");
    expectCode(() => formatNamed("npy").planWrite!(twice), "INVALID_ARGUMENT");
    expectCode(() => formatNamed("npz").planWrite!(inMemory([LARGE]), { compressionLevel: 11 }), "INVALID_ARGUMENT");
  });
});

describe("the command line writes what the whole-buffer writers write", () => {
  const one = [FORTRAN];
  beforeAll(async () => {
    await requireBuiltCli();
    await save(tmp.path("all.ndp"), specs(SOURCES), { metadata: METADATA, fsync: false });
    await save(tmp.path("one.ndp"), specs(one), { fsync: false });
  });

  const runs: { label: string; args: (out: string) => string[]; out: string; expected: () => Uint8Array }[] = [
    { label: "convert to .npy", out: "cli.npy", args: (out) => ["convert", tmp.path("one.ndp"), out], expected: () => toNpy(specs(one)[0]![1]) },
    { label: "convert to .npy --big-endian", out: "cli-be.npy", args: (out) => ["convert", tmp.path("one.ndp"), out, "--big-endian"], expected: () => toNpy(specs(one)[0]![1], { byteOrder: "big" }) },
    { label: "convert to .npz", out: "cli.npz", args: (out) => ["convert", tmp.path("all.ndp"), out], expected: () => toNpz(specs(SOURCES), { metadata: METADATA }) },
    { label: "convert to .npz --compress --level 3", out: "cli-c.npz", args: (out) => ["convert", tmp.path("all.ndp"), out, "--compress", "--level", "3"], expected: () => toNpz(specs(SOURCES), { metadata: METADATA, compress: true, compressionLevel: 3 }) },
    { label: "convert to .safetensors", out: "cli.safetensors", args: (out) => ["convert", tmp.path("all.ndp"), out], expected: () => toSafetensors(specs(SOURCES), { metadata: METADATA }) },
    { label: "convert to .ndp and encode", out: "cli.ndp", args: (out) => ["convert", tmp.path("all.ndp"), out], expected: () => encode(specs(SOURCES), { metadata: METADATA }) },
    {
      label: "convert to .ndp --compress --big-endian --alignment 4096 (the header written last)",
      out: "cli-c.ndp",
      args: (out) => ["convert", tmp.path("all.ndp"), out, "--compress", "--big-endian", "--alignment", "4096"],
      expected: () => writeToBytes(planNdpackWrite(inMemory(SOURCES), { metadata: METADATA, codec: "shuffle+deflate", byteOrder: "big", alignment: 4096, header: "reserved" }), inMemory(SOURCES)),
    },
  ];
  test.each(runs)("$label", async ({ args, out, expected }) => {
    const path = tmp.path(out);
    const result = await runCli(args(path));
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(expected()))).toBe(true);
  });

  test("numpy and safetensors read what the command line wrote", () => {
    const wire = (s: Source, byteOrder: "little" | "big" = "little") => ({ name: s.name, dtype: s.dtype, shape: s.shape, order: s.order, byteOrder, hex: Buffer.from(bytesOf(s.data)).toString("hex") });
    const asC = (s: Source): Source => ({ ...s, order: "C", data: cOrderBytes(bytesOf(s.data), s.shape, s.order, DTYPES[s.dtype].itemSize) });
    const files: WireFile[] = [
      { file: "cli.npy", format: "npy", arrays: [wire(FORTRAN)] },
      { file: "cli-be.npy", format: "npy", arrays: [wire(FORTRAN, "big")] },
      { file: "cli.npz", format: "npz", arrays: SOURCES.map((s) => wire(s)), metadata: METADATA },
      { file: "cli-c.npz", format: "npz", arrays: SOURCES.map((s) => wire(s)), metadata: METADATA },
      { file: "cli.safetensors", format: "safetensors", arrays: SOURCES.map((s) => wire(asC(s))), metadata: { step: "1200", note: "ok", nested: '{"a":[1,2]}', __ndpack_json__: '["step","nested"]' } },
    ];
    const report = runInteropPython(tmp.dir, files, []);
    expect(report.mismatches).toEqual([]);
    expect(report.checked).toBe(2 + SOURCES.length * 3);
  });
});
