/**
 * .npz: numpy reads what ndpack writes and ndpack reads what np.savez and np.savez_compressed
 * write (one Python process for the whole file), ZIP64 both ways (more than 65535 members; forced
 * ZIP64 records), every refusal of the zip reader with its error code, and random round trips.
 */
import fc from "fast-check";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { crc32 as zlibCrc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { encode } from "../src/encode.js";
import { DTYPES, DTYPE_NAMES, type Dtype } from "../src/dtypes.js";
import { isNdpackError } from "../src/errors.js";
import { FORMATS, fromNpz, NPZ_NDPACK_MEMBER, toNpy, toNpz } from "../src/interop/index.js";
import { bytesSource, openSource } from "../src/source.js";
import { planZipWrite, readZipDirectory, readZipMember, type ZipMethod } from "../src/interop/zip.js";
import { writeToBytes, type ArrayInMemory } from "../src/formats/write.js";
import { ML_DTYPES, caseBytes, dataBytes, expectValues, isNpzName, rng, specOf, standardCases, wireOf, type Case } from "./helpers/interop-cases.js";
import { runInteropPython, tempDir, type PythonReport, type WireFile } from "./helpers/interop-python.js";
import { codeOfAsync, expectCode, failure } from "./helpers/common.js";
import { withoutNativeZlib } from "./helpers/engines.js";
import { runPython } from "./helpers/python-env.js";
import { nativeZlib } from "../src/runtime.js";


/**
 * A zip of members given in parts, through the zip writer and the memory driver: the first part is
 * a member's prefix and the rest its payload, so that each member goes through the reserved
 * local header a streamed member gets.
 */
function writeZip(members: readonly { name: string; parts: readonly Uint8Array[]; method: ZipMethod; align?: number }[], options: { level: number; forceZip64: boolean }): Uint8Array {
  const payloads: ArrayInMemory[] = members.map(({ name, parts }) => {
    const source = new Uint8Array(parts.slice(1).reduce((n, p) => n + p.length, 0));
    parts.slice(1).reduce((at, p) => (source.set(p, at), at + p.length), 0);
    return { name, dtype: DTYPES.uint8, shape: [source.length], order: "C", nbytes: source.length, source };
  });
  const plans = members.map(({ name, parts, method, align }, index) => {
    const prefix = parts[0] ?? new Uint8Array(0);
    return { name, method, ...(align === undefined ? {} : { align }), content: { step: { payload: index, prefix, byteOrder: "little" as const, cOrder: false }, size: prefix.length + payloads[index]!.nbytes } };
  });
  return writeToBytes(planZipWrite(plans, options), payloads);
}

const voidDtypes = (cases: readonly Case[]): Record<string, Dtype> => Object.fromEntries(cases.filter((c) => ML_DTYPES.includes(c.dtype)).map((c) => [c.name, c.dtype]));

/** Many one-element int32 arrays: enough members to need ZIP64's end record. */
function manyCases(count: number): Case[] {
  return Array.from({ length: count }, (_, i) => ({ name: `m${i}`, dtype: "int32" as const, shape: [1], order: "C" as const, byteOrder: "little" as const, bytes: new Uint8Array(Int32Array.of(i).buffer) }));
}

function expectCasesRead(arrays: ReadonlyMap<string, { dtype: string; shape: readonly number[]; order: string; data: ArrayBufferView; byteOrder: string }>, cases: readonly Case[], label: string): void {
  expect([...arrays.keys()].sort(), label).toEqual(cases.map((c) => c.name).sort());
  for (const c of cases) {
    const array = arrays.get(c.name)!;
    expect({ dtype: array.dtype, shape: array.shape, order: array.order, byteOrder: array.byteOrder }, `${label} ${c.name}`).toEqual({
      dtype: c.dtype,
      shape: c.shape,
      order: c.order,
      byteOrder: DTYPES[c.dtype].itemSize > 1 ? c.byteOrder : "little",
    });
    expect(dataBytes(array as never), `${label} ${c.name}`).toEqual(c.bytes);
  }
}

describe(".npz with numpy (one Python process)", () => {
  const tmp = tempDir("npz");
  const cases = standardCases({ bigEndian: true, seed: 2 });
  const littleCases = cases.filter((c) => c.byteOrder === "little");
  const numpyCases = littleCases.filter((c) => DTYPES[c.dtype].numpy !== null);
  const many = manyCases(65_537);
  const metadata = { model: "test", step: 3, nested: { list: [1, 2.5, null, true], text: "ü" } };
  let report: PythonReport;

  beforeAll(() => {
    // ndpack writes arrays in this machine's byte order; big-endian cases are numpy's to write.
    const specs = new Map(littleCases.map((c) => [c.name, specOf(c)]));
    writeFileSync(tmp.path("ndpack.npz"), toNpz(specs, { metadata }));
    writeFileSync(tmp.path("ndpack-compressed.npz"), toNpz(specs, { compress: true }));
    writeFileSync(tmp.path("ndpack-zip64.npz"), toNpz(specs, { forceZip64: true, compress: true, metadata }));
    writeFileSync(tmp.path("ndpack-many.npz"), toNpz(new Map(many.map((c) => [c.name, specOf(c)]))));
    // Nothing to keep (dtypes numpy names, no metadata): no __ndpack__.json member.
    writeFileSync(tmp.path("ndpack-plain.npz"), toNpz(new Map(numpyCases.map((c) => [c.name, specOf(c)]))));
    writeFileSync(tmp.path("ndpack-empty-zip64.npz"), toNpz({}, { forceZip64: true }));
    const arrays = littleCases.map(wireOf);
    const read: WireFile[] = [
      { file: "ndpack.npz", format: "npz", arrays, metadata },
      { file: "ndpack-compressed.npz", format: "npz", arrays, metadata: null },
      { file: "ndpack-zip64.npz", format: "npz", arrays, metadata },
      { file: "ndpack-many.npz", format: "npz", arrays: many.map(wireOf), metadata: null, sampleEvery: 4096 },
      { file: "ndpack-plain.npz", format: "npz", arrays: numpyCases.map(wireOf), metadata: null, onlyArrays: true },
      { file: "ndpack-empty-zip64.npz", format: "npz", arrays: [], metadata: null, onlyArrays: true },
    ];
    const write: WireFile[] = [
      { file: "numpy.npz", format: "npz", arrays: cases.map(wireOf) },
      { file: "numpy-compressed.npz", format: "npz_compressed", arrays: cases.map(wireOf) },
      { file: "numpy-many.npz", format: "npz", arrays: many.map(wireOf) },
    ];
    report = runInteropPython(tmp.dir, read, write);
  }, 120_000);
  afterAll(() => tmp.remove());

  test("numpy.load reads every .npz ndpack writes with identical values and metadata (stored, deflated, forced ZIP64 even when empty, 65537 members), listing only the arrays when nothing else needs keeping", () => {
    expect(report.mismatches).toEqual([]);
    const sampled = many.filter((_, i) => i % 4096 === 0 || i === many.length - 1).length;
    expect(report.checked).toBe(3 * littleCases.length + sampled + numpyCases.length);
  });

  test("ndpack reads np.savez output with identical bits and values (bfloat16 and float8 through ml_dtypes)", () => {
    const { arrays, metadata: found, ignored } = fromNpz(readFileSync(tmp.path("numpy.npz")), { voidDtype: voidDtypes(cases) });
    expectCasesRead(arrays, cases, "numpy.npz");
    for (const written of report.written.find((w) => w.file === "numpy.npz")!.arrays) expectValues(arrays.get(written.name)!, written.values, written.name);
    expect(found).toEqual({});
    expect(ignored).toEqual([]);
  });

  test("ndpack reads np.savez_compressed output (deflated members come back with codec 'deflate')", () => {
    const { arrays } = fromNpz(readFileSync(tmp.path("numpy-compressed.npz")), { voidDtype: voidDtypes(cases) });
    expectCasesRead(arrays, cases, "numpy-compressed.npz");
    for (const written of report.written.find((w) => w.file === "numpy-compressed.npz")!.arrays) expectValues(arrays.get(written.name)!, written.values, written.name);
    for (const array of arrays.values()) expect(array).toMatchObject({ codec: "deflate", copied: true });
  });

  test("ndpack reads numpy's ZIP64 archive of 65537 members", () => {
    const { arrays } = fromNpz(readFileSync(tmp.path("numpy-many.npz")));
    expect(arrays.size).toBe(65_537);
    expect([...(arrays.get("m65536")!.data as Int32Array)]).toEqual([65_536]);
    expect([...(arrays.get("m12345")!.data as Int32Array)]).toEqual([12_345]);
  });

  test("ndpack reads back its own files, metadata and bfloat16/float8 dtypes included", () => {
    for (const file of ["ndpack.npz", "ndpack-compressed.npz", "ndpack-zip64.npz"]) {
      const contents = fromNpz(readFileSync(tmp.path(file)));
      expectCasesRead(contents.arrays, littleCases, file);
      expect(contents.metadata).toEqual(file === "ndpack-compressed.npz" ? {} : metadata);
    }
    expect(fromNpz(readFileSync(tmp.path("ndpack-many.npz"))).arrays.size).toBe(65_537);
  });
});

describe(".npz zero-copy and layout", () => {
  test("stored members' data start at multiples of 64, so arrays are views of the input", () => {
    const bytes = toNpz({ a: new Float64Array([1, 2]), "bé": { data: new Int16Array(6), shape: [2, 3] }, c: new Uint8Array(3), d: new BigInt64Array([5n]) });
    const { arrays } = fromNpz(bytes);
    for (const array of arrays.values()) {
      expect(array.copied, array.name).toBe(false);
      expect(array.data.buffer).toBe(bytes.buffer);
      expect(array.offset % 64, array.name).toBe(0);
      expect(array.codec).toBe("none");
    }
    expectCode(() => fromNpz(toNpz({ a: new Float64Array(2) }, { compress: true }), { copy: "never" }), "COPY_REQUIRED");
  });

  test("output is deterministic", () => {
    const arrays = { a: new Float32Array([1, 2, 3]), b: { data: new Uint16Array([1]), dtype: "bfloat16" as const } };
    expect(toNpz(arrays, { compress: true, metadata: { x: 1 } })).toEqual(toNpz(arrays, { compress: true, metadata: { x: 1 } }));
  });

  test("__ndpack__.json is written only when there is metadata or a dtype numpy cannot name", () => {
    const names = (bytes: Uint8Array) => [...fromNpz(bytes).arrays.keys()];
    expect(new TextDecoder().decode(toNpz({ a: new Float32Array(1) })).includes(NPZ_NDPACK_MEMBER)).toBe(false);
    expect(new TextDecoder().decode(toNpz({ a: new Float32Array(1) }, { metadata: { k: "v" } })).includes(NPZ_NDPACK_MEMBER)).toBe(true);
    expect(names(toNpz({ a: { data: new Uint8Array(2), dtype: "float8_e4m3fn" } }))).toEqual(["a"]);
    expect(fromNpz(toNpz({ a: { data: new Uint8Array(2), dtype: "float8_e4m3fn" } })).arrays.get("a")!.dtype).toBe("float8_e4m3fn");
  });

  test("members that are not .npy files are listed as ignored; directories are skipped", () => {
    const npy = toNpy(new Float32Array([1]));
    const bytes = writeZip(
      [
        { name: "dir/", parts: [], method: "stored" },
        { name: "dir/x.npy", parts: [npy], method: "stored" },
        { name: "README.txt", parts: [new TextEncoder().encode("hi")], method: "deflate" },
      ],
      { level: 6, forceZip64: false },
    );
    const { arrays, ignored } = fromNpz(bytes);
    expect([...arrays.keys()]).toEqual(["dir/x"]);
    expect(ignored).toEqual(["README.txt"]);
    // The lazy reader says so too (the CLI warns with it).
    return openSource(bytesSource(bytes), { formats: FORMATS }).then((reader) => expect([reader.names, reader.ignored]).toEqual([["dir/x"], ["README.txt"]]));
  });

  test("INVALID_ARGUMENT for an array name holding U+0000: Python's zipfile cuts member names there, so numpy would read two such arrays as one", () => {
    expectCode(() => toNpz({ "w\0a": new Float32Array([1]), "w\0b": new Float32Array([2]) }), "INVALID_ARGUMENT");
  });

  test("names without the UTF-8 flag are CP437, as in Python's zipfile", () => {
    const bytes = toNpz({ "\u00fc": new Float32Array([1]) });
    const cd = centralDirectory(bytes);
    // Rewrite the name to the CP437 byte for ü (0x81) and clear the UTF-8 flag, in both headers.
    const view = new DataView(bytes.buffer);
    for (const at of [0, cd]) {
      const nameAt = at + (at === 0 ? 30 : 46);
      view.setUint16(at + (at === 0 ? 6 : 8), 0, true);
      expect([...bytes.subarray(nameAt, nameAt + 2)]).toEqual([0xc3, 0xbc]);
      bytes[nameAt] = 0x81;
      bytes[nameAt + 1] = 0x78; // "x": keeps the length, giving "üx.npy"
    }
    expect([...fromNpz(bytes).arrays.keys()]).toEqual(["\u00fcx"]);
  });

  test("every byte from 0x80 to 0xFF of a name without the UTF-8 flag reads as Python's cp437 codec reads it", () => {
    const bytes = toNpz({ ["x".repeat(128)]: new Float32Array([1]) });
    const cd = centralDirectory(bytes);
    const view = new DataView(bytes.buffer);
    for (const at of [0, cd]) {
      const nameAt = at + (at === 0 ? 30 : 46);
      view.setUint16(at + (at === 0 ? 6 : 8), 0, true);
      for (let i = 0; i < 128; i++) bytes[nameAt + i] = 0x80 + i;
    }
    const python = execFileSync("python3", ["-c", "import sys; sys.stdout.write(bytes(range(0x80, 0x100)).decode('cp437').encode('unicode_escape').decode())"], { encoding: "utf8" });
    const expected = python.replace(/\\x([0-9a-f]{2})|\\u([0-9a-f]{4})/g, (_, x?: string, u?: string) => String.fromCharCode(parseInt(x ?? u!, 16)));
    expect(expected).toHaveLength(128);
    expect([...fromNpz(bytes).arrays.keys()]).toEqual([expected]);
  });
});

/** Offset of the central directory (from an end record without comment, no ZIP64). */
function centralDirectory(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 6, true);
}

