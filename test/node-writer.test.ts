import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { PassThrough, Writable } from "node:stream";
import { afterAll, describe, expect, test } from "vitest";
import { decode, encode, NdpackError, type EncodeOptions, type TypedArray } from "../src/index.js";
import { createWriter, load, type NdpackWriter, type WriterEntry } from "../src/node/index.js";
import { expectBytes, failure, noise, tempDir, values } from "./helpers/node-files.js";

const dir = tempDir("ndpack-writer-");
afterAll(() => dir.remove());
let counter = 0;
const fresh = () => dir.file(`w-${counter++}.ndp`);

interface Case {
  readonly entry: WriterEntry;
  readonly data: TypedArray;
}

const cases = (): Case[] => [
  { entry: { name: "weights", dtype: "float32", shape: [4, 6] }, data: Float32Array.from({ length: 24 }, (_, i) => i / 7) },
  { entry: { name: "empty", dtype: "int16", shape: [0, 3] }, data: new Int16Array(0) },
  { entry: { name: "ids", dtype: "int64", shape: [3] }, data: BigInt64Array.of(1n, -5n, 2n ** 60n) },
  { entry: { name: "scalar", dtype: "float64", shape: [] }, data: Float64Array.of(Math.PI) },
  { entry: { name: "columns", dtype: "uint16", shape: [3, 2], order: "F" }, data: Uint16Array.of(1, 2, 3, 4, 5, 6) },
  { entry: { name: "complex", dtype: "complex128", shape: [2] }, data: Float64Array.of(1, -1, 2, -2) },
  { entry: { name: "mask", dtype: "bool", shape: [5] }, data: Uint8Array.of(1, 0, 0, 1, 1) },
  { entry: { name: "noise", dtype: "uint8", shape: [300, 1000] }, data: noise(300_000) },
];

const arraysOf = (list: readonly Case[]) => list.map(({ entry, data }) => [entry.name, { data, shape: entry.shape, dtype: entry.dtype, ...(entry.order ? { order: entry.order } : {}) }] as const);

const bytesOf = (data: TypedArray) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

/** Writes every case's bytes in pieces of `size` bytes (the last piece of each array shorter). */
async function writeInPieces(writer: NdpackWriter, list: readonly Case[], size: number): Promise<void> {
  for (const { entry, data } of list) {
    const bytes = bytesOf(data);
    for (let at = 0; at < bytes.length; at += size) await writer.write(entry.name, bytes.subarray(at, at + size));
  }
}

const OPTION_SETS: readonly EncodeOptions[] = [
  {},
  { alignment: 8, checksum: "none", metadata: { run: "a", n: [1, 2.5] } },
  { alignment: 4096, byteOrder: "big" },
];

