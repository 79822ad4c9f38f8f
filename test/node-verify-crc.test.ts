/**
 * `verify()` of a local file takes each stored record's CRC-32 from the file source's `crc32`
 * (ByteSource.crc32), which reads the checked bytes a piece at a time into memory the source
 * reuses, instead of reading them with `read` into fresh memory chunk by chunk. Its CRC and the
 * bytes after the checked ones are those `read` gives; damage is reported as through `read`; a
 * file changed while it is checked is FILE_CHANGED; checks at once, and reads alongside them, never
 * share memory.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, test, vi } from "vitest";
import { crc32 } from "../src/crc32.js";
import type { VerifyReport } from "../src/decode.js";
import { encode } from "../src/index.js";
import { FORMATS, toNpy, toNpz, toSafetensors } from "../src/interop/index.js";
import { FileSource } from "../src/node/file-source.js";
import { open, saveSet, type SetReader } from "../src/node/index.js";
import { bytesSource, openSource } from "../src/source.js";
import { codeOfAsync, noise } from "./helpers/common.js";

const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), "ndpack-verify-crc-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** Writes `bytes` to a new file of the test folder, its times set an hour back: a write after open then always leaves other times (a file system's clock is coarser than one test). */
function fileOf(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  const hourAgo = Date.now() / 1000 - 3600;
  utimesSync(path, hourAgo, hourAgo);
  return path;
}

/** Counts what the file sources' `read` is asked for from now on (the bytes of every call). */
function spyOnReads(): () => number {
  const read = vi.spyOn(FileSource.prototype, "read");
  return () => read.mock.calls.reduce((sum, [, length]) => sum + length, 0);
}

/** Whether `a` and `b` hold the same bytes (a comparison that stays fast for MiBs, where `toEqual` takes seconds). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** A report's outcome per array: what a caller acts on. */
function outcomes(report: VerifyReport) {
  return report.arrays.map(({ name, ok, error }) => ({ name, ok, code: error?.code, expected: error?.expected, actual: error?.actual }));
}

