/**
 * The one lazy reader (`openSource`, and `open` of `ndpack/node`) on all four formats, over bytes
 * in memory, a Node file and a user's own ByteSource: it describes the same arrays as the
 * whole-buffer readers, reads the same bytes, in the reads it promises (the header in at most two,
 * one array in exactly one of its range, nearby arrays together), and checks CRCs by default.
 */
import { appendFileSync, existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { open as openHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, expectTypeOf, test } from "vitest";
import { decode, encode, NdpackError, type NdArray, type NdArrayOf } from "../src/index.js";
import { bytesSource, COALESCE_GAP_BYTES, openSource, type ByteSource, type NdpackReader, type OpenSourceOptions } from "../src/source.js";
import { FORMATS as ALL_FORMATS, fromNpy, fromNpz, fromSafetensors, toNpy, toNpz, toSafetensors } from "../src/interop/index.js";
import { crc32 } from "../src/crc32.js";
import { load, open, save } from "../src/node/index.js";
import { FileSource } from "../src/node/file-source.js";
import { readZipDirectory } from "../src/interop/zip.js";
import type { ByteRange } from "../src/io/steps.js";
import { failureAsync as failure, noise } from "./helpers/common.js";

const dir = mkdtempSync(join(tmpdir(), "ndpack-reader-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;
function fileWith(bytes: Uint8Array, extension: string): string {
  const path = join(dir, `f-${fileCount++}${extension}`);
  writeFileSync(path, bytes);
  return path;
}

/** A user's own source: bytes in memory behind the ByteSource interface, every read recorded. */
function countingSource(bytes: Uint8Array): ByteSource & { reads: { offset: number; length: number }[] } {
  const reads: { offset: number; length: number }[] = [];
  return {
    size: bytes.length,
    reads,
    read: async (offset, length) => {
      reads.push({ offset, length });
      return bytes.slice(offset, offset + length); // fresh memory, as most sources give
    },
  };
}


function bytesOf(array: Pick<NdArray, "data">): Uint8Array {
  return new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
}

const arrays = {
  w: { data: Float32Array.from(noise(600), (b) => b / 7), shape: [20, 30] },
  f: { data: Int16Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3], order: "F" as const },
  b: { data: Uint16Array.of(0x3f80, 0x4000), dtype: "bfloat16" as const },
  d: Float64Array.of(1.5, -2, 3.25),
};

/** Each format's bytes, and what its whole-buffer reader makes of them. */
const FORMATS = {
  ndpack: { bytes: encode(arrays, { metadata: { step: 3 } }), extension: ".ndp", whole: (bytes: Uint8Array) => ({ arrays: new Map([...decode(bytes)].map((a) => [a.name, a])), metadata: decode(bytes).metadata }) },
  "ndpack big-endian": { bytes: encode(arrays, { byteOrder: "big" }), extension: ".ndp", whole: (bytes: Uint8Array) => ({ arrays: new Map([...decode(bytes)].map((a) => [a.name, a])), metadata: decode(bytes).metadata }) },
  "ndpack compressed": { bytes: encode(arrays, { codec: "shuffle+deflate" }), extension: ".ndp", whole: (bytes: Uint8Array) => ({ arrays: new Map([...decode(bytes)].map((a) => [a.name, a])), metadata: decode(bytes).metadata }) },
  npy: { bytes: toNpy(arrays.w), extension: ".npy", whole: (bytes: Uint8Array) => ({ arrays: new Map([["array", { ...fromNpy(bytes), name: "array" } as NdArray]]), metadata: {} }) },
  npz: { bytes: toNpz(arrays, { metadata: { step: 3 } }), extension: ".npz", whole: (bytes: Uint8Array) => fromNpz(bytes) },
  "npz deflated": { bytes: toNpz(arrays, { compress: true }), extension: ".npz", whole: (bytes: Uint8Array) => fromNpz(bytes) },
  safetensors: { bytes: toSafetensors(arrays, { metadata: { step: "3" } }), extension: ".safetensors", whole: (bytes: Uint8Array) => fromSafetensors(bytes) },
};

/** The core's openSource given every format (by default it reads ndpack alone). */
const openAll = (source: ByteSource, options: OpenSourceOptions = {}) => openSource(source, { formats: ALL_FORMATS, ...options });

const SOURCES = {
  bytes: (bytes: Uint8Array) => openAll(bytesSource(bytes)),
  "a Node file": (bytes: Uint8Array, extension: string) => open(fileWith(bytes, extension)),
  "a user's ByteSource": (bytes: Uint8Array) => openAll(countingSource(bytes)),
};

describe.each(Object.keys(SOURCES))("openSource over %s", (sourceName) => {
  test.each(Object.keys(FORMATS))("%s: the same names, infos, metadata and bytes as the whole-buffer reader", async (formatName) => {
    const { bytes, extension, whole } = FORMATS[formatName as keyof typeof FORMATS];
    const expected = whole(bytes);
    await using reader = await SOURCES[sourceName as keyof typeof SOURCES](bytes, extension);
    expect(reader.names).toEqual([...expected.arrays.keys()]);
    expect(reader.metadata).toEqual(expected.metadata);
    for (const [name, array] of expected.arrays) {
      const { data: _data, copied: _copied, ...info } = array;
      expect({ ...reader.info(name), shape: [...reader.info(name).shape] }).toEqual({ ...info, shape: [...info.shape] });
      for (const verify of [true, false]) {
        const read = await reader.read(name, { verify });
        expect(bytesOf(read)).toEqual(bytesOf(array));
        expect(read.data.constructor).toBe(array.data.constructor);
        expect(read.data.byteOffset % (array.data as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT).toBe(0);
      }
      // In chunks of a few elements: the same bytes, whatever the chunk size.
      const chunks: Uint8Array[] = [];
      for await (const chunk of reader.readChunks(name, { chunkBytes: 40 })) chunks.push(chunk);
      expect(Buffer.concat(chunks)).toEqual(Buffer.from(bytesOf(array)));
    }
    const many = await reader.readMany(reader.names);
    for (const [name, array] of expected.arrays) expect(bytesOf(many.get(name)!)).toEqual(bytesOf(array));
    const report = await reader.verify();
    expect(report.ok).toBe(true);
    expect(report.arrays.map((a) => a.name)).toEqual(reader.names);
  });
});

describe("the formats openSource reads", () => {
  test("ndpack alone by default (the core's bundle holds no foreign format): BAD_MAGIC naming FORMATS for the others, also by extension", async () => {
    expect((await openSource(bytesSource(FORMATS.ndpack.bytes))).format).toBe("ndpack");
    for (const name of ["npy", "npz", "safetensors"] as const) {
      const error = await openSource(bytesSource(FORMATS[name].bytes), { name: `f${FORMATS[name].extension}` }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "BAD_MAGIC" });
      expect((error as Error).message).toContain("formats: FORMATS from ndpack/interop");
      expect((await openAll(bytesSource(FORMATS[name].bytes))).format).toBe(name);
    }
  });

  test("INVALID_ARGUMENT for a format not among those given, and for an empty or non-array formats", async () => {
    const bytes = bytesSource(FORMATS.npz.bytes);
    await failure(() => openSource(bytes, { format: "npz" }), "INVALID_ARGUMENT");
    await failure(() => openSource(bytes, { formats: [] }), "INVALID_ARGUMENT");
    await failure(() => openSource(bytes, { formats: "npz" as never }), "INVALID_ARGUMENT");
    expect((await openSource(bytes, { format: "npz", formats: ALL_FORMATS })).format).toBe("npz");
  });
});

describe("what the reader reads", () => {
  test.each(Object.keys(FORMATS).filter((f) => !f.startsWith("npz")))("%s: the header in one read; one array in exactly one read of its range (+ its CRC and padding)", async (formatName) => {
    const { bytes } = FORMATS[formatName as keyof typeof FORMATS];
    const source = countingSource(bytes);
    await using reader = await openAll(source);
    expect(source.reads).toEqual([{ offset: 0, length: bytes.length }]); // small file: the first read took it all
    expect(reader.readCount).toBe(1);
    // Last to first: arrays read in order are read ahead (below).
    for (const name of [...reader.names].reverse()) {
      const info = reader.info(name);
      source.reads.length = 0;
      await reader.read(name, { verify: false });
      expect(source.reads).toEqual([{ offset: info.offset, length: info.byteLength }]);
      source.reads.length = 0;
      await reader.read(name);
      expect(source.reads).toHaveLength(1);
      expect(source.reads[0]!.offset).toBe(info.offset);
      // With verification, only the CRC and the padding up to the next record (or nothing) more.
      expect(source.reads[0]!.length - info.byteLength).toBeLessThanOrEqual(formatName.startsWith("ndpack") ? 4 + 64 : 0);
    }
  });

  test.each([
    ["stored", 1536, false],
    ["deflated", 5120, true],
  ] as const)("a .npz of many %s members: its header in 2 reads, then one read of %d bytes past each local header beyond the first read, all in one batch on a file", async (_method, headBytes, compress) => {
    // 24 members of 128 KiB of noise (deflate keeps them about as long): each member's local header is more than 64 KiB from the next.
    const members: Record<string, Float32Array> = {};
    for (let i = 0; i < 24; i++) members[`m${String(i).padStart(2, "0")}`] = new Float32Array(noise(128 * 1024).buffer);
    const bytes = toNpz(members, { compress });
    const path = fileWith(bytes, ".npz");
    const entries = readZipDirectory(bytes, { maxEntries: 100 });
    const cdOffset = Math.max(...entries.map((e) => e.dataStart + e.compressedSize));
    // Each member's local header (30 bytes, its name, no extra field in toNpz's zips), and its method's head bytes.
    const heads = entries.filter((e) => e.localOffset >= 64 * 1024).map((e) => ({ offset: e.localOffset, length: Math.min(30 + Buffer.byteLength(e.name) + headBytes, cdOffset - e.localOffset) }));
    expect(heads).toHaveLength(23);
    const file = await FileSource.open(path);
    const reads: ByteRange[] = [];
    const batches: ByteRange[][] = [];
    const source: ByteSource = {
      size: file.size,
      read: (offset, length, options) => (reads.push({ offset, length }), file.read(offset, length, options)),
      readBatch: (ranges, options) => (batches.push([...ranges]), file.readBatch(ranges, options)),
      close: () => file.close(),
    };
    await using reader = await openAll(source);
    // The first 64 KiB, the zip's last 4 KiB (its end record and directory), then every member head at once.
    expect(reads).toEqual([{ offset: 0, length: 64 * 1024 }, { offset: bytes.length - 4096, length: 4096 }]);
    expect(batches).toEqual([heads]);
    expect(reader.readCount).toBe(2 + heads.length);
    expect(reader.bytesRead).toBe(64 * 1024 + 4096 + heads.reduce((sum, r) => sum + r.length, 0));
    expect(reader.names).toEqual(Object.keys(members));

    // A source without readBatch (an HTTP one): the same ranges, one read each, a few at a time.
    const plain = countingSource(bytes);
    await using plainReader = await openAll(plain);
    expect(plain.reads.slice(0, 2)).toEqual(reads);
    expect(plain.reads.slice(2).sort((a, b) => a.offset - b.offset)).toEqual(heads);
    expect(plainReader.readCount).toBe(reader.readCount);
    expect(plainReader.bytesRead).toBe(reader.bytesRead);
    expect(bytesOf(await reader.read("m17"))).toEqual(new Uint8Array(members.m17!.buffer));
  });

  test("a file source's readBatch: every range's bytes, and FILE_CHANGED when the file changed (one check for the batch) or ends early", async () => {
    const bytes = noise(10_000);
    const path = fileWith(bytes, ".bin");
    const file = await FileSource.open(path);
    try {
      const ranges = [{ offset: 9000, length: 500 }, { offset: 0, length: 10 }, { offset: 9990, length: 100 }];
      const all = await file.readBatch(ranges);
      expect(all.map((b) => [...b])).toEqual([[...bytes.subarray(9000, 9500)], [...bytes.subarray(0, 10)], [...bytes.subarray(9990)]]);
      appendFileSync(path, Uint8Array.of(1));
      await failure(() => file.readBatch(ranges), "FILE_CHANGED");
      truncateSync(path, 5000);
      await failure(() => file.readBatch(ranges), "FILE_CHANGED");
    } finally {
      await file.close();
    }
    // A caller's handle closed under its source: IO_ERROR, never bytes of another file.
    const handle = await openHandle(path);
    const borrowed = FileSource.fromHandle(handle);
    await handle.close();
    await failure(() => borrowed.readBatch([{ offset: 0, length: 10 }]), "IO_ERROR");
    await failure(() => borrowed.read(0, 10), "IO_ERROR");
  });

  test("a header longer than the first read takes exactly one more read, and a big file's first read is 64 KiB", async () => {
    const many: Record<string, Float32Array> = {};
    for (let i = 0; i < 3000; i++) many[`layer.${i}.weight.with.a.long.name`] = Float32Array.of(i);
    for (const bytes of [encode(many), toSafetensors(many), encode({ big: new Uint8Array(1 << 20) })]) {
      const source = countingSource(bytes);
      await using reader = await openAll(source);
      expect(source.reads[0]).toEqual({ offset: 0, length: Math.min(bytes.length, 64 * 1024) });
      expect(source.reads.length).toBeLessThanOrEqual(2);
      expect(reader.names.length).toBeGreaterThan(0);
    }
  });

  test("readMany reads nearby arrays in one read and far-apart ones in separate reads", async () => {
    const gap = new Uint8Array(COALESCE_GAP_BYTES + 4096);
    const bytes = encode({ a: Float32Array.of(1, 2), b: Float32Array.of(3), c: Int8Array.of(4), far: gap, z: Float64Array.of(5) });
    const source = countingSource(bytes);
    await using reader = await openAll(source);
    source.reads.length = 0;
    const near = await reader.readMany(["c", "a", "b"]);
    expect(source.reads).toHaveLength(1);
    expect([...near.keys()]).toEqual(["c", "a", "b"]);
    expect(Array.from(near.get("a")!.data as Float32Array)).toEqual([1, 2]);
    source.reads.length = 0;
    const apart = await reader.readMany(["a", "z"]);
    expect(source.reads).toHaveLength(2);
    expect(Array.from(apart.get("z")!.data as Float64Array)).toEqual([5]);
    source.reads.length = 0;
    await reader.readMany(["a", "z"], { maxGap: Number.MAX_SAFE_INTEGER });
    expect(source.reads).toHaveLength(1);
    source.reads.length = 0;
    await reader.readMany(["a", "b", "c"], { maxGap: 0, verify: false });
    expect(source.reads).toHaveLength(3);
    await failure(() => reader.readMany(["a"], { concurrency: 0 }), "INVALID_ARGUMENT");
    await failure(() => reader.readMany(["a", "nope"]), "NOT_FOUND");
  });

  test("readMany: arrays read together have memory of their own, in every format: transferring one leaves the others and later reads", async () => {
    for (const [format, { bytes }] of Object.entries(FORMATS)) {
      for (const source of [countingSource(bytes), await FileSource.open(fileWith(bytes, FORMATS[format as keyof typeof FORMATS].extension))]) {
        await using reader = await openAll(source);
        const many = await reader.readMany(reader.names);
        const buffers = [...many.values()].map((a) => a.data.buffer);
        expect(new Set(buffers).size, format).toBe(buffers.length);
        const [first, ...rest] = [...many.values()];
        const kept = rest.map((a) => Array.from(bytesOf(a)));
        const firstBytes = Array.from(bytesOf(first!));
        structuredClone(first!.data.buffer, { transfer: [first!.data.buffer as ArrayBuffer] });
        expect(rest.map((a) => Array.from(bytesOf(a))), format).toEqual(kept);
        expect(Array.from(bytesOf(await reader.read(first!.name))), format).toEqual(firstBytes);
      }
    }
  });

  test("readMany has at most `concurrency` reads in flight (default 4), and starts the next as soon as one ends", async () => {
    // Ten arrays, each further than COALESCE_GAP_BYTES from the next: ten reads.
    const far = new Uint8Array(COALESCE_GAP_BYTES + 4096);
    const input: Record<string, Uint8Array | Float64Array> = {};
    for (let i = 0; i < 10; i++) Object.assign(input, { [`x${i}`]: Float64Array.of(i, -i), [`gap${i}`]: far });
    const bytes = encode(input);
    const names = Array.from({ length: 10 }, (_, i) => `x${i}`);
    // A user's source whose reads, once gated, wait until the test releases them.
    let gated = false;
    let inFlight = 0;
    let mostInFlight = 0;
    const waiting: (() => void)[] = [];
    const source: ByteSource = {
      size: bytes.length,
      read: async (offset, length) => {
        if (gated) {
          mostInFlight = Math.max(mostInFlight, ++inFlight);
          await new Promise<void>((resolve) => waiting.push(resolve));
          inFlight--;
        }
        return bytes.slice(offset, offset + length);
      },
    };
    await using reader = await openAll(source);
    /** Lets every promise job and I/O callback pending run: reads that can start have started. */
    const settle = async () => {
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    for (const [concurrency, bound] of [[undefined, 4], [2, 2], [1, 1], [16, 10]] as const) {
      gated = true;
      mostInFlight = 0;
      const reading = reader.readMany(names, concurrency === undefined ? {} : { concurrency });
      let released = 0;
      try {
        for (;;) {
          await settle();
          // Always the bound while enough reads are left, never more.
          expect(inFlight, `concurrency ${String(concurrency)} after ${released} reads`).toBe(Math.min(bound, names.length - released));
          if (waiting.length === 0) break;
          waiting.shift()!();
          released++;
        }
      } finally {
        // On a failure too: the reader's disposal waits for its reads.
        gated = false;
        for (const release of waiting.splice(0)) release();
      }
      const arrays = await reading;
      expect(released).toBe(10);
      expect(mostInFlight).toBe(bound);
      expect(names.map((name) => Array.from(arrays.get(name)!.data as Float64Array))).toEqual(names.map((_, i) => [i, -i]));
    }
  });

  test("readRows checks the CRC only when the rows are the whole array", async () => {
    const bytes = encode({ m: { data: Float32Array.from({ length: 12 }, (_, i) => i), shape: [4, 3] } });
    const damaged = bytes.slice();
    damaged[decode(bytes).info("m").offset + 5]! ^= 1;
    await using reader = await openAll(bytesSource(damaged));
    await failure(() => reader.readRows("m", 0, 4), "CHECKSUM");
    expect((await reader.readRows("m", 0, 4, { verify: false })).shape).toEqual([4, 3]);
    expect(Array.from((await reader.readRows("m", 2, 4)).data as Float32Array)).toEqual([6, 7, 8, 9, 10, 11]); // not checkable: part of the payload
  });

  test("a source that gives fewer bytes than it has is FILE_CHANGED; something that is not a source is INVALID_ARGUMENT", async () => {
    const bytes = encode({ a: Float32Array.of(1, 2, 3) });
    let shrunk = false;
    const source: ByteSource = { size: bytes.length, read: async (offset, length) => bytes.slice(offset, shrunk ? offset + 1 : offset + length) };
    await using reader = await openAll(source);
    shrunk = true;
    await failure(() => reader.read("a"), "FILE_CHANGED");
    await failure(() => openAll({ size: -1, read: async () => new Uint8Array(0) }), "INVALID_ARGUMENT");
    await failure(() => openAll({} as never), "INVALID_ARGUMENT");
    await failure(() => openAll(bytesSource(new Uint8Array(64))), "BAD_MAGIC");
  });

  test("close closes the source; reads after it are CLOSED", async () => {
    let closed = 0;
    const bytes = encode({ a: Float32Array.of(1) });
    const reader = await openAll({ ...bytesSource(bytes), close: async () => void closed++ });
    await reader.close();
    await reader.close();
    expect(closed).toBe(1);
    await failure(() => reader.read("a"), "CLOSED");
  });
});

describe("arrays under 64 KiB read in order are read 256 KiB ahead", () => {
  // 1,000 records of 256 B of payload, its CRC and padding to 64: 320 B each, 312.5 KiB in all.
  const arrays = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`a${i}`, Float32Array.from({ length: 64 }, (_, j) => i * 64 + j)]));
  const bytes = encode(arrays);

  test.each([true, false])("every array in order (verify: %s): a read of its own for the first, then reads of 256 KiB; each array memory of its own, with its values", async (verify) => {
    const source = countingSource(bytes);
    await using reader = await openSource(source);
    const { offset: dataStart } = reader.info("a0");
    source.reads.length = 0;
    const buffers = new Set<ArrayBufferLike>();
    for (let i = 0; i < 1000; i++) {
      const { data } = await reader.read(`a${i}`, { verify });
      expect([data[0], data[63]]).toEqual([i * 64, i * 64 + 63]);
      // Memory of its own holding its record alone (payload, and its CRC and padding when verified).
      expect(data.byteOffset).toBe(0);
      expect(data.buffer.byteLength).toBeLessThanOrEqual(verify ? 320 : 256);
      buffers.add(data.buffer);
    }
    expect(buffers.size).toBe(1000);
    const first = source.reads[0]!;
    expect(first.offset).toBe(dataStart);
    expect(first.length).toBe(verify ? 320 : 256);
    // The second array onwards: reads of 256 KiB (the last one what is left of the file), each from
    // the first array the read before did not hold whole.
    const [, ahead, last, ...more] = source.reads;
    expect([ahead!.offset, ahead!.length, more.length]).toEqual([dataStart + 320, 256 * 1024, 0]);
    expect(last!.offset).toBe(dataStart + 320 * Math.floor((ahead!.offset + ahead!.length - dataStart) / 320));
    expect(last!.length).toBe(bytes.length - last!.offset);
  });

  test("every array at once (Promise.all, in order): reads started together share one read ahead, a few reads in all", async () => {
    const source = countingSource(bytes);
    await using reader = await openSource(source);
    source.reads.length = 0;
    const before = reader.bytesRead;
    const all = await Promise.all(Array.from({ length: 1000 }, (_, i) => reader.read(`a${i}`)));
    all.forEach(({ data }, i) => expect([data[0], data[63]]).toEqual([i * 64, i * 64 + 63]));
    // The first array's own read, 256 KiB from the second, then the rest: not 256 KiB for each array.
    const first = reader.info("a0").offset;
    expect(source.reads.map((r) => [r.offset, r.length]).sort((a, b) => a[0]! - b[0]!).slice(0, 2)).toEqual([[first, 320], [first + 320, 256 * 1024]]);
    expect(source.reads).toHaveLength(3);
    // Each byte of the arrays once, but the part of a record the first read ahead held (read again).
    expect(reader.bytesRead - before).toBeGreaterThanOrEqual(bytes.length - first);
    expect(reader.bytesRead - before).toBeLessThan(bytes.length - first + 320);
  });

  test("an aborted read does not end the read ahead others wait for", async () => {
    const source = countingSource(bytes);
    await using reader = await openSource(source);
    await reader.read("a0");
    const controller = new AbortController();
    const aborted = reader.read("a1", { signal: controller.signal });
    const other = reader.read("a2");
    controller.abort(new Error("stop"));
    await failure(() => aborted, "ABORTED");
    expect((await other).data[0]).toBe(128);
    expect((await reader.read("a3")).data[0]).toBe(192);
  });

  test("one array, arrays far apart, and arrays read last to first: each one read of its own range", async () => {
    const source = countingSource(bytes);
    await using reader = await openSource(source);
    source.reads.length = 0;
    for (const i of [10, 500, 999, 998, 997]) expect((await reader.read(`a${i}`, { verify: false })).data[0]).toBe(i * 64);
    expect(source.reads).toEqual([10, 500, 999, 998, 997].map((i) => ({ offset: reader.info(`a${i}`).offset, length: 256 })));
  });

  test("rows and chunks read in order are each one read of their own range (callers run several at once)", async () => {
    const rows = encode({ m: { data: Float32Array.from({ length: 64 * 1000 }, (_, i) => i), shape: [1000, 64] } });
    const source = countingSource(rows);
    await using reader = await openSource(source);
    const { offset } = reader.info("m");
    source.reads.length = 0;
    for (let row = 0; row < 10; row++) expect((await reader.readRows("m", row, row + 1)).data[0]).toBe(row * 64);
    expect(source.reads).toEqual(Array.from({ length: 10 }, (_, row) => ({ offset: offset + row * 256, length: 256 })));
    source.reads.length = 0;
    let chunks = 0;
    for await (const chunk of reader.readChunks("m", { chunkBytes: 1024, verify: false })) expect(chunk.length).toBe(1024), chunks++;
    expect([chunks, source.reads.length, source.reads.every((r) => r.length <= 1024)]).toEqual([250, 250, true]);
  });

  test("a reader of bytes in memory reads no copies ahead: arrays are views of the caller's bytes", async () => {
    await using reader = await openSource(bytesSource(bytes));
    for (let i = 0; i < 10; i++) expect((await reader.read(`a${i}`)).data.buffer).toBe(bytes.buffer);
  });

  test("close drops the bytes read ahead: a read after it is CLOSED", async () => {
    const reader = await openSource(countingSource(bytes));
    await reader.read("a0");
    await reader.read("a1");
    await reader.close();
    await failure(() => reader.read("a2"), "CLOSED");
  });
});