function twoMembers(options: { compress?: boolean } = {}): Uint8Array {
  return toNpz({ a: new Float64Array([1, 2, 3]), b: new Int32Array([4, 5]) }, options);
}

describe(".npz refusals: the zip container", () => {
  test("BAD_MAGIC: not a zip", () => {
    expectCode(() => fromNpz(encode({ a: new Float32Array(1) })), "BAD_MAGIC");
    expectCode(() => fromNpz(Uint8Array.of(0x50, 0x4c)), "BAD_MAGIC");
  });

  test("TRUNCATED: no end record at the end", () => {
    const bytes = twoMembers();
    expectCode(() => fromNpz(bytes.subarray(0, 3)), "TRUNCATED");
    expectCode(() => fromNpz(bytes.subarray(0, bytes.length - 1)), "TRUNCATED");
    expectCode(() => fromNpz(bytes.subarray(0, bytes.length - 30)), "TRUNCATED");
  });

  test("TRAILING_BYTES: bytes after the end record; a declared comment is fine", () => {
    const bytes = twoMembers();
    const longer = new Uint8Array(bytes.length + 5);
    longer.set(bytes);
    expectCode(() => fromNpz(longer), "TRAILING_BYTES");
    new DataView(longer.buffer).setUint16(bytes.length - 2, 5, true);
    expect([...fromNpz(longer).arrays.keys()]).toEqual(["a", "b"]);
  });

  test("an empty archive holds no arrays", () => {
    const empty = writeZip([], { level: 6, forceZip64: false });
    expect(empty.length).toBe(22);
    expect(fromNpz(empty).arrays.size).toBe(0);
  });

  test("HEADER_INVALID: damaged signatures, local and central names that differ, multi-volume archives", () => {
    const cases: [string, (b: Uint8Array, v: DataView, cd: number) => void][] = [
      ["central signature", (b, v, cd) => v.setUint32(cd, 0x12345678, true)],
      ["local signature", (b, v) => v.setUint32(readZipDirectory(b, { maxEntries: 2 })[1]!.localOffset, 0x04034b51, true)],
      ["local name", (b) => (b[30] = 0x7a)],
      ["disk number", (b, v) => v.setUint16(b.length - 18, 1, true)],
      ["member on another disk", (b, v, cd) => v.setUint16(cd + 34, 1, true)],
      ["ZIP64 sentinel without ZIP64 record", (b, v) => v.setUint32(b.length - 6, 0xffffffff, true)],
    ];
    for (const [label, damage] of cases) {
      const bytes = twoMembers();
      damage(bytes, new DataView(bytes.buffer), centralDirectory(bytes));
      expectCode(() => fromNpz(bytes), "HEADER_INVALID");
      void label;
    }
  });

  test("OUT_OF_BOUNDS: a directory, a local header or member data outside the archive", () => {
    const directoryPastEnd = twoMembers();
    new DataView(directoryPastEnd.buffer).setUint32(directoryPastEnd.length - 6, directoryPastEnd.length, true);
    expectCode(() => fromNpz(directoryPastEnd), "OUT_OF_BOUNDS");
    const localPastDirectory = twoMembers();
    new DataView(localPastDirectory.buffer).setUint32(centralDirectory(localPastDirectory) + 42, centralDirectory(localPastDirectory) - 10, true);
    expectCode(() => fromNpz(localPastDirectory), "OUT_OF_BOUNDS");
  });

  test("OVERLAP: members sharing bytes (the overlapping zip bomb)", () => {
    const bytes = twoMembers();
    const cd = centralDirectory(bytes);
    const view = new DataView(bytes.buffer);
    // Grow member a (stored) so that it covers member b's local header.
    const grown = view.getUint32(cd + 20, true) + 200;
    view.setUint32(cd + 20, grown, true);
    view.setUint32(cd + 24, grown, true);
    expectCode(() => fromNpz(bytes), "OVERLAP");
  });

  test("DUPLICATE_NAME: two members with the same name", () => {
    const npy = toNpy(new Float32Array(1));
    const bytes = writeZip(
      [
        { name: "a.npy", parts: [npy], method: "stored" },
        { name: "a.npy", parts: [npy], method: "stored" },
      ],
      { level: 6, forceZip64: false },
    );
    expectCode(() => fromNpz(bytes), "DUPLICATE_NAME");
  });

  test("UNSUPPORTED_CODEC: encryption and compression methods other than stored and deflate", () => {
    const encrypted = twoMembers();
    new DataView(encrypted.buffer).setUint16(centralDirectory(encrypted) + 8, 1, true);
    expectCode(() => fromNpz(encrypted), "UNSUPPORTED_CODEC", /encrypted/);
    const bzip2 = twoMembers();
    new DataView(bzip2.buffer).setUint16(centralDirectory(bzip2) + 10, 12, true);
    expectCode(() => fromNpz(bzip2), "UNSUPPORTED_CODEC", /method 12/);
  });

  test("SIZE_MISMATCH: a stored member whose sizes differ; a directory whose records do not fill it", () => {
    const bytes = twoMembers();
    const cd = centralDirectory(bytes);
    new DataView(bytes.buffer).setUint32(cd + 24, 7, true);
    expectCode(() => fromNpz(bytes), "SIZE_MISMATCH");
    // One unaccounted byte inside the declared directory, after its last record.
    const original = twoMembers();
    const endAt = original.length - 22;
    const padded = new Uint8Array(original.length + 1);
    padded.set(original.subarray(0, endAt));
    padded.set(original.subarray(endAt), endAt + 1);
    const view = new DataView(padded.buffer);
    view.setUint32(padded.length - 10, view.getUint32(padded.length - 10, true) + 1, true);
    expectCode(() => fromNpz(padded), "SIZE_MISMATCH");
    // One byte short: the last record runs past the directory's end.
    const short = twoMembers();
    const shortView = new DataView(short.buffer);
    shortView.setUint32(short.length - 10, shortView.getUint32(short.length - 10, true) - 1, true);
    expectCode(() => fromNpz(short), "OUT_OF_BOUNDS");
  });

  test("LIMIT_EXCEEDED: more members than maxArrays; a member inflating past maxDecodedBytes (checked before inflating)", () => {
    expectCode(() => fromNpz(twoMembers(), { maxArrays: 1 }), "LIMIT_EXCEEDED", /maxArrays/);
    expect(fromNpz(twoMembers(), { maxArrays: 2 }).arrays.size).toBe(2);
    expectCode(() => fromNpz(twoMembers({ compress: true }), { maxDecodedBytes: 100 }), "LIMIT_EXCEEDED", /maxDecodedBytes/);
    // A bomb: a member that claims 4 GiB - 2 is refused at once, nothing is inflated.
    const bomb = twoMembers({ compress: true });
    new DataView(bomb.buffer).setUint32(centralDirectory(bomb) + 24, 0xfffffffe, true);
    expectCode(() => fromNpz(bomb), "LIMIT_EXCEEDED");
  });

  test("CODEC_ERROR: a damaged deflate stream, or one that inflates to more or less than declared", () => {
    const damaged = twoMembers({ compress: true });
    const dataStart = 30 + 5 + new DataView(damaged.buffer).getUint16(28, true);
    damaged.fill(0xff, dataStart, dataStart + 8);
    expectCode(() => fromNpz(damaged), "CODEC_ERROR");
    for (const delta of [-1, 1]) {
      const wrongSize = twoMembers({ compress: true });
      const view = new DataView(wrongSize.buffer);
      const cd = centralDirectory(wrongSize);
      view.setUint32(cd + 24, view.getUint32(cd + 24, true) + delta, true);
      expectCode(() => fromNpz(wrongSize), "CODEC_ERROR");
    }
  });

  test("CHECKSUM: a member whose CRC-32 does not match (not checked with verify: false)", () => {
    const bytes = twoMembers();
    const { arrays } = fromNpz(bytes);
    const at = arrays.get("a")!.offset;
    bytes[at] = bytes[at]! ^ 1;
    expectCode(() => fromNpz(bytes), "CHECKSUM");
    expect(fromNpz(bytes, { verify: false }).arrays.get("a")!.data[0]).not.toBe(1);
  });

  test("a member's .npy errors name the array", () => {
    const bytes = writeZip([{ name: "x.npy", parts: [new TextEncoder().encode("not npy at all")], method: "stored" }], { level: 6, forceZip64: false });
    try {
      fromNpz(bytes);
      expect.fail("no error");
    } catch (error) {
      expect(isNdpackError(error) && error.code).toBe("BAD_MAGIC");
      expect(isNdpackError(error) && error.array).toBe("x");
    }
    const voidMember = writeZip([{ name: "w.npy", parts: [toNpy({ data: new Uint16Array(2), dtype: "bfloat16" })], method: "stored" }], { level: 6, forceZip64: false });
    expectCode(() => fromNpz(voidMember), "UNKNOWN_DTYPE", /member "w.npy"/);
    expect(fromNpz(voidMember, { voidDtype: "bfloat16" }).arrays.get("w")!.dtype).toBe("bfloat16");
    expect(fromNpz(voidMember, { voidDtype: { w: "float16" } }).arrays.get("w")!.dtype).toBe("float16");
  });

  test("__ndpack__.json is read strictly", () => {
    const npy = toNpy({ data: new Uint16Array(2), dtype: "bfloat16" });
    const withMember = (json: string) =>
      writeZip(
        [
          { name: "w.npy", parts: [npy], method: "stored" },
          { name: NPZ_NDPACK_MEMBER, parts: [new TextEncoder().encode(json)], method: "stored" },
        ],
        { level: 6, forceZip64: false },
      );
    expect(fromNpz(withMember('{"metadata":{"a":1},"dtypes":{"w":"bfloat16"}}')).metadata).toEqual({ a: 1 });
    expectCode(() => fromNpz(withMember("{nope")), "HEADER_INVALID");
    expectCode(() => fromNpz(withMember('{"metadata":{}}')), "HEADER_INVALID");
    expectCode(() => fromNpz(withMember('{"metadata":{},"dtypes":{"w":"bfloat17"}}')), "UNKNOWN_DTYPE");
    expectCode(() => fromNpz(withMember('{"metadata":{},"dtypes":{"w":"bfloat16","v":"bfloat16"}}')), "HEADER_INVALID", /not in the file/);
    expectCode(() => fromNpz(withMember('{"metadata":{},"dtypes":{"w":"float8_e5m2"}}')), "UNKNOWN_DTYPE");
    expectCode(() => fromNpz(withMember('{"metadata":{"a":1,"a":2},"dtypes":{}}')), "DUPLICATE_KEY");
    expectCode(() => fromNpz(withMember('{"metadata":{"a":12345678901234567890},"dtypes":{}}')), "BAD_NUMBER");
  });

  test("INVALID_ARGUMENT and DUPLICATE_NAME on the writer", () => {
    expectCode(() => toNpz([["a", new Float32Array(1)], ["a", new Float32Array(1)]]), "DUPLICATE_NAME");
    expectCode(() => toNpz({ "\ud800": new Float32Array(1) }), "INVALID_ARGUMENT");
    // An empty name is legal in .npz, as numpy writes it (member ".npy"), and reads back.
    expect([...fromNpz(toNpz({ "": new Float32Array(1) })).arrays.keys()]).toEqual([""]);
    expectCode(() => toNpz({ a: new Float32Array(1) }, { metadata: { bad: NaN } }), "INVALID_ARGUMENT");
    expectCode(() => toNpz({ a: new Float32Array(1) }, { compressionLevel: 10 }), "INVALID_ARGUMENT");
    expectCode(() => fromNpz(twoMembers(), { voidDtype: "nope" as never }), "INVALID_ARGUMENT");
  });
});