describe("FileSource.crc32: the CRC-32 of a range's first bytes, and the bytes after them", () => {
  // 6 pieces of 1 MiB and a part: more pieces than are read at once (4), so memory is reused within one call.
  const bytes = noise(6 * MiB + 12345);
  const path = fileOf("noise.bin", bytes);
  /** Whether `checked` is the CRC-32 of `crcLength` bytes at `offset` and the bytes after them, up to `length`. */
  const isCheckOf = (checked: { crc: number; tail: Uint8Array }, offset: number, length: number, crcLength: number) =>
    checked.crc === crc32(bytes.subarray(offset, offset + crcLength)) && sameBytes(checked.tail, bytes.subarray(offset + crcLength, offset + length));

  test.each([
    ["the whole file, 68 bytes after the checked ones", 0, bytes.length, bytes.length - 68],
    ["an odd start; bytes after the checked ones across two piece boundaries", 7, 3 * MiB + 3, 2 * MiB - 5],
    ["2 bytes across a MiB of the file", MiB - 1, 2, 1],
    ["exactly 4 pieces, all checked", 100, 4 * MiB, 4 * MiB],
    ["5 pieces, none checked", 100, 5 * MiB, 0],
    ["nothing, at the end of the file", bytes.length, 0, 0],
  ])("%s", async (_, offset, length, crcLength) => {
    const source = await FileSource.open(path);
    try {
      const checked = await source.crc32(offset, length, crcLength);
      expect(checked.tail.length).toBe(length - crcLength);
      expect(isCheckOf(checked, offset, length, crcLength)).toBe(true);
    } finally {
      await source.close();
    }
  });

  test("three checks at once on one source, and a read alongside, each get the bytes of their own range", async () => {
    const source = await FileSource.open(path);
    try {
      await source.crc32(0, MiB, MiB); // leaves its memory for the next check to take
      const ranges = [[0, 6 * MiB, 6 * MiB - 10], [3, 5 * MiB, 4 * MiB + 1], [MiB + 5, 5 * MiB, 5 * MiB]] as const;
      const [read, ...checks] = await Promise.all([source.read(2, 5 * MiB), ...ranges.map(([offset, length, crcLength]) => source.crc32(offset, length, crcLength))]);
      expect(sameBytes(read, bytes.subarray(2, 2 + 5 * MiB))).toBe(true);
      expect(checks.map((checked, i) => isCheckOf(checked, ranges[i]![0], ranges[i]![1], ranges[i]![2]))).toEqual([true, true, true]);
    } finally {
      await source.close();
    }
  });

  test("an abort while it is checked: rejects with the signal's reason at the next piece", async () => {
    const source = await FileSource.open(path);
    try {
      const controller = new AbortController();
      const checking = source.crc32(0, bytes.length, bytes.length, { signal: controller.signal });
      const reason = new Error("stop");
      controller.abort(reason);
      await expect(checking).rejects.toBe(reason);
    } finally {
      await source.close();
    }
  });

  test("a file truncated while it is checked: FILE_CHANGED", async () => {
    const truncated = fileOf("truncated.bin", bytes);
    const source = await FileSource.open(truncated);
    try {
      const checking = source.crc32(0, bytes.length, bytes.length - 4);
      truncateSync(truncated, MiB);
      expect(await codeOfAsync(() => checking)).toBe("FILE_CHANGED");
    } finally {
      await source.close();
    }
  });

  test("a file truncated after open: read and crc32 of a range of many pieces are FILE_CHANGED, no piece's failure left unhandled (which ends a Node process)", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      // The later pieces end at once, before the first is in.
      for (let trial = 0; trial < 5; trial++) {
        const truncated = fileOf("truncated-after-open.bin", new Uint8Array(64 * MiB));
        const source = await FileSource.open(truncated);
        truncateSync(truncated, MiB);
        expect(await codeOfAsync(() => source.read(0, 64 * MiB))).toBe("FILE_CHANGED");
        expect(await codeOfAsync(() => source.crc32(0, 64 * MiB, 64 * MiB))).toBe("FILE_CHANGED");
        await source.close();
      }
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });

  test("a file rewritten in place (same size) while it is checked: FILE_CHANGED", async () => {
    const rewritten = fileOf("rewritten.bin", bytes);
    const source = await FileSource.open(rewritten);
    try {
      const checking = source.crc32(0, bytes.length, bytes.length - 4);
      const fd = openSync(rewritten, "r+");
      writeSync(fd, Uint8Array.of(bytes[0]! ^ 1), 0, 1, 0);
      closeSync(fd);
      expect(await codeOfAsync(() => checking)).toBe("FILE_CHANGED");
    } finally {
      await source.close();
    }
  });
});

/** An ndpack file whose first record spans pieces (3 MiB and 100 bytes), then a small one. */
const ndpackBytes = encode({ big: noise(3 * MiB + 100, 7), small: Int32Array.of(1, 2, 3) });

