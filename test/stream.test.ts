import { PassThrough, Readable } from "node:stream";
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { concatBytes } from "../src/bytes.js";
import { planEncoding, planSegments, SMALL_PIECE } from "../src/encode.js";
import { decode, encode, NdpackError, type ArraysInput, type EncodeOptions, type ErrorCode, type NdArray } from "../src/index.js";
import { decodeMessages, decodeStream, encodeStream } from "../src/streams.js";
import { crc32 } from "../src/crc32.js";
import { failure as syncFailure, noise } from "./helpers/common.js";
import { heldStream, settlesWithin, twoArrayMessage } from "./helpers/held-stream.js";

/** Byte equality of two views (vitest's toEqual walks typed arrays element by element: far too slow for megabytes). */
function expectBytes(actual: ArrayBufferView, expected: ArrayBufferView): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  expect(a.length).toBe(b.length);
  expect(a.equals(b)).toBe(true);
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return chunks;
    chunks.push(value);
  }
}

/** `bytes` as an async iterable of `size`-byte chunks. */
async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function failure(run: () => Promise<unknown>, code: ErrorCode): Promise<NdpackError> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(NdpackError);
  expect((caught as NdpackError).code, (caught as Error).message).toBe(code);
  return caught as NdpackError;
}

/** Decodes a whole source, returning the arrays that came out and the error that ended it, if any. */
async function drain(source: Parameters<typeof decodeStream>[0], options?: Parameters<typeof decodeStream>[1]): Promise<{ arrays: NdArray[]; error: NdpackError | undefined }> {
  const arrays: NdArray[] = [];
  try {
    for await (const array of decodeStream(source, options)) arrays.push(array);
  } catch (error) {
    if (!(error instanceof NdpackError)) throw error;
    return { arrays, error };
  }
  return { arrays, error: undefined };
}

const sample = (): ArraysInput => ({
  weights: { data: Float32Array.from({ length: 24 }, (_, i) => i / 3), shape: [2, 3, 4] },
  labels: new Int32Array([3, -1, 4, 1, 5]),
  ids: new BigUint64Array([1n, 2n ** 63n, 7n]),
  mask: { data: Uint8Array.of(1, 0, 1), dtype: "bool" },
  scalar: { data: new Float64Array([Math.PI]), shape: [] },
  empty: { data: new Int16Array(0), shape: [0, 5] },
  columns: { data: Float64Array.from({ length: 6 }, (_, i) => i), shape: [3, 2], order: "F" },
  complex: { data: Float32Array.of(1, -1, 2, -2), dtype: "complex64", shape: [2] },
  noise: noise(100_000),
});

const OPTION_SETS: readonly EncodeOptions[] = [
  {},
  { alignment: 8, checksum: "none" },
  { alignment: 4096, byteOrder: "big", metadata: { run: 7, tags: ["a", "b"], nested: { x: -0.5 } } },
  { codec: "deflate" },
  { codec: "shuffle+deflate", byteOrder: "big", compressionLevel: 1 },
];

function expectSameArrays(actual: readonly NdArray[], bytes: Uint8Array): void {
  const file = decode(bytes);
  expect(actual.map((a) => a.name)).toEqual(file.names);
  for (const array of actual) {
    const expected = file.get(array.name);
    const { data, copied, ...info } = array;
    const { data: expectedData, copied: _, ...expectedInfo } = expected;
    expect(info).toEqual(expectedInfo);
    expect(data.constructor).toBe(expectedData.constructor);
    expectBytes(data, expectedData);
    expect(copied).toBe(true);
    expect(data.byteOffset % data.BYTES_PER_ELEMENT).toBe(0);
  }
}