describe("a .npz header reads its members' headers in one batch", () => {
  test("12 members 100 KiB apart: the first read (member 0), the end, then one read for each of the 11 others, 4 at a time; a 100 KiB member then 11 of 1 KiB: one read for those the end does not hold", async () => {
    const far = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`m${i}`, Float32Array.from({ length: 25_600 }, (_, j) => i + j)]));
    const near: Record<string, Float32Array> = { big: Float32Array.from({ length: 25_600 }, (_, j) => j), ...Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`s${i}`, Float32Array.from({ length: 256 }, () => i)])) };
    for (const [arrays, memberReads] of [[far, 11], [near, 1]] as const) {
      const bytes = toNpz(arrays);
      const reads: { offset: number; length: number }[] = [];
      let inFlight = 0;
      let mostInFlight = 0;
      const source: ByteSource = {
        size: bytes.length,
        read: async (offset, length) => {
          reads.push({ offset, length });
          mostInFlight = Math.max(mostInFlight, ++inFlight);
          await new Promise((resolve) => setTimeout(resolve, 5));
          inFlight--;
          return bytes.slice(offset, offset + length);
        },
      };
      await using reader = await openSource(source, { formats: ALL_FORMATS });
      const headerReads = reads.slice();
      expect(reader.names).toEqual(Object.keys(arrays));
      for (const name of reader.names) expect((await reader.read(name)).data[0]).toBe(arrays[name]![0]);
      // The first 64 KiB (the first member's headers), the zip's end with its central directory, then the batch.
      expect(headerReads.slice(0, 2)).toEqual([{ offset: 0, length: 64 * 1024 }, { offset: bytes.length - 4096, length: 4096 }]);
      expect(headerReads.length - 2).toBe(memberReads);
      expect(mostInFlight).toBe(Math.min(memberReads, 4));
    }
  });
});

