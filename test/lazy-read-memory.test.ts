/**
 * The local lazy read's memory and lookups: a file read lands in memory that is not zeroed first
 * (runtime.ts `unzeroedBytes`), so every byte handed out must be one the read wrote, in memory of
 * the array's own (never a slab shared with other data); an ndpack reader's names and lookup are
 * its layout's (no Map, no object per array at open), and must answer like a Map would, names
 * that are Object.prototype's included; and no name it hands out (nor `decode`'s) keeps the
 * header's text alive: the header reader keeps views into the text, the names given out are copies.
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, describe, expect, test } from "vitest";
import { codeOfAsync } from "./helpers/common.js";
import { decode, encode } from "../src/index.js";
import { toSafetensors } from "../src/interop/index.js";
import { open } from "../src/node/index.js";

const dir = mkdtempSync(join(tmpdir(), "ndpack-lazy-memory-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Array `i`: 1000 bytes of a pattern with zeros in it (zeros must be read, not left from zeroed memory). */
function pattern(i: number): Uint8Array {
  return Uint8Array.from({ length: 1000 }, (_, k) => (k % 7 === 0 ? 0 : (k * 31 + i) & 0xff));
}

/** Leaves freed memory full of 0xAA behind, where the next allocations are likely to come from. */
function litterMemory(): void {
  for (let i = 0; i < 64; i++) Buffer.allocUnsafeSlow(1000 + i * 64).fill(0xaa);
}

describe("reads land in memory that is not zeroed first", () => {
  test("every byte of every array read is the file's, verified or not, in a buffer of the read's own", async () => {
    const path = join(dir, "patterns.ndp");
    writeFileSync(path, encode(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`a${i}`, { data: pattern(i), shape: [1000] }]))));
    await using reader = await open(path);
    // Last to first: arrays read in order are read ahead, and copied out of that read (test/reader.test.ts).
    for (let i = 39; i >= 0; i--) {
      litterMemory();
      const before = reader.bytesRead;
      const array = await reader.read(`a${i}`, i % 2 === 0 ? {} : { verify: false });
      expect(array.data).toStrictEqual(pattern(i));
      // The array's buffer holds exactly what this read read (payload, and CRC + padding when verifying): no other memory is reachable through it.
      expect(array.data.buffer).toBeInstanceOf(ArrayBuffer);
      expect(array.data.buffer.byteLength).toBe(reader.bytesRead - before);
      if (i % 2 === 1) expect(array.data.buffer.byteLength).toBe(1000);
      else expect(array.data.buffer.byteLength - 1004).toBeLessThan(reader.alignment);
    }
  });

  test("a file cut short after open: FILE_CHANGED, never an array with bytes it did not read", async () => {
    const path = join(dir, "cut.ndp");
    writeFileSync(path, encode({ a: { data: pattern(1), shape: [1000] }, b: { data: pattern(2), shape: [1000] } }));
    await using reader = await open(path);
    truncateSync(path, reader.info("b").offset + 500);
    litterMemory();
    expect(await codeOfAsync(() => reader.read("b", { verify: false }))).toBe("FILE_CHANGED");
    expect(await codeOfAsync(() => reader.read("b"))).toBe("FILE_CHANGED");
  });
});

describe("an ndpack reader answers names from its layout", () => {
  test("names of Object.prototype's properties are found when present and absent otherwise; names are frozen", async () => {
    const names = ["__proto__", "constructor", "a", "toString"];
    const path = join(dir, "names.ndp");
    writeFileSync(path, encode(Object.fromEntries(names.slice(0, 3).map((name, i) => [name, { data: pattern(i), shape: [1000] }]))));
    await using reader = await open(path);
    expect(reader.names).toEqual(names.slice(0, 3));
    expect(Object.isFrozen(reader.names)).toBe(true);
    expect(names.map((name) => reader.has(name))).toEqual([true, true, true, false]);
    expect(reader.has("hasOwnProperty")).toBe(false);
    expect((await reader.read("constructor")).data).toStrictEqual(pattern(1));
    expect((await reader.read("__proto__")).data).toStrictEqual(pattern(0));
    expect(reader.info("a")).toMatchObject({ name: "a", dtype: "uint8", shape: [1000] });
    expect(await codeOfAsync(() => reader.read("toString"))).toBe("NOT_FOUND");
    expect(() => reader.info("valueOf")).toThrow(expect.objectContaining({ code: "NOT_FOUND" }));
    // A read reads exactly the header, then that array's record: one read each.
    expect(reader.readCount).toBe(3);
  });
});

