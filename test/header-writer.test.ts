import { describe, expect, test } from "vitest";
import { decode, encode } from "../src/index.js";
import { layoutHead } from "../src/encode.js";
import { writeHead, type EntryFields } from "../src/header-writer.js";
import { PREAMBLE_SIZE } from "../src/format.js";
import { NdpackError } from "../src/errors.js";
import { rng } from "./helpers/interop-cases.js";

/** The canonical text of FORMAT.md §8 as JSON.stringify writes it: the writer's reference. */
function canonicalText(file: { alignment: number; checksum: string; dataLength: number; metadata: Record<string, unknown> }, entries: readonly EntryFields[]): string {
  const arrays = entries.map(({ codec, ...entry }) => ({
    name: entry.name,
    dtype: entry.dtype,
    shape: entry.shape,
    order: entry.order,
    byteOrder: entry.byteOrder,
    ...(codec === "none" ? {} : { codec }),
    offset: entry.offset,
    byteLength: entry.byteLength,
  }));
  return JSON.stringify({ alignment: file.alignment, checksum: file.checksum, dataLength: file.dataLength, metadata: file.metadata, arrays });
}

function headerText(head: Uint8Array, headerLength: number): string {
  return new TextDecoder().decode(head.subarray(PREAMBLE_SIZE, PREAMBLE_SIZE + headerLength));
}

const NAME_PIECES = ["a", "layer.0.weight", '"', "\\", "\n", "\t", "\u0000", "\u001f", "\u007f", "é", "€", "😀", "\u2028", "/", " ", "x"];

function randomName(next: () => number): string {
  let name = "";
  const pieces = 1 + Math.floor(next() * 5);
  for (let i = 0; i < pieces; i++) name += NAME_PIECES[Math.floor(next() * NAME_PIECES.length)];
  return name;
}

function randomSize(next: () => number): number {
  const kind = next();
  if (kind < 0.3) return Math.floor(next() * 10);
  if (kind < 0.9) return Math.floor(next() * 2 ** 31);
  return Number.MAX_SAFE_INTEGER - Math.floor(next() * 1000);
}

