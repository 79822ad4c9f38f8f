/**
 * Message streams over real loopback TCP connections (127.0.0.1, port 0): Python producer to Node
 * consumer and back, 10,000 messages compared value by value; a stream sent in small writes; one
 * 256 MiB message; a producer killed mid-message; a slow consumer and the writer's bounded buffer.
 * The Python end is test/helpers/messages-peer.py over the `ndpack` package in spec/python.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { encode, NdpackError, type NdArray } from "../src/index.js";
import { createMessageWriter, decodeMessages, type NdpackMessageReader } from "../src/messages.js";
import { connectMessages } from "../src/node/message-socket.js";
import { settlesWithin, twoArrayMessage, until } from "./helpers/held-stream.js";
import { caseInput, caseMismatch } from "./helpers/message-cases.js";
import { PYTHON, REPO, requirePython } from "./helpers/python-env.js";

const PEER = join(REPO, "test", "helpers", "messages-peer.py");

const servers: Server[] = [];
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  for (const server of servers.splice(0)) server.close();
});

/** A server on 127.0.0.1, on a free port; `accepted` resolves with its first connection. */
async function listen(): Promise<{ port: number; accepted: Promise<Socket> }> {
  const server = createServer();
  servers.push(server);
  const accepted = once(server, "connection").then(([socket]) => socket as Socket);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as { port: number }).port, accepted };
}

/**
 * Runs messages-peer.py against the server; its stdout is collected, and a failure shows its
 * stderr. `socket` is the server's end of its connection (it fails when the peer exits first).
 */
function peer(server: { port: number; accepted: Promise<Socket> }, ...args: string[]): { child: ChildProcessWithoutNullStreams; stdout: () => string; exit: Promise<number | null>; socket: Promise<Socket> } {
  const port = server.port;
  requirePython();
  const child = spawn(PYTHON, [PEER, String(port), ...args], { env: { ...process.env, PYTHONPATH: join(REPO, "spec", "python") } });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exit = once(child, "exit").then(([code]) => {
    if (code !== 0 && code !== null) throw new Error(`messages-peer.py ${args.join(" ")} exited with ${String(code)}:\n${err}`);
    return code as number | null;
  });
  exit.catch(() => undefined); // reported where it is awaited
  const socket = Promise.race([server.accepted, exit.then((code) => Promise.reject(new Error(`messages-peer.py exited (${String(code)}) before connecting`)))]);
  return { child, stdout: () => out, exit, socket };
}

/** Reads every message from `socket`, checking each against the shared cases as it arrives. */
async function consumeCases(socket: Socket): Promise<{ count: number; mismatches: string[]; error: NdpackError | undefined }> {
  let count = 0;
  const mismatches: string[] = [];
  try {
    for await (const message of decodeMessages(socket)) {
      const problem = caseMismatch(message.index, message.header.metadata, await message.readAll());
      if (problem !== undefined) mismatches.push(problem);
      count++;
    }
  } catch (error) {
    if (!(error instanceof NdpackError)) throw error;
    return { count, mismatches, error };
  }
  return { count, mismatches, error: undefined };
}

