/**
 * `readRows` of every array: a compressed one (ndpack's codecs, a deflated .npz member) and an
 * F-order one of 2+ dimensions are read whole as `read` reads them, then cut, so their rows are
 * those of `read` (compared in C order), in the array's order, in fresh memory; all the rows are
 * `read`'s array; damage is the code `read` gives.
 */
import { describe, expect, test } from "vitest";
import { encode, type NdArray } from "../src/index.js";
import { DTYPES } from "../src/dtypes.js";
import { cOrderBytes } from "../src/interop/common.js";
import { FORMATS, toNpy, toNpz } from "../src/interop/index.js";
import { bytesSource, openSource, type NdpackReader } from "../src/source.js";
import { open, saveSet, type SetReader } from "../src/node/index.js";
import { codeOfAsync, failureAsync } from "./helpers/common.js";
import { tempDir } from "./helpers/node-files.js";
import { allArrays, arrayOf, damagedDeflate, DTYPE_NAMES, rangesOf } from "./helpers/row-arrays.js";
import { dataBytes } from "./helpers/set-files.js";

/** The bytes of `array` in C order. */
const cBytes = (array: NdArray) => cOrderBytes(dataBytes(array), array.shape, array.order, DTYPES[array.dtype].itemSize);

/**
 * Checks `readRows` of every array of `reader` over every range against `read`: shape, order,
 * values, fresh memory (not `memory`, the file's bytes). Returns how many arrays were read whole
 * for their rows (compressed, or F order of 2+ dimensions).
 */
async function expectRowsOfRead(reader: NdpackReader, memory?: Uint8Array): Promise<number> {
  let readWholeCount = 0;
  for (const name of reader.names) {
    const info = reader.info(name);
    if (info.shape.length === 0) continue;
    const whole = await reader.read(name);
    const rows = info.shape[0]!;
    const rowBytes = rows === 0 ? 0 : info.nbytes / rows;
    const readWhole = info.codec !== "none" || (info.order === "F" && info.shape.length > 1);
    if (readWhole) readWholeCount++;
    for (const [start, end] of rangesOf(rows)) {
      const part = await reader.readRows(name, start, end);
      const what = `${name}[${start}:${end}]`;
      expect(part.shape, what).toEqual([end - start, ...info.shape.slice(1)]);
      expect(part.order, what).toBe(info.order);
      expect(part.dtype, what).toBe(info.dtype);
      expect(part.nbytes, what).toBe((end - start) * rowBytes);
      expect(part.data.byteLength, what).toBe(part.nbytes);
      expect(Buffer.from(cBytes(part)).equals(cBytes(whole).subarray(start * rowBytes, end * rowBytes)), what).toBe(true);
      // All the rows are read()'s array, which may view the file's bytes; a part is the caller's.
      if (readWhole && (start !== 0 || end !== rows)) {
        expect(part.copied, what).toBe(true);
        if (memory !== undefined) expect(part.data.buffer, what).not.toBe(memory.buffer);
      }
    }
  }
  return readWholeCount;
}