describe("createWriter to a path, without a codec", () => {
  test.each(OPTION_SETS.flatMap((options, i) => [1, 7, 4096, 1 << 20].map((size) => [i, size, options] as const)))(
    "writes exactly the bytes of encode (option set %i, %i-byte chunks)",
    async (_, size, options) => {
      const path = fresh();
      const list = cases();
      const writer = await createWriter(path, list.map((c) => c.entry), options);
      const expected = encode(arraysOf(list), options);
      expect(writer.byteLength).toBe(expected.length);
      await writeInPieces(writer, list, size);
      expect(writer.current).toBeUndefined();
      expect(writer.bytesWritten).toBe(expected.length);
      await writer.close();
      expectBytes(readFileSync(path), expected);
      expect(readdirSync(dir.path).filter((name) => name.endsWith(".tmp"))).toEqual([]);
    },
  );

  test("takes typed arrays of the dtype, raw bytes and DataViews, and rows from a generator", async () => {
    const path = fresh();
    const rows = 50;
    const writer = await createWriter(path, [
      { name: "image", dtype: "float32", shape: [rows, 3] },
      { name: "raw", dtype: "int32", shape: [2] },
      { name: "view", dtype: "float64", shape: [1] },
    ]);
    expect(writer.names).toEqual(["image", "raw", "view"]);
    expect(writer.current).toBe("image");
    const row = new Float32Array(3);
    await writer.writeAll(
      "image",
      (function* () {
        for (let r = 0; r < rows; r++) {
          row.set([r, r + 0.5, -r]); // one buffer, reused for every row
          yield row;
        }
      })(),
    );
    expect(writer.current).toBe("raw");
    await writer.write("raw", new Uint8Array(Int32Array.of(7, -7).buffer));
    await writer.write("view", new DataView(Float64Array.of(2.5).buffer));
    await writer.close();
    const file = await load(path, { verify: true });
    expect(values(file.get("image").data).slice(0, 6)).toEqual([0, 0.5, -0, 1, 1.5, -1]);
    expect(file.get("image").data[3 * 49 + 2]).toBe(-49);
    expect(values(file.get("raw").data)).toEqual([7, -7]);
    expect(values(file.get("view").data)).toEqual([2.5]);
  });

  test("raw bytes in 7-byte pieces from one buffer reused for every write (words split across writes): the bytes of encode, byte-swapped", async () => {
    const path = fresh();
    const data = Float64Array.from({ length: 1000 }, (_, i) => i * 1.25 - 300);
    const options = { byteOrder: "big" } as const;
    const writer = await createWriter(path, [{ name: "x", dtype: "float64", shape: [1000] }], options);
    const bytes = bytesOf(data);
    const piece = new Uint8Array(7);
    for (let at = 0; at < bytes.length; at += piece.length) {
      const n = Math.min(piece.length, bytes.length - at);
      piece.set(bytes.subarray(at, at + n));
      await writer.write("x", piece.subarray(0, n));
      piece.fill(0xee); // the writer must be done with these bytes once write resolved
    }
    await writer.close();
    expectBytes(readFileSync(path), encode({ x: data }, options));
  });

  test("after an empty array, the next array's first pieces from one reused buffer: each is written before its write resolves", async () => {
    const path = fresh();
    const b = Int32Array.from({ length: 64 }, (_, i) => i * 3 - 7);
    const arrays = { a: Int8Array.of(1, 2, 3), empty: new Float32Array(0), b };
    const writer = await createWriter(path, Object.entries(arrays).map(([name, data]) => ({ name, dtype: name === "a" ? "int8" : name === "empty" ? "float32" : "int32", shape: [data.length] }) as WriterEntry));
    await writer.write("a", arrays.a);
    const piece = new Int32Array(8);
    for (let at = 0; at < b.length; at += piece.length) {
      piece.set(b.subarray(at, at + piece.length));
      await writer.write("b", piece);
      piece.fill(-1); // the writer must be done with these bytes once write resolved
    }
    await writer.close();
    expectBytes(readFileSync(path), encode(arrays));
  });

  test("INVALID_ARGUMENT for a chunk of another dtype or not bytes; NOT_FOUND for an undeclared name", async () => {
    for (const [run, code] of [
      [(w: NdpackWriter) => w.write("a", new Float64Array(1)), "INVALID_ARGUMENT"],
      [(w: NdpackWriter) => w.write("a", [1, 2] as never), "INVALID_ARGUMENT"],
      [(w: NdpackWriter) => w.write("b", new Float32Array(1)), "NOT_FOUND"],
    ] as const) {
      const writer = await createWriter(fresh(), [{ name: "a", dtype: "float32", shape: [2] }]);
      await failure(() => run(writer), code);
    }
  });

  test("INVALID_ARGUMENT for a bool chunk holding a byte other than 0 or 1 (FORMAT.md §3)", async () => {
    const writer = await createWriter(fresh(), [{ name: "flags", dtype: "bool", shape: [4] }]);
    await writer.write("flags", Uint8Array.of(0, 1));
    await failure(() => writer.write("flags", Uint8Array.of(1, 2)), "INVALID_ARGUMENT");
  });

  test("argument errors at creation: UNKNOWN_DTYPE, BAD_SHAPE, DUPLICATE_NAME, UNSUPPORTED_CODEC, INVALID_ARGUMENT", async () => {
    const path = fresh();
    await failure(() => createWriter(path, [{ name: "a", dtype: "float128" as never, shape: [1] }]), "UNKNOWN_DTYPE");
    await failure(() => createWriter(path, [{ name: "a", dtype: "int8", shape: [-1] }]), "BAD_SHAPE");
    await failure(() => createWriter(path, [{ name: "a", dtype: "float64", shape: [2 ** 50, 2 ** 10] }]), "BAD_SHAPE");
    await failure(() => createWriter(path, [{ name: "a", dtype: "int8", shape: [1] }, { name: "a", dtype: "int8", shape: [1] }]), "DUPLICATE_NAME");
    await failure(() => createWriter(path, [{ name: "a", dtype: "int8", shape: [1], codec: "zstd" as never }]), "UNSUPPORTED_CODEC");
    await failure(() => createWriter(path, [{ name: "a", dtype: "int8", shape: [1], order: "X" as never }]), "INVALID_ARGUMENT");
    await failure(() => createWriter(path, [{ name: "", dtype: "int8", shape: [1] }]), "INVALID_ARGUMENT");
    await failure(() => createWriter(path, [], { alignment: 12 }), "INVALID_ARGUMENT");
    await failure(() => createWriter(path, "a" as never), "INVALID_ARGUMENT");
    await failure(() => createWriter(42 as never, []), "INVALID_ARGUMENT");
    expect(readdirSync(dir.path).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  test("a file with no arrays, and arrays that are all empty, need no write at all", async () => {
    const path = fresh();
    await (await createWriter(path, [])).close();
    expectBytes(readFileSync(path), encode({}));
    const writer = await createWriter(path, [{ name: "a", dtype: "int8", shape: [0] }, { name: "b", dtype: "float32", shape: [3, 0] }]);
    expect(writer.current).toBeUndefined();
    await writer.close();
    expectBytes(readFileSync(path), encode({ a: new Int8Array(0), b: { data: new Float32Array(0), shape: [3, 0] } }));
  });
});

describe("createWriter byte counts and failures", () => {
  /** A path holding an old file, and a check that it is still there and no temporary file is left. */
  function oldFile(): { path: string; intact(): void } {
    const folder = tempDir();
    const path = folder.file("target.ndp");
    const old = encode({ old: Int8Array.of(1) });
    writeFileSync(path, old);
    return {
      path,
      intact() {
        expectBytes(readFileSync(path), old);
        expect(readdirSync(folder.path)).toEqual(["target.ndp"]);
        folder.remove();
      },
    };
  }

  test("WRITE_SIZE for too many bytes: the writer aborts, the old file is intact, later calls get the same error", async () => {
    const target = oldFile();
    const writer = await createWriter(target.path, [{ name: "a", dtype: "int32", shape: [3] }, { name: "b", dtype: "int8", shape: [1] }]);
    await writer.write("a", Int32Array.of(1, 2));
    const error = await failure(() => writer.write("a", Int32Array.of(3, 4)), "WRITE_SIZE");
    expect(error).toMatchObject({ array: "a", expected: 12, actual: 16, path: target.path });
    expect(await writer.write("b", Int8Array.of(1)).catch((e: unknown) => e)).toBe(error);
    expect(await writer.close().catch((e: unknown) => e)).toBe(error);
    target.intact();
  });

  test("WRITE_SIZE for too few bytes at close: the old file is intact", async () => {
    const target = oldFile();
    const writer = await createWriter(target.path, [{ name: "a", dtype: "float64", shape: [2] }, { name: "b", dtype: "int8", shape: [4] }]);
    await writer.write("a", Float64Array.of(1, 2));
    await writer.write("b", Int8Array.of(1, 2, 3));
    const error = await failure(() => writer.close(), "WRITE_SIZE");
    expect(error).toMatchObject({ array: "b", expected: 4, actual: 3, path: target.path });
    target.intact();
  });

  test("WRITE_SIZE for bytes out of order: an earlier array incomplete, or one already complete", async () => {
    for (const run of [
      async (w: NdpackWriter) => {
        await w.write("a", Int8Array.of(1));
        await w.write("b", Int8Array.of(1));
      },
      async (w: NdpackWriter) => {
        await w.write("a", Int8Array.of(1, 2));
        await w.write("a", Int8Array.of(3));
      },
    ]) {
      const target = oldFile();
      const writer = await createWriter(target.path, [{ name: "a", dtype: "int8", shape: [2] }, { name: "b", dtype: "int8", shape: [2] }]);
      const error = await failure(() => run(writer), "WRITE_SIZE");
      expect(error.array).toBe("a");
      target.intact();
    }
  });

  test("abort(), and leaving an `await using` block without close(), write nothing", async () => {
    const first = oldFile();
    const writer = await createWriter(first.path, [{ name: "a", dtype: "int8", shape: [2] }]);
    await writer.write("a", Int8Array.of(1, 2));
    await writer.abort();
    await failure(() => writer.close(), "CLOSED");
    first.intact();

    const second = oldFile();
    {
      await using scoped = await createWriter(second.path, [{ name: "a", dtype: "int8", shape: [2] }]);
      await scoped.write("a", Int8Array.of(1, 2));
    }
    second.intact();
  });

  test("abort() while a write waits on a stalled stream: the write rejects with the abort's reason", async () => {
    const stalled = new Writable({
      highWaterMark: 1,
      write() {
        // never calls back: the consumer is stuck
      },
    });
    const writer = await createWriter(stalled, [{ name: "a", dtype: "uint8", shape: [4 << 20] }]);
    const pending = writer.write("a", new Uint8Array(4 << 20));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reason = new NdpackError("CLOSED", "the client went away");
    await writer.abort(reason);
    expect(await pending.catch((e: unknown) => e)).toBe(reason);
    expect(stalled.destroyed).toBe(true);
  });

  test("CLOSED for a write after close; close twice is fine", async () => {
    const path = fresh();
    const writer = await createWriter(path, [{ name: "a", dtype: "int8", shape: [1] }]);
    await writer.write("a", Int8Array.of(5));
    await writer.close();
    await writer.close();
    await failure(() => writer.write("a", Int8Array.of(1)), "CLOSED");
    expect(values((await load(path)).get("a").data)).toEqual([5]);
  });

  test("calls issued without waiting are queued in order", async () => {
    const path = fresh();
    const writer = await createWriter(path, [{ name: "a", dtype: "int16", shape: [1000] }]);
    const data = Int16Array.from({ length: 1000 }, (_, i) => i - 500);
    const pending = [];
    for (let at = 0; at < 1000; at += 10) pending.push(writer.write("a", data.subarray(at, at + 10)));
    pending.push(writer.close());
    await Promise.all(pending);
    expectBytes((await load(path)).get("a").data, data);
  });
});

describe("createWriter with a codec", () => {
  test.each([
    ["deflate", {}],
    ["shuffle+deflate", {}],
    ["shuffle+deflate", { byteOrder: "big", alignment: 4096 }],
    ["deflate", { checksum: "none", compressionLevel: 1 }],
  ] as const)("%s %j: reserves the header, writes it last, and the file reads back", async (codec, options) => {
    const path = fresh();
    const list = cases();
    const writer = await createWriter(path, list.map((c) => (c.entry.name === "scalar" ? c.entry : { ...c.entry, codec })), options);
    expect(writer.byteLength).toBeUndefined();
    await writeInPieces(writer, list, 333);
    await writer.close();
    const bytes = readFileSync(path);
    const file = decode(bytes, { verify: true });
    for (const { entry, data } of list) {
      const array = file.get(entry.name);
      expect(array.codec).toBe(entry.name === "scalar" ? "none" : codec);
      expect(array.shape).toEqual(entry.shape);
      expectBytes(array.data, data, entry.name);
    }
    expect(file.info("noise").byteLength).toBeGreaterThan(0);
    expect(readdirSync(dir.path).filter((name) => name.includes(".tmp"))).toEqual([]);
  });

  test("as in ArraySpec, a per-array codec overrides the file-wide one, and \"none\" leaves the choice to it", async () => {
    const path = fresh();
    const entries: WriterEntry[] = [
      { name: "default", dtype: "float32", shape: [1000] },
      { name: "none", dtype: "float32", shape: [1000], codec: "none" },
      { name: "shuffled", dtype: "float32", shape: [1000], codec: "shuffle+deflate" },
    ];
    const writer = await createWriter(path, entries, { codec: "deflate" });
    for (const { name } of entries) await writer.write(name, new Float32Array(1000).fill(3));
    await writer.close();
    const file = await load(path, { verify: true });
    expect(file.names.map((name) => file.info(name).codec)).toEqual(["deflate", "deflate", "shuffle+deflate"]);
    const reference = decode(encode(Object.fromEntries(entries.map((e) => [e.name, { data: new Float32Array(1000).fill(3), codec: e.codec }])), { codec: "deflate" }));
    expect(file.names.map((name) => file.info(name).codec)).toEqual(reference.names.map((name) => reference.info(name).codec));
  });

  test("shuffle+deflate of an array larger than one shuffle block, from odd-sized chunks", async () => {
    const path = fresh();
    const data = Float32Array.from({ length: 700_000 }, (_, i) => Math.sin(i / 100));
    const writer = await createWriter(path, [{ name: "x", dtype: "float32", shape: [700_000], codec: "shuffle+deflate" }], { byteOrder: "big" });
    await writeInPieces(writer, [{ entry: { name: "x", dtype: "float32", shape: [700_000] }, data }], 100_003);
    await writer.close();
    const array = (await load(path, { verify: true })).get("x");
    expect(array.byteLength).toBeLessThan(data.byteLength);
    expectBytes(array.data, data);
  });

  test("compressed sizes are shorter than the reserved room: the header ends in spaces", async () => {
    const path = fresh();
    const writer = await createWriter(path, [{ name: "zeros", dtype: "float64", shape: [100_000], codec: "deflate" }]);
    await writer.write("zeros", new Float64Array(100_000));
    await writer.close();
    const bytes = readFileSync(path);
    const headerLength = bytes.readUInt32LE(12);
    const header = bytes.subarray(20, 20 + headerLength).toString("utf8");
    expect(header).toMatch(/\} +$/);
    expect((await load(path, { verify: true })).get("zeros").data.every((v) => v === 0)).toBe(true);
  });

  test("a codec with a stream target is refused with INVALID_ARGUMENT, before anything is sent", async () => {
    const sink = new PassThrough();
    let sent = 0;
    sink.on("data", (chunk: Buffer) => (sent += chunk.length));
    const error = await failure(() => createWriter(sink, [{ name: "a", dtype: "int8", shape: [1], codec: "deflate" }]), "INVALID_ARGUMENT");
    expect(error.message).toMatch(/stream target/);
    await failure(() => createWriter(new WritableStream(), [{ name: "a", dtype: "int8", shape: [1] }], { codec: "shuffle+deflate" }), "INVALID_ARGUMENT");
    expect(sent).toBe(0);
  });
});

describe("createWriter to streams", () => {
  test("a Node stream receives exactly the bytes of encode, in chunks it owns", async () => {
    const list = cases();
    const sink = new PassThrough();
    const received: Buffer[] = [];
    sink.on("data", (chunk: Buffer) => received.push(chunk)); // keeps every chunk it is given
    const ended = new Promise((resolve) => sink.on("end", resolve));
    const writer = await createWriter(sink, list.map((c) => c.entry), { byteOrder: "big" });
    // One reused buffer for every piece: the stream must not keep views of it.
    const scratch = new Uint8Array(1000);
    for (const { entry, data } of list) {
      const bytes = bytesOf(data);
      for (let at = 0; at < bytes.length; at += scratch.length) {
        const piece = bytes.subarray(at, at + scratch.length);
        scratch.set(piece);
        await writer.write(entry.name, scratch.subarray(0, piece.length));
        scratch.fill(0xee);
      }
    }
    await writer.close();
    await ended;
    expectBytes(Buffer.concat(received), encode(arraysOf(list), { byteOrder: "big" }));
    expect(Math.max(...received.map((c) => c.length))).toBeLessThanOrEqual(1 << 20);
  });

  test("a Web WritableStream receives exactly the bytes of encode", async () => {
    const list = cases();
    const chunks: Uint8Array[] = [];
    let closed = false;
    const stream = new WritableStream<Uint8Array>({
      write(chunk) {
        chunks.push(chunk);
      },
      close() {
        closed = true;
      },
    });
    const writer = await createWriter(stream, list.map((c) => c.entry), { alignment: 16 });
    await writeInPieces(writer, list, 50_000);
    await writer.close();
    expect(closed).toBe(true);
    expectBytes(Buffer.concat(chunks), encode(arraysOf(list), { alignment: 16 }));
  });

  test("an array's bytes are sent when it is complete, not held until close", async () => {
    const sink = new PassThrough();
    let received = 0;
    sink.on("data", (chunk: Buffer) => (received += chunk.length));
    const writer = await createWriter(sink, [{ name: "a", dtype: "int8", shape: [10] }, { name: "b", dtype: "int8", shape: [10] }]);
    await writer.write("a", new Int8Array(10));
    await new Promise((resolve) => setImmediate(resolve));
    // Everything before b's bytes (a's CRC, then the padding before b): enough for a stream reader on the other side to hand out array a.
    expect(received).toBe(decode(encode({ a: new Int8Array(10), b: new Int8Array(10) })).info("b").offset);
    await writer.abort();
  });

  test("a stream that fails makes write reject with IO_ERROR (the stream's error as cause)", async () => {
    const broken = new Writable({
      write(_chunk, _encoding, callback) {
        callback(new Error("disk on fire"));
      },
    });
    const writer = await createWriter(broken, [{ name: "a", dtype: "uint8", shape: [2 << 20] }]);
    const error = await failure(() => writer.write("a", new Uint8Array(2 << 20)), "IO_ERROR");
    expect((error.cause as Error).message).toBe("disk on fire");
    await failure(() => writer.close(), "IO_ERROR");
  });

  test("WRITE_SIZE on a stream target destroys (Node) or aborts (Web) the stream", async () => {
    const sink = new PassThrough();
    sink.resume();
    const writer = await createWriter(sink, [{ name: "a", dtype: "int8", shape: [2] }]);
    await failure(() => writer.write("a", new Int8Array(3)), "WRITE_SIZE");
    expect(sink.destroyed).toBe(true);

    let aborted: unknown;
    const stream = new WritableStream<Uint8Array>({
      abort(reason) {
        aborted = reason;
      },
    });
    const web = await createWriter(stream, [{ name: "a", dtype: "int8", shape: [2] }]);
    const error = await failure(() => web.close(), "WRITE_SIZE");
    expect(aborted).toBe(error);
    expect(error).toBeInstanceOf(NdpackError);
  });
});

describe("compressed streaming writes produce valid DEFLATE streams", () => {
  // Data of the kind that made fflate's streaming Deflate write invalid streams (about 1 in 8 of
  // these inputs): runs of low-entropy bytes mixed with a repeating pattern.
  function patterned(seed: number): Uint8Array {
    let state = seed;
    const n = 50_000 + ((seed * 7919) % 400_000);
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      state = (state * 1103515245 + 12345) >>> 0;
      data[i] = ((state >>> 24) % ((seed % 7) + 2)) + (i % 50 < 25 ? 0 : i & 7);
    }
    return data;
  }

  test("40 patterned arrays written with codec deflate in 64 KiB pieces read back exactly", async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const data = patterned(seed);
      const path = dir.file(`patterned-${seed}.ndp`);
      const writer = await createWriter(path, [{ name: "p", dtype: "uint8", shape: [data.length] }], { codec: "deflate" });
      for (let at = 0; at < data.length; at += 65536) await writer.write("p", data.subarray(at, at + 65536));
      await writer.close();
      const file = await load(path, { verify: true });
      expect(file.info("p").codec, `seed ${seed}`).toBe("deflate");
      expect(Buffer.from(file.get("p").data.buffer).equals(Buffer.from(data)), `seed ${seed}`).toBe(true);
    }
  });
});

