/**
 * `decodeStream(source, { formats: FORMATS })`: .npy, .npz and .safetensors streams read by the
 * formats' own readers, compared with the lazy reader (`openSource(...).read`) on the same bytes:
 * files made by ndpack's writers and by numpy and safetensors, chunked at every split position and
 * at random ones, cut at every length and damaged at every byte.
 *
 * The documented differences, which the oracle below applies: a .npy or .safetensors stream hands
 * each array out as it arrives, so one that is cut short (or goes on) yields the arrays that
 * arrived whole before TRUNCATED (after every array before TRAILING_BYTES), where the lazy reader,
 * which knows the size, refuses the file when it opens; and a stream's format is told from its
 * first 16 bytes with its length unknown, so a .safetensors stream whose header length goes past
 * its end is read as .safetensors (the lazy reader, without a name, finds no format: BAD_MAGIC).
 */
import { createReadStream, readFileSync, writeFileSync } from "node:fs";
import { Readable } from "node:stream";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { encode, NdpackError, type ArrayInfo, type NdArray } from "../src/index.js";
import { FORMATS, toNpy, toNpz, toSafetensors } from "../src/interop/index.js";
import { sniffFormat } from "../src/formats/index.js";
import { SNIFF_BYTES } from "../src/formats/find.js";
import { bytesSource, openSource, type OpenSourceOptions } from "../src/source.js";
import { decodeStream, type DecodeStreamOptions, type ByteStream } from "../src/streams.js";
import { ChunkReader } from "../src/stream.js";
import { heldStream, settlesWithin, until } from "./helpers/held-stream.js";
import { tempDir } from "./helpers/node-files.js";
import { runPython } from "./helpers/python-env.js";

/** What a reader made of some bytes: the header, the arrays it handed out (in order), and the code of the error that ended it. */
interface Outcome {
  readonly header: unknown;
  readonly arrays: readonly unknown[];
  readonly code: string | undefined;
}

const bytesHex = (array: NdArray) => Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength).toString("hex");
const infoOf = ({ name, dtype, shape, order, byteOrder, codec, offset, byteLength, nbytes }: ArrayInfo) => ({ name, dtype, shape: [...shape], order, byteOrder, codec, offset, byteLength, nbytes });
const arrayOf = (array: NdArray) => ({ ...infoOf(array), hex: bytesHex(array) });

function codeOf(error: unknown): string {
  if (!(error instanceof NdpackError)) throw error;
  return error.code;
}

/** The lazy reader on `bytes`: its header, then each array read in order (checked unless `verify` is false) until the first that fails. */
async function lazyOutcome(bytes: Uint8Array, options: OpenSourceOptions = {}, verify = true): Promise<Outcome> {
  return (await lazyRead(bytes, options, verify)).outcome;
}

/** {@link lazyOutcome}, and the error that made opening fail, if one did. */
async function lazyRead(bytes: Uint8Array, options: OpenSourceOptions = {}, verify = true): Promise<{ outcome: Outcome; openError?: NdpackError }> {
  let reader;
  try {
    reader = await openSource(bytesSource(bytes), { formats: FORMATS, ...options });
  } catch (error) {
    return { outcome: { header: undefined, arrays: [], code: codeOf(error) }, openError: error as NdpackError };
  }
  const { format, version, alignment, checksum, metadata, byteLength } = reader;
  const header = { format, version, alignment, checksum, metadata, byteLength, names: [...reader.names], arrays: reader.names.map((name) => infoOf(reader.info(name))) };
  const arrays = [];
  try {
    for (const name of reader.names) arrays.push(arrayOf(await reader.read(name, { verify })));
  } catch (error) {
    return { outcome: { header, arrays, code: codeOf(error) } };
  } finally {
    await reader.close();
  }
  return { outcome: { header, arrays, code: undefined } };
}