describe("a source's readWithCrc32 (the CRC computed while the bytes arrive)", () => {
  /** Fresh copies of `bytes`, with a readWithCrc32 that reports `crcOf(bytes read)`, calls recorded. */
  function crcSource(bytes: Uint8Array, crcOf: (bytes: Uint8Array) => number) {
    const calls: { offset: number; length: number; crcLength: number }[] = [];
    const source: ByteSource = {
      size: bytes.length,
      read: async (offset, length) => bytes.slice(offset, offset + length),
      readWithCrc32: async (offset, length, crcLength) => {
        calls.push({ offset, length, crcLength });
        const read = bytes.slice(offset, offset + length);
        return { bytes: read, crc: crcOf(read.subarray(0, crcLength)) };
      },
    };
    return { source, calls };
  }
  const arrays = { a: Float32Array.from({ length: 1000 }, (_, i) => i / 7), b: Int32Array.of(7) };

  test("a verifying read of an ndpack array or a stored .npz member asks it for the CRC of what the checksum covers, and trusts its answer", async () => {
    for (const bytes of [encode(arrays), toNpz(arrays)]) {
      const good = crcSource(bytes, (covered) => crc32(covered));
      await using reader = await openSource(good.source, { formats: ALL_FORMATS });
      const a = await reader.read("a");
      expect(Array.from(a.data as Float32Array)).toEqual(Array.from(arrays.a));
      const info = reader.info("a");
      // ndpack: the payload, then its CRC and padding; .npz: the whole member (its .npy header, then the payload).
      const call = good.calls.at(-1)!;
      expect(call.offset + call.crcLength).toBe(info.offset + info.byteLength);
      expect(call.length - call.crcLength).toBe(reader.format === "ndpack" ? reader.info("b").offset - (info.offset + info.byteLength) : 0);
      // A source whose CRC disagrees with the file's: CHECKSUM, though every byte it gave is right.
      const lying = crcSource(bytes, (covered) => crc32(covered) ^ 1);
      await using liar = await openSource(lying.source, { formats: ALL_FORMATS });
      await failure(() => liar.read("a"), "CHECKSUM");
      expect((await liar.read("a", { verify: false })).data[999]).toBe(arrays.a[999]);
      expect(lying.calls.length).toBe(1);
    }
  });

  test("a readWithCrc32 that gives fewer bytes than asked for is FILE_CHANGED", async () => {
    const bytes = encode(arrays);
    const short: ByteSource = { size: bytes.length, read: async (o, l) => bytes.slice(o, o + l), readWithCrc32: async (o, l, c) => ({ bytes: bytes.slice(o, o + l - 1), crc: crc32(bytes.subarray(o, o + c)) }) };
    await using reader = await openSource(short);
    await failure(() => reader.read("a"), "FILE_CHANGED");
  });

  test("a Node file gives the same bytes and CRC as reading then checksumming, for ranges of 1 to 4 pieces and any CRC length", async () => {
    const bytes = noise(9 * 1024 * 1024 + 13);
    const path = fileWith(bytes, ".bin");
    const file = await FileSource.open(path);
    try {
      for (const [offset, length, crcLength] of [[0, 0, 0], [5, 100, 37], [3, 1024 * 1024 + 7, 1024 * 1024], [11, 4 * 1024 * 1024 + 64, 4 * 1024 * 1024], [0, bytes.length, bytes.length - 5], [7, 3 * 1024 * 1024 + 4099, 1]]) {
        const { bytes: read, crc } = await file.readWithCrc32(offset!, length!, crcLength!);
        expect(Buffer.from(read).equals(Buffer.from(bytes.subarray(offset, offset! + length!)))).toBe(true);
        expect(crc).toBe(crc32(bytes.subarray(offset, offset! + crcLength!)));
        expect(Buffer.from(await file.read(offset!, length!)).equals(Buffer.from(read))).toBe(true);
      }
    } finally {
      await file.close();
    }
  });
});