describe("createWriter reads each field of a declaration once", () => {
  /** A declaration of "a", float32 [2], whose `field` getter gives `first`, then `later` on every later read. */
  function flipping(field: keyof WriterEntry, first: unknown, later: unknown): WriterEntry {
    const entry: Record<string, unknown> = { name: "a", dtype: "float32", shape: [2] };
    let reads = 0;
    Object.defineProperty(entry, field, { enumerable: true, get: () => (reads++ === 0 ? first : later) });
    return entry as unknown as WriterEntry;
  }

  test("a codec getter that says nothing, then zstd: the file is raw and reads back (its header named the codec zstd)", async () => {
    const path = dir.file("codec-getter.ndp");
    const writer = await createWriter(path, [flipping("codec", undefined, "zstd")]);
    await writer.write("a", new Float32Array([1, 2]));
    await writer.close();
    expect(Array.from((await load(path)).get("a").data as Float32Array)).toEqual([1, 2]);
  });

  test("a dtype getter that says float32, then a name no dtype has: the writer is float32 (was a TypeError)", async () => {
    const path = dir.file("dtype-getter.ndp");
    const writer = await createWriter(path, [flipping("dtype", "float32", "bogus")]);
    await writer.write("a", new Float32Array([1, 2]));
    await writer.close();
    expect((await load(path)).get("a").dtype).toBe("float32");
  });
});
