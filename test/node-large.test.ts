/**
 * Files over 4 GiB and arrays over 2 GiB, in the normal test run. The payloads are mostly zeros,
 * which the writers leave as holes (FileSink), so the files cost little disk and little time;
 * real bytes sit near the 2 GiB and 4 GiB boundaries, where offset arithmetic would break.
 */
import { constants } from "node:buffer";
import { statSync } from "node:fs";
import { open as openHandle } from "node:fs/promises";
import { crc32 } from "node:zlib";
import { afterAll, describe, expect, test } from "vitest";
import { createWriter, load, open, save } from "../src/node/index.js";
import { expectBytes, failure, tempDir, values } from "./helpers/node-files.js";

const dir = tempDir("ndpack-large-");
afterAll(() => dir.remove());

const MiB = 1 << 20;
const GiB = 1 << 30;
/** Rows of 1 MiB: 4400 MiB in all, so rows 2047/2048 and 4095/4096 straddle file offsets 2^31 and 2^32. */
const ROWS = 4400;
const GROUP = 64; // rows per chunk: 64 MiB, the size of a hole
const MARKED = [0, 2047, 2048, 4095, 4096, ROWS - 1];
/** Each test puts 4 GiB through the CRC and the writers' hole checks: the first took 8–10 s in `npm test`, 15–17 s beside two CPU-bound processes (within 60 s, but not by much). */
const LARGE_TIMEOUT_MS = 180_000;

/** The content of row `r` of the big array: zeros, except the marked rows. */
function row(r: number): Uint8Array {
  const bytes = new Uint8Array(MiB);
  if (MARKED.includes(r)) for (let i = 0; i < MiB; i++) bytes[i] = (r * 7 + i * 13) % 251 || 1;
  return bytes;
}

describe("files over 4 GiB, arrays over 2 GiB", () => {
  test("createWriter writes a 4.3 GiB array and an array past 2^32; open reads them with positioned reads", async () => {
    const path = dir.file("big.ndp");
    const writer = await createWriter(
      path,
      [
        { name: "head", dtype: "int32", shape: [4] },
        { name: "big", dtype: "uint8", shape: [ROWS, MiB] },
        { name: "tail", dtype: "float64", shape: [3] },
      ],
      { fsync: false },
    );
    await writer.write("head", Int32Array.of(1, 2, 3, 4));
    const zeros = new Uint8Array(GROUP * MiB);
    let expectedCrc = 0; // the CRC the writer must store after the big array, computed on the side
    for (let first = 0; first < ROWS; first += GROUP) {
      const count = Math.min(GROUP, ROWS - first);
      const marked = MARKED.filter((r) => r >= first && r < first + count);
      let chunk = zeros;
      if (marked.length > 0 || count < GROUP) {
        chunk = new Uint8Array(count * MiB);
        for (const r of marked) chunk.set(row(r), (r - first) * MiB);
      }
      expectedCrc = crc32(chunk, expectedCrc);
      await writer.write("big", chunk);
    }
    await writer.write("tail", Float64Array.of(-1, 0.5, 2 ** 40));
    await writer.close();

    const size = statSync(path).size;
    expect(size).toBe(writer.byteLength);
    expect(size).toBeGreaterThan(2 ** 32 + 300 * MiB);
    expect(statSync(path).blocks * 512).toBeLessThan(GiB); // holes where the zeros are

    await using reader = await open(path);
    const big = reader.info("big");
    expect(big.nbytes).toBe(ROWS * MiB);
    expect(reader.info("tail").offset).toBeGreaterThan(2 ** 32);
    expect(values((await reader.read("tail", { verify: true })).data)).toEqual([-1, 0.5, 2 ** 40]);
    expect(values((await reader.read("head", { verify: true })).data)).toEqual([1, 2, 3, 4]);

    // Rows across the 2^31 and 2^32 file offsets, and the last row.
    for (const [start, end] of [[2047, 2049], [4095, 4097], [ROWS - 2, ROWS]] as const) {
      const rows = await reader.readRows("big", start, end);
      expect(rows.shape).toEqual([end - start, MiB]);
      expect(rows.offset).toBe(big.offset + start * MiB);
      for (let r = start; r < end; r++) expectBytes(rows.data.subarray((r - start) * MiB, (r - start + 1) * MiB), row(r), `row ${r}`);
    }
    expect(big.offset + 2048 * MiB).toBeGreaterThan(2 ** 31);
    expect(big.offset + 4096 * MiB).toBeGreaterThan(2 ** 32);

    // One readRows of more than 2 GiB: more than a single read call can move.
    const before = reader.bytesRead;
    const wide = await reader.readRows("big", 1, 2049);
    expect(reader.bytesRead - before).toBe(2048 * MiB);
    expect(wide.data.length).toBe(2048 * MiB);
    expectBytes(wide.data.subarray(2046 * MiB, 2047 * MiB), row(2047));
    expectBytes(wide.data.subarray(2047 * MiB), row(2048));

    // The CRC the writer computed as the 4.3 GiB went through it.
    const handle = await openHandle(path, "r");
    const stored = Buffer.alloc(4);
    await handle.read(stored, 0, 4, big.offset + big.byteLength);
    await handle.close();
    expect(stored.readUInt32LE(0)).toBe(expectedCrc);

    // Too large for one typed array in this runtime: read and load refuse before allocating.
    if (big.nbytes > constants.MAX_LENGTH) {
      await failure(() => reader.read("big"), "LIMIT_EXCEEDED");
      await failure(() => load(path), "LIMIT_EXCEEDED");
    }
  }, LARGE_TIMEOUT_MS);

  test("save writes a file over 4 GiB from a 4 GiB typed array; the array after it reads back", async () => {
    const path = dir.file("saved.ndp");
    const huge = new Uint8Array(2 ** 32 - 1); // never touched: zero pages cost no memory
    huge[2 ** 31] = 5;
    huge[2 ** 32 - 2] = 9;
    await save(path, { huge, after: Int16Array.of(-3, 3) }, { fsync: false });
    expect(statSync(path).size).toBeGreaterThan(2 ** 32);
    await using reader = await open(path);
    expect(reader.info("after").offset).toBeGreaterThan(2 ** 32);
    expect(values((await reader.read("after", { verify: true })).data)).toEqual([-3, 3]);
    expect(values((await reader.readRows("huge", 2 ** 31 - 1, 2 ** 31 + 2)).data)).toEqual([0, 5, 0]);
    expect(values((await reader.readRows("huge", 2 ** 32 - 3, 2 ** 32 - 1)).data)).toEqual([0, 9]);
    // A file of this size is checked at open (FORMAT.md §9 step 20) from its size alone.
    expect(reader.byteLength).toBe(statSync(path).size);
  }, LARGE_TIMEOUT_MS);
});
