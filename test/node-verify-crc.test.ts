/**
 * The file source's `crc32` (ByteSource.crc32) reads the checked bytes a piece at a time into
 * memory the source reuses: its CRC and the bytes after the checked ones are those `read` gives; a
 * file changed while it is checked is FILE_CHANGED; checks at once, and reads alongside them, never
 * share memory.
 */
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, test, vi } from "vitest";
import { crc32 } from "../src/crc32.js";
import { FileSource } from "../src/node/file-source.js";
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

/** Whether `a` and `b` hold the same bytes (a comparison that stays fast for MiBs, where `toEqual` takes seconds). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
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