describe(".npz names that numpy or unzip tools read differently", () => {
  const one = new Float32Array([1]);
  /** A zip of .npy members (and others) named as given, written as is by the zip writer. */
  const zipOf = (...names: string[]) => writeZip(names.map((name, i) => ({ name, parts: [name.endsWith(".npy") ? toNpy(Float32Array.of(i)) : new Uint8Array([1])], method: "stored" as const })), { level: 6, forceZip64: false });
  /** What numpy.load makes of `bytes`: the Python expression `expr` of the loaded file `f`, printed. */
  const numpyLoad = (bytes: Uint8Array, expr: string) =>
    runPython("-c", [`import base64, io, json, sys, numpy as np; f = np.load(io.BytesIO(base64.b64decode(sys.stdin.read()))); print(${expr})`], Buffer.from(bytes).toString("base64")).trim();

  test("INVALID_ARGUMENT naming the array when numpy.load would read its member as another name (U+0000, another member's name) or an unzip tool could write it outside its folder (absolute, a drive, a backslash, a '..' segment: zip slip)", () => {
    const refused: [Record<string, Float32Array>, string][] = [
      [{ "/abs": one }, "/abs"],
      [{ "a/../../b": one }, "a/../../b"],
      [{ "../x": one }, "../x"],
      [{ "C:x": one }, "C:x"],
      [{ "c:/x": one }, "c:/x"],
      [{ "a\\b": one }, "a\\b"],
      [{ "..\\..\\x": one }, "..\\..\\x"],
      [{ "w\0a": one }, "w\0a"],
      [{ a: one, "a.npy": one }, "a.npy"],
      [{ "a.npy": one, a: one }, "a.npy"],
      [{ [NPZ_NDPACK_MEMBER]: { data: new Uint16Array(1), dtype: "bfloat16" } as never }, NPZ_NDPACK_MEMBER],
    ];
    for (const [arrays, name] of refused) {
      const error = failure(() => toNpz({ ok: one, ...arrays }), "INVALID_ARGUMENT");
      expect([error.array, error.message], name).toEqual([name, `array "${name}": its .npz member name is unsafe for numpy or unzip tools`]);
    }
    // Dots and slashes that stay inside the archive's folder: ".." alone is the member "...npy", "x/.." is "x/...npy".
    const kept = ["..", ".", "...", "..a", "a..", "x/..", "a/b", "a/./b", "a//b", "d/", "ab:c", "a.npy", NPZ_NDPACK_MEMBER];
    const bytes = toNpz(new Map(kept.map((name, i) => [name, Float32Array.of(i)])));
    expect(readZipDirectory(bytes, { maxEntries: 100 }).map((e) => e.name)).toEqual(kept.map((name) => `${name}.npy`));
    expect(JSON.parse(numpyLoad(bytes, "json.dumps({k: float(f[k][0]) for k in f.files})"))).toEqual(Object.fromEntries(kept.map((name, i) => [name, i])));
  });

  test("fromNpz and the lazy reader read member names as the zip holds them, where numpy.load reads other ones (files ndpack never writes)", async () => {
    const read = async (bytes: Uint8Array) => {
      const { arrays, ignored } = fromNpz(bytes);
      const lazy = await openSource(bytesSource(bytes), { formats: FORMATS });
      expect([lazy.names, lazy.ignored]).toEqual([[...arrays.keys()], ignored]);
      return [[...arrays].map(([name, array]) => [name, array.data[0]]), ignored];
    };
    // A member "a" beside "a.npy": ndpack's array "a" is a.npy; numpy's "a" is the other member (twice).
    const shadowed = zipOf("a", "a.npy");
    expect(await read(shadowed)).toEqual([[["a", 1]], ["a"]]);
    expect(numpyLoad(shadowed, "f.files, f['a']")).toBe("['a', 'a'] b'\\x01'");
    // "a.npy" beside "a.npy.npy": numpy's key "a.npy" is the member a.npy, array "a"; it cannot reach a.npy.npy.
    const doubled = zipOf("a.npy", "a.npy.npy");
    expect(await read(doubled)).toEqual([[["a", 0], ["a.npy", 1]], []]);
    expect(numpyLoad(doubled, "f.files, float(f['a'][0]), float(f['a.npy'][0])")).toBe("['a', 'a.npy'] 0.0 0.0");
    // Python's zipfile cuts a name at U+0000.
    const cut = zipOf("x.npy", "w\0a.npy");
    expect(await read(cut)).toEqual([[["x", 0], ["w\0a", 1]], []]);
    expect(numpyLoad(cut, "f.files")).toBe("['x', 'w']");
  });
});

