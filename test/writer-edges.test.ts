/**
 * Writers at their edges: payloads cut into chunks that are not whole elements, arrays of no bytes,
 * a writer abandoned while its background runner is still working, two closes at once, and a
 * byte source that fails under a stream reader. Each case names what must come out (the same
 * bytes as `encode`, a file, no file left behind, an error code).
 */
import { createServer, get, type IncomingMessage } from "node:http";
import { readdirSync, readFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, test } from "vitest";
import { decode, encode } from "../src/index.js";
import { createMessageWriter, createSetWriter, createWriter, decodeMessages, decodeStream, encodeStream, load, open } from "../src/node/index.js";
import { expectBytes, failure, tempDir } from "./helpers/node-files.js";

const dir = tempDir("ndpack-writer-edges-");
afterAll(() => dir.remove());

async function gather(chunks: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks as AsyncIterable<Uint8Array>) parts.push(chunk);
  return new Uint8Array(Buffer.concat(parts));
}

describe("big-endian payloads cut into chunks that are not whole elements are swapped element by element", () => {
  const arrays = { f: Float32Array.from({ length: 64 }, (_, i) => i + 0.5), d: Float64Array.from({ length: 9 }, (_, i) => -i / 3), c: { data: new Float32Array([1, 2, 3, 4]), dtype: "complex64" as const } };
  test.each([1, 3, 6, 7, 13, 1000])("encodeStream with chunkBytes %i gives encode's bytes", async (chunkBytes) => {
    const streamed = await gather(encodeStream(arrays, { byteOrder: "big", chunkBytes }));
    expectBytes(streamed, encode(arrays, { byteOrder: "big" }));
  });

  test("createMessageWriter with chunkBytes 6: the message is encode's bytes and reads back as the values sent", async () => {
    const sink = new PassThrough();
    const received = gather(sink);
    const writer = createMessageWriter(sink, { chunkBytes: 6 });
    const data = Float32Array.from({ length: 1 << 16 }, (_, i) => i);
    await writer.send({ data }, { byteOrder: "big" });
    await writer.close();
    const bytes = await received;
    expectBytes(bytes, encode({ data }, { byteOrder: "big" }));
    expect(Array.from(decode(bytes, { verify: true }).get("data").data as Float32Array)).toEqual(Array.from(data));
  });
});

describe("createWriter and createSetWriter take a zero-size array's (empty) data", () => {
  const entries = [
    { name: "a", dtype: "float32", shape: [2] },
    { name: "mask", dtype: "bool", shape: [0] },
    { name: "b", dtype: "int32", shape: [1] },
  ] as const;
  const data = { a: new Float32Array([1, 2]), mask: new Uint8Array(0), b: new Int32Array([7]) };

  test("a loop writing every declared array, the empty one included, writes the file", async () => {
    const path = dir.file("zero-size.ndp");
    const writer = await createWriter(path, [...entries]);
    for (const { name } of entries) await writer.write(name, data[name]);
    await writer.write("mask", new Uint8Array(0)); // again, after it: still nothing to do
    await writer.close();
    const file = await load(path);
    expect(file.names).toEqual(["a", "mask", "b"]);
    expect(file.get("mask").shape).toEqual([0]);
    expect(Array.from(file.get("b").data as Int32Array)).toEqual([7]);
  });

  test("the same through a set writer whose shards fill one array each", async () => {
    const folder = dir.file("zero-size-set");
    const writer = await createSetWriter(folder, [...entries], { maxShardBytes: 4 });
    for (const { name } of entries) await writer.write(name, data[name]);
    await writer.close();
    const set = await open(`${folder}/model.ndp.index.json`);
    expect((await set.read("mask")).shape).toEqual([0]);
    await set.close();
  });
});