describe("every read that touches a payload verifies by default", () => {
  const bytes = encode({ a: Float32Array.of(1, 2, 3, 4), b: Int32Array.of(7) });
  const damaged = bytes.slice();
  damaged[decode(bytes).info("a").offset + 6]! ^= 0x10;

  test("CHECKSUM from read, readMany, readChunks, verify and load; the damaged values only with verify: false", async () => {
    const path = fileWith(damaged, ".ndp");
    for (const reader of [await open(path), await openAll(bytesSource(damaged))] as NdpackReader[]) {
      await failure(() => reader.read("a"), "CHECKSUM");
      await failure(() => reader.readMany(["a", "b"]), "CHECKSUM");
      await failure(async () => {
        for await (const _ of reader.readChunks("a")) expect.fail("a damaged chunk was handed out");
      }, "CHECKSUM");
      const report = await reader.verify();
      expect(report.ok).toBe(false);
      expect(report.arrays.map((a) => [a.name, a.ok, a.error?.code])).toEqual([["a", false, "CHECKSUM"], ["b", true, undefined]]);
      expect((await reader.read("a", { verify: false })).data[1]).not.toBe(2);
      expect(Array.from((await reader.read("b")).data as Int32Array)).toEqual([7]);
      await reader.close();
    }
    await failure(() => load(path), "CHECKSUM");
    expect((await load(path, { verify: false })).get("a").data[1]).not.toBe(2);
  });

  test("a damaged .npz member: CHECKSUM from read (a stored member's bytes), CHECKSUM or CODEC_ERROR (a deflated one's)", async () => {
    for (const compress of [false, true]) {
      const npz = toNpz({ a: Float32Array.from({ length: 64 }, (_, i) => i) }, { compress });
      const info = fromNpz(npz).arrays.get("a")!;
      const bad = npz.slice();
      bad[info.offset + info.byteLength - 3]! ^= 0x01;
      await using reader = await openAll(bytesSource(bad));
      let thrown: unknown;
      await reader.read("a").catch((error: unknown) => (thrown = error));
      expect(thrown).toBeInstanceOf(NdpackError);
      expect(compress ? ["CHECKSUM", "CODEC_ERROR"] : ["CHECKSUM"]).toContain((thrown as NdpackError).code);
      if (!compress) expect((await reader.read("a", { verify: false })).data[63]).not.toBe(63);
    }
  });
});