describe("encodeStream", () => {
  test.each(OPTION_SETS.map((options, i) => [i, options] as const))("produces exactly the bytes of encode (option set %i)", async (_, options) => {
    const expected = encode(sample(), options);
    const chunks = await readAll(encodeStream(sample(), options));
    expectBytes(concatBytes(chunks), expected);
  });

  test("cuts payloads into chunks of at most chunkBytes that view the caller's arrays", async () => {
    const big = new Float32Array(300_000).map((_, i) => i);
    const chunks = await readAll(encodeStream({ small: new Int8Array(5), big }, { chunkBytes: 100_000 }));
    expectBytes(concatBytes(chunks), encode({ small: new Int8Array(5), big }));
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(100_000);
    const views = chunks.filter((chunk) => chunk.buffer === big.buffer);
    expect(views.reduce((n, c) => n + c.length, 0)).toBe(big.byteLength);
  });

  test("merges small pieces (head, padding, checksums, small arrays) into few chunks", async () => {
    const arrays = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`a${i}`, new Int32Array([i])]));
    const chunks = await readAll(encodeStream(arrays));
    expectBytes(concatBytes(chunks), encode(arrays));
    expect(chunks.length).toBeLessThan(10);
  });

  test("planSegments: the bytes of encode; payloads of 64 KiB or more as views, everything shorter in fresh pieces, never two short pieces in a row", () => {
    const sizes = [0, 1, 3, 256, 4000, SMALL_PIECE - 8, SMALL_PIECE - 1, SMALL_PIECE, SMALL_PIECE + 8, 3 * SMALL_PIECE];
    const arrayArb = fc.record({ size: fc.constantFrom(...sizes), dtype: fc.constantFrom("uint8", "float32", "float64"), codec: fc.constantFrom("none", "none", "deflate") });
    const optionsArb = fc.record({
      alignment: fc.constantFrom(8, 64, 4096),
      byteOrder: fc.constantFrom("little", "big"),
      checksum: fc.constantFrom("crc32", "none"),
      // A metadata string of 70 KB puts the head over SMALL_PIECE: handed out on its own, not copied.
      metadataBytes: fc.constantFrom(0, 70_000),
    });
    fc.assert(
      fc.property(fc.array(arrayArb, { maxLength: 24 }), optionsArb, fc.constantFrom(8, 1000, SMALL_PIECE, 1 << 20), (specs, { metadataBytes, ...options }, chunkBytes) => {
        const types = { uint8: Uint8Array, float32: Float32Array, float64: Float64Array } as const;
        const arrays = specs.map(({ size, dtype, codec }, i) => {
          const type = types[dtype as keyof typeof types];
          const data = new type(Math.floor(size / type.BYTES_PER_ELEMENT));
          const bytes = new Uint8Array(data.buffer);
          for (let at = 0; at < bytes.length; at++) bytes[at] = (at * 7 + i) & 255;
          return [`a${i}`, { data, dtype, codec }] as const;
        });
        const encodeOptions = { ...options, metadata: metadataBytes > 0 ? { note: "x".repeat(metadataBytes) } : {} } as EncodeOptions;
        const plan = planEncoding(arrays, encodeOptions);
        const pieces = [...planSegments(plan, chunkBytes)];
        expectBytes(concatBytes(pieces), encode(arrays, encodeOptions));
        const swapsLarge = plan.records.some((record) => record.swap && record.byteLength >= SMALL_PIECE);
        const callers = new Set(arrays.map(([, { data }]) => data.buffer as ArrayBufferLike));
        for (let i = 0; i < pieces.length; i++) {
          const piece = pieces[i]!;
          if (piece.length < SMALL_PIECE) expect(callers.has(piece.buffer)).toBe(false);
          // (A large byte-swapped payload's pieces are of chunkBytes, however short, its last one shorter.)
          if (i > 0 && piece.length < SMALL_PIECE / 2 && !swapsLarge) expect(pieces[i - 1]!.length).toBeGreaterThanOrEqual(SMALL_PIECE / 2);
        }
        for (const record of plan.records) {
          const viewed = pieces.some((piece) => piece.buffer === record.array.data.buffer);
          expect(viewed).toBe(record.byteLength >= SMALL_PIECE && record.stored === undefined && !record.swap);
        }
      }),
      { numRuns: 150 },
    );
  });

  test("10,000 arrays of 256 bytes are a few dozen pieces", () => {
    const arrays = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`layer.${i}.weight`, new Float32Array(64).fill(i)]));
    const pieces = [...planSegments(planEncoding(arrays))];
    expectBytes(concatBytes(pieces), encode(arrays));
    // 10,000 records of 320 bytes (payload, CRC, padding) in pieces of at most 64 KiB, and the head.
    expect(pieces.length).toBe(1 + Math.ceil(10_000 / Math.floor(SMALL_PIECE / 320)));
  });

  test("byte-swapped payloads come out as copies of at most chunkBytes", async () => {
    const data = new Float64Array(50_000).map((_, i) => i * 1.5);
    const chunks = await readAll(encodeStream({ data }, { byteOrder: "big", chunkBytes: 65_536 }));
    expectBytes(concatBytes(chunks), encode({ data }, { byteOrder: "big" }));
    expect(chunks.some((chunk) => chunk.buffer === data.buffer)).toBe(false);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(65_536);
  });

  test("INVALID_ARGUMENT and UNKNOWN_DTYPE are thrown by the call, not by the stream", () => {
    syncFailure(() => encodeStream({ a: new Float32Array(1) }, { chunkBytes: 0 }), "INVALID_ARGUMENT");
    syncFailure(() => encodeStream({ a: { data: new Float32Array(1), dtype: "float128" as never } }), "UNKNOWN_DTYPE");
    syncFailure(() => encodeStream({ a: { data: new Float32Array(4), shape: [3] } }), "SIZE_MISMATCH");
  });

  test("is pulled lazily and can be cancelled", async () => {
    const big = new Uint8Array(8 << 20).fill(7);
    const reader = encodeStream({ big }, { chunkBytes: 1 << 20 }).getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    await reader.cancel();
    expect((await reader.read()).done).toBe(true);
  });
});