describe("names handed out are strings of their own", () => {
  setFlagsFromString("--expose-gc");
  const collectGarbage = runInNewContext("gc") as () => void;
  // 900 empty arrays with names of 1,000 characters: a header text of about 1 MB on V8's heap (a
  // .safetensors header within the 1,000,000 characters its compact reader reads), read 4 times.
  const names = Array.from({ length: 900 }, (_, i) => `${String(i).padStart(6, "0")}.${"x".repeat(993)}`);
  const arrays = Object.fromEntries(names.map((name) => [name, { data: new Float32Array(0), shape: [0] }]));
  const TIMES = 4;
  const heapAfterGc = (): number => {
    collectGarbage();
    return process.memoryUsage().heapUsed;
  };

  /**
   * Runs `keepSome` {@link TIMES} times (each returns a few names it got from a header it read),
   * drops everything else, and returns the heap the kept names hold: a name that is a view keeps
   * its header's text, ~1 MB each time. After a first run, whose compiled code stays on the heap
   * too (and whose names are dropped: an awaited value would stay in this function's frame).
   */
  async function heapKeptBy(keepSome: () => Promise<string[]>): Promise<{ kept: string[][]; grown: number }> {
    await keepSome().then(() => undefined);
    const before = heapAfterGc();
    const kept: string[][] = [];
    for (let i = 0; i < TIMES; i++) kept.push(await keepSome());
    return { kept, grown: heapAfterGc() - before };
  }

  test("decode: names, get(name).name, info(name).name and iteration", async () => {
    const bytes = encode(arrays);
    const { kept, grown } = await heapKeptBy(async () => {
      const file = decode(bytes);
      const [first] = file;
      return [file.names[1]!, file.get(names[2]!).name, file.info(names[3]!).name, first!.name];
    });
    expect(kept).toEqual(Array(TIMES).fill([names[1], names[2], names[3], names[0]]));
    expect(grown).toBeLessThan(2 ** 20);
  });

  test("decode: once the names are asked for, the header text is let go (lookups use the copies)", () => {
    // 30,000 names of 14 characters (sliced as views) in a header of ~3.7 MB.
    const short = Array.from({ length: 30_000 }, (_, i) => `layer.${String(i).padStart(8, "0")}`);
    const file = decode(encode(Object.fromEntries(short.map((name) => [name, { data: new Float32Array(0), shape: [0] }]))));
    const withText = heapAfterGc();
    expect(file.names).toEqual(short);
    // Holding the copies (~2 MB) and the text would grow the heap; the text let go shrinks it.
    expect(heapAfterGc() - withText).toBeLessThan(-(2 ** 20));
    expect(file.get(short[29_999]!).name).toBe(short[29_999]);
    expect(file.has("layer.0")).toBe(false);
  });

  test.each([".ndp", ".safetensors"])("open of a %s file: names, read(name).name and info(name).name", async (extension) => {
    const path = join(dir, `long-names${extension}`);
    writeFileSync(path, extension === ".ndp" ? encode(arrays) : toSafetensors(arrays));
    const { kept, grown } = await heapKeptBy(async () => {
      const reader = await open(path);
      try {
        return [reader.names[1]!, (await reader.read(names[2]!)).name, reader.info(names[3]!).name];
      } finally {
        await reader.close();
      }
    });
    expect(kept).toEqual(Array(TIMES).fill([names[1], names[2], names[3]]));
    expect(grown).toBeLessThan(2 ** 20);
  });
});