describe("errors that help, on the one reader (issue 12)", () => {
  const bytes = encode({ weights: Float32Array.of(1, 2, 3), bias: Float32Array.of(0.5), steps: BigInt64Array.of(7n) });
  const damaged = bytes.slice();
  damaged[decode(bytes).info("bias").offset]! ^= 0x01;

  test("read(name, dtype): the typed array of that dtype; DTYPE_MISMATCH or INVALID_ARGUMENT before any payload is read", async () => {
    await using reader = await openSource(bytesSource(bytes));
    const weights = await reader.read("weights", "float32");
    expectTypeOf(weights).toEqualTypeOf<NdArrayOf<"float32">>();
    expectTypeOf(weights.data).toEqualTypeOf<Float32Array>();
    expect(weights.data.reduce((a, b) => a + b, 0)).toBe(6);
    expect((await reader.read("steps", "int64", { verify: false })).data.reduce((a, b) => a + b, 0n)).toBe(7n);
    const before = reader.readCount;
    const mismatch = await failure(() => reader.read("weights", "float64"), "DTYPE_MISMATCH");
    expect(mismatch).toMatchObject({ array: "weights", expected: "float64", actual: "float32" });
    // @ts-expect-error "<f4" is numpy's name, not a Dtype
    expect((await failure(() => reader.read("weights", "<f4"), "INVALID_ARGUMENT")).message).toContain('did you mean "float32"?');
    await failure(() => reader.read("nope", "float32"), "NOT_FOUND");
    expect(reader.readCount).toBe(before);
  });

  test("NOT_FOUND lists the names there are and the nearest, and names the file", async () => {
    const path = fileWith(bytes, ".ndp");
    await using reader = await open(path);
    for (const run of [() => reader.read("weight"), () => reader.readRows("weight", 0, 1), () => reader.readMany(["bias", "weight"]), async () => reader.info("weight")]) {
      const error = await failure(run, "NOT_FOUND");
      expect(error.message).toBe(`no array named "weight" in ${path}; did you mean "weights"? (it holds 3 arrays: "weights", "bias", "steps")`);
      expect(error).toMatchObject({ array: "weight", path });
    }
    await failure(async () => {
      for await (const _ of reader.readChunks("weight")) expect.fail("no such array");
    }, "NOT_FOUND");
    expect((await failure(async () => (await load(path)).get("weight"), "NOT_FOUND")).path).toBe(path);
  });

  test("every error of a file's reader carries its path: open, read, readRows, readMany, readChunks, verify and load", async () => {
    const path = fileWith(damaged, ".ndp");
    await using reader = await open(path);
    expect((await failure(() => reader.read("bias"), "CHECKSUM")).path).toBe(path);
    expect((await failure(() => reader.readRows("bias", 0, 1), "CHECKSUM")).path).toBe(path);
    expect((await failure(() => reader.readMany(["weights", "bias"]), "CHECKSUM")).path).toBe(path);
    expect((await failure(() => reader.readRows("bias", 0, 2), "INVALID_ARGUMENT")).path).toBe(path);
    const chunks = await failure(async () => {
      for await (const _ of reader.readChunks("bias")) expect.fail("a damaged chunk was handed out");
    }, "CHECKSUM");
    expect(chunks.path).toBe(path);
    expect((await reader.verify()).arrays.find((a) => a.name === "bias")?.error?.path).toBe(path);
    expect((await failure(() => load(path), "CHECKSUM")).path).toBe(path);
    const truncated = fileWith(bytes.subarray(0, 30), ".ndp");
    expect((await failure(() => open(truncated), "TRUNCATED")).path).toBe(truncated);
    expect((await failure(() => load(truncated), "TRUNCATED")).path).toBe(truncated);
    // A source without a name has no path to give.
    await using unnamed = await openSource(bytesSource(damaged));
    expect((await failure(() => unnamed.read("bias"), "CHECKSUM")).path).toBeUndefined();
  });

  test("BAD_MAGIC on a PNG, HDF5 or gzip file says what it is", async () => {
    const png = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Uint8Array(40));
    const hdf5 = Uint8Array.of(0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, ...new Uint8Array(40));
    const gzip = Uint8Array.of(0x1f, 0x8b, 8, ...new Uint8Array(40));
    for (const [bytes, says] of [[png, "a PNG image"], [hdf5, "an HDF5 file"], [gzip, "a gzip file: decompress it first"]] as const) {
      const path = fileWith(bytes, ".bin");
      const error = await failure(() => open(path), "BAD_MAGIC");
      expect(error.message.startsWith(`${path} is not an ndpack, .npy, .npz or .safetensors file (its first bytes match none of them); it looks like ${says}`), error.message).toBe(true);
      expect(error.path).toBe(path);
    }
  });

  test("an unknown option name: INVALID_ARGUMENT naming the nearest and every known one, in every reader function", async () => {
    const path = fileWith(bytes, ".ndp");
    await using reader = await open(path);
    const calls: [string, () => Promise<unknown>][] = [
      ["openSource", () => openSource(bytesSource(bytes), { verfy: true } as never)],
      ["open", () => open(path, { maxArray: 1 } as never)],
      ["load", () => load(path, { verfy: false } as never)],
      ["save", () => save(join(dir, "never-written.ndp"), {}, { fsyn: false } as never)],
      ["read", () => reader.read("weights", { verfy: false } as never)],
      ["read", () => reader.read("weights", "float32", { verfy: false } as never)],
      ["readRows", () => reader.readRows("weights", 0, 1, { verfy: false } as never)],
      ["readMany", () => reader.readMany(["weights"], { maxgap: 0 } as never)],
      ["readChunks", async () => reader.readChunks("weights", { chunkSize: 4 } as never)],
      ["verify", () => reader.verify({ verify: false } as never)],
    ];
    for (const [fn, call] of calls) expect((await failure(call, "INVALID_ARGUMENT")).message).toMatch(new RegExp(`^${fn}: unknown option "\\w+"`));
    expect((await failure(() => load(path, { verfy: false } as never), "INVALID_ARGUMENT")).message).toBe(
      'load: unknown option "verfy"; did you mean "verify"? (load takes maxHeaderBytes, maxHeaderNodes, maxDepth, maxArrays, maxDims, maxNameBytes, maxDecodedBytes, copy, verify)',
    );
    expect((await failure(() => reader.readMany(["weights"], { maxgap: 0 } as never), "INVALID_ARGUMENT")).message).toContain('did you mean "maxGap"?');
    expect(existsSync(join(dir, "never-written.ndp"))).toBe(false);
  });
});
