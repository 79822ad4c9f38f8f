/**
 * Message streams in one process (FORMAT.md "Message streams"): decodeMessages over async iterables
 * of chunks and Web streams, createMessageWriter to Web streams; each bad input with its code and
 * whether the reader can go on. The real-socket tests are in messages-tcp.test.ts.
 */
import { createWriteStream, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { concatBytes } from "../src/bytes.js";
import { decode, encode, NdpackError, type ArraysInput, type EncodeOptions, type ErrorCode, type NdArray } from "../src/index.js";
import { createMessageWriter, decodeMessages, type ByteStream } from "../src/streams.js";
import { heldStream, settlesWithin, twoArrayMessage } from "./helpers/held-stream.js";
import { arrayBytes, caseInput, caseMismatch } from "./helpers/message-cases.js";

/** `bytes` cut at `cuts` (sorted positions), as an async iterable of chunks. */
async function* cutAt(bytes: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    yield bytes.subarray(from, cut);
    from = cut;
  }
}

interface Received {
  readonly index: number;
  readonly metadata: unknown;
  readonly arrays: NdArray[];
}

/** Reads every message of `source`; returns them and the error that ended the stream, if any. */
async function readMessages(source: ByteStream, options?: Parameters<typeof decodeMessages>[1]): Promise<{ messages: Received[]; error: NdpackError | undefined }> {
  const messages: Received[] = [];
  try {
    for await (const message of decodeMessages(source, options)) {
      messages.push({ index: message.index, metadata: message.header.metadata, arrays: await message.readAll() });
    }
  } catch (error) {
    if (!(error instanceof NdpackError)) throw error;
    return { messages, error };
  }
  return { messages, error: undefined };
}

function expectCode(error: NdpackError | undefined, code: ErrorCode, recoverable: boolean, messageIndex: number): void {
  expect(error, `expected ${code}`).toBeInstanceOf(NdpackError);
  expect(error!.code, error!.message).toBe(code);
  expect(error!.recoverable).toBe(recoverable);
  expect(error!.messageIndex).toBe(messageIndex);
}

/** Messages 0..n-1 of the shared cases, as one stream of bytes. */
function caseStream(n: number, first = 0): Uint8Array {
  return concatBytes(Array.from({ length: n }, (_, k) => encode(caseInput(first + k), { metadata: { i: first + k } })));
}

function expectCases(messages: readonly Received[], first = 0): void {
  for (const [k, message] of messages.entries()) {
    expect(message.index).toBe(k);
    expect(caseMismatch(first + k, message.metadata, message.arrays)).toBeUndefined();
  }
}