test("abort of a shuffle+deflate writer while its runner works leaves no scratch file and no temporary file", async () => {
  const folder = dir.file("abort-shuffle");
  await import("node:fs/promises").then((fs) => fs.mkdir(folder));
  const writer = await createWriter(`${folder}/t.ndp`, [
    { name: "a", dtype: "float32", shape: [4] },
    { name: "e", dtype: "int8", shape: [0] },
    { name: "b", dtype: "int64", shape: [2] },
  ], { codec: "shuffle+deflate" });
  await writer.write("a", new Float32Array([1, 2, 3, 4]));
  await writer.abort();
  // The runner may still be on its way to the next array's scratch file: give it time to try.
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(readdirSync(folder)).toEqual([]);
});

test("two closes made at once both resolve, and a later close too", async () => {
  const writer = await createWriter(dir.file("two-closes.ndp"), [{ name: "a", dtype: "uint8", shape: [1] }]);
  await writer.write("a", new Uint8Array([1]));
  const results = await Promise.allSettled([writer.close(), writer.close()]);
  expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled"]);
  await writer.close();
});

test("a source that fails under decodeStream and decodeMessages (a response cut off) is IO_ERROR, its error as cause", async () => {
  const bytes = encode({ a: new Float32Array(1 << 18) });
  const server = createServer((_, res) => {
    res.writeHead(200, { "content-length": bytes.length });
    res.write(bytes.subarray(0, 100_000));
    setTimeout(() => res.destroy(), 20);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  const response = () => new Promise<IncomingMessage>((resolve) => get(url, resolve));
  try {
    const streamed = await failure(async () => {
      for await (const array of decodeStream(await response())) void array;
    }, "IO_ERROR");
    expect(streamed.cause).toBeInstanceOf(Error);
    const message = await failure(async () => {
      for await (const m of decodeMessages(await response())) await m.readAll();
    }, "IO_ERROR");
    expect(message.recoverable).toBe(false);
  } finally {
    server.close();
  }
});

describe("abort() of a writer to a consumer that stopped reading", () => {
  test("a Web stream: abort settles, the write in flight rejects, the stream is aborted (it waited for the write forever)", async () => {
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    const writer = await createWriter(pipe.writable, [{ name: "a", dtype: "uint8", shape: [8 << 20] }]);
    // Nobody reads the readable side: the write stays in flight.
    const writing = writer.write("a", new Uint8Array(3 << 20)).then(() => "resolved", (error: unknown) => (error as Error).message);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writer.abort(new Error("the client is too slow"));
    expect(await writing).toBe("the client is too slow");
    await expect(pipe.readable.getReader().read()).rejects.toThrow("the client is too slow");
  });
});

describe("output paths are resolved as the operating system resolves them", () => {
  test('"x.ndp/." names a directory: NOT_REGULAR_FILE, the file x.ndp untouched (it was replaced)', async () => {
    const { save } = await import("../src/node/index.js");
    const { writeFileSync, readFileSync } = await import("node:fs");
    const file = dir.file("dot.ndp");
    writeFileSync(file, "OLD");
    for (const path of [`${file}/.`, `${file}/..`]) await failure(() => save(path, { a: new Uint8Array(3) }), "NOT_REGULAR_FILE");
    expect(readFileSync(file, "latin1")).toBe("OLD");
  });

  test('"link/../y.ndp" is written where ".." leads from the link\'s target, as fs.writeFile would, and load finds it there', async () => {
    const { save } = await import("../src/node/index.js");
    const { mkdirSync, symlinkSync, existsSync } = await import("node:fs");
    const root = dir.file("dotdot");
    mkdirSync(`${root}/elsewhere/sub`, { recursive: true });
    mkdirSync(`${root}/here`);
    symlinkSync(`${root}/elsewhere/sub`, `${root}/here/link`);
    const path = `${root}/here/link/../y.ndp`;
    await save(path, { a: Uint8Array.of(7) });
    expect([existsSync(`${root}/elsewhere/y.ndp`), existsSync(`${root}/here/y.ndp`)]).toEqual([true, false]);
    expect([...(await load(path)).get("a").data]).toEqual([7]);
  });

  test("a file: URL with a host or an encoded separator is INVALID_ARGUMENT (it was a bare TypeError)", async () => {
    const { save } = await import("../src/node/index.js");
    for (const url of ["file://example.com/x.ndp", `file://${dir.path}/a%2Fb.ndp`]) {
      await failure(() => save(new URL(url), { a: new Uint8Array(1) }), "INVALID_ARGUMENT");
      await failure(() => load(new URL(url)), "INVALID_ARGUMENT");
    }
  });

  test("a path or file: URL holding U+0000 is INVALID_ARGUMENT in readers and writers (was IO_ERROR from Node's TypeError)", async () => {
    const { save, saveSet } = await import("../src/node/index.js");
    for (const path of [`${dir.path}/a\0b.ndp`, new URL(`file://${dir.path}/a%00b.ndp`)]) {
      await failure(() => save(path, { a: new Uint8Array(1) }), "INVALID_ARGUMENT");
      await failure(() => load(path), "INVALID_ARGUMENT");
      await failure(() => createWriter(path, [{ name: "a", dtype: "uint8", shape: [1] }]), "INVALID_ARGUMENT");
      await failure(() => saveSet(path, { a: new Uint8Array(1) }), "INVALID_ARGUMENT");
    }
  });

  test("createWriter with shuffle+deflate to a 250-byte file name: its scratch file's name fits too (it was ENAMETOOLONG)", async () => {
    const path = dir.file(`${"n".repeat(246)}.ndp`);
    const writer = await createWriter(path, [{ name: "a", dtype: "float32", shape: [1024], codec: "shuffle+deflate" }]);
    await writer.write("a", new Float32Array(1024).fill(1.5));
    await writer.close();
    expect((await load(path)).get("a").data[1023]).toBe(1.5);
    expect(readdirSync(dir.path).filter((name) => name.includes("n".repeat(100)))).toEqual([`${"n".repeat(246)}.ndp`]);
  });
});

describe("createWriter: a chunk whose buffer was detached (transferred)", () => {
  test.each(["a typed array", "a DataView"])("is INVALID_ARGUMENT: %s (was a TypeError)", async (kind) => {
    const writer = await createWriter(dir.file("detached-chunk.ndp"), [{ name: "a", dtype: "float32", shape: [2] }]);
    const chunk = kind === "a DataView" ? new DataView(new ArrayBuffer(8)) : new Float32Array(2);
    structuredClone(chunk.buffer, { transfer: [chunk.buffer as ArrayBuffer] });
    await failure(() => writer.write("a", chunk), "INVALID_ARGUMENT");
    await writer.abort();
  });
});

describe("createWriter: a chunk whose byteLength a subclass or an own property overstates", () => {
  test("is written as the memory it views, a typed array or a DataView (was a RangeError)", async () => {
    class Long extends Float32Array {
      override get byteLength(): number {
        return 1 << 20;
      }
    }
    const view = new DataView(Float32Array.of(1, 2).buffer);
    Object.defineProperty(view, "byteLength", { value: 1 << 20 });
    for (const chunk of [Long.of(1, 2), view]) {
      const path = dir.file("long-chunk.ndp");
      const writer = await createWriter(path, [{ name: "a", dtype: "float32", shape: [2] }]);
      await writer.write("a", chunk);
      await writer.close();
      expect(Array.from((await load(path)).get("a").data as Float32Array)).toEqual([1, 2]);
    }
  });
});

describe("save: a compressed array's bytes are taken when planning", () => {
  test("a transfer of its buffer while the file is written changes nothing: the file is encode's (was IO_ERROR wrapping a TypeError)", async () => {
    const { save } = await import("../src/node/index.js");
    const a = new Float32Array(1 << 20).fill(1);
    const b = new Float32Array(1 << 20).fill(2);
    const expected = encode({ a, b }, { codec: "deflate" });
    const path = dir.file("transferred-compressed.ndp");
    const saved = save(path, { a, b }, { codec: "deflate" });
    structuredClone(b.buffer, { transfer: [b.buffer] });
    await saved;
    expectBytes(new Uint8Array(readFileSync(path)), expected);
  });
});
