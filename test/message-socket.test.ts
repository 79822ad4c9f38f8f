/**
 * connectMessages (src/node/message-socket.ts) over real loopback TCP connections (127.0.0.1, port
 * 0): payloads large enough to be read by the operating system straight into the arrays handed out
 * (reads of 64 KiB or more), mixed with small messages that are copied out of the socket's reads;
 * the stream written in pieces of every size, so that reads end anywhere inside a payload; a
 * connection closed mid-payload (TRUNCATED), a damaged payload (CHECKSUM, recoverable), the
 * message limit, back-pressure on a consumer that stops reading, and a Python producer's stream.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { encode, NdpackError, type NdArray } from "../src/index.js";
import { createMessageWriter } from "../src/messages.js";
import { connectMessages } from "../src/node/message-socket.js";
import { failureAsync } from "./helpers/common.js";
import { caseMismatch } from "./helpers/message-cases.js";
import { PYTHON, REPO, requirePython } from "./helpers/python-env.js";
import { rng } from "./helpers/interop-cases.js";

const servers: Server[] = [];
const sockets: Socket[] = [];
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) server.close();
});

/** A server on 127.0.0.1 (a free port) whose first connection runs `produce`; the consumer connects with connectMessages. */
async function producer(produce: (socket: Socket) => Promise<void>, options: Parameters<typeof connectMessages>[1] = {}) {
  const server = createServer();
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const produced = once(server, "connection").then(async ([socket]) => {
    sockets.push(socket as Socket);
    (socket as Socket).setNoDelay(true);
    await produce(socket as Socket);
  });
  produced.catch(() => undefined);
  const connection = connectMessages({ port: (server.address() as { port: number }).port, host: "127.0.0.1" }, options);
  sockets.push(connection.socket);
  return { ...connection, produced };
}

/** Message `i` of the mixed stream: every third one large (64 KiB to 1.5 MiB, odd lengths), the others small. */
function mixedMessage(i: number): Record<string, Float64Array | Uint8Array | Int16Array> {
  if (i % 3 !== 0) return { small: Float64Array.from({ length: (i % 17) + 1 }, (_, k) => i * 1000 + k) };
  const length = 65_536 + ((i * 104_729) % (1_500_000 - 65_536));
  const bytes = new Uint8Array(length);
  for (let k = 0; k < length; k++) bytes[k] = (k * 31 + i) & 0xff;
  return { big: bytes, tail: Int16Array.from({ length: i % 5 }, (_, k) => k - i) };
}

function expectMixed(i: number, arrays: NdArray[]): void {
  const expected = mixedMessage(i);
  expect(arrays.map((a) => a.name)).toEqual(Object.keys(expected));
  for (const array of arrays) {
    const want = expected[array.name]!;
    expect(array.data.constructor).toBe(want.constructor);
    // Compared as bytes, one call: a mismatch shows the array, not 1.5 million lines.
    const got = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
    expect(Buffer.compare(got, new Uint8Array(want.buffer, want.byteOffset, want.byteLength))).toBe(0);
  }
}

/** Writes `bytes` in pieces of random sizes up to `maxPiece`, each written before the next (so the reader sees reads end anywhere). */
async function writeInPieces(socket: Socket, bytes: Uint8Array, maxPiece: number, seed: number): Promise<void> {
  const random = rng(seed);
  for (let at = 0; at < bytes.length; ) {
    const n = Math.min(bytes.length - at, 1 + Math.floor(random() * maxPiece));
    await new Promise<void>((resolve, reject) => socket.write(bytes.subarray(at, at + n), (error) => (error ? reject(error) : resolve())));
    at += n;
  }
}

describe("cancel() while a read waits for a peer that stalls", () => {
  test.each(["between messages", "inside a payload"])("%s: cancel settles and destroys the socket; a waiting read ends", async (where) => {
    const message = encode({ a: new Uint8Array(100_000) });
    const { messages, socket } = await producer(async (peer) => {
      // All of the first message, then half of the second; then the peer stalls (it never ends).
      peer.write(Buffer.concat([message, where === "inside a payload" ? message.subarray(0, 50_000) : new Uint8Array(0)]));
    });
    expect((await (await messages.next()).value!.readAll())[0]!.data.length).toBe(100_000);
    const waiting = where === "inside a payload" ? (await messages.next()).value!.next().then(() => "settled", (error: NdpackError) => error.code) : messages.next().then((step) => (step.done === true ? "done" : "a message"));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await messages.cancel();
    expect(socket.destroyed).toBe(true);
    expect(await waiting).toBe(where === "inside a payload" ? "CLOSED" : "done");
  }, 60_000);
});