describe(".npz members with the same .npy header", () => {
  // toNpy's header for 4 float32 values, then 16 bytes (right), 20 (4 too many) or 12 (4 too few).
  const npy = toNpy(new Float32Array(4));
  const header = npy.subarray(0, npy.length - 16);
  const zipOf = (lengths: readonly number[], method: ZipMethod = "stored") =>
    writeZip(lengths.map((length, i) => ({ name: `m${i}.npy`, parts: [header, Uint8Array.from({ length }, (_, j) => i + j)], method })), { level: 1, forceZip64: false });

  test.each(["stored", "deflate"] as const)("%s: each member's layout is its own (an equal header is parsed once, never trusted for another size)", async (method) => {
    await using reader = await openSource(bytesSource(zipOf([16, 16, 16], method)), { formats: FORMATS });
    for (const [i, name] of ["m0", "m1", "m2"].entries()) {
      expect(reader.info(name)).toMatchObject({ dtype: "float32", shape: [4] });
      const { data } = await reader.read(name);
      expect([...new Uint8Array(data.buffer, data.byteOffset, 4)]).toEqual([i, i + 1, i + 2, i + 3]);
    }
    for (const [lengths, code] of [[[16, 16, 20], "TRAILING_BYTES"], [[16, 12, 16], "TRUNCATED"]] as const) {
      const error = await openSource(bytesSource(zipOf(lengths, method)), { formats: FORMATS }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code, array: lengths[2] === 20 ? "m2" : "m1" });
    }
  });
});