describe("message streams between Python and Node over TCP", () => {
  test("Python producer -> Node consumer: 10,000 messages of mixed dtypes and shapes, values equal", async () => {
    const python = peer(await listen(), "produce", "10000");
    const result = await consumeCases(await python.socket);
    await python.exit;
    expect(result.error).toBeUndefined();
    expect(result.mismatches).toEqual([]);
    expect(result.count).toBe(10_000);
  }, 180_000);

  test("Node producer -> Python consumer: 10,000 messages, values equal", async () => {
    const python = peer(await listen(), "consume");
    const socket = await python.socket;
    const writer = createMessageWriter(socket);
    for (let i = 0; i < 10_000; i++) await writer.send(caseInput(i), { metadata: { i } });
    await writer.close();
    await python.exit;
    expect(JSON.parse(python.stdout())).toEqual({ count: 10_000, mismatches: [], error: null });
    expect(writer.messagesSent).toBe(10_000);
  }, 180_000);

  test("a Python producer sending the stream in writes of 1 to 97 bytes (TCP_NODELAY): every message arrives whole", async () => {
    const python = peer(await listen(), "produce", "300", "97");
    const result = await consumeCases(await python.socket);
    await python.exit;
    expect(result.error).toBeUndefined();
    expect(result.mismatches).toEqual([]);
    expect(result.count).toBe(300);
  }, 120_000);

  test("one 256 MiB message from Python, then a small one: values equal, CRC checked", async () => {
    const python = peer(await listen(), "huge");
    const reader = decodeMessages(await python.socket);
    const first = (await reader.next()).value!;
    expect(first.header.byteLength).toBeGreaterThan(256 * 1024 * 1024);
    const [ramp] = (await first.readAll()) as [NdArray];
    expect(ramp.shape).toEqual([1 << 26]);
    const values = ramp.data as Int32Array;
    let wrong = -1;
    for (let k = 0; k < values.length; k++) {
      if (values[k] !== k) {
        wrong = k;
        break;
      }
    }
    expect(wrong).toBe(-1);
    const second = (await reader.next()).value!;
    expect(caseMismatch(1, second.header.metadata, await second.readAll())).toBeUndefined();
    expect((await reader.next()).done).toBe(true);
    await python.exit;
  }, 180_000);

  test("the Python producer killed mid-message: TRUNCATED, not recoverable, and every message before it delivered intact", async () => {
    const python = peer(await listen(), "hang", "50");
    const consuming = consumeCases(await python.socket);
    while (!python.stdout().includes("ready")) await once(python.child.stdout, "data");
    python.child.kill("SIGKILL");
    const result = await consuming;
    expect(result.mismatches).toEqual([]);
    expect(result.count).toBe(50);
    expect(result.error?.code).toBe("TRUNCATED");
    expect(result.error?.recoverable).toBe(false);
    expect(result.error?.messageIndex).toBe(50);
  }, 120_000);

  test("the Node producer's stream ends mid-message (socket ended): the Python consumer reports TRUNCATED after the whole messages", async () => {
    const python = peer(await listen(), "consume");
    const socket = await python.socket;
    const writer = createMessageWriter(socket);
    for (let i = 0; i < 20; i++) await writer.send(caseInput(i), { metadata: { i } });
    const partial = encode(caseInput(20), { metadata: { i: 20 } });
    await new Promise<void>((resolve, reject) => socket.write(partial.subarray(0, 100), (error) => (error ? reject(error) : resolve())));
    socket.end();
    await python.exit;
    const report = JSON.parse(python.stdout());
    expect(report.count).toBe(20);
    expect(report.mismatches).toEqual([]);
    expect(report.error).toMatchObject({ code: "TRUNCATED", recoverable: false, messageIndex: 20 });
  }, 120_000);
});