describe("decodeMessages: a stream of messages is the concatenation of ndpack files", () => {
  test("reads 60 messages of mixed dtypes and shapes, empty messages included, from one stream", async () => {
    const { messages, error } = await readMessages(cutAt(caseStream(60), []));
    expect(error).toBeUndefined();
    expect(messages).toHaveLength(60);
    expect(messages.filter((m) => m.arrays.length === 0)).toHaveLength(12);
    expectCases(messages);
  });

  test("an empty stream has no messages; a stream of only empty messages has them all", async () => {
    expect((await readMessages(cutAt(new Uint8Array(0), []))).messages).toEqual([]);
    const empty = encode({});
    const { messages, error } = await readMessages(cutAt(concatBytes([empty, empty, empty]), [1, 25, 64, 100]));
    expect(error).toBeUndefined();
    expect(messages.map((m) => m.arrays.length)).toEqual([0, 0, 0]);
  });

  test("each array is memory of its own: transferring one array's buffer leaves the others and the stream whole", async () => {
    const arrays = { a: Float32Array.of(1, 2, 3), b: Float64Array.of(4, 5), c: Int16Array.of(6) };
    const bytes = concatBytes([encode(arrays, { metadata: { i: 0 } }), encode(arrays, { metadata: { i: 1 } })]);
    const kept: NdArray[] = [];
    for await (const message of decodeMessages(cutAt(bytes, []))) {
      for await (const array of message) {
        expect(array.copied).toBe(true);
        expect(array.data.buffer.byteLength).toBe(array.data.byteLength);
        if (array.name === "a") structuredClone(array.data.buffer, { transfer: [array.data.buffer as ArrayBuffer] }); // detaches it
        else kept.push(array);
      }
    }
    expect(kept.map((array) => [array.name, Array.from(array.data as Float64Array | Int16Array)])).toEqual([["b", [4, 5]], ["c", [6]], ["b", [4, 5]], ["c", [6]]]);
  });

  test("every split of a two-message stream into two chunks gives the same messages", async () => {
    const bytes = caseStream(2, 3); // messages 3 and 4: 3 and 4 arrays
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { messages, error } = await readMessages(cutAt(bytes, [cut]));
      expect(error).toBeUndefined();
      expect(messages).toHaveLength(2);
      expectCases(messages, 3);
    }
  });

  test("property: any chunking of any messages gives the same messages", async () => {
    const bytes = caseStream(12);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 0, max: bytes.length }), { maxLength: 40 }), async (cuts) => {
        const { messages, error } = await readMessages(cutAt(bytes, [...cuts].sort((a, b) => a - b)));
        expect(error).toBeUndefined();
        expect(messages).toHaveLength(12);
        expectCases(messages);
      }),
      { numRuns: 200 },
    );
  });

  test("reads from a Web ReadableStream, one byte per chunk", async () => {
    const bytes = caseStream(6);
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at === bytes.length) controller.close();
        else controller.enqueue(bytes.slice(at, ++at));
      },
    });
    const { messages, error } = await readMessages(stream);
    expect(error).toBeUndefined();
    expectCases(messages);
    expect(messages).toHaveLength(6);
  });

  test("the arrays a reader leaves unread are skipped: the next message is read", async () => {
    const reader = decodeMessages(cutAt(caseStream(10), [7, 300, 1000]));
    const seen: number[] = [];
    for await (const message of reader) {
      seen.push(message.index);
      if (message.index % 2 === 0) continue; // none of its arrays read
      for await (const array of message) {
        expect(array.name).toBe("a0");
        break; // only the first one
      }
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(reader.bytesRead).toBe(caseStream(10).length);
  });

  test("calls of next() made at once are answered in order, one message each", async () => {
    const reader = decodeMessages(cutAt(caseStream(5), [3, 90, 400]));
    const steps = await Promise.all([reader.next(), reader.next(), reader.next(), reader.next(), reader.next(), reader.next()]);
    expect(steps.map((s) => (s.done === true ? "done" : s.value.index))).toEqual([0, 1, 2, 3, 4, "done"]);
  });

  test("each message's header is available before its arrays, with its length", async () => {
    const bytes = caseStream(4);
    const lengths: number[] = [];
    const offsets: number[] = [];
    for await (const message of decodeMessages(cutAt(bytes, []))) {
      lengths.push(message.header.byteLength);
      offsets.push(message.offset);
      expect(message.header.names).toEqual(caseInput(message.index).map(([name]) => name));
    }
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(bytes.length);
    expect(offsets).toEqual([0, lengths[0], lengths[0]! + lengths[1]!, lengths[0]! + lengths[1]! + lengths[2]!]);
  });
});