describe("connectMessages: payloads read straight into the arrays", () => {
  test("60 mixed messages from createMessageWriter (large payloads landed in place, small ones copied): values equal, CRCs checked", async () => {
    const { messages, produced } = await producer(async (socket) => {
      const writer = createMessageWriter(socket);
      for (let i = 0; i < 60; i++) await writer.send(mixedMessage(i), { metadata: { i } });
      await writer.close();
    });
    let count = 0;
    for await (const message of messages) {
      expect(message.header.metadata).toEqual({ i: count });
      expectMixed(count, await message.readAll());
      count++;
    }
    await produced;
    expect(count).toBe(60);
  }, 60_000);

  test("to a socket, large payloads are written as views of the caller's arrays (the kernel copies them), not copied first", async () => {
    const payload = new Uint8Array(1 << 20).fill(7);
    let viewsOfPayload = 0;
    const { messages, produced } = await producer(async (socket) => {
      const write = socket.write.bind(socket) as (chunk: Uint8Array, callback?: (error?: Error | null) => void) => boolean;
      socket.write = ((chunk: Uint8Array, callback?: (error?: Error | null) => void) => {
        if (chunk.buffer === payload.buffer) viewsOfPayload++;
        return write(chunk, callback);
      }) as typeof socket.write;
      const writer = createMessageWriter(socket);
      await writer.send({ payload });
      await writer.close();
    });
    for await (const message of messages) expect((await message.readAll())[0]!.data).toEqual(payload);
    await produced;
    expect(viewsOfPayload).toBe(1);
  }, 60_000);

  test("the stream written in pieces of 1 byte to 200 KiB, each sent before the next: every message arrives whole", async () => {
    const stream = Buffer.concat(Array.from({ length: 24 }, (_, i) => encode(mixedMessage(i), { metadata: { i } })));
    for (const seed of [1, 2]) {
      const { messages, produced } = await producer(async (socket) => {
        await writeInPieces(socket, stream, seed === 1 ? 200 * 1024 : 9000, seed);
        socket.end();
      });
      let count = 0;
      for await (const message of messages) expectMixed(count++, await message.readAll());
      await produced;
      expect(count).toBe(24);
    }
  }, 60_000);

  test("the connection closed inside a large payload: TRUNCATED, not recoverable, after the whole messages", async () => {
    const whole = Buffer.concat([encode(mixedMessage(0)), encode(mixedMessage(1))]);
    const cut = encode(mixedMessage(3));
    const { messages } = await producer(async (socket) => {
      await writeInPieces(socket, Buffer.concat([whole, cut.subarray(0, cut.length - 70_000)]), 100_000, 3);
      socket.end();
    });
    const delivered: number[] = [];
    const failure = await failureAsync(async () => {
      for await (const message of messages) {
        expectMixed(message.index, await message.readAll());
        delivered.push(message.index);
      }
    }, "TRUNCATED");
    expect(delivered).toEqual([0, 1]);
    expect(failure.messageIndex).toBe(2);
    expect(failure.recoverable).toBe(false);
  }, 60_000);

  test("the connection reset inside a large payload: IO_ERROR with the socket's error as cause, not recoverable", async () => {
    const big = encode(mixedMessage(3));
    const { messages } = await producer(async (socket) => {
      await writeInPieces(socket, big.subarray(0, big.length >> 1), 100_000, 6);
      socket.resetAndDestroy();
    });
    const failure = await failureAsync(async () => {
      for await (const message of messages) await message.readAll();
    }, "IO_ERROR");
    expect((failure.cause as { code?: string }).code).toBe("ECONNRESET");
    expect(failure.recoverable).toBe(false);
  }, 60_000);

  test("a damaged large payload is CHECKSUM, recoverable: the next message is read", async () => {
    const damaged = encode(mixedMessage(3));
    damaged[damaged.length - 300_000]! ^= 0x10;
    const stream = Buffer.concat([damaged, encode(mixedMessage(6)), encode(mixedMessage(1))]);
    const { messages } = await producer(async (socket) => {
      await writeInPieces(socket, stream, 150_000, 4);
      socket.end();
    });
    const outcomes: string[] = [];
    for await (const message of messages) {
      try {
        const arrays = await message.readAll();
        expectMixed([3, 6, 1][message.index]!, arrays);
        outcomes.push("ok");
      } catch (error) {
        if (!(error instanceof NdpackError) || error.recoverable !== true) throw error;
        outcomes.push(error.code);
      }
    }
    expect(outcomes).toEqual(["CHECKSUM", "ok", "ok"]);
  }, 60_000);

  test("maxMessageBytes: a larger message is LIMIT_EXCEEDED, recoverable, and skipped; the next is read", async () => {
    const stream = Buffer.concat([encode(mixedMessage(3)), encode(mixedMessage(1))]);
    const { messages } = await producer(async (socket) => {
      await writeInPieces(socket, stream, 64 * 1024, 5);
      socket.end();
    }, { maxMessageBytes: 4096 });
    const outcomes: string[] = [];
    for (;;) {
      try {
        const step = await messages.next();
        if (step.done === true) break;
        expectMixed(1, await step.value.readAll());
        outcomes.push("ok");
      } catch (error) {
        if (!(error instanceof NdpackError) || error.recoverable !== true) throw error;
        outcomes.push(error.code);
      }
    }
    expect(outcomes).toEqual(["LIMIT_EXCEEDED", "ok"]);
  }, 60_000);

  test("a consumer that stops reading holds the producer back: the writer waits, bytes sent stay bounded", async () => {
    const frame = { frame: new Float32Array(256 * 1024) };
    let writer: ReturnType<typeof createMessageWriter> | undefined;
    const { messages, produced } = await producer(async (socket) => {
      writer = createMessageWriter(socket);
      for (let i = 0; i < 64; i++) await writer.send(frame);
      await writer.close();
    });
    const first = (await messages.next()).value!;
    await first.readAll();
    // The consumer reads nothing more while the producer tries to send 64 MiB.
    let previous = -1;
    while (writer!.bytesSent !== previous) {
      previous = writer!.bytesSent;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(writer!.messagesSent).toBeLessThan(48);
    expect(writer!.bytesSent).toBeLessThan(48 * 1024 * 1024);
    let count = 1;
    for await (const message of messages) {
      await message.readAll();
      count++;
    }
    await produced;
    expect(count).toBe(64);
  }, 60_000);

  test("breaking out of the loop over the messages destroys the socket", async () => {
    const { messages, socket } = await producer(async (peer) => {
      const writer = createMessageWriter(peer);
      for (let i = 0; i < 3; i++) await writer.send(mixedMessage(i));
    });
    for await (const message of messages) {
      await message.readAll();
      break;
    }
    expect(socket.destroyed).toBe(true);
  }, 60_000);

  test("nobody listening: IO_ERROR with ECONNREFUSED as cause, not recoverable", async () => {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    server.close();
    await once(server, "close");
    const { messages, socket } = connectMessages({ port, host: "127.0.0.1" });
    sockets.push(socket);
    const failure = await failureAsync(() => messages.next(), "IO_ERROR");
    expect((failure.cause as { code?: string }).code).toBe("ECONNREFUSED");
    expect(failure.recoverable).toBe(false);
  }, 60_000);

  test("INVALID_ARGUMENT for decoding options that are wrong, thrown before anything is read", async () => {
    const server = createServer();
    servers.push(server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    expect(() => connectMessages({ port, host: "127.0.0.1" }, { maxMessageBytes: -1 })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", field: "maxMessageBytes" }));
  }, 60_000);

  test("Python producer -> connectMessages, through a Node relay that re-cuts the bytes: 2,000 messages, values equal", async () => {
    requirePython();
    // The Python peer connects to a server; connectMessages connects to another: a relay joins them.
    const python = createServer();
    servers.push(python);
    python.listen(0, "127.0.0.1");
    await once(python, "listening");
    const { messages, produced } = await producer(async (toConsumer) => {
      const child = spawn(PYTHON, [join(REPO, "test", "helpers", "messages-peer.py"), String((python.address() as { port: number }).port), "produce", "2000"], {
        env: { ...process.env, PYTHONPATH: join(REPO, "spec", "python") },
      });
      children.push(child);
      const [fromPython] = (await once(python, "connection")) as [Socket];
      sockets.push(fromPython);
      fromPython.pipe(toConsumer);
      await once(child, "exit");
    });
    let count = 0;
    const mismatches: string[] = [];
    for await (const message of messages) {
      const problem = caseMismatch(message.index, message.header.metadata, await message.readAll());
      if (problem !== undefined) mismatches.push(problem);
      count++;
    }
    await produced;
    expect(mismatches).toEqual([]);
    expect(count).toBe(2000);
  }, 120_000);
});