describe("verify() of a local ndpack file reads no payload with `read`", () => {
  const path = fileOf("clean.ndp", ndpackBytes);

  test("a flipped byte in each piece of a payload, in its CRC, in its padding: the reports of a read through `read`", async () => {
    const clean = await open(path);
    const big = clean.info("big");
    const small = clean.info("small");
    await clean.close();
    const crcAt = big.offset + big.byteLength;
    const flips: [string, number, string][] = [
      ...[0, 1, 2, 3].map((piece): [string, number, string] => [`piece ${piece} of big`, big.offset + piece * MiB + 17, "CHECKSUM"]),
      ["big's CRC", crcAt + 2, "CHECKSUM"],
      ["big's padding", crcAt + 4, "BAD_PADDING"],
      ["big's last padding byte", small.offset - 1, "BAD_PADDING"],
      ["small's CRC", small.offset + small.byteLength, "CHECKSUM"],
    ];
    for (const [what, at, code] of flips) {
      const bytes = ndpackBytes.slice();
      bytes[at]! ^= 0x10;
      const damagedPath = fileOf("damaged.ndp", bytes);
      const reader = await open(damagedPath);
      const readBytes = spyOnReads();
      const report = await reader.verify();
      await reader.close();
      vi.restoreAllMocks();
      const throughRead = await (await openSource(bytesSource(bytes))).verify();
      expect(outcomes(report), what).toEqual(outcomes(throughRead));
      expect(outcomes(report).filter((array) => !array.ok).map((array) => array.code), what).toEqual([code]);
      expect(readBytes(), what).toBe(0);
    }
  });

  test("a file truncated while verify runs: FILE_CHANGED, from the CRC's own reads", async () => {
    const truncated = fileOf("truncated.ndp", ndpackBytes);
    const reader = await open(truncated);
    const readBytes = spyOnReads();
    const verifying = reader.verify();
    truncateSync(truncated, 2 * MiB);
    expect(await codeOfAsync(() => verifying)).toBe("FILE_CHANGED");
    await reader.close();
    expect(readBytes()).toBe(0);
  });

  test("a file rewritten in place while verify runs: FILE_CHANGED, from the CRC's own reads", async () => {
    const rewritten = fileOf("rewritten.ndp", ndpackBytes);
    const reader = await open(rewritten);
    const readBytes = spyOnReads();
    const verifying = reader.verify();
    const fd = openSync(rewritten, "r+");
    writeSync(fd, ndpackBytes, ndpackBytes.length - 8, 8, ndpackBytes.length - 8);
    closeSync(fd);
    expect(await codeOfAsync(() => verifying)).toBe("FILE_CHANGED");
    await reader.close();
    expect(readBytes()).toBe(0);
  });

  test("verify aborted while it runs: ABORTED; the reader closed while it runs: CLOSED once the check in flight ends", async () => {
    const reader = await open(path);
    const readBytes = spyOnReads();
    const controller = new AbortController();
    const aborted = reader.verify({ signal: controller.signal });
    controller.abort();
    expect(await codeOfAsync(() => aborted)).toBe("ABORTED");
    const checks = vi.spyOn(FileSource.prototype, "crc32");
    const verifying = codeOfAsync(() => reader.verify());
    await reader.close();
    expect(await verifying).toBe("CLOSED");
    expect(checks).toHaveBeenCalledTimes(1); // the first record's, which close waited for
    expect(readBytes()).toBe(0);
  });

  test("two verifies and reads at once on one reader: every report ok, every array its values", async () => {
    const reader = await open(path);
    try {
      const checks = vi.spyOn(FileSource.prototype, "crc32");
      expect((await reader.verify()).ok).toBe(true); // leaves the source's memory for the next check to take
      const chunks: Uint8Array[] = [];
      const [first, second, big, small] = await Promise.all([
        reader.verify(),
        reader.verify(),
        reader.read("big"),
        reader.read("small"),
        (async () => {
          for await (const chunk of reader.readChunks("big", { chunkBytes: MiB })) chunks.push(chunk);
        })(),
      ]);
      expect([first.ok, second.ok]).toEqual([true, true]);
      expect(sameBytes(new Uint8Array(big.data.buffer, big.data.byteOffset, big.data.byteLength), noise(3 * MiB + 100, 7))).toBe(true);
      expect(Array.from(small.data as Int32Array)).toEqual([1, 2, 3]);
      expect(sameBytes(Buffer.concat(chunks), noise(3 * MiB + 100, 7))).toBe(true);
      expect(checks).toHaveBeenCalledTimes(6); // 3 verifies of 2 records
    } finally {
      await reader.close();
    }
  });

  test("a 64 MiB record: no `read` of its bytes, and no more than a few MiB of memory taken while it is checked", async () => {
    const large = fileOf("large.ndp", encode({ large: noise(64 * MiB, 3) }));
    const reader = await open(large);
    const readBytes = spyOnReads();
    const before = process.memoryUsage().arrayBuffers;
    let most = before;
    const sample = vi.spyOn(FileSource.prototype, "crc32");
    // Sampled between the pieces' reads, as the check runs.
    const sampling = setInterval(() => (most = Math.max(most, process.memoryUsage().arrayBuffers)), 1);
    try {
      expect((await reader.verify()).ok).toBe(true);
    } finally {
      clearInterval(sampling);
      await reader.close();
    }
    most = Math.max(most, process.memoryUsage().arrayBuffers);
    expect(sample).toHaveBeenCalledTimes(1);
    expect(readBytes()).toBe(0);
    expect(most - before).toBeLessThan(16 * MiB);
  });
});