describe("decodeMessages: each message's arrays as their bytes arrive (a source that holds the rest back)", () => {
  test.each([
    ["small", 3],
    ["large (80,000 bytes)", 20_000],
  ])("a %s `a` of the second message is handed out, values whole, before any byte of `b` is sent; `b` once its bytes are", async (_, aLength) => {
    const before = encode({ z: Int16Array.of(7) }, { metadata: { i: 0 } });
    const { bytes, bStart, a, b } = twoArrayMessage(aLength, { i: 1 });
    const stream = concatBytes([before, bytes]);
    const held = heldStream(stream);
    held.release(before.length + bStart);
    const reader = decodeMessages(held.source);
    try {
      expect(await (await reader.next()).value!.readAll()).toHaveLength(1);
      const message = (await reader.next()).value!;
      expect(message.header.names).toEqual(["a", "b"]);
      const first = message.next();
      expect(await settlesWithin(first), "`a` was not handed out with all its bytes at hand").toBe(true);
      const array = (await first).value as NdArray;
      expect(array.name).toBe("a");
      expect(Buffer.from(arrayBytes(array)).equals(Buffer.from(a.buffer))).toBe(true);
      expect(held.given).toBe(before.length + bStart);
      const second = message.next();
      expect(await settlesWithin(second)).toBe(false);
      held.release(stream.length - 1);
      expect(await settlesWithin(second)).toBe(false); // its last byte is missing
      held.end();
      expect(Buffer.from(arrayBytes((await second).value as NdArray)).equals(Buffer.from(b.buffer))).toBe(true);
      expect((await reader.next()).done).toBe(true);
    } finally {
      held.end();
      await reader.cancel();
    }
  });
});