/** `decodeStream` on `source`: its header, then the arrays it hands out until it ends or fails. Every array is the caller's own memory. */
async function streamOutcome(source: ByteStream, options: DecodeStreamOptions = { formats: FORMATS }): Promise<Outcome> {
  const stream = decodeStream(source, options);
  let header;
  try {
    const { format, version, alignment, checksum, metadata, byteLength, names, arrays } = await stream.header();
    header = { format, version, alignment, checksum, metadata, byteLength, names: [...names], arrays: arrays.map(infoOf) };
  } catch (error) {
    return { header: undefined, arrays: [], code: codeOf(error) };
  }
  const arrays = [];
  try {
    for await (const array of stream) {
      expect(array.copied).toBe(true);
      arrays.push(arrayOf(array));
    }
  } catch (error) {
    return { header, arrays, code: codeOf(error) };
  }
  return { header, arrays, code: undefined };
}

/**
 * What a stream of `bytes` must give: the lazy reader's outcome for the format the stream tells from
 * its first bytes (its length unknown), with the documented differences of a format read in order.
 */
async function expectedStreamOutcome(bytes: Uint8Array, options: OpenSourceOptions = {}): Promise<Outcome> {
  const format = sniffFormat(bytes.subarray(0, SNIFF_BYTES), bytes.length < SNIFF_BYTES ? bytes.length : Number.MAX_SAFE_INTEGER);
  const { outcome: lazy, openError } = await lazyRead(bytes, { ...options, ...(format === undefined ? {} : { format: format.name }) });
  const inOrder = format?.name === "npy" || format?.name === "safetensors";
  if (!inOrder || (openError?.code !== "TRUNCATED" && openError?.code !== "TRAILING_BYTES")) return lazy;
  // The lazy reader refused the file's length: the stream reads its header and the arrays that
  // arrived whole. Its header is that of the file fitted to the length the header implies (cut, or
  // padded with zeros, which are data or a header the reader refuses).
  let fitted = bytes;
  for (let error: NdpackError | undefined = openError; error?.code === "TRUNCATED" || error?.code === "TRAILING_BYTES"; ) {
    const length = error.expected as number;
    fitted = length <= bytes.length ? bytes.subarray(0, length) : Uint8Array.from([...bytes, ...new Uint8Array(length - bytes.length)]);
    error = (await lazyRead(fitted, { ...options, format: format.name })).openError;
  }
  const whole = await lazyOutcome(fitted, { ...options, format: format.name });
  if (whole.code !== undefined) return { header: undefined, arrays: [], code: "TRUNCATED" };
  const arrived = whole.arrays.filter((array) => (array as { offset: number; byteLength: number }).offset + (array as { byteLength: number }).byteLength <= bytes.length);
  return { header: whole.header, arrays: arrived, code: lazy.code };
}

/** `bytes` as an async iterable of chunks cut at `cuts` (sorted offsets). */
async function* cutAt(bytes: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    yield bytes.slice(at, cut);
    at = cut;
  }
}