describe("verify() of other local files reads no stored bytes with `read`", () => {
  test(".npz of stored members: a flipped byte in each piece of a member gives the reports of a read through `read`", async () => {
    const npz = toNpz({ a: new Float64Array(noise(2 * MiB + 64, 11).buffer), b: Int16Array.of(5, 6) });
    const clean = await open(fileOf("clean.npz", npz));
    const a = clean.info("a");
    expect((await clean.verify()).ok).toBe(true);
    await clean.close();
    for (const at of [a.offset + 10, a.offset + MiB + 3, a.offset + a.byteLength - 1]) {
      const bytes = npz.slice();
      bytes[at]! ^= 1;
      const reader = await open(fileOf("damaged.npz", bytes));
      const readBytes = spyOnReads();
      const report = await reader.verify();
      await reader.close();
      vi.restoreAllMocks();
      const throughRead = await (await openSource(bytesSource(bytes), { formats: FORMATS })).verify();
      expect(outcomes(report), `byte ${at}`).toEqual(outcomes(throughRead));
      expect(outcomes(report).map((array) => array.code), `byte ${at}`).toEqual(["CHECKSUM", undefined]);
      expect(readBytes(), `byte ${at}`).toBeLessThan(MiB);
    }
  });

  test("a set of shard files: a record past a shard's first bytes checked by its file's crc32, one within them from memory, damage in either reported", async () => {
    const folder = join(dir, "set");
    const arrays = { a: noise(2 * MiB, 1), b: noise(2 * MiB, 2), c: Int32Array.of(7, 8, 9) };
    await saveSet(folder, arrays, { maxShardBytes: 1, fsync: false });
    const indexPath = join(folder, "model.ndp.index.json");
    const set = (await open(indexPath)) as SetReader;
    const readBytes = spyOnReads();
    const checks = vi.spyOn(FileSource.prototype, "crc32");
    try {
      expect((await set.verify()).ok).toBe(true);
    } finally {
      await set.close();
    }
    expect(checks).toHaveBeenCalledTimes(2); // a and b; c is in the first page its shard's header check read
    expect(readBytes()).toBeLessThan(MiB); // the shards' headers only
    for (const name of ["b", "c"]) {
      const shard = join(folder, set.index.shardOf.get(name)!.name);
      const clean = new Uint8Array(readFileSync(shard));
      const damaged = clean.slice();
      const reader = await open(shard);
      damaged[reader.info(name).offset + 5]! ^= 1;
      await reader.close();
      writeFileSync(shard, damaged);
      const again = (await open(indexPath)) as SetReader;
      const report = await again.verify();
      await again.close();
      writeFileSync(shard, clean);
      expect(report.arrays.map(({ name, error }) => [name, error?.code]), name).toEqual([["a", undefined], ["b", name === "b" ? "CHECKSUM" : undefined], ["c", name === "c" ? "CHECKSUM" : undefined]]);
    }
  });
});

describe("verify() of a file without checksums leaves its payloads unread", () => {
  test(".safetensors, .npy and ndpack with checksum: \"none\": no payload byte is read; an ndpack record's padding still is, and checked (BAD_PADDING)", async () => {
    const arrays = { big: noise(2 * MiB, 3), odd: Uint8Array.of(1, 2, 3), last: Float64Array.of(0.5, 0.25) };
    const ndpackNone = encode(arrays, { checksum: "none" });
    const files = { "none.ndp": ndpackNone, "w.safetensors": toSafetensors(arrays), "w.npy": toNpy(arrays.big) };
    for (const [name, bytes] of Object.entries(files)) {
      const reader = await open(fileOf(name, bytes));
      const atOpen = reader.bytesRead;
      const report = await reader.verify();
      const read = reader.bytesRead - atOpen;
      await reader.close();
      expect(report.ok, name).toBe(true);
      expect(report.checksum, name).toBe("none");
      // At most the padding after each record (under 64 B each here), never a payload.
      expect(read, name).toBeLessThan(64 * reader.names.length);
    }
    // The padding after "odd" (3 bytes, then zeros up to the next aligned record) is still checked.
    const reader = await open(fileOf("none-clean.ndp", ndpackNone));
    const { offset, byteLength } = reader.info("odd");
    await reader.close();
    const damaged = ndpackNone.slice();
    damaged[offset + byteLength + 1] = 7;
    const again = await open(fileOf("none-padding.ndp", damaged));
    const report = await again.verify();
    await again.close();
    expect(report.arrays.map(({ name, error }) => [name, error?.code])).toEqual([["big", undefined], ["odd", "BAD_PADDING"], ["last", undefined]]);
  });
});
