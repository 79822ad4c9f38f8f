/**
 * The public API misused: arguments of the wrong type, options misspelled or of the wrong type,
 * cancelled and closed readers, memory shared between input and output. Each case names the
 * failure mode and the error code it must end in (never a TypeError, a DOMException, a bare abort
 * reason, damaged numbers, or a file written where it should not be). Found by an audit of the
 * API against its documentation; remote (HTTP) cases are in remote-failures.test.ts.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, test } from "vitest";
import { decode, encode, encodeInto, NdpackError, verify } from "../src/index.js";
import { FORMATS, fromNdpack, fromNpz, toNpy, toNpz } from "../src/interop/index.js";
import { bytesSource, connectMessages, createMessageWriter, createSetWriter, createWriter, decodeMessages, decodeStream, open, openSource, save, saveSet } from "../src/node/index.js";
import { failure, tempDir } from "./helpers/node-files.js";
import { failureAsync } from "./helpers/common.js";
import type { SetReader } from "../src/node/index.js";
import { openUrl } from "../src/http.js";

const dir = tempDir("ndpack-misuse-");
afterAll(() => dir.remove());

/** A byte stream of the given chunks. */
async function* streamOf(...chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

const RAMP = Float32Array.from({ length: 1024 }, (_, i) => i);

/** A file of two arrays of 4 KiB on disk. */
function twoArrayFile(name: string): string {
  const path = dir.file(name);
  writeFileSync(path, encode({ a: RAMP, b: RAMP.map((x) => -x) }));
  return path;
}

function damaged(): Uint8Array {
  const bytes = encode({ a: new Float32Array([1, 2, 3]) });
  bytes[bytes.length - 6]! ^= 1; // a payload byte: the CRC no longer matches
  return bytes;
}

describe("cancelled reads are ABORTED, the signal's reason as cause", () => {
  test("a file reader: read, readRows, readMany, readChunks, verify and open with an aborted signal", async () => {
    const path = twoArrayFile("abort.ndp");
    const reason = "stop";
    const signal = AbortSignal.abort(reason);
    const reader = await open(path);
    try {
      for (const run of [() => reader.read("a", { signal }), () => reader.readRows("a", 0, 1, { signal }), () => reader.readMany(["a", "b"], { signal }), () => reader.verify({ signal })]) {
        expect((await failure(run, "ABORTED")).cause).toBe(reason);
      }
      await failure(async () => {
        for await (const _ of reader.readChunks("a", { signal }));
      }, "ABORTED");
      // The reader is still usable with a live signal.
      expect(Array.from((await reader.read("a")).data as Float32Array)).toEqual(Array.from(RAMP));
    } finally {
      await reader.close();
    }
    const aborted = await failure(() => open(path, { signal: AbortSignal.abort() }), "ABORTED");
    expect((aborted.cause as Error).name).toBe("AbortError");
  });

  test("a reader of memory: bytes already at hand are not handed out once the caller has cancelled", async () => {
    const reader = await openSource(bytesSource(encode({ a: RAMP })));
    await failure(() => reader.read("a", { signal: AbortSignal.abort() }), "ABORTED");
    expect(await reader.read("a")).toMatchObject({ name: "a", shape: [1024] });
  });
});

describe("close: reads in flight finish, later ones are CLOSED", () => {
  test("verify started before close ends in CLOSED, not an error of the closed file handle", async () => {
    const reader = await open(twoArrayFile("close-verify.ndp"), {});
    const verifying = reader.verify();
    const closing = reader.close();
    await failure(() => verifying, "CLOSED");
    await closing;
  });

  test("readChunks: an iterator made before close, and one made after, are CLOSED", async () => {
    const reader = await open(twoArrayFile("close-chunks.ndp"));
    const early = reader.readChunks("a", { chunkBytes: 1024 });
    await reader.close();
    await failure(() => early.next(), "CLOSED");
    await failure(() => reader.readChunks("b").next(), "CLOSED");
  });
});

test("firstReadBytes below the 20-byte preamble still opens an ndpack file (the first read takes the preamble)", async () => {
  const bytes = encode({ x: new Float32Array([1, 2, 3]) });
  for (const firstReadBytes of [1, 16, 19, 20]) {
    const reader = await openSource(bytesSource(bytes), { firstReadBytes });
    expect(Array.from((await reader.read("x")).data as Float32Array)).toEqual([1, 2, 3]);
  }
  const path = dir.file("first-read.ndp");
  writeFileSync(path, bytes);
  await (await open(path, { firstReadBytes: 16 })).close();
});

describe("option objects of the message streams are checked like every other function's", () => {
  const message = encode({ a: new Float32Array(4) });
  const source = () => streamOf(message);
  test("a misspelled option is INVALID_ARGUMENT naming the one meant (maxMesageBytes would leave a server unprotected)", async () => {
    const error = await failure(() => decodeMessages(source(), { maxMesageBytes: 10 } as never), "INVALID_ARGUMENT");
    expect(error.message).toMatch(/did you mean "maxMessageBytes"/);
    await failure(() => createMessageWriter(new PassThrough(), { chunkbytes: 1 } as never), "INVALID_ARGUMENT");
    const writer = createMessageWriter(new PassThrough());
    await failure(() => writer.send({ a: new Float32Array(1) }, { compresion: 9 } as never), "INVALID_ARGUMENT");
    // The refused send left the stream at a message boundary: the next one goes out.
    await writer.send({ a: new Float32Array(1) });
    expect(writer.messagesSent).toBe(1);
  });

  test("null options are INVALID_ARGUMENT, not a TypeError", async () => {
    await failure(() => decodeMessages(source(), null as never), "INVALID_ARGUMENT");
    await failure(() => createMessageWriter(new PassThrough(), null as never), "INVALID_ARGUMENT");
    await failure(() => createMessageWriter(new PassThrough()).send({}, null as never), "INVALID_ARGUMENT");
  });

  test("connectMessages with a port Node refuses is INVALID_ARGUMENT, Node's error as cause", async () => {
    const error = await failure(() => connectMessages({ port: -5, host: "127.0.0.1" }), "INVALID_ARGUMENT");
    expect(error.cause).toBeInstanceOf(RangeError);
  });
});

describe("array names that are not strings", () => {
  const file = decode(encode({ a: new Float32Array(2), b: new Float32Array(2) }));
  test("decode: get and info are NOT_FOUND, has is false, after any lookup (no TypeError)", async () => {
    file.get("b"); // the next lookup in file order is then past the last array
    for (const name of [undefined, null, 123, {}]) {
      expect(file.has(name as never)).toBe(false);
      await failure(() => file.get(name as never), "NOT_FOUND");
      await failure(() => file.info(name as never), "NOT_FOUND");
    }
  });

  test("a reader: read is NOT_FOUND; readMany of a string (not a list) is INVALID_ARGUMENT; a writer's write is NOT_FOUND", async () => {
    const reader = await openSource(bytesSource(encode({ x: new Float32Array(2) })));
    await failure(() => reader.read(undefined as never), "NOT_FOUND");
    await failure(() => reader.readMany("x" as never), "INVALID_ARGUMENT");
    const writer = await createWriter(dir.file("names-writer.ndp"), [{ name: "x", dtype: "float32", shape: [2] }]);
    await failure(() => writer.write(undefined as never, new Uint8Array(8)), "NOT_FOUND");
    await writer.abort();
  });
});

describe("boolean and enumerated options take their values only (verify: 0 must not skip the CRC checks)", () => {
  test.each([0, 1, "false", null])("verify: %s is INVALID_ARGUMENT in decode, fromNdpack, fromNpz, decodeStream and decodeMessages", async (value) => {
    const bytes = damaged();
    await failure(() => decode(bytes, { verify: value as never }), "INVALID_ARGUMENT");
    await failure(() => fromNdpack(bytes, "npy", { verify: value as never }), "INVALID_ARGUMENT");
    await failure(() => fromNpz(toNpz({ a: new Float32Array(2) }), { verify: value as never }), "INVALID_ARGUMENT");
    await failure(() => decodeStream(streamOf(bytes), { verify: value as never }), "INVALID_ARGUMENT");
    await failure(() => decodeMessages(streamOf(bytes), { verify: value as never }), "INVALID_ARGUMENT");
    // And the damage is still found by default where the default is to check.
    await failure(() => fromNdpack(bytes, "npy"), "CHECKSUM");
  });

  test.each([0, 1, "false", "yes", null])("toNpz compress and forceZip64: %s is INVALID_ARGUMENT (the string \"false\" deflated every member)", async (value) => {
    await failure(() => toNpz({ a: new Float32Array(2) }, { compress: value as never }), "INVALID_ARGUMENT");
    await failure(() => toNpz({ a: new Float32Array(2) }, { forceZip64: value as never }), "INVALID_ARGUMENT");
  });

  test("copy: null is INVALID_ARGUMENT, not the default", async () => {
    await failure(() => decode(encode({ a: new Float32Array(2) }), { copy: null as never }), "INVALID_ARGUMENT");
  });
});

describe("values an error message cannot print as they are (a BigInt, which JSON refuses; objects whose toString or toJSON throws, or that have no prototype) still end in the error that names them", () => {
  const HOSTILE: [string, unknown, string][] = [
    ["a BigInt", 10n, "10n"],
    ["a list of BigInts", [2n, 3n], '["2n","3n"]'],
    ["an object without a prototype", Object.create(null), "{}"],
    ["an object whose toString and toJSON throw", { toString: () => { throw new Error("toString"); }, toJSON: () => { throw new Error("toJSON"); } }, "object"],
  ];

  test.each(HOSTILE)("%s: options of encode, decode and open, the shape, codec and name of an array", async (_, value, text) => {
    const bytes = encode({ a: RAMP });
    const shown = async (run: () => unknown, code: "INVALID_ARGUMENT" | "BAD_SHAPE" | "UNSUPPORTED_CODEC" | "UNKNOWN_DTYPE", field?: string) => {
      const error = await failure(run, code);
      expect(error.message, error.message).toContain(text);
      if (field !== undefined) expect(error.field).toBe(field);
    };
    await shown(() => encode({ a: RAMP }, { checksum: value as never }), "INVALID_ARGUMENT", "checksum");
    await shown(() => encode({ a: RAMP }, { alignment: value as never }), "INVALID_ARGUMENT", "alignment");
    await shown(() => encode({ a: RAMP }, { compressionLevel: value as never }), "INVALID_ARGUMENT", "compressionLevel");
    await shown(() => decode(bytes, { maxArrays: value as never }), "INVALID_ARGUMENT", "maxArrays");
    await shown(() => decode(bytes, { verify: value as never }), "INVALID_ARGUMENT", "verify");
    await shown(() => encode({ a: { data: RAMP, shape: value } } as never), "BAD_SHAPE", "shape");
    await shown(() => encode({ a: { data: RAMP, codec: value } } as never), "UNSUPPORTED_CODEC", "codec");
    await shown(() => encode(new Map([[value, RAMP]]) as never), "INVALID_ARGUMENT", "name");
    await shown(() => encode({ a: { data: RAMP, dtype: value } } as never), "UNKNOWN_DTYPE", "dtype");
    await shown(() => openSource(bytesSource(bytes), { format: value as never }), "INVALID_ARGUMENT", "format");
    await shown(() => open(twoArrayFile(`hostile-${typeof value}-${text.length}.ndp`), { maxHeaderBytes: value as never }), "INVALID_ARGUMENT", "maxHeaderBytes");
    await using reader = await openSource(bytesSource(bytes));
    await shown(() => reader.readRows("a", value as never, 2), "INVALID_ARGUMENT", "start");
    await shown(() => reader.readChunks("a", { chunkBytes: value as never }).next(), "INVALID_ARGUMENT", "chunkBytes");
  });
});

test("encodeInto the memory its arrays view (decoded arrays encoded back in place) writes their values, not what the header overwrote", () => {
  const buffer = new Uint8Array(8192);
  const first = encodeInto(buffer, { a: Float32Array.from({ length: 16 }, (_, i) => i + 1), b: RAMP });
  const file = decode(buffer.subarray(0, first));
  const length = encodeInto(buffer, { b: file.get("b"), a: file.get("a") }, { metadata: { note: "x".repeat(100) } });
  expect(verify(buffer.subarray(0, length)).ok).toBe(true);
  const again = decode(buffer.subarray(0, length));
  expect(Array.from(again.get("a").data as Float32Array)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  expect(Array.from(again.get("b").data as Float32Array)).toEqual(Array.from(RAMP));
  expect(again.metadata).toEqual({ note: "x".repeat(100) });
});

test("a complex dtype given an odd count of values and no shape is SIZE_MISMATCH, not a fractional shape", async () => {
  const error = await failure(() => encode({ c: { data: new Float32Array(3), dtype: "complex64" } }), "SIZE_MISMATCH");
  expect(error.message).not.toMatch(/1\.5/);
});

describe("sets: arguments are checked before any file is touched", () => {
  test.each([
    ["saveSet", (folder: string) => saveSet(folder, { a: new Float32Array(2) }, { compresion: 1 } as never)],
    ["createSetWriter", (folder: string) => createSetWriter(folder, [{ name: "a", dtype: "float32", shape: [2] }], { compresion: 1 } as never)],
  ] as const)("%s with a misspelled option: INVALID_ARGUMENT and no folder", async (_, run) => {
    const folder = dir.file(`set-${_}`);
    await failure(() => run(folder), "INVALID_ARGUMENT");
    expect(existsSync(folder)).toBe(false);
  });
});

test("save to a path ending in a separator (a directory, for the OS) is NOT_REGULAR_FILE; the file of that name is untouched", async () => {
  const path = dir.file("kept.ndp");
  writeFileSync(path, "old");
  await failure(() => save(`${path}/`, { a: new Float32Array(2) }), "NOT_REGULAR_FILE");
  expect(readFileSync(path, "utf8")).toBe("old");
});

test("an NdpackError has only the details it was given as fields (it prints and compares without undefined ones)", () => {
  expect(Object.keys(new NdpackError("IO_ERROR", "m"))).toEqual(["name", "code"]);
  expect(Object.keys(new NdpackError("NOT_FOUND", "m", { array: "x", path: "/p" })).sort()).toEqual(["array", "code", "name", "path"]);
});

describe("a signal that is not an AbortSignal and headers fetch refuses are INVALID_ARGUMENT (were TypeErrors from inside the reader and fetch; a consumer audit)", () => {
  const bytes = encode({ a: new Float32Array(4) });
  const url = "http://127.0.0.1:9/x.ndp"; // refused before any request is made
  test("openSource: a formats entry that is not a format, and an npyName that is not a string, are INVALID_ARGUMENT (not a TypeError, nor an array named 5)", async () => {
    const npy = toNpy(Float32Array.of(1, 2));
    await failureAsync(() => openSource(bytesSource(npy), { formats: [null] as never }), "INVALID_ARGUMENT");
    await failureAsync(() => openSource(bytesSource(npy), { formats: [{}] as never }), "INVALID_ARGUMENT");
    await failureAsync(() => openSource(bytesSource(npy), { formats: FORMATS, npyName: 5 as never }), "INVALID_ARGUMENT");
  });

  test.each([5, {}, "x"])("signal %j: open, openSource, read, readMany, verify, openUrl, open(url)", async (signal) => {
    const dir = tempDir("ndpack-signal-");
    try {
      const path = `${dir.path}/a.ndp`;
      writeFileSync(path, bytes);
      const bad = { signal } as unknown as { signal: AbortSignal };
      await failureAsync(() => open(path, bad), "INVALID_ARGUMENT");
      await failureAsync(() => openSource(bytesSource(bytes), bad), "INVALID_ARGUMENT");
      await using reader = await open(path);
      const { indexPath } = await saveSet(`${dir.path}/set`, { a: new Float32Array(2) }, { fsync: false });
      await using set = await open(indexPath);
      for (const call of [() => reader.read("a", bad), () => reader.readMany(["a"], bad), () => reader.verify(bad), () => set.verify(bad), () => openUrl(url, { ...bad, retries: 0 }), () => open(url, { ...bad, retries: 0 })]) {
        expect((await failureAsync(call, "INVALID_ARGUMENT")).field).toBe("signal");
      }
      // A set: refused at open, and by every read, a shard not opened yet included (its first
      // read was a TypeError from the file source).
      await failureAsync(() => open(indexPath, bad), "INVALID_ARGUMENT");
      for (const call of [() => set.read("a", bad), () => set.readMany(["a"], bad)]) {
        expect((await failureAsync(call, "INVALID_ARGUMENT")).field).toBe("signal");
      }
      await using fresh = await open(indexPath);
      expect((await failureAsync(() => (fresh as SetReader).openShards(undefined, bad), "INVALID_ARGUMENT")).field).toBe("signal");
      // A misspelled option of a set's verify is the caller's error, not a shard's failure.
      expect((await failureAsync(() => set.verify({ sigal: 1 } as never), "INVALID_ARGUMENT")).message).toMatch(/sigal/);
    } finally {
      dir.remove();
    }
  });
  test.each([[5], [{ "a b": "x" }], [[["x-key"]]], [{ "x-key": "a\nb" }]])("headers %j: openUrl and open(url)", async (headers) => {
    for (const opened of [() => openUrl(url, { headers: headers as never, retries: 0 }), () => open(url, { headers: headers as never, retries: 0 })]) {
      expect((await failureAsync(opened, "INVALID_ARGUMENT")).field).toBe("headers");
    }
  });
});

test("a signal like AbortSignal without throwIfAborted (a polyfill) is taken: reads run, and an aborted one ends them", async () => {
  const dir = tempDir("ndpack-signal-polyfill-");
  try {
    const path = `${dir.path}/a.ndp`;
    writeFileSync(path, encode({ a: new Float32Array([1, 2]) }));
    const listening = { aborted: false, reason: undefined, addEventListener() {}, removeEventListener() {} };
    await using reader = await open(path, { signal: listening as unknown as AbortSignal });
    expect([...(await reader.read("a", { signal: listening as unknown as AbortSignal })).data]).toEqual([1, 2]);
    const stopped = { ...listening, aborted: true, reason: new Error("stop") };
    expect((await failureAsync(() => reader.read("a", { signal: stopped as unknown as AbortSignal }), "ABORTED")).cause).toBe(stopped.reason);
  } finally {
    dir.remove();
  }
});

describe("array names that String() cannot convert (no prototype, a toString that throws)", () => {
  test("saveSet and createWriter: INVALID_ARGUMENT (was a TypeError, or the toString's own error)", async () => {
    const names = [
      Object.create(null),
      {
        toString() {
          throw new Error("toString");
        },
      },
    ];
    for (const name of names) {
      await failure(() => saveSet(dir.file("unprintable-name-set"), [[name, new Float32Array(1)]] as never), "INVALID_ARGUMENT");
      await failure(() => createWriter(dir.file("unprintable-name.ndp"), [{ name, dtype: "float32", shape: [1] }]), "INVALID_ARGUMENT");
    }
  });
});

describe("a list of pairs whose items are not [name, array] pairs", () => {
  test("is INVALID_ARGUMENT in every writer of a list (was a TypeError from destructuring the item)", async () => {
    for (const items of [[1, 2], [null], [undefined]]) {
      await failure(() => encode(items as never), "INVALID_ARGUMENT");
      await failure(() => toNpz(items as never), "INVALID_ARGUMENT");
      await failure(() => saveSet(dir.file("pairs-set"), items as never), "INVALID_ARGUMENT");
    }
  });
});