async function* whole(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

const dir = tempDir("ndpack-stream-formats-");
afterAll(() => dir.remove());

/** Small files of each foreign format, by ndpack's writers and by numpy and safetensors (in beforeAll). */
const FILES: Record<string, Uint8Array> = {
  "ndpack toNpy": toNpy({ data: Float32Array.of(1.5, -2, 3.25, 4, 5, 6), shape: [2, 3] }),
  "ndpack toNpy, big-endian F order": toNpy({ data: Int32Array.of(1, -2, 3, 4), shape: [2, 2], order: "F" }, { byteOrder: "big" }),
  "ndpack toSafetensors": toSafetensors({ w: { data: Float32Array.of(1, 2, 3, 4), shape: [2, 2] }, ids: BigInt64Array.of(-1n, 2n ** 40n), mask: { data: Uint8Array.of(1, 0, 1), dtype: "bool" } }, { metadata: { step: 3, note: "x" } }),
  "ndpack toNpz": toNpz({ a: Int16Array.of(1, 2, 3), b: { data: Float64Array.of(0.5, 0.25), shape: [2, 1] } }),
  "ndpack toNpz, deflated": toNpz({ a: Int16Array.of(1, 2, 3), b: { data: Float64Array.of(0.5, 0.25), shape: [2, 1] } }, { compress: true }),
};

const PYTHON_WRITES = `
import sys, numpy as np
from safetensors.numpy import save_file
d = sys.argv[1]
np.save(d + "/c.npy", np.arange(6, dtype="<f4").reshape(2, 3))
np.save(d + "/big.npy", np.array([[1, -2], [3, 4]], dtype=">i4"))
np.save(d + "/scalar.npy", np.float64(2.5))
np.save(d + "/empty.npy", np.zeros((0, 3), dtype=np.uint8))
np.savez(d + "/plain.npz", x=np.arange(5, dtype=np.int64), y=np.array([True, False]))
np.savez_compressed(d + "/deflated.npz", x=np.linspace(0, 1, 7), y=np.arange(4, dtype=np.uint16))
save_file({"w": np.arange(6, dtype=np.float32).reshape(3, 2), "b": np.array([1, 2], dtype=np.int8), "h": np.ones(3, dtype=np.float16)}, d + "/model.safetensors", metadata={"format": "np"})
`;
const PYTHON_FILES = ["c.npy", "big.npy", "scalar.npy", "empty.npy", "plain.npz", "deflated.npz", "model.safetensors"];

beforeAll(() => {
  runPython("-c", [PYTHON_WRITES, dir.path]);
  for (const name of PYTHON_FILES) FILES[`numpy/safetensors ${name}`] = new Uint8Array(readFileSync(dir.file(name)));
});

describe("decodeStream with formats: FORMATS", () => {
  test("each file, as one chunk and cut in two at every position, gives the lazy reader's header and arrays", async () => {
    for (const [name, bytes] of Object.entries(FILES)) {
      const expected = await lazyOutcome(bytes);
      expect(expected.code, name).toBeUndefined();
      expect((expected.header as { format: string }).format, name).not.toBe("ndpack");
      expect(await streamOutcome(whole(bytes)), name).toEqual(expected);
      for (let cut = 0; cut <= bytes.length; cut++) expect(await streamOutcome(cutAt(bytes, [cut])), `${name}, cut at ${cut}`).toEqual(expected);
    }
  });

  test("property: any chunking of any of the files gives the lazy reader's outcome", async () => {
    const names = Object.keys(FILES);
    const expected = new Map(await Promise.all(names.map(async (name) => [name, await lazyOutcome(FILES[name]!)] as const)));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...names), fc.uniqueArray(fc.integer({ min: 0, max: 1 << 12 }), { maxLength: 30 }), async (name, offsets) => {
        const bytes = FILES[name]!;
        const cuts = offsets.map((offset) => offset % (bytes.length + 1)).sort((a, b) => a - b);
        expect(await streamOutcome(cutAt(bytes, cuts))).toEqual(expected.get(name));
      }),
      { numRuns: 300 },
    );
  });

  test("every prefix of each file: the lazy reader's outcome, or the arrays that arrived whole then TRUNCATED", async () => {
    const handedOut = new Set<string>();
    for (const [name, bytes] of Object.entries(FILES)) {
      for (let length = 0; length < bytes.length; length++) {
        const cut = bytes.subarray(0, length);
        const got = await streamOutcome(cutAt(cut, [length >> 1]));
        expect(got, `${name}, first ${length} bytes`).toEqual(await expectedStreamOutcome(cut));
        expect(got.code, `${name}, first ${length} bytes`).toBeDefined();
        if (got.arrays.length > 0) handedOut.add(name);
      }
    }
    // A cut .safetensors stream hands out the tensors before the cut (a .npy file has one array, a .npz none before its end).
    expect([...handedOut].sort()).toEqual(["ndpack toSafetensors", "numpy/safetensors model.safetensors"]);
  });

  test("every byte of each file flipped: the lazy reader's outcome on the same bytes, or its documented difference", async () => {
    const differences = new Map<string, number>();
    for (const [name, bytes] of Object.entries(FILES)) {
      for (let at = 0; at < bytes.length; at++) {
        const damaged = bytes.slice();
        damaged[at]! ^= 0xff;
        const expected = await expectedStreamOutcome(damaged);
        expect(await streamOutcome(cutAt(damaged, [at])), `${name}, byte ${at} flipped`).toEqual(expected);
        const lazy = await lazyOutcome(damaged);
        if (lazy.code !== expected.code) differences.set(`${lazy.code} -> ${expected.code}`, (differences.get(`${lazy.code} -> ${expected.code}`) ?? 0) + 1);
      }
    }
    // The damage reaches both differences: a .safetensors length field that no longer fits is read
    // as .safetensors; a changed shape or length makes a .npy or .safetensors file the wrong length.
    expect([...differences.keys()].sort()).toEqual(["BAD_MAGIC -> HEADER_TOO_LARGE", "BAD_MAGIC -> TRUNCATED"]);
  });

  test("a .npz member's CRC-32 is checked (CHECKSUM, as the lazy reader says), not with verify: false", async () => {
    const bytes = FILES["ndpack toNpz"]!.slice();
    const lazy = await lazyOutcome(bytes);
    const offset = (lazy.arrays[1] as { offset: number }).offset;
    bytes[offset]! ^= 1;
    const damaged = await streamOutcome(whole(bytes));
    expect(damaged.code).toBe("CHECKSUM");
    expect(damaged).toEqual(await lazyOutcome(bytes));
    expect(damaged.arrays).toHaveLength(1);
    const unchecked = await streamOutcome(whole(bytes), { formats: FORMATS, verify: false });
    expect(unchecked.code).toBeUndefined();
    expect(unchecked).toEqual(await lazyOutcome(bytes, {}, false));
  });

  test("TRAILING_BYTES after every array of a .npy or .safetensors stream that goes on; a .npz's as the lazy reader says", async () => {
    for (const name of ["ndpack toNpy", "ndpack toSafetensors", "numpy/safetensors model.safetensors"]) {
      const bytes = FILES[name]!;
      const got = await streamOutcome(cutAt(Uint8Array.from([...bytes, 0]), [3]));
      expect(got.code, name).toBe("TRAILING_BYTES");
      expect(got.arrays, name).toEqual((await lazyOutcome(bytes)).arrays);
    }
    const npz = Uint8Array.from([...FILES["ndpack toNpz"]!, 1, 2, 3]);
    expect(await streamOutcome(whole(npz))).toEqual(await lazyOutcome(npz));
  });

  test(".safetensors tensors come in the order of their data, which the header's order need not be", async () => {
    const json = '{"b":{"dtype":"I32","shape":[2],"data_offsets":[8,16]},"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}';
    const header = new TextEncoder().encode(json);
    const bytes = new Uint8Array(8 + header.length + 16);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    bytes.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 10, 0, 0, 0], 8 + header.length);
    const stream = decodeStream(cutAt(bytes, [1, 2, 3, 30]), { formats: FORMATS });
    expect((await stream.header()).names).toEqual(["a", "b"]);
    const arrays = [];
    for await (const array of stream) arrays.push([array.name, Array.from(array.data as Uint8Array | Int32Array)]);
    expect(arrays).toEqual([["a", [1, 2, 3, 4, 5, 6, 7, 8]], ["b", [9, 10]]]);
    expect(await streamOutcome(whole(bytes))).toEqual(await lazyOutcome(bytes));
  });

  test("reads a Node Readable (a file's read stream) and a Web ReadableStream", async () => {
    for (const name of ["numpy/safetensors model.safetensors", "numpy/safetensors c.npy", "numpy/safetensors deflated.npz"]) {
      const bytes = FILES[name]!;
      const path = dir.file(`copy-${name.replace(/\W/g, "_")}`);
      writeFileSync(path, bytes);
      const expected = await lazyOutcome(bytes);
      expect(await streamOutcome(createReadStream(path, { highWaterMark: 7 })), name).toEqual(expected);
      expect(await streamOutcome(Readable.from([bytes.subarray(0, 5), bytes.subarray(5)])), name).toEqual(expected);
      expect(await streamOutcome(new Blob([bytes.slice()]).stream()), name).toEqual(expected);
      expect(await streamOutcome(new Response(bytes.slice()).body!), name).toEqual(expected);
    }
  });

  test("without formats a .safetensors, .npy or .npz stream is BAD_MAGIC, as before; with them an ndpack stream reads as without", async () => {
    for (const name of ["ndpack toSafetensors", "ndpack toNpy", "ndpack toNpz"]) {
      expect((await streamOutcome(whole(FILES[name]!), {})).code, name).toBe("BAD_MAGIC");
      expect((await streamOutcome(whole(FILES[name]!))).code, name).toBeUndefined();
    }
    const ndpack = encode({ x: Float32Array.of(1, 2), y: { data: Int8Array.of(3), shape: [] } });
    const plain = await streamOutcome(cutAt(ndpack, [5, 40]), {});
    expect(plain.code).toBeUndefined();
    for (let cut = 0; cut <= ndpack.length; cut++) expect(await streamOutcome(cutAt(ndpack, [cut]))).toEqual(plain);
  });

  test("BAD_MAGIC names the formats tried when none matches; INVALID_ARGUMENT for formats that are not a list, before the stream is locked", async () => {
    const error = await decodeStream(whole(new TextEncoder().encode("hello, world, not an array file")), { formats: FORMATS })
      .header()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NdpackError);
    expect((error as NdpackError).code).toBe("BAD_MAGIC");
    expect((error as NdpackError).message).toContain("ndpack, .npy, .npz or .safetensors");
    const body = new Blob([FILES["ndpack toNpy"]!.slice()]).stream();
    expect(() => decodeStream(body, { formats: [] })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", field: "formats" }));
    expect(body.locked).toBe(false);
  });

  test("telling a stream's format copies none of a first chunk that holds the bytes sniffed (a whole file in one chunk is not held twice); shorter chunks are joined", async () => {
    const file = FILES["numpy/safetensors model.safetensors"]!;
    const reader = new ChunkReader(whole(file));
    const head = await reader.peek(SNIFF_BYTES);
    expect(head.buffer).toBe(file.buffer);
    expect(Array.from(head)).toEqual(Array.from(file.subarray(0, SNIFF_BYTES)));
    const joined = new ChunkReader(cutAt(file, [3, 9]));
    expect(Array.from(await joined.peek(SNIFF_BYTES))).toEqual(Array.from(file.subarray(0, SNIFF_BYTES)));
    const all = new Uint8Array(file.length);
    expect(await joined.readInto(all)).toBe(file.length);
    expect(all).toEqual(file);
  });

  test("INVALID_ARGUMENT for a bad voidDtype, npyName or entry of formats, before the stream is locked or cancelled", () => {
    const cases: [DecodeStreamOptions, string][] = [
      [{ formats: FORMATS, voidDtype: "bogus" as never }, "voidDtype"],
      [{ formats: FORMATS, voidDtype: { x: "bogus" } as never }, "voidDtype"],
      [{ formats: FORMATS, npyName: 5 as never }, "npyName"],
      [{ formats: [...FORMATS, null] as never }, "formats"],
      [{ formats: [{ name: "npy" }] as never }, "formats"],
    ];
    for (const [options, field] of cases) {
      let cancelled = false;
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => controller.enqueue(FILES["ndpack toNpy"]!.slice()),
        cancel: () => void (cancelled = true),
      });
      expect(() => decodeStream(body, options), field).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", field }));
      expect(body.locked || cancelled, field).toBe(false);
    }
  });

  test("limits and read options apply as for the lazy reader: maxHeaderBytes, maxDims, maxDecodedBytes, voidDtype, npyName", async () => {
    const cases: [string, Uint8Array, OpenSourceOptions, string | undefined][] = [
      ["safetensors header over maxHeaderBytes", FILES["ndpack toSafetensors"]!, { maxHeaderBytes: 16 }, "HEADER_TOO_LARGE"],
      ["npy header over maxHeaderBytes", FILES["ndpack toNpy"]!, { maxHeaderBytes: 16 }, "HEADER_TOO_LARGE"],
      ["npy over maxDims", FILES["ndpack toNpy"]!, { maxDims: 1 }, "LIMIT_EXCEEDED"],
      ["deflated npz member over maxDecodedBytes", FILES["ndpack toNpz, deflated"]!, { maxDecodedBytes: 100 }, "LIMIT_EXCEEDED"],
      ["bfloat16 npy without voidDtype", toNpy({ data: Uint16Array.of(0x3f80, 0x4000), dtype: "bfloat16" }), {}, "UNKNOWN_DTYPE"],
      ["bfloat16 npy with voidDtype", toNpy({ data: Uint16Array.of(0x3f80, 0x4000), dtype: "bfloat16" }), { voidDtype: "bfloat16", npyName: "weights" }, undefined],
    ];
    for (const [name, bytes, options, code] of cases) {
      const got = await streamOutcome(cutAt(bytes, [9]), { formats: FORMATS, ...(options as DecodeStreamOptions) });
      expect(got.code, name).toBe(code);
      expect(got, name).toEqual(await lazyOutcome(bytes, options));
    }
    const named = await decodeStream(whole(toNpy(Float32Array.of(1))), { formats: FORMATS, npyName: "weights" }).header();
    expect(named.names).toEqual(["weights"]);
  });

  test("breaking out of the loop cancels the source; cancel() ends a .npz stream being gathered (CLOSED)", async () => {
    let cancelled = false;
    const bytes = FILES["numpy/safetensors model.safetensors"]!;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice());
      },
      cancel() {
        cancelled = true;
      },
    });
    const first = (await lazyOutcome(bytes)).arrays[0];
    for await (const array of decodeStream(body, { formats: FORMATS })) {
      expect(arrayOf(array)).toEqual(first);
      break;
    }
    expect(cancelled).toBe(true);
    expect(body.locked).toBe(false);

    const held = heldStream(FILES["ndpack toNpz"]!);
    held.release(100);
    const gathering = decodeStream(held.source, { formats: FORMATS });
    const header = gathering.header().catch((caught: unknown) => caught);
    await until(() => gathering.bytesRead === 100);
    await gathering.cancel();
    expect(await header).toMatchObject({ code: "CLOSED" });
  });

  test("a .npz stream is gathered up to maxGatherBytes: LIMIT_EXCEEDED one byte past it, the source cancelled; an endless one too", async () => {
    const npz = FILES["ndpack toNpz"]!;
    const exact = await decodeStream(cutAt(npz, [7, 300]), { formats: FORMATS, maxGatherBytes: npz.length }).header();
    expect(exact.byteLength).toBe(npz.length);
    let cancelled = false;
    const over = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(npz.slice()), cancel: () => void (cancelled = true) });
    const refused = decodeStream(over, { formats: FORMATS, maxGatherBytes: npz.length - 1 });
    expect(await refused.header().catch((caught: unknown) => caught)).toMatchObject({ code: "LIMIT_EXCEEDED", limit: "maxGatherBytes", expected: npz.length - 1 });
    expect([refused.bytesRead, cancelled]).toEqual([npz.length, true]);
    // A zip's first bytes, then bytes for ever: refused after the default's worth would be 1 GiB, so a
    // small limit shows it ends; the generator's finally says the source was let go.
    let pulled = 0;
    let released = false;
    async function* endless(): AsyncGenerator<Uint8Array> {
      try {
        yield npz.slice(0, 30);
        for (;;) yield new Uint8Array(64 * 1024).fill(++pulled);
      } finally {
        released = true;
      }
    }
    const outcome = await streamOutcome(endless(), { formats: FORMATS, maxGatherBytes: 1 << 20 });
    expect(outcome.code).toBe("LIMIT_EXCEEDED");
    expect([pulled, released]).toEqual([16, true]);
    for (const bad of [0, -1, 1.5, "1", Number.MAX_SAFE_INTEGER + 1]) {
      expect(() => decodeStream(whole(npz), { formats: FORMATS, maxGatherBytes: bad as never }), String(bad)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", field: "maxGatherBytes" }));
    }
    // Streams read in order are never gathered: the limit does not apply to them.
    const safetensors = FILES["numpy/safetensors model.safetensors"]!;
    expect((await streamOutcome(whole(safetensors), { formats: FORMATS, maxGatherBytes: 1 })).code).toBeUndefined();
  });

  test("a .npy or .safetensors array is handed out once its bytes have arrived, before the rest; a .npz stream's header once all of it has", async () => {
    for (const name of ["numpy/safetensors model.safetensors", "ndpack toSafetensors", "numpy/safetensors c.npy"]) {
      const bytes = FILES[name]!;
      const lazy = await lazyOutcome(bytes);
      const [first] = lazy.arrays as { offset: number; byteLength: number }[];
      const held = heldStream(bytes);
      const stream = decodeStream(held.source, { formats: FORMATS });
      held.release(first!.offset);
      expect(await settlesWithin(stream.header()), name).toBe(true);
      const next = stream.next();
      expect(await settlesWithin(next), name).toBe(false);
      held.release(first!.offset + first!.byteLength);
      expect(await settlesWithin(next), name).toBe(true);
      expect(arrayOf((await next).value as NdArray), name).toEqual(first);
      held.end();
      let count = 1;
      for await (const _ of stream) count++;
      expect(count, name).toBe(lazy.arrays.length);
    }
    const npz = FILES["ndpack toNpz"]!;
    const held = heldStream(npz);
    const stream = decodeStream(held.source, { formats: FORMATS });
    held.release(npz.length - 1);
    const header = stream.header();
    expect(await settlesWithin(header)).toBe(false);
    held.end();
    expect((await header).byteLength).toBe(npz.length);
  });

  test("each array of a .npz stream has memory of its own, not a view of the gathered file: transferring one leaves the others", async () => {
    for (const name of ["ndpack toNpz", "numpy/safetensors plain.npz"]) {
      const arrays: NdArray[] = [];
      for await (const array of decodeStream(whole(FILES[name]!), { formats: FORMATS })) arrays.push(array);
      expect(arrays.length, name).toBe(2);
      expect(arrays.every((array) => array.copied), name).toBe(true);
      expect(new Set(arrays.map((array) => array.data.buffer)).size, name).toBe(arrays.length);
      const second = bytesHex(arrays[1]!);
      structuredClone(arrays[0]!.data.buffer, { transfer: [arrays[0]!.data.buffer] });
      expect(bytesHex(arrays[1]!), name).toBe(second);
    }
  });

  test("header() says the format, and the stream's length and bytesRead are the file's", async () => {
    for (const [name, bytes] of Object.entries(FILES)) {
      const stream = decodeStream(cutAt(bytes, [2]), { formats: FORMATS });
      const header = await stream.header();
      expect(header.format, name).toBe(((await lazyOutcome(bytes)).header as { format: string }).format);
      expect(header.byteLength, name).toBe(bytes.length);
      for await (const _ of stream) {
        // drained
      }
      expect(stream.bytesRead, name).toBe(bytes.length);
    }
  });
});