describe("decodeMessages: errors say which message and whether the stream can go on", () => {
  test("TRUNCATED, not recoverable, when the stream ends anywhere inside the second message; the first is delivered whole", async () => {
    const first = encode(caseInput(3), { metadata: { i: 3 } });
    const second = encode(caseInput(4), { metadata: { i: 4 } });
    for (let keep = 1; keep < second.length; keep++) {
      const { messages, error } = await readMessages(cutAt(concatBytes([first, second.subarray(0, keep)]), [first.length]));
      expectCode(error, "TRUNCATED", false, 1);
      expect(messages).toHaveLength(1);
      expect(caseMismatch(3, messages[0]!.metadata, messages[0]!.arrays)).toBeUndefined();
    }
  });

  test("a large payload (memory not zeroed first) comes out whole, or not at all: TRUNCATED when the stream ends inside it", async () => {
    const large = { a: Float64Array.from({ length: 40_000 }, (_, i) => i / 3 - 7) }; // 320,000 bytes
    const first = encode(large, { metadata: { i: 0 } });
    const second = encode(large, { metadata: { i: 1 } });
    const payloadStart = decode(second).info("a").offset;
    const whole = await readMessages(cutAt(concatBytes([first, second]), [1000, first.length + 70_000, first.length + 200_000]));
    expect(whole.error).toBeUndefined();
    expect(whole.messages).toHaveLength(2);
    for (const message of whole.messages) expect(Buffer.from(arrayBytes(message.arrays[0]!)).equals(Buffer.from(large.a.buffer))).toBe(true);
    for (const keep of [payloadStart + 1, payloadStart + 65_536, second.length - 5, second.length - 1]) {
      const { messages, error } = await readMessages(cutAt(concatBytes([first, second.subarray(0, keep)]), [first.length, first.length + 100]));
      expectCode(error, "TRUNCATED", false, 1);
      expect(messages).toHaveLength(1);
    }
  });

  test("TRUNCATED when the stream ends inside a message whose unread arrays are being skipped", async () => {
    const bytes = caseStream(2);
    const reader = decodeMessages(cutAt(bytes.subarray(0, bytes.length - 3), []));
    await reader.next(); // message 0
    await reader.next(); // message 1, arrays not read
    const error = await reader.next().then(
      () => undefined,
      (e: unknown) => e as NdpackError,
    );
    expectCode(error, "TRUNCATED", false, 1);
    // The stream is over: later calls give the same error.
    await expect(reader.next()).rejects.toBe(error);
  });

  test("CHECKSUM in a payload is recoverable: the damaged message fails, the next ones are read", async () => {
    const messages = [encode({ x: new Float32Array([1, 2, 3]) }, { metadata: { n: 0 } }), encode({ y: new Int32Array([7, 8]), z: new Uint8Array(5) }, { metadata: { n: 1 } }), encode({ w: new Float64Array([9]) }, { metadata: { n: 2 } })];
    const damaged = messages[1]!.slice();
    damaged[messages[1]!.length - 4 - 3]! ^= 0x01; // a byte of "z"'s payload (its last 5 bytes before the CRC)
    const got: unknown[] = [];
    let failure: NdpackError | undefined;
    for await (const message of decodeMessages(cutAt(concatBytes([messages[0]!, damaged, messages[2]!]), [50, 150]))) {
      try {
        got.push({ n: (message.header.metadata as { n: number }).n, names: (await message.readAll()).map((a) => a.name) });
      } catch (error) {
        failure = error as NdpackError;
        if (!failure.recoverable) throw error;
      }
    }
    expectCode(failure, "CHECKSUM", true, 1);
    expect(failure!.array).toBe("z");
    expect(got).toEqual([
      { n: 0, names: ["x"] },
      { n: 2, names: ["w"] },
    ]);
  });

  test("the damaged message's arrays before the damage were handed out verified; none after it", async () => {
    const bytes = encode({ a: new Uint8Array([1]), b: new Uint8Array([2]), c: new Uint8Array([3]) });
    const damaged = bytes.slice();
    damaged[damaged.length - 64 - 5]! ^= 0xff; // "b"'s payload: 3 records of 64 bytes
    const names: string[] = [];
    const [message] = await (async () => {
      const out = [];
      const reader = decodeMessages(cutAt(damaged, []));
      out.push((await reader.next()).value!);
      return out;
    })();
    const error = await (async () => {
      try {
        for await (const array of message!) names.push(array.name);
      } catch (e) {
        return e as NdpackError;
      }
      return undefined;
    })();
    expectCode(error, "CHECKSUM", true, 0);
    expect(names).toEqual(["a"]);
  });

  test("HEADER_CHECKSUM in the second message's header is not recoverable: its length cannot be trusted", async () => {
    const bytes = caseStream(3);
    const firstLength = encode(caseInput(0), { metadata: { i: 0 } }).length;
    const damaged = bytes.slice();
    damaged[firstLength + 25]! ^= 0x20; // inside message 1's header text
    const { messages, error } = await readMessages(cutAt(damaged, []));
    expectCode(error, "HEADER_CHECKSUM", false, 1);
    expect(messages).toHaveLength(1);
  });

  test("bytes after the last message that are not a message: BAD_MAGIC, or TRUNCATED when they start like one", async () => {
    const bytes = caseStream(2);
    expectCode((await readMessages(cutAt(concatBytes([bytes, Uint8Array.of(0x7b, 0x7d)]), []))).error, "BAD_MAGIC", false, 2);
    expectCode((await readMessages(cutAt(concatBytes([bytes, bytes.subarray(0, 5)]), []))).error, "TRUNCATED", false, 2);
  });

  test("limits apply to each message: maxArrays fails the message that has too many", async () => {
    const ok = encode({ a: new Uint8Array(1) });
    const tooMany = encode({ a: new Uint8Array(1), b: new Uint8Array(1), c: new Uint8Array(1) });
    const { messages, error } = await readMessages(cutAt(concatBytes([ok, ok, tooMany, ok]), []), { maxArrays: 2 });
    expectCode(error, "LIMIT_EXCEEDED", false, 2);
    expect(error!.limit).toBe("maxArrays");
    expect(messages).toHaveLength(2);
  });

  test("maxDecodedBytes applies to each message's arrays: LIMIT_EXCEEDED for the one above it, recoverable, and the next message is read", async () => {
    const small = encode({ a: new Float32Array(16) }, { codec: "deflate" });
    const big = encode({ b: new Float32Array(100_000) }, { codec: "deflate" });
    const indexes: number[] = [];
    let failure: NdpackError | undefined;
    for await (const message of decodeMessages(cutAt(concatBytes([small, big, small]), []), { maxDecodedBytes: 1000 })) {
      try {
        await message.readAll();
        indexes.push(message.index);
      } catch (error) {
        failure = error as NdpackError;
        if (!failure.recoverable) throw error;
      }
    }
    expectCode(failure, "LIMIT_EXCEEDED", true, 1);
    expect(failure!.limit).toBe("maxDecodedBytes");
    expect(indexes).toEqual([0, 2]);
  });

  test("maxMessageBytes: a larger message is handed out with its header, its arrays LIMIT_EXCEEDED before its payload is read, recoverable", async () => {
    const small = encode({ a: new Uint8Array(10) });
    const big = encode({ b: new Uint8Array(100_000) });
    const read: string[][] = [];
    let failure: NdpackError | undefined;
    let readWhenRefused = 0;
    const reader = decodeMessages(cutAt(concatBytes([small, big, small]), [64]), { maxMessageBytes: 1000 });
    for await (const message of reader) {
      try {
        read.push((await message.readAll()).map((array) => array.name));
      } catch (error) {
        failure = error as NdpackError;
        readWhenRefused = reader.bytesRead;
        expect(message.header.names).toEqual(["b"]);
        if (failure.recoverable) continue;
        throw error;
      }
    }
    expectCode(failure, "LIMIT_EXCEEDED", true, 1);
    expect(failure!.limit).toBe("maxMessageBytes");
    expect(read).toEqual([["a"], ["a"]]);
    // Message 1's header was read, none of its payload.
    expect(readWhenRefused).toBeLessThan(small.length + big.length - 100_000);
  });

  test("maxMessageBytes: a message of no arrays over it (long metadata) is reported too, when its arrays are asked for", async () => {
    const big = encode({}, { metadata: { notes: "x".repeat(5000) } });
    const small = encode({ y: Uint8Array.of(1, 2, 3) });
    const outcomes: string[] = [];
    for await (const message of decodeMessages(cutAt(concatBytes([big, small]), []), { maxMessageBytes: 1000 })) {
      try {
        outcomes.push((await message.readAll()).map((array) => array.name).join());
      } catch (error) {
        expectCode(error as NdpackError, "LIMIT_EXCEEDED", true, 0);
        outcomes.push("refused");
      }
    }
    expect(outcomes).toEqual(["refused", "y"]);
  });

  test("an error escaping the loop over messages (maxMessageBytes) cancels the source", async () => {
    const big = encode({ b: new Uint8Array(100_000) });
    let cancelled = false;
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(big);
      },
      cancel() {
        cancelled = true;
      },
    });
    const error = await (async () => {
      try {
        for await (const message of decodeMessages(source, { maxMessageBytes: 1000 })) await message.readAll();
      } catch (caught) {
        return caught as NdpackError;
      }
    })();
    expectCode(error, "LIMIT_EXCEEDED", true, 0);
    expect(cancelled).toBe(true);
  });

  test("INVALID_ARGUMENT for options and sources that are wrong", () => {
    expect(() => decodeMessages(cutAt(new Uint8Array(0), []), { maxMessageBytes: 0 })).toThrowError(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => decodeMessages(42 as unknown as ByteStream)).toThrowError(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  test("a failing source is IO_ERROR, not recoverable, with the source's error as cause", async () => {
    const boom = new Error("connection reset");
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield encode({ a: new Uint8Array(3) });
      throw boom;
    }
    const { messages, error } = await readMessages(failing());
    expect(messages).toHaveLength(1);
    expectCode(error, "IO_ERROR", false, 1);
    expect(error!.cause).toBe(boom);
  });

  test("breaking out of the loop over messages cancels the source", async () => {
    let cancelled = false;
    const bytes = caseStream(5);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes);
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const message of decodeMessages(stream)) {
      expect(message.index).toBe(0);
      break;
    }
    expect(cancelled).toBe(true);
  });
});

