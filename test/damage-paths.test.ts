/**
 * Damaged data never comes back as numbers, on every way the TypeScript library hands numbers
 * out: one flipped bit at fixed positions in every region of a file (preamble, header, the
 * padding after it, each payload's first, middle and last bytes, each CRC, each record's padding),
 * every truncation, every byte of a .npz file (stored and deflated members), and a file changed
 * between open and read (a local file rewritten in place, a `File`, an HTTP resource replaced on
 * the server, with and without validators). Each gives the original values or an NdpackError,
 * never other numbers. Read paths: `decode` with `verify: true` (views and copies), the lazy
 * reader over memory and a Blob (`read`, `readMany`, `readChunks`, `readRows` of all rows),
 * `decodeStream` (several chunk sizes, and with `formats`), `decodeMessages`, `fromNdpack`,
 * `fromNpz`, and in Node `load` and `open`. Reads documented as unverified (`decode().get()`
 * without `verify`, `readRows` of some rows, `verify: false`) are left to their own tests;
 * test/bitflip.test.ts proves every flip of `decode` + `verify`.
 */
import { mkdtempSync, openAsBlob, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { decode, encode, NdpackError, type NdArray } from "../src/index.js";
import { blobSource, bytesSource, openSource, type NdpackReader } from "../src/source.js";
import { decodeMessages, decodeStream } from "../src/streams.js";
import { FORMATS, fromNdpack, fromNpz, toNpz } from "../src/interop/index.js";
import { openUrl } from "../src/http.js";
import { load, open } from "../src/node/index.js";
import { failureAsync } from "./helpers/common.js";

const ARRAYS = {
  raw: { data: Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)), shape: [8, 8] },
  ids: Int32Array.from({ length: 30 }, (_, i) => i * i),
  packed: { data: Uint16Array.from({ length: 60 }, (_, i) => (i * 7) % 50), shape: [6, 10], codec: "shuffle+deflate" as const },
};
const FILE = encode(ARRAYS, { metadata: { source: "damage" } });
const dir = mkdtempSync(join(tmpdir(), "ndpack-damage-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytesOf = (array: NdArray) => new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
/** Each array's decoded bytes, by name, as the undamaged file gives them. */
const ORIGINAL = new Map(decode(FILE).names.map((name) => [name, bytesOf(decode(FILE).get(name)).slice()]));

type Arrays = readonly (readonly [string, Uint8Array])[];

/** "same" when every array `read` gives is the original, the code of the NdpackError it throws, "OTHER NUMBERS" otherwise. */
async function outcome(read: () => Promise<Arrays>, original = ORIGINAL): Promise<string> {
  let arrays: Arrays;
  try {
    arrays = await read();
  } catch (error) {
    if (!(error instanceof NdpackError)) throw error;
    return error.code;
  }
  const same = arrays.every(([name, bytes]) => {
    const expected = original.get(name)!;
    return bytes.length === expected.length && bytes.every((byte, i) => byte === expected[i]);
  });
  return same ? "same" : "OTHER NUMBERS";
}

async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
}

async function each(reader: NdpackReader, read: (name: string) => Promise<Uint8Array>): Promise<Arrays> {
  try {
    const arrays: [string, Uint8Array][] = [];
    for (const name of reader.names) arrays.push([name, await read(name)]);
    return arrays;
  } finally {
    await reader.close();
  }
}

/** The lazy reader's ways to read every array whole, over a reader `opened` gives. */
function lazyPaths(label: string, opened: (bytes: Uint8Array, path: string) => Promise<NdpackReader>) {
  return {
    [`${label} read`]: async (bytes: Uint8Array, path: string) => {
      const reader = await opened(bytes, path);
      return each(reader, async (name) => bytesOf(await reader.read(name)));
    },
    [`${label} readMany`]: async (bytes: Uint8Array, path: string) => {
      const reader = await opened(bytes, path);
      try {
        return [...(await reader.readMany(reader.names))].map(([name, array]) => [name, bytesOf(array)] as const);
      } finally {
        await reader.close();
      }
    },
    [`${label} readChunks`]: async (bytes: Uint8Array, path: string) => {
      const reader = await opened(bytes, path);
      return each(reader, async (name) => {
        const chunks: number[] = [];
        for await (const chunk of reader.readChunks(name, { chunkBytes: 16 })) chunks.push(...chunk);
        return Uint8Array.from(chunks);
      });
    },
    [`${label} readRows (all rows)`]: async (bytes: Uint8Array, path: string) => {
      const reader = await opened(bytes, path);
      return each(reader, async (name) => bytesOf(await reader.readRows(name, 0, reader.info(name).shape[0]!)));
    },
  };
}

async function streamed(arrays: AsyncIterable<NdArray>): Promise<Arrays> {
  const out: (readonly [string, Uint8Array])[] = [];
  for await (const array of arrays) out.push([array.name, bytesOf(array)]);
  return out;
}

type ReadPath = (bytes: Uint8Array, path: string) => Promise<Arrays>;

const NDPACK_PATHS: Record<string, ReadPath> = {
  "decode verify": async (bytes) => {
    const file = decode(bytes, { verify: true });
    return file.names.map((name) => [name, bytesOf(file.get(name))] as const);
  },
  "decode verify copy always": async (bytes) => {
    const file = decode(bytes, { verify: true, copy: "always" });
    return file.names.map((name) => [name, bytesOf(file.get(name))] as const);
  },
  ...lazyPaths("memory", (bytes) => openSource(bytesSource(bytes))),
  ...lazyPaths("Blob", (bytes) => openSource(blobSource(new Blob([bytes as Uint8Array<ArrayBuffer>])))),
  ...lazyPaths("file", (_, path) => open(path)),
  "decodeStream, 1-byte chunks": (bytes) => streamed(decodeStream(pieces(bytes, 1))),
  "decodeStream, 7-byte chunks": (bytes) => streamed(decodeStream(pieces(bytes, 7))),
  "decodeStream, one chunk": (bytes) => streamed(decodeStream(pieces(bytes, bytes.length))),
  "decodeMessages": async (bytes) => {
    const out: (readonly [string, Uint8Array])[] = [];
    for await (const message of decodeMessages(pieces(bytes, 33))) out.push(...(await streamed(message)));
    return out;
  },
  "fromNdpack to .npz": async (bytes) => [...fromNpz(fromNdpack(bytes, "npz")).arrays].map(([name, array]) => [name, bytesOf(array)] as const),
  "load": async (_, path) => {
    const file = await load(path);
    return file.names.map((name) => [name, bytesOf(file.get(name))] as const);
  },
  // A report of "ok" is a promise about the values read after it (unverified here).
  "verify of an open file, then read": async (_, path) => {
    const reader = await open(path);
    return each(reader, async (name) => {
      const report = await reader.verify();
      if (!report.ok) throw report.arrays.find((a) => !a.ok)!.error!;
      return bytesOf(await reader.read(name, { verify: false }));
    });
  },
};

async function everyPath(paths: Record<string, ReadPath>, bytes: Uint8Array, path: string, original = ORIGINAL): Promise<Record<string, string>> {
  writeFileSync(path, bytes);
  const results: Record<string, string> = {};
  for (const [label, read] of Object.entries(paths)) results[label] = await outcome(() => read(bytes, path), original);
  return results;
}

/** Bit positions in every region of `bytes`: preamble, header, its padding, each payload's first, middle and last bytes, each CRC, each record's padding. */
function positions(bytes: Uint8Array): number[] {
  const file = decode(bytes);
  const headerEnd = 20 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  const infos = file.names.map((name) => file.info(name));
  const spots = [0, 7, 9, 12, 17, 20, (20 + headerEnd) >> 1, headerEnd - 1];
  if (infos[0]!.offset > headerEnd) spots.push(headerEnd);
  infos.forEach((info, i) => {
    const end = info.offset + info.byteLength;
    spots.push(info.offset, info.offset + (info.byteLength >> 1), end - 1, end, end + 3);
    if ((infos[i + 1]?.offset ?? bytes.length) > end + 4) spots.push(end + 4);
  });
  return spots.flatMap((at) => [at * 8, at * 8 + 5]);
}

function flipped(bytes: Uint8Array, bit: number): Uint8Array {
  const damaged = bytes.slice();
  damaged[bit >> 3]! ^= 1 << (bit & 7);
  return damaged;
}

describe("an ndpack file", () => {
  const path = join(dir, "damaged.ndp");

  test("undamaged, every read path gives its values", async () => {
    const results = await everyPath(NDPACK_PATHS, FILE, path);
    expect(Object.values(results).every((r) => r === "same"), JSON.stringify(results)).toBe(true);
  });

  test("one flipped bit in any region is an error on every read path, never other numbers", async () => {
    const seen = new Set<string>();
    for (const bit of positions(FILE)) {
      const results = await everyPath(NDPACK_PATHS, flipped(FILE, bit), path);
      const values = Object.values(results);
      expect(values.includes("same") || values.includes("OTHER NUMBERS"), `byte ${bit >> 3} bit ${bit & 7}: ${JSON.stringify(results)}`).toBe(false);
      values.forEach((v) => seen.add(v));
    }
    expect([...seen].sort()).toEqual(expect.arrayContaining(["BAD_MAGIC", "BAD_PADDING", "CHECKSUM", "HEADER_CHECKSUM"]));
  });

  test("every truncation is TRUNCATED (BAD_MAGIC inside the magic) on every read path", async () => {
    // An empty stream is no message at all: decodeMessages ends without one.
    for (let length = 1; length < FILE.length; length++) {
      const results = await everyPath(NDPACK_PATHS, FILE.subarray(0, length), path);
      const wrong = Object.entries(results).filter(([, code]) => code !== "TRUNCATED" && !(code === "BAD_MAGIC" && length < 8));
      expect(wrong, `cut to ${length} bytes`).toEqual([]);
    }
  });
});

describe("a .npz file", () => {
  const NPZ_PATHS: Record<string, ReadPath> = {
    ...lazyPaths("memory", (bytes) => openSource(bytesSource(bytes), { formats: FORMATS })),
    ...lazyPaths("file", (_, path) => open(path)),
    "fromNpz": async (bytes) => [...fromNpz(bytes).arrays].map(([name, array]) => [name, bytesOf(array)] as const),
    "decodeStream with formats": (bytes) => streamed(decodeStream(pieces(bytes, 100), { formats: FORMATS })),
  };

  test.each([
    ["stored", false],
    ["deflated", true],
  ])("%s members: a flipped bit in any byte never gives other numbers", async (_, compress) => {
    const npz = toNpz({ raw: ARRAYS.raw, ids: ARRAYS.ids }, { compress });
    const original = new Map([...fromNpz(npz).arrays].map(([name, array]) => [name, bytesOf(array).slice()]));
    const path = join(dir, "damaged.npz");
    const counts = new Map<string, number>();
    for (let at = 0; at < npz.length; at++) {
      for (const bit of [0, 5]) {
        // Fields no reader uses (a local header's date) leave the values as they were; every other flip is an error.
        const results = await everyPath(NPZ_PATHS, flipped(npz, at * 8 + bit), path, original);
        expect(Object.values(results), `byte ${at} bit ${bit}: ${JSON.stringify(results)}`).not.toContain("OTHER NUMBERS");
        for (const code of Object.values(results)) counts.set(code, (counts.get(code) ?? 0) + 1);
      }
    }
    expect(counts.get("CHECKSUM")).toBeGreaterThan(0);
    if (compress) expect(counts.get("CODEC_ERROR")).toBeGreaterThan(0);
  });
});

describe("a file changed between open and read", () => {
  /** Files without checksums, so that nothing but the source can tell the change: the same size and layout, other values. */
  const first = encode({ big: new Float64Array(20_000).fill(1), small: Float32Array.of(1, 1, 1) }, { checksum: "none" });
  const second = encode({ big: new Float64Array(20_000).fill(2), small: Float32Array.of(2, 2, 2) }, { checksum: "none" });

  test("a local file rewritten in place: FILE_CHANGED from read, readRows of some rows and readChunks", async () => {
    const path = join(dir, "rewritten.ndp");
    writeFileSync(path, first);
    const readers = await Promise.all([open(path), open(path), open(path)]);
    writeFileSync(path, second);
    const reads = [
      () => readers[0]!.read("big"),
      () => readers[1]!.readRows("big", 100, 200),
      async () => {
        for await (const _ of readers[2]!.readChunks("big", { chunkBytes: 4096 })) {
          // Each chunk is read and checked against the file as it was opened.
        }
      },
    ];
    for (const read of reads) await failureAsync(read, "FILE_CHANGED");
    await Promise.all(readers.map((reader) => reader.close()));
  });

  test("a File (Node's openAsBlob) rewritten in place: IO_ERROR, as a browser's File that changed", async () => {
    const path = join(dir, "blob.ndp");
    writeFileSync(path, first);
    const reader = await openSource(blobSource(await openAsBlob(path)));
    writeFileSync(path, second);
    await failureAsync(() => reader.read("big"), "IO_ERROR");
  });

  /** A server of `file()` with Range support, and the validator `validator` gives for the current version (none when undefined). */
  async function serve(file: () => Uint8Array, validator: () => Record<string, string>): Promise<{ url: string; server: Server }> {
    const server = createServer((request, response) => {
      const bytes = file();
      const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? "") ?? [];
      if (from === undefined) return void response.writeHead(200, { "content-length": bytes.length, ...validator() }).end(bytes);
      const end = Math.min(Number(to), bytes.length - 1);
      response.writeHead(206, { "content-range": `bytes ${from}-${end}/${bytes.length}`, "content-length": end - Number(from) + 1, ...validator() }).end(bytes.subarray(Number(from), end + 1));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/file.ndp`, server };
  }

  test.each([
    ["a strong ETag", (v: number): Record<string, string> => ({ etag: `"v${v}"` })],
    ["a weak ETag", (v: number): Record<string, string> => ({ etag: `W/"v${v}"` })],
    ["Last-Modified", (v: number): Record<string, string> => ({ "last-modified": new Date(Date.UTC(2026, 0, v)).toUTCString() })],
  ])("an HTTP file replaced on the server, told by %s: FILE_CHANGED, even from a server that ignores the condition", async (_, validatorOf) => {
    let version = 1;
    const { url, server } = await serve(() => (version === 1 ? first : second), () => validatorOf(version));
    try {
      const reader = await openUrl(url, { retries: 0 });
      version = 2;
      await failureAsync(() => reader.read("big"), "FILE_CHANGED");
      await failureAsync(() => reader.read("small"), "FILE_CHANGED");
      await reader.close();
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test("an HTTP file replaced on a server without validators: only the size and the CRCs can tell (documented)", async () => {
    // Of the same size and layout, checksummed: an array read partly from the first 64 KiB kept
    // at open and partly from the new file is CHECKSUM; one past them is the new file's own
    // record, CRC and all: its values are the new file's, which nothing at the client can tell.
    const checked = [1, 2].map((v) => encode({ big: new Float64Array(20_000).fill(v), small: Float32Array.of(v, v, v) }));
    let version = 0;
    const { url, server } = await serve(() => checked[version]!, () => ({}));
    try {
      const reader = await openUrl(url, { retries: 0 });
      version = 1;
      await failureAsync(() => reader.read("big"), "CHECKSUM");
      expect([...(await reader.read("small")).data]).toEqual([2, 2, 2]);
      await reader.close();
      // A file of another size is FILE_CHANGED.
      checked.push(encode({ big: new Float64Array(20_100), small: Float32Array.of(3, 3, 3) }));
      version = 1;
      const again = await openUrl(url, { retries: 0 });
      version = 2;
      await failureAsync(() => again.read("small"), "FILE_CHANGED");
      await again.close();
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