describe("readRows of a compressed or F-order array: read whole, then its rows", () => {
  for (const codec of ["none", "deflate", "shuffle+deflate"] as const) {
    for (const byteOrder of ["little", "big"] as const) {
      test(`ndpack, codec ${codec}, ${byteOrder}-endian: every dtype, 1 to 4 dimensions, C and F order, every range`, async () => {
        const bytes = encode(allArrays(codec), { byteOrder });
        const reader = await openSource(bytesSource(bytes));
        expect(reader.info("float32-10x6-F")).toMatchObject({ codec, byteOrder, order: "F" });
        // Every array but the empty ones compressed (they are stored raw), or the F-order ones of 2+ dimensions.
        expect(await expectRowsOfRead(reader, bytes)).toBe(codec === "none" ? DTYPE_NAMES.length * 4 : DTYPE_NAMES.length * 9);
      });
    }
  }

  test("values spelled out: rows 1 to 3 of a 40x3 F-order int16 array, big-endian, deflated; of a C-order one, shuffled", async () => {
    // Element (i, j) is 10 * (i % 4) + j: F order lists column after column, C order row after row.
    const f = Int16Array.from({ length: 120 }, (_, k) => 10 * ((k % 40) % 4) + Math.floor(k / 40));
    const c = Int16Array.from({ length: 120 }, (_, k) => 10 * (Math.floor(k / 3) % 4) + (k % 3));
    const bytes = encode({ f: { data: f, shape: [40, 3], order: "F", codec: "deflate" }, c: { data: c, shape: [40, 3], codec: "shuffle+deflate" } }, { byteOrder: "big" });
    const reader = await openSource(bytesSource(bytes));
    const rowsF = await reader.readRows("f", 1, 3);
    expect(rowsF).toMatchObject({ shape: [2, 3], order: "F", byteOrder: "big", codec: "deflate", nbytes: 12, copied: true });
    expect([...rowsF.data]).toEqual([10, 20, 11, 21, 12, 22]);
    const rowsC = await reader.readRows("c", 1, 3);
    expect(rowsC).toMatchObject({ shape: [2, 3], order: "C", codec: "shuffle+deflate", nbytes: 12, copied: true });
    expect([...rowsC.data]).toEqual([10, 11, 12, 20, 21, 22]);
    // The stored payload read: what `read` describes.
    const info = reader.info("c");
    expect(rowsC).toMatchObject({ offset: info.offset, byteLength: info.byteLength });
  });

  test("an uncompressed F-order array from memory: rows in fresh memory, not a view of the caller's bytes", async () => {
    const bytes = encode({ f: { data: Float64Array.of(1, 2, 3, 4, 5, 6), shape: [3, 2], order: "F" } });
    const reader = await openSource(bytesSource(bytes));
    const rows = await reader.readRows("f", 0, 2);
    expect([...rows.data]).toEqual([1, 2, 4, 5]);
    expect(rows.copied).toBe(true);
    (rows.data as Float64Array).fill(0);
    expect([...(await reader.read("f")).data]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test(".npz: deflated members (C and F order, every dtype) and stored F-order members, every range", async () => {
    for (const compress of [true, false]) {
      const bytes = toNpz(allArrays("none"), { compress });
      const reader = await openSource(bytesSource(bytes), { formats: FORMATS });
      expect(reader.info("float32-10x6-C").codec).toBe(compress ? "deflate" : "none");
      expect(await expectRowsOfRead(reader, bytes)).toBe(DTYPE_NAMES.length * (compress ? 10 : 4));
    }
  });

  test(".npy: a big-endian F-order array of 3 dimensions", async () => {
    const bytes = toNpy(arrayOf("float32", [4, 3, 2], "F", 7), { byteOrder: "big" });
    const reader = await openSource(bytesSource(bytes), { formats: FORMATS });
    expect(reader.info("array")).toMatchObject({ order: "F", byteOrder: "big" });
    expect(await expectRowsOfRead(reader, bytes)).toBe(1);
  });

  test("a sharded set: its compressed and F-order arrays by rows, each from its shard", async () => {
    const dir = tempDir("ndpack-rows-");
    try {
      const arrays = allArrays("shuffle+deflate");
      const saved = await saveSet(dir.path, arrays, { maxShardBytes: 4096, fsync: false });
      expect(saved.shards.length).toBeGreaterThan(1);
      await using set = (await open(saved.indexPath)) as SetReader;
      await set.openShards();
      expect(await expectRowsOfRead(set)).toBe(DTYPE_NAMES.length * 9);
    } finally {
      dir.remove();
    }
  });
});

describe("readRows of an array read whole fails as read does", () => {
  test("a damaged deflate stream: CHECKSUM when verifying, CODEC_ERROR under a right CRC or without verifying, as read", async () => {
    for (const [file, verify, code] of [[damagedDeflate(false), true, "CHECKSUM"], [damagedDeflate(true), true, "CODEC_ERROR"], [damagedDeflate(true), false, "CODEC_ERROR"]] as const) {
      const reader = await openSource(bytesSource(file));
      expect(await codeOfAsync(() => reader.read("a", { verify }))).toBe(code);
      for (const [start, end] of [[0, 1], [10, 20], [64, 64], [0, 64]]) await failureAsync(() => reader.readRows("a", start!, end!, { verify }), code);
    }
  });

  test("an F-order array with a damaged byte: CHECKSUM for any rows when verifying; verify: false reads them", async () => {
    const bytes = encode({ f: { data: Int32Array.from({ length: 12 }, (_, i) => i), shape: [4, 3], order: "F" } });
    const reader = await openSource(bytesSource(bytes));
    bytes[reader.info("f").offset + 44] = 99; // element (3, 2), the payload's last word
    await failureAsync(() => reader.read("f"), "CHECKSUM");
    await failureAsync(() => reader.readRows("f", 0, 1), "CHECKSUM");
    expect([...(await reader.readRows("f", 2, 4, { verify: false })).data]).toEqual([2, 3, 6, 7, 10, 99]);
  });

  test("some rows of an uncompressed C-order array with a damaged byte elsewhere: read unchecked by default, CHECKSUM with verify: true (the array read whole)", async () => {
    const bytes = encode({ c: { data: Int32Array.from({ length: 12 }, (_, i) => i), shape: [4, 3] } });
    const reader = await openSource(bytesSource(bytes));
    const { offset } = reader.info("c");
    const bytesReadBy = async (read: () => Promise<NdArray>) => {
      const before = reader.bytesRead;
      return [[...(await read()).data], reader.bytesRead - before];
    };
    const [, wholeRead] = await bytesReadBy(() => reader.read("c"));
    expect(await bytesReadBy(() => reader.readRows("c", 1, 3, { verify: true }))).toEqual([[3, 4, 5, 6, 7, 8], wholeRead]);
    expect(await bytesReadBy(() => reader.readRows("c", 1, 3))).toEqual([[3, 4, 5, 6, 7, 8], 24]); // those rows' bytes alone
    bytes[offset + 44] = 99; // element (3, 2), outside rows 1 to 3
    expect([...(await reader.readRows("c", 1, 3)).data]).toEqual([3, 4, 5, 6, 7, 8]);
    await failureAsync(() => reader.readRows("c", 1, 3, { verify: true }), "CHECKSUM");
    expect([...(await reader.readRows("c", 1, 3, { verify: false })).data]).toEqual([3, 4, 5, 6, 7, 8]);
  });

  test("larger decoded than maxDecodedBytes: LIMIT_EXCEEDED, as read", async () => {
    const reader = await openSource(bytesSource(encode({ a: { data: new Float32Array(256).fill(1.5), shape: [64, 4], codec: "deflate" } })), { maxDecodedBytes: 100 });
    await failureAsync(() => reader.read("a"), "LIMIT_EXCEEDED");
    await failureAsync(() => reader.readRows("a", 0, 1), "LIMIT_EXCEEDED");
  });

  test("a deflated .npz member with a flipped byte: the code of read, for rows of it", async () => {
    const bytes = toNpz({ a: { data: Float64Array.from({ length: 600 }, (_, i) => Math.sqrt(i)), shape: [200, 3] } }, { compress: true });
    let failed = 0;
    for (let at = 60; at < bytes.length - 120; at += 37) {
      const changed = Uint8Array.from(bytes);
      changed[at]! ^= 0x10;
      let reader: NdpackReader;
      try {
        reader = await openSource(bytesSource(changed), { formats: FORMATS });
      } catch {
        continue; // the change broke the header: nothing to read
      }
      const code = await codeOfAsync(() => reader.read("a"));
      if (code !== undefined) failed++;
      for (const [start, end] of [[0, 1], [199, 200], [5, 5]]) expect(await codeOfAsync(() => reader.readRows("a", start!, end!)), `byte ${at}`).toBe(code);
    }
    expect(failed).toBeGreaterThan(20);
  });
});