/** A Web WritableStream that keeps what it is given, and lets a test hold its writes. */
function collector(highWaterMark: number): { stream: WritableStream<Uint8Array>; chunks: Uint8Array[]; release: () => void; held: () => number } {
  const chunks: Uint8Array[] = [];
  let gate: Promise<void> = new Promise<void>(() => undefined);
  let open!: () => void;
  gate = new Promise<void>((resolve) => (open = resolve));
  let waiting = 0;
  const stream = new WritableStream<Uint8Array>(
    {
      async write(chunk) {
        waiting++;
        await gate;
        waiting--;
        chunks.push(chunk.slice());
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark }),
  );
  return { stream, chunks, release: () => open(), held: () => waiting };
}

describe("cancel() while a read waits for the source (a peer that stalls)", () => {
  const stalled = encode({ a: new Uint8Array(1000), b: new Uint8Array(1000) });
  /** The first 600 bytes (the header and part of a's payload), then nothing, ever. */
  const sources = {
    "a ReadableStream": (onCancel: () => void): ByteStream => new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(stalled.subarray(0, 600)), cancel: onCancel }),
    "an async generator": (onCancel: () => void): ByteStream =>
      (async function* () {
        try {
          yield stalled.subarray(0, 600);
          await new Promise(() => undefined);
        } finally {
          onCancel();
        }
      })(),
  };

  test.each(Object.keys(sources))("inside a payload, from %s: cancel settles, the waiting array read is CLOSED", async (kind) => {
    let cancelled = false;
    const reader = decodeMessages(sources[kind as keyof typeof sources](() => (cancelled = true)));
    const message = (await reader.next()).value!;
    const reading = message.next().then(() => "settled", (error: NdpackError) => error.code);
    await new Promise((resolve) => setTimeout(resolve, 10));
    await reader.cancel();
    expect(await reading).toBe("CLOSED");
    // A generator stuck in an await cannot run its finally until that await ends: only the stream is cancelled at once.
    expect(cancelled).toBe(kind === "a ReadableStream");
    expect(await reader.next()).toEqual({ done: true, value: undefined });
  });

  test("between messages: cancel settles, the waiting next() ends the stream", async () => {
    let cancelled = false;
    const one = encode({ a: new Uint8Array(10) });
    const reader = decodeMessages(new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(one), cancel: () => void (cancelled = true) }));
    await (await reader.next()).value!.readAll();
    const waiting = reader.next();
    await new Promise((resolve) => setTimeout(resolve, 10));
    await reader.cancel();
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(cancelled).toBe(true);
  });
});