describe("message streams between Node processes over TCP", () => {
  test("a Node producer writing the stream in writes of 1 to 61 bytes, each flushed before the next: every message arrives whole", async () => {
    const { port, accepted } = await listen();
    const { connect } = await import("node:net");
    const client = connect(port, "127.0.0.1");
    client.setNoDelay(true);
    await once(client, "connect");
    const consuming = consumeCases(await accepted);
    const stream = Buffer.concat(Array.from({ length: 60 }, (_, i) => encode(caseInput(i), { metadata: { i } })));
    for (let at = 0, k = 0; at < stream.length; k++) {
      const size = 1 + ((k * 29) % 61);
      await new Promise<void>((resolve, reject) => client.write(stream.subarray(at, at + size), (error) => (error ? reject(error) : resolve())));
      at += size;
    }
    client.end();
    const result = await consuming;
    expect(result.error).toBeUndefined();
    expect(result.mismatches).toEqual([]);
    expect(result.count).toBe(60);
  }, 120_000);

  test("a slow consumer: the writer waits (back-pressure), its socket never buffers more than its high-water mark plus one chunk", async () => {
    const { port, accepted } = await listen();
    const { connect } = await import("node:net");
    const client = connect(port, "127.0.0.1");
    await once(client, "connect");
    const server = await accepted;
    server.pause(); // the consumer reads nothing until the producer has stalled
    const chunkBytes = 256 * 1024;
    const writer = createMessageWriter(client, { chunkBytes });
    const message = new Uint8Array(1 << 20).fill(3);
    const total = 64; // 64 MiB, far more than the kernel's socket buffers hold
    let maxBuffered = 0;
    const sample = () => (maxBuffered = Math.max(maxBuffered, client.writableLength));
    const producing = (async () => {
      for (let i = 0; i < total; i++) {
        await writer.send({ m: message }, { metadata: { i } });
        sample();
      }
      await writer.close();
    })();
    // Wait until the writer is blocked on 'drain': the kernel's buffers are full.
    while (!client.writableNeedDrain) {
      sample();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    for (let i = 0; i < 20; i++) {
      sample();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const sentWhileStalled = writer.bytesSent;
    expect(sentWhileStalled).toBeLessThan(total * (1 << 20));
    // Now consume everything, sampling the producer's buffer meanwhile.
    server.resume();
    const sampler = setInterval(sample, 1);
    let count = 0;
    for await (const received of decodeMessages(server)) {
      const [array] = await received.readAll();
      expect((received.header.metadata as { i: number }).i).toBe(count);
      expect(Buffer.from(array!.data as Uint8Array).equals(Buffer.from(message))).toBe(true);
      count++;
    }
    clearInterval(sampler);
    await producing;
    expect(count).toBe(total);
    expect(maxBuffered).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThanOrEqual(client.writableHighWaterMark + chunkBytes);
  }, 120_000);
});

/** Writes `bytes` to `socket` and waits until the kernel has taken them. */
function send(socket: Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
}

const sameBytes = (array: NdArray, expected: ArrayBufferView) =>
  Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength));

describe("each message's arrays as their bytes arrive over TCP (the producer holds the rest back)", () => {
  /**
   * Sends a small message, then a message of `a` and `b` up to `b`'s first byte; once the
   * consumer's socket has read them all, `a` must be handed out before anything more is sent.
   */
  async function holdBack(aLength: number, producer: Socket, consumer: Socket, reader: NdpackMessageReader): Promise<void> {
    const before = encode({ z: Int16Array.of(7) }, { metadata: { i: 0 } });
    const { bytes, bStart, a, b } = twoArrayMessage(aLength, { i: 1 });
    const cut = before.length + bStart;
    await send(producer, Buffer.concat([before, bytes.subarray(0, bStart)]));
    expect(await (await reader.next()).value!.readAll()).toHaveLength(1);
    const message = (await reader.next()).value!;
    const first = message.next();
    await until(() => consumer.bytesRead >= cut);
    expect(consumer.bytesRead).toBe(cut);
    expect(await settlesWithin(first), "`a` was not handed out with all its bytes at hand").toBe(true);
    const array = (await first).value as NdArray;
    expect(array.name).toBe("a");
    expect(sameBytes(array, a)).toBe(true);
    const second = message.next();
    expect(await settlesWithin(second)).toBe(false);
    await send(producer, bytes.subarray(bStart));
    producer.end();
    expect(sameBytes((await second).value as NdArray, b)).toBe(true);
    expect((await reader.next()).done).toBe(true);
  }

  test.each([
    ["small", 3],
    ["large (80,000 bytes)", 20_000],
  ])("decodeMessages on an accepted socket: a %s `a` is handed out, values whole, before any byte of `b` is sent", async (_, aLength) => {
    const { port, accepted } = await listen();
    const { connect } = await import("node:net");
    const client = connect(port, "127.0.0.1");
    await once(client, "connect");
    const consumer = await accepted;
    const reader = decodeMessages(consumer);
    try {
      await holdBack(aLength, client, consumer, reader);
    } finally {
      await reader.cancel();
      client.destroy();
    }
  });

  test.each([
    ["small", 3],
    ["large (80,000 bytes, landed in place)", 20_000],
  ])("connectMessages: a %s `a` is handed out, values whole, before any byte of `b` is sent", async (_, aLength) => {
    const { port, accepted } = await listen();
    const { socket, messages } = connectMessages({ host: "127.0.0.1", port });
    const producer = await accepted;
    try {
      await holdBack(aLength, producer, socket, messages);
    } finally {
      await messages.cancel();
      producer.destroy();
    }
  });
});