describe("decodeStream", () => {
  test.each(OPTION_SETS.map((options, i) => [i, options] as const))("decodes what encodeStream produces (option set %i)", async (_, options) => {
    const bytes = encode(sample(), options);
    const { arrays, error } = await drain(encodeStream(sample(), options));
    expect(error).toBeUndefined();
    expectSameArrays(arrays, bytes);
  });

  test.each([1, 3, 64, 1000, 1 << 20])("decodes a source cut into %i-byte chunks", async (size) => {
    const bytes = encode(sample());
    const stream = decodeStream(pieces(bytes, size));
    const arrays: NdArray[] = [];
    for await (const array of stream) arrays.push(array);
    expectSameArrays(arrays, bytes);
    expect(stream.bytesRead).toBe(bytes.length);
  });

  test("accepts Node Readables, ArrayBuffer chunks and DataView chunks", async () => {
    const bytes = encode(sample());
    expectSameArrays((await drain(Readable.from([Buffer.from(bytes.subarray(0, 1000)), Buffer.from(bytes.subarray(1000))]))).arrays, bytes);
    const buffers = async function* () {
      yield bytes.slice(0, 500).buffer;
      yield new DataView(bytes.buffer, 500);
    };
    expectSameArrays((await drain(buffers())).arrays, bytes);
  });

  test("the header comes first, and each array as soon as its bytes have arrived", async () => {
    const bytes = encode({ first: new Float32Array([1, 2]), second: new Int8Array(1000).fill(3) });
    const file = decode(bytes);
    const firstEnd = file.info("first").offset + 8 + 4;
    const secondStart = file.info("second").offset;
    // A source that hands out bytes only when told to.
    let release: (bytes: Uint8Array | null) => void = () => {};
    const source = (async function* () {
      for (;;) {
        const next = await new Promise<Uint8Array | null>((resolve) => (release = resolve));
        if (next === null) return;
        yield next;
      }
    })();
    const stream = decodeStream(source);
    const header = stream.header();
    await Promise.resolve();
    release(bytes.subarray(0, 100));
    await new Promise((r) => setTimeout(r, 5));
    // Up to the second array's record: the first one's and the padding after it, which verifying it checks.
    release(bytes.subarray(100, secondStart));
    const info = await header;
    expect(info.names).toEqual(["first", "second"]);
    expect(info.arrays[1]).toMatchObject({ dtype: "int8", shape: [1000], offset: secondStart });
    expect(info.byteLength).toBe(bytes.length);
    expect(stream.bytesRead).toBeLessThanOrEqual(firstEnd + 64);
    const first = await stream.next();
    expect(first.done).toBe(false);
    expect(Array.from((first.value as NdArray).data as Float32Array)).toEqual([1, 2]);
    // The second array's bytes have not been sent yet.
    const second = stream.next();
    await new Promise((r) => setTimeout(r, 5));
    release(bytes.subarray(secondStart));
    expect(((await second).value as NdArray).data).toEqual(new Int8Array(1000).fill(3));
    const end = stream.next();
    await new Promise((r) => setTimeout(r, 5));
    release(null);
    expect((await end).done).toBe(true);
  });

  test.each([
    ["small", 3],
    ["large (80,000 bytes)", 20_000],
  ])("a %s first array is handed out, values whole, before any byte of the second is sent (a source that holds the rest back)", async (_, aLength) => {
    const { bytes, bStart, a, b } = twoArrayMessage(aLength);
    const held = heldStream(bytes);
    held.release(bStart);
    const stream = decodeStream(held.source);
    try {
      expect((await stream.header()).names).toEqual(["a", "b"]);
      const first = stream.next();
      expect(await settlesWithin(first), "`a` was not handed out with all its bytes at hand").toBe(true);
      const array = (await first).value as NdArray;
      expect(array.name).toBe("a");
      expectBytes(array.data, a);
      expect(held.given).toBe(bStart);
      const second = stream.next();
      expect(await settlesWithin(second)).toBe(false);
      held.release(bytes.length - 1);
      expect(await settlesWithin(second)).toBe(false); // its last byte is missing
      held.end();
      expectBytes(((await second).value as NdArray).data, b);
      expect((await stream.next()).done).toBe(true);
    } finally {
      held.end();
      await stream.cancel();
    }
  });

  test("CHECKSUM names the damaged array after the intact ones came out; verify: false skips the check", async () => {
    const bytes = encode({ a: new Int32Array([1, 2, 3]), b: new Float64Array([4, 5]), c: new Uint8Array([6]) });
    const damaged = bytes.slice();
    damaged[decode(bytes).info("b").offset + 3]! ^= 0x10;
    const { arrays, error } = await drain(pieces(damaged, 7));
    expect(arrays.map((a) => a.name)).toEqual(["a"]);
    expect(error!.code).toBe("CHECKSUM");
    expect(error!.array).toBe("b");
    const unchecked = await drain(pieces(damaged, 7), { verify: false });
    expect(unchecked.error).toBeUndefined();
    expect(unchecked.arrays.map((a) => a.name)).toEqual(["a", "b", "c"]);
  });

  test("BAD_PADDING for a non-zero byte between records, at its offset", async () => {
    const bytes = encode({ a: new Int8Array(3), b: new Int8Array(3) });
    const at = decode(bytes).info("a").offset + 3 + 4 + 10;
    const damaged = bytes.slice();
    damaged[at] = 1;
    const { arrays, error } = await drain(pieces(damaged, 5));
    // The padding after a record is part of verifying its array (FORMAT.md §9 step 22): "a" is not handed out.
    expect(arrays.map((a) => a.name)).toEqual([]);
    expect(error!.code).toBe("BAD_PADDING");
    expect(error!.offset).toBe(at);
    expect(error!.array).toBe("a");
    expect((await drain(pieces(damaged, 5), { verify: false })).error).toBeUndefined();
    // Padding after the header is always checked (FORMAT.md §9 step 21).
    const header = bytes.slice();
    header[decode(bytes).info("a").offset - 1] = 1;
    expect((await drain(pieces(header, 5), { verify: false })).error!.code).toBe("BAD_PADDING");
  });

  test("a compressed array with non-zero padding after it: BAD_PADDING before step 23, as decode reports it, whether its stream inflates or not", async () => {
    const bytes = encode({ a: { data: new Float32Array(64).fill(1.5), codec: "deflate" }, b: new Int8Array(3) });
    const a = decode(bytes).info("a");
    const cut = bytes.slice();
    // A stored payload cut short (one byte moved into the CRC's place keeps the lengths): recomputing the CRC keeps step 22's CRC check passing.
    const payload = cut.subarray(a.offset, a.offset + a.byteLength);
    payload[payload.length - 1] = 0;
    new DataView(cut.buffer).setUint32(a.offset + a.byteLength, crc32(payload), true);
    for (const [label, file] of [["inflates", bytes.slice()], ["does not inflate", cut]] as const) {
      file[a.offset + a.byteLength + 4 + 1] = 1;
      const memory = syncFailure(() => decode(file, { verify: true }).get("a"), "BAD_PADDING");
      const { arrays, error } = await drain(pieces(file, 9));
      expect([memory.code, memory.array], label).toEqual(["BAD_PADDING", "a"]);
      expect([error!.code, error!.array, arrays.length], label).toEqual(["BAD_PADDING", "a", 0]);
    }
  });

  test("cancel() while a read waits for a stalled source settles: a Node stream is destroyed, a ReadableStream cancelled, the waiting header() is CLOSED", async () => {
    const bytes = encode({ a: new Float32Array(1000) });
    const through = new PassThrough();
    through.write(bytes.subarray(0, 10));
    let cancelled = false;
    const web = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(bytes.subarray(0, 10)), cancel: () => void (cancelled = true) });
    for (const source of [through, web]) {
      const stream = decodeStream(source);
      const header = stream.header().then(() => "read", (error: NdpackError) => error.code);
      await new Promise((resolve) => setTimeout(resolve, 10));
      await stream.cancel();
      expect(await header).toBe("CLOSED");
      expect(await stream.next()).toEqual({ done: true, value: undefined });
    }
    expect(through.destroyed).toBe(true);
    expect(cancelled).toBe(true);
  });

  test("a locked ReadableStream is INVALID_ARGUMENT; a bad option is refused before the caller's stream is locked", () => {
    const make = () => new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(encode({ a: new Float32Array(3) })) });
    const locked = make();
    locked.getReader();
    for (const read of [decodeStream, decodeMessages]) {
      expect(syncFailure(() => read(locked), "INVALID_ARGUMENT").field).toBe("source");
      const fresh = make();
      expect(syncFailure(() => read(fresh, { verify: "yes" as unknown as boolean }), "INVALID_ARGUMENT").field).toBe("verify");
      expect(fresh.locked).toBe(false);
    }
  });

  test("encodeStream: an array whose buffer is transferred before the stream reaches it fails the stream (INVALID_ARGUMENT), not a short file", async () => {
    const a = new Float32Array(1 << 18).fill(1);
    const b = new Float32Array(1 << 18).fill(2);
    const reader = encodeStream({ a, b }, { chunkBytes: 1 << 16 }).getReader();
    await reader.read();
    structuredClone(b.buffer, { transfer: [b.buffer] });
    const error = await (async () => {
      for (;;) if ((await reader.read()).done) return undefined;
    })().catch((caught: NdpackError) => caught);
    expect([error?.code, error?.array]).toEqual(["INVALID_ARGUMENT", "b"]);
  });

  test("encodeStream: a small array transferred before the stream reaches it fails the stream (INVALID_ARGUMENT) too", async () => {
    const arrays = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`a${i}`, new Float32Array(64).fill(i)]));
    const reader = encodeStream(arrays).getReader();
    await reader.read();
    const last = arrays.a1999!;
    structuredClone(last.buffer, { transfer: [last.buffer] });
    const error = await (async () => {
      for (;;) if ((await reader.read()).done) return undefined;
    })().catch((caught: NdpackError) => caught);
    expect([error?.code, error?.array]).toEqual(["INVALID_ARGUMENT", "a1999"]);
  });

  test("every truncation yields the whole arrays before the cut, then TRUNCATED, as decode reports it", async () => {
    const bytes = encode({ a: new Int32Array([1, 2]), b: new Float32Array([3]), c: new Int8Array(0) });
    const file = decode(bytes);
    for (let cut = 0; cut < bytes.length; cut++) {
      const { arrays, error } = await drain(pieces(bytes.subarray(0, cut), 16));
      expect(error?.code, `cut at ${cut}`).toBe(syncFailure(() => decode(bytes.subarray(0, cut)), "TRUNCATED").code);
      // An array comes out once its record and the padding after it (up to the next record) have arrived.
      const complete = file.names.filter((name, i) => {
        const info = file.info(name);
        const next = file.names[i + 1];
        return (next === undefined ? info.offset + info.byteLength + 4 : file.info(next).offset) <= cut;
      });
      expect(arrays.map((a) => a.name), `cut at ${cut}`).toEqual(cut < file.info("a").offset ? [] : complete);
    }
  });

  test("TRAILING_BYTES after the last array when the stream goes on", async () => {
    const bytes = encode({ a: new Int8Array([1]) });
    const { arrays, error } = await drain(pieces(concatBytes([bytes, Uint8Array.of(0)]), 4));
    expect(arrays.map((a) => a.name)).toEqual(["a"]);
    expect(error!.code).toBe("TRAILING_BYTES");
    expect(error!.offset).toBe(bytes.length);
    const empty = encode({});
    expect((await drain(pieces(empty, 3))).error).toBeUndefined();
    expect((await drain(pieces(concatBytes([empty, empty]), 3))).error!.code).toBe("TRAILING_BYTES");
  });

  test("preamble and header errors come with the codes decode gives them", async () => {
    const bytes = encode({ a: new Int8Array([1]) });
    expect((await drain(pieces(Uint8Array.of(0x89, 0x4e, 0x44, 0x51), 1))).error!.code).toBe("BAD_MAGIC");
    const crc = bytes.slice();
    crc[25]! ^= 1;
    expect((await drain(pieces(crc, 10))).error!.code).toBe("HEADER_CHECKSUM");
    const version = bytes.slice();
    version[8] = 2;
    expect((await drain(pieces(version, 10))).error!.code).toBe("UNSUPPORTED_VERSION");
    // The header length is refused before any header byte is read.
    const preambleOnly = (async function* () {
      yield bytes.subarray(0, 20);
      throw new Error("the header should not have been read");
    })();
    expect((await drain(preambleOnly, { maxHeaderBytes: 10 })).error!.code).toBe("HEADER_TOO_LARGE");
  });

  test("LIMIT_EXCEEDED for a compressed array over maxDecodedBytes", async () => {
    const bytes = encode({ small: new Int8Array(10), big: new Float32Array(10_000) }, { codec: "deflate" });
    const { arrays, error } = await drain(pieces(bytes, 100), { maxDecodedBytes: 1000 });
    expect(arrays.map((a) => a.name)).toEqual(["small"]);
    expect(error!.code).toBe("LIMIT_EXCEEDED");
    expect(error!.limit).toBe("maxDecodedBytes");
  });

  test("LIMIT_EXCEEDED, before any payload byte, for an array larger than one typed array can be", async () => {
    // A header claiming 2^50 bytes, followed by nothing: the decoder must refuse, not wait or allocate.
    const entry = { name: "huge", dtype: "uint8", shape: [2 ** 50], order: "C", byteOrder: "little", offset: 0, byteLength: 2 ** 50 };
    const text = new TextEncoder().encode(JSON.stringify({ alignment: 64, checksum: "none", dataLength: 2 ** 50, metadata: {}, arrays: [entry] }));
    const head = new Uint8Array(Math.ceil((20 + text.length) / 64) * 64);
    head.set(encode({}).subarray(0, 12));
    new DataView(head.buffer).setUint32(12, text.length, true);
    head.set(text, 20);
    const { crc32 } = await import("node:zlib");
    new DataView(head.buffer).setUint32(16, crc32(text, crc32(head.subarray(8, 16))), true);
    const stream = decodeStream(pieces(head, 1000));
    expect((await stream.header()).arrays[0]!.nbytes).toBe(2 ** 50);
    const error = await failure(() => stream.next(), "LIMIT_EXCEEDED");
    expect(error.array).toBe("huge");
  });

  test("a ReadableStream that ends normally is unlocked afterwards", async () => {
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encode({ a: new Int8Array(1) }));
        controller.close();
      },
    });
    expect((await drain(source)).arrays.map((a) => a.name)).toEqual(["a"]);
    expect(source.locked).toBe(false);
  });

  test("breaking out of the loop, and errors, cancel the source", async () => {
    const bytes = encode({ a: new Int8Array(1), b: new Int8Array(1) });
    let cancelled: unknown = "no";
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(bytes.slice());
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    for await (const array of decodeStream(stream)) {
      expect(array.name).toBe("a");
      break;
    }
    expect(cancelled).toBeUndefined();

    let finished = false;
    const generator = (async function* () {
      try {
        yield Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
        yield new Uint8Array(100);
      } finally {
        finished = true;
      }
    })();
    expect((await drain(generator)).error!.code).toBe("BAD_MAGIC");
    expect(finished).toBe(true);
  });

  test("INVALID_ARGUMENT for a source that is not bytes", async () => {
    syncFailure(() => decodeStream(42 as never), "INVALID_ARGUMENT");
    const strings = (async function* () {
      yield "not bytes" as unknown as Uint8Array;
    })();
    expect((await drain(strings)).error!.code).toBe("INVALID_ARGUMENT");
    syncFailure(() => decodeStream(pieces(new Uint8Array(0), 1), { maxArrays: 0 }), "INVALID_ARGUMENT");
  });

  test("a stream decodes a file larger than its chunks hold, one array at a time", async () => {
    const arrays = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`part${i}`, noise(1 << 20, i + 1)]));
    const stream = decodeStream(encodeStream(arrays, { chunkBytes: 4096 }));
    let count = 0;
    for await (const array of stream) {
      expectBytes(array.data, arrays[array.name]!);
      expect(array.data.buffer.byteLength).toBe(1 << 20);
      count++;
    }
    expect(count).toBe(8);
  });
});