describe("createMessageWriter to a Node writable stream", () => {
  test("a message of one payload leaves in one write of its head, payload and CRC (corked), even to a full target; messages stay whole and in order", async () => {
    const writes: number[] = [];
    const received: Uint8Array[] = [];
    const target = new Writable({
      highWaterMark: 1024,
      writev(chunks, callback) {
        writes.push(chunks.length);
        for (const { chunk } of chunks) received.push(Uint8Array.from(chunk as Uint8Array));
        setImmediate(callback);
      },
    });
    const writer = createMessageWriter(target);
    const payload = Float32Array.from({ length: 1 << 18 }, (_, i) => i / 7);
    for (let i = 0; i < 3; i++) await writer.send({ m: payload }, { metadata: { i } });
    await writer.close();
    expect(writes).toEqual([3, 3, 3]);
    const sent = [0, 1, 2].map((i) => encode({ m: payload }, { metadata: { i } }));
    expect(Buffer.from(concatBytes(received)).equals(Buffer.from(concatBytes(sent)))).toBe(true);
  });
});

describe("createMessageWriter: the caller's arrays may change once send() resolves", () => {
  /** Sends one 1 MiB frame three times, filled with 0, 1, 2 (the same array, changed after each send), without checksums (nothing else would notice). */
  async function sendReused(target: Parameters<typeof createMessageWriter>[0], source: ByteStream): Promise<number[]> {
    const writer = createMessageWriter(target);
    const frame = new Float32Array(1 << 18);
    const sending = (async () => {
      for (let t = 0; t < 3; t++) {
        frame.fill(t);
        await writer.send({ frame }, { checksum: "none" });
      }
      await writer.close();
    })();
    // The consumer starts once every message was sent: the target holds all three.
    await sending;
    const seen: number[] = [];
    for await (const message of decodeMessages(source)) {
      const [array] = await message.readAll();
      expect(new Set(array!.data as Float32Array).size).toBe(1);
      seen.push((array!.data as Float32Array)[0]!);
    }
    return seen;
  }

  test("to a Node PassThrough, which keeps the chunks it is given for its reader", async () => {
    const through = new PassThrough({ highWaterMark: 8 << 20 });
    expect(await sendReused(through, through)).toEqual([0, 1, 2]);
  });

  test("to a Web TransformStream, which keeps them too", async () => {
    const pipe = new TransformStream<Uint8Array, Uint8Array>(undefined, undefined, new CountQueuingStrategy({ highWaterMark: 64 }));
    expect(await sendReused(pipe.writable, pipe.readable)).toEqual([0, 1, 2]);
  });
});