describe("writeHead (FORMAT.md §8)", () => {
  test("writes exactly JSON.stringify's canonical text for random names, shapes, sizes, codecs and orders", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const next = rng(seed);
      const entries: EntryFields[] = [];
      const count = Math.floor(next() * 6);
      for (let i = 0; i < count; i++) {
        entries.push({
          name: randomName(next),
          dtype: (["float32", "uint8", "complex128", "bool"] as const)[Math.floor(next() * 4)]!,
          shape: Array.from({ length: Math.floor(next() * 4) }, () => randomSize(next)),
          order: next() < 0.5 ? "C" : "F",
          byteOrder: next() < 0.5 ? "little" : "big",
          codec: (["none", "deflate", "shuffle+deflate"] as const)[Math.floor(next() * 3)]!,
          offset: randomSize(next),
          byteLength: randomSize(next),
        });
      }
      const file = { alignment: 2 ** (3 + Math.floor(next() * 14)), checksum: next() < 0.5 ? ("crc32" as const) : ("none" as const), dataLength: randomSize(next), metadata: { seed, note: randomName(next) } };
      const { head, headerLength, dataStart } = writeHead(file, entries);
      expect(headerText(head, headerLength), `seed ${seed}`).toBe(canonicalText(file, entries));
      expect(head.length).toBe(dataStart);
      expect(dataStart % file.alignment).toBe(0);
      expect(head.subarray(0, PREAMBLE_SIZE).every((b) => b === 0)).toBe(true);
      expect(head.subarray(PREAMBLE_SIZE + headerLength).every((b) => b === 0)).toBe(true);
    }
  });

  test("a header that outgrows the first estimate (long metadata, many dimensions) is still exact", () => {
    const entries: EntryFields[] = [{ name: "n".repeat(5000), dtype: "int8", shape: Array.from({ length: 64 }, (_, i) => 2 ** 40 + i), order: "C", byteOrder: "little", codec: "none", offset: 0, byteLength: 0 }];
    const file = { alignment: 8, checksum: "crc32" as const, dataLength: 4, metadata: { text: "€".repeat(10_000), list: Array.from({ length: 1000 }, (_, i) => i * 1e6 + 0.5) } };
    const { head, headerLength } = writeHead(file, entries);
    expect(headerText(head, headerLength)).toBe(canonicalText(file, entries));
  });

  test("the longest entries (longest dtype and codec, 16-digit numbers, many dimensions) are exact at every count", () => {
    for (let count = 1; count <= 40; count++) {
      const entries: EntryFields[] = Array.from({ length: count }, (_, i) => ({
        name: `e${i}`,
        dtype: "float8_e4m3fn",
        shape: Array.from({ length: i % 9 }, () => Number.MAX_SAFE_INTEGER),
        order: "F",
        byteOrder: "little",
        codec: "shuffle+deflate",
        offset: Number.MAX_SAFE_INTEGER,
        byteLength: Number.MAX_SAFE_INTEGER - i,
      }));
      const file = { alignment: 65536, checksum: "crc32" as const, dataLength: Number.MAX_SAFE_INTEGER, metadata: {} };
      const { head, headerLength } = writeHead(file, entries);
      expect(headerText(head, headerLength), `${count} entries`).toBe(canonicalText(file, entries));
    }
  });

  test("runs of entries of one layout or one byte length (their text copied from the entry before) are exact, also across the buffer's growth", () => {
    const entries: EntryFields[] = [];
    for (let i = 0; i < 3000; i++) {
      const run = Math.floor(i / 7);
      entries.push({
        name: `layer.${i}.weight`,
        dtype: run % 3 === 0 ? "float8_e4m3fn" : "float32",
        shape: run % 2 === 0 ? [8, 8] : [Number.MAX_SAFE_INTEGER, run],
        order: run % 5 === 0 ? "F" : "C",
        byteOrder: run % 4 === 0 ? "big" : "little",
        codec: run % 3 === 1 ? "shuffle+deflate" : "none",
        offset: Number.MAX_SAFE_INTEGER - i,
        // Runs of one byte length (the text from it to the next name copied), and lengths that change every entry.
        byteLength: run % 4 === 3 ? Number.MAX_SAFE_INTEGER - 2 * i : [256, 0, 2 ** 40][run % 3]!,
      });
    }
    // Same dtype, order, byte order, codec and byte length, another shape: not a copy of the layout; the last entry's text ends the list.
    entries.push({ ...entries[entries.length - 1]!, name: "other", shape: [8, 9] });
    const file = { alignment: 64, checksum: "crc32" as const, dataLength: 1, metadata: {} };
    const { head, headerLength } = writeHead(file, entries);
    expect(headerText(head, headerLength) === canonicalText(file, entries)).toBe(true);
  });

  test("reserveHeaderBytes pads the header with spaces to exactly that length", () => {
    const entries: EntryFields[] = [{ name: "x", dtype: "float32", shape: [2], order: "C", byteOrder: "little", codec: "none", offset: 0, byteLength: 8 }];
    const file = { alignment: 64, checksum: "crc32" as const, dataLength: 12, metadata: {} };
    const text = canonicalText(file, entries);
    const { head, headerLength, dataStart } = writeHead(file, entries, text.length + 100);
    expect(headerLength).toBe(text.length + 100);
    expect(headerText(head, headerLength)).toBe(text + " ".repeat(100));
    expect(dataStart).toBe(Math.ceil((PREAMBLE_SIZE + headerLength) / 64) * 64);
    expect(head.subarray(PREAMBLE_SIZE + headerLength).every((b) => b === 0)).toBe(true);
  });

  test("metadata JSON cannot hold is INVALID_ARGUMENT, and the next header is still right", () => {
    const entries: EntryFields[] = [{ name: "x", dtype: "float32", shape: [2], order: "C", byteOrder: "little", codec: "none", offset: 0, byteLength: 8 }];
    expect(() => writeHead({ alignment: 64, checksum: "crc32", dataLength: 12, metadata: { bad: Number.NaN } }, entries)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }) as Error);
    const file = { alignment: 64, checksum: "crc32" as const, dataLength: 12, metadata: {} };
    const { head, headerLength } = writeHead(file, entries);
    expect(headerText(head, headerLength)).toBe(canonicalText(file, entries));
  });

  test("a header over the default maxHeaderBytes is HEADER_TOO_LARGE", () => {
    const entries: EntryFields[] = [{ name: "x", dtype: "float32", shape: [2], order: "C", byteOrder: "little", codec: "none", offset: 0, byteLength: 8 }];
    const metadata = { big: "x".repeat(100 * 1024 * 1024) };
    let error: unknown;
    try {
      writeHead({ alignment: 64, checksum: "crc32", dataLength: 12, metadata }, entries);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NdpackError);
    expect((error as NdpackError).code).toBe("HEADER_TOO_LARGE");
  });

  test("encode of names that need escaping decodes to the same names, and layoutHead places records as encode does", () => {
    const names = ['q"uote', "back\\slash", "new\nline", "nul\u0000", "é€😀", "\u2028sep"];
    const arrays = Object.fromEntries(names.map((name, i) => [name, new Float32Array([i, i + 0.5])]));
    const file = decode(encode(arrays, { metadata: { "k\"ey": "välue" } }), { verify: true });
    expect(file.names).toEqual(names);
    for (const [i, name] of names.entries()) expect([...(file.get(name).data as Float32Array)]).toEqual([i, i + 0.5]);
    expect(file.metadata).toEqual({ "k\"ey": "välue" });

    const entries = names.map((name) => ({ name, dtype: "float32" as const, shape: [2], order: "C" as const, byteOrder: "little" as const, codec: "none" as const, offset: 0, byteLength: 8 }));
    const { head } = layoutHead(entries, { alignment: 64, checksum: "crc32", metadata: { "k\"ey": "välue" } });
    expect(head).toEqual(encode(arrays, { metadata: { "k\"ey": "välue" } }).subarray(0, head.length));
  });
});