describe(".npz ZIP64", () => {
  test("forced ZIP64 records (sizes and offsets in extra fields, ZIP64 end record) read back", () => {
    const arrays = { a: new Float64Array([1, 2, 3]), b: { data: new Int16Array([1, 2, 3, 4]), shape: [2, 2], order: "F" as const } };
    const bytes = toNpz(arrays, { forceZip64: true });
    const view = new DataView(bytes.buffer);
    expect(view.getUint32(18, true)).toBe(0xffffffff); // local compressed size deferred to ZIP64
    expect(view.getUint32(bytes.length - 22 - 20, true)).toBe(0x07064b50); // the locator
    const { arrays: read } = fromNpz(bytes);
    expect([...(read.get("a")!.data as Float64Array)]).toEqual([1, 2, 3]);
    expect(read.get("b")!.order).toBe("F");
    expect(read.get("a")!.copied).toBe(false);
  });

  test("ZIP64 values past 2^53-1 are OUT_OF_BOUNDS", () => {
    const bytes = toNpz({ a: new Float64Array(1) }, { forceZip64: true });
    const locator = bytes.length - 22 - 20;
    new DataView(bytes.buffer).setBigUint64(locator + 8, 1n << 60n, true);
    expectCode(() => fromNpz(bytes), "OUT_OF_BOUNDS");
  });

  test("a hand-made ZIP64 member (a zip64 extra field in the central record only) reads back", () => {
    const npy = toNpy(new Float32Array([7]));
    const name = new TextEncoder().encode("x.npy");
    const crc = zlibCrc32(npy) >>> 0;
    const local = new Uint8Array(30 + name.length + npy.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 45, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, npy.length, true);
    lv.setUint32(22, npy.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    local.set(npy, 30 + name.length);
    const central = new Uint8Array(46 + name.length + 28);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(6, 45, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, 0xffffffff, true);
    cv.setUint32(24, 0xffffffff, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, 28, true);
    cv.setUint32(42, 0xffffffff, true);
    central.set(name, 46);
    cv.setUint16(46 + name.length, 1, true);
    cv.setUint16(46 + name.length + 2, 24, true);
    cv.setBigUint64(46 + name.length + 4, BigInt(npy.length), true);
    cv.setBigUint64(46 + name.length + 12, BigInt(npy.length), true);
    cv.setBigUint64(46 + name.length + 20, 0n, true);
    const end = new Uint8Array(22);
    const ev = new DataView(end.buffer);
    ev.setUint32(0, 0x06054b50, true);
    ev.setUint16(8, 1, true);
    ev.setUint16(10, 1, true);
    ev.setUint32(12, central.length, true);
    ev.setUint32(16, local.length, true);
    const bytes = new Uint8Array([...local, ...central, ...end]);
    expect([...(fromNpz(bytes).arrays.get("x")!.data as Float32Array)]).toEqual([7]);
    // The extra field one field short is HEADER_INVALID.
    cv.setUint16(46 + name.length + 2, 16, true);
    expectCode(() => fromNpz(new Uint8Array([...local, ...central, ...end])), "HEADER_INVALID");
  });
});

describe(".npz round trips (fast-check)", () => {
  const arrayArb = fc.record({
    dtype: fc.constantFrom(...DTYPE_NAMES),
    shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
    order: fc.constantFrom("C" as const, "F" as const),
    seed: fc.integer(),
  });

  test("toNpz -> fromNpz keeps names, dtypes, shapes, orders, bits and metadata", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), arrayArb), { selector: ([name]) => name, maxLength: 5 }),
        fc.boolean(),
        fc.boolean(),
        fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })),
        (entries, compress, forceZip64, metadata) => {
          const cases = entries
            .filter(([name]) => name.isWellFormed() && isNpzName(name))
            .map(([name, a]): Case => ({ name, dtype: a.dtype, shape: a.shape, order: a.order, byteOrder: "little", bytes: caseBytes(a.dtype, a.shape.reduce((x, y) => x * y, 1), rng(a.seed)) }));
          const json = JSON.parse(JSON.stringify(metadata)) as Record<string, unknown>;
          const bytes = toNpz(new Map(cases.map((c) => [c.name, specOf(c)])), { compress, forceZip64, metadata: json });
          const contents = fromNpz(bytes);
          expectCasesRead(contents.arrays, cases, "round trip");
          expect(contents.metadata).toEqual(json);
        },
      ),
      { numRuns: 200 },
    );
  });

  test("fromNpz never throws anything but an NdpackError on damaged input", () => {
    const valid = toNpz({ a: new Float32Array([1, 2, 3]), b: { data: new Uint16Array(2), dtype: "bfloat16" } }, { metadata: { k: [1] } });
    const compressed = toNpz({ a: new Float32Array([1, 2, 3]) }, { compress: true, forceZip64: true });
    fc.assert(
      fc.property(fc.constantFrom(valid, compressed), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (source, at, byte, cut) => {
        const bytes = source.slice(0, source.length - (cut % 8 === 0 ? cut % source.length : 0));
        bytes[at % bytes.length] = byte;
        try {
          fromNpz(bytes);
        } catch (error) {
          expect(isNdpackError(error), String(error)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  test("members written in pieces, stored or deflated, read back whole", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 4 }), fc.constantFrom("stored" as const, "deflate" as const), fc.boolean(), (parts, method, forceZip64) => {
        const bytes = writeZip([{ name: "d.bin", parts, method, align: 64 }], { level: 6, forceZip64 });
        const [entry] = readZipDirectory(bytes, { maxEntries: 1 });
        const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        parts.reduce((at, p) => (whole.set(p, at), at + p.length), 0);
        expect(new Uint8Array(readZipMember(bytes, entry!, { maxDecodedBytes: 1 << 20, verify: true }))).toEqual(whole);
        if (method === "stored") expect(entry!.dataStart % 64).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});

test("opening a .npz whose member heads add up to more than the reader keeps reads them a batch at a time, each once (4,000 deflated members: 24 MB of heads were read at once, the first dropped before use, then read again one by one)", async () => {
  const random = rng(7);
  const arrays = Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`m${i}`, Uint8Array.from({ length: 6000 }, () => Math.floor(random() * 256))]));
  const bytes = toNpz(arrays, { compress: true });
  expect(bytes.length).toBeGreaterThan(16 << 20);
  let reads = 0;
  const source = { size: bytes.length, read: async (offset: number, length: number) => (reads++, bytes.slice(offset, offset + length)) };
  await using reader = await openSource(source, { formats: FORMATS });
  expect(reader.names.length).toBe(4000);
  expect(reader.bytesRead).toBeLessThan(2 * bytes.length);
  // The first read, the end, the directory, then batches of coalesced reads of at most 1 MiB: about 2 x 24 (each head is read for its local header, then for its .npy header).
  expect(reads).toBeLessThan(100);
  expect(Array.from((await reader.read("m3999")).data as Uint8Array)).toEqual(Array.from(arrays.m3999!));
});

/**
 * The bytes Node's zlib inflates while `fn` runs, through either call src/codecs.ts makes of it: a
 * whole stream at once (`inflateRawSync`), or its engine driven step by step (`createInflateRaw`).
 */
async function inflatedDuring(fn: () => Promise<unknown>): Promise<number> {
  const { inflateRawSync, createInflateRaw } = nativeZlib;
  let inflated = 0;
  nativeZlib.inflateRawSync = ((data: Uint8Array, options: never) => {
    const out = inflateRawSync!(data, options) as Uint8Array | { buffer: Uint8Array };
    inflated += (out instanceof Uint8Array ? out : out.buffer).length;
    return out;
  }) as typeof inflateRawSync;
  nativeZlib.createInflateRaw = () => {
    type Engine = { _handle: { writeSync(...args: unknown[]): void }; _writeState: Uint32Array };
    const stream = createInflateRaw!();
    const { _handle: handle, _writeState: state } = stream as unknown as Engine;
    const writeSync = handle.writeSync.bind(handle);
    // Arguments: flush, input, its offset and length, output, its offset and length; the output left is state[0].
    handle.writeSync = (...args: unknown[]) => {
      writeSync(...args);
      inflated += (args[6] as number) - state[0]!;
    };
    return stream;
  };
  try {
    await fn();
  } finally {
    Object.assign(nativeZlib, { inflateRawSync, createInflateRaw });
  }
  return inflated;
}

describe("np.savez_compressed members inflated at open: their .npy headers only", () => {
  const tmp = tempDir("npz-heads");
  const memberBytes = 4 << 20;
  beforeAll(() => {
    runPython("-c", [
      `import io, struct, sys, zlib
import numpy as np
out = sys.argv[1]
np.savez_compressed(f"{out}/zeros.npz", **{f"z{i}": np.zeros(${memberBytes / 4}, "f4") for i in range(50)})

def npy(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()

# Member a: an invalid block type after all of its content, in the first bytes read for its head.
a, b = npy(np.zeros(1_000_000, "u1")), npy(np.ones(3))
compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
members = [("a.npy", a, compressor.compress(a) + compressor.flush(zlib.Z_FULL_FLUSH) + b"\\x07"), ("b.npy", b, b)]
local = central = b""
for name, content, stored in members:
    method, n = 8 if stored is not content else 0, name.encode()
    fields = (method, 0, 0, zlib.crc32(content), len(stored), len(content), len(n))
    central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, *fields, 0, 0, 0, 0, 0, len(local)) + n
    local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, *fields, 0) + n + stored
end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, len(central), len(local), 0)
open(f"{out}/damaged-after-head.npz", "wb").write(local + central + end)`,
      tmp.dir,
    ]);
  }, 60_000);
  afterAll(() => tmp.remove());

  test("opening 50 members of zeros inflates at most 512 bytes of each (the 4 KiB read for each head inflated to 4 MiB: 200 MiB)", async () => {
    const bytes = readFileSync(tmp.path("zeros.npz"));
    let reader: Awaited<ReturnType<typeof openSource>> | undefined;
    const inflated = await inflatedDuring(async () => {
      reader = await openSource(bytesSource(bytes), { formats: FORMATS });
    });
    await using opened = reader!;
    expect(opened.names.length).toBe(50);
    expect(inflated).toBeLessThanOrEqual(50 * 512);
    const z7 = await opened.read("z7");
    expect(z7.data.byteLength).toBe(memberBytes);
    expect((z7.data as Float32Array).every((x) => x === 0)).toBe(true);
  });

  test.each([
    ["Node's zlib", <T>(fn: () => T) => fn()],
    ["pako (browsers)", <T>(fn: () => T) => withoutNativeZlib(fn)],
  ])("damage after a member's .npy header, within the bytes read for it, is found when the member is read (CODEC_ERROR), not at open, with %s", async (_, run) => {
    const bytes = readFileSync(tmp.path("damaged-after-head.npz"));
    expect(readZipDirectory(bytes, { maxEntries: 2 })[0]!.compressedSize).toBeLessThan(4096);
    await run(async () => {
      await using reader = await openSource(bytesSource(bytes), { formats: FORMATS });
      expect(reader.info("a").shape).toEqual([1_000_000]);
      expect(await codeOfAsync(() => reader.read("a"))).toBe("CODEC_ERROR");
      expect((await reader.verify()).arrays.map((v) => [v.name, v.error?.code ?? null])).toEqual([
        ["a", "CODEC_ERROR"],
        ["b", null],
      ]);
    });
  });
});