describe("createMessageWriter: a target that fails", () => {
  test("close() of a writer whose file target cannot be written (/dev/full) is IO_ERROR, not a success", async () => {
    const target = createWriteStream("/dev/full");
    const writer = createMessageWriter(target);
    await writer.send({ a: new Uint8Array(100) });
    const error = await writer.close().then(() => undefined, (caught: NdpackError) => caught);
    expect(error).toBeInstanceOf(NdpackError);
    expect(error!.code).toBe("IO_ERROR");
    expect((error!.cause as NodeJS.ErrnoException).code).toBe("ENOSPC");
  });
});

describe("createMessageWriter to a Web WritableStream", () => {
  test("writes each message as encode's bytes, in order, and ends the stream on close", async () => {
    const { stream, chunks, release } = collector(1 << 20);
    release();
    const writer = createMessageWriter(stream);
    const sent: Uint8Array[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 12; i++) {
      pending.push(writer.send(caseInput(i), { metadata: { i } })); // not awaited: sends are queued
      sent.push(encode(caseInput(i), { metadata: { i } }));
    }
    const big: [string, ArraysInput, EncodeOptions][] = [["big", { big: new Float64Array(100_000).fill(2.5) }, { metadata: { i: 12 } }]];
    pending.push(writer.send(big[0]![1], big[0]![2]));
    sent.push(encode(big[0]![1], big[0]![2]));
    await Promise.all(pending);
    await writer.close();
    expect(Buffer.from(concatBytes(chunks)).equals(Buffer.from(concatBytes(sent)))).toBe(true);
    expect(writer.messagesSent).toBe(13);
    expect(writer.bytesSent).toBe(concatBytes(sent).length);
    await expect(writer.send({})).rejects.toMatchObject({ code: "CLOSED" });
    // Closing again is the first close's result, as for createWriter: the stream is ended once.
    await expect(writer.close()).resolves.toBeUndefined();
    expect(Buffer.from(concatBytes(chunks)).equals(Buffer.from(concatBytes(sent)))).toBe(true);
  });

  test("back-pressure: send waits while the stream's queue is full, holding at most one chunk more", async () => {
    const { stream, chunks, release, held } = collector(64 * 1024);
    const writer = createMessageWriter(stream, { chunkBytes: 64 * 1024 });
    const payload = new Uint8Array(4 << 20).fill(7);
    let done = false;
    const sending = writer.send({ payload }).then(() => (done = true));
    // Let the writer run as far as it can while the sink accepts nothing.
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false);
    expect(held()).toBe(1);
    expect(writer.bytesSent).toBeLessThanOrEqual(3 * 64 * 1024);
    release();
    await sending;
    await writer.close();
    const file = concatBytes(chunks);
    expect(Buffer.from(file).equals(Buffer.from(encode({ payload })))).toBe(true);
  });

  test("arguments are checked before anything is written: the stream stays usable", async () => {
    const { stream, chunks, release } = collector(1 << 20);
    release();
    const writer = createMessageWriter(stream);
    await expect(writer.send({ x: [1, 2] as unknown as Float32Array })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await writer.send({ y: new Int8Array([1]) });
    await writer.close();
    const { messages } = await readMessages(cutAt(concatBytes(chunks), []));
    expect(messages.map((m) => m.arrays.map((a) => a.name))).toEqual([["y"]]);
  });

  test("INVALID_ARGUMENT for a target that is not a stream", () => {
    expect(() => createMessageWriter({} as WritableStream<Uint8Array>)).toThrowError(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => createMessageWriter(new WritableStream(), { chunkBytes: 0 })).toThrowError(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  test("a Web stream pipe: writer to reader through a TransformStream", async () => {
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    const writer = createMessageWriter(pipe.writable);
    const producing = (async () => {
      for (let i = 0; i < 30; i++) await writer.send(caseInput(i), { metadata: { i } });
      await writer.close();
    })();
    const { messages, error } = await readMessages(pipe.readable);
    await producing;
    expect(error).toBeUndefined();
    expect(messages).toHaveLength(30);
    expectCases(messages);
  });
});

describe("the message-stream vectors (fixtures/streams, spec/conformance.md)", () => {
  const root = fileURLToPath(new URL("../fixtures/", import.meta.url));
  const index = JSON.parse(readFileSync(join(root, "index.json"), "utf8")) as { streams: { name: string }[] };

  test("cover the outcomes of FORMAT.md §11: clean ends, TRUNCATED, BAD_MAGIC, a recoverable CHECKSUM, a bad header, bad padding before a cut data section", () => {
    const codes = new Set(index.streams.flatMap((c) => (JSON.parse(readFileSync(join(root, "streams", `${c.name}.json`), "utf8")) as { errors: { code: string }[] }).errors.map((e) => e.code)));
    expect([...codes].sort()).toEqual(["BAD_MAGIC", "BAD_PADDING", "CHECKSUM", "CODEC_ERROR", "HEADER_CHECKSUM", "TRUNCATED"]);
    expect(readdirSync(join(root, "streams")).sort()).toEqual(index.streams.flatMap((c) => [`${c.name}.json`, `${c.name}.ndps`]).sort());
  });

  for (const { name } of index.streams) {
    test(`${name}: the messages and errors its .json lists, read in chunks of 1, 7 and all bytes`, async () => {
      const expected = JSON.parse(readFileSync(join(root, "streams", `${name}.json`), "utf8")) as { messages: string[]; errors: { messageIndex: number; code: string; recoverable: boolean }[] };
      const bytes = new Uint8Array(readFileSync(join(root, "streams", `${name}.ndps`)));
      for (const size of [1, 7, Math.max(bytes.length, 1)]) {
        const cuts = Array.from({ length: Math.ceil(bytes.length / size) - 1 }, (_, k) => (k + 1) * size);
        const read: string[] = [];
        const errors: { messageIndex: number; code: string; recoverable: boolean }[] = [];
        const reader = decodeMessages(cutAt(bytes, cuts));
        for (;;) {
          try {
            const step = await reader.next();
            if (step.done === true) break;
            const arrays = await step.value.readAll();
            // Each message read is the valid case its .json names, array for array.
            const want = decode(readFileSync(join(root, "valid", `${expected.messages[read.length]}.ndp`)));
            expect(step.value.header.metadata).toEqual(want.metadata);
            expect(arrays.map((a) => a.name)).toEqual(want.names);
            for (const array of arrays) expect(Buffer.from(arrayBytes(array)).equals(Buffer.from(arrayBytes(want.get(array.name))))).toBe(true);
            read.push(expected.messages[read.length]!);
          } catch (error) {
            if (!(error instanceof NdpackError)) throw error;
            errors.push({ messageIndex: error.messageIndex!, code: error.code, recoverable: error.recoverable! });
            if (!error.recoverable) break;
          }
        }
        expect(read).toEqual(expected.messages);
        expect(errors).toEqual(expected.errors);
      }
    });
  }
});
