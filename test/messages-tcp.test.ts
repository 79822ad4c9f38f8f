/**
 * Message streams over real loopback TCP connections (127.0.0.1, port 0): Python producer to Node
 * consumer and back, 10,000 messages compared value by value; a stream sent in small writes; one
 * 256 MiB message; a producer killed mid-message; a slow consumer and the writer's bounded buffer;
 * a producer that holds back the bytes after an array (the array is handed out first); a stream cut
 * between two reads of the consumer at every position, and ended at every position (issue 17), for
 * decodeMessages, connectMessages and Python's read_messages.
 * The Python end is test/helpers/messages-peer.py over the `ndpack` package in spec/python.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { createHash } from "node:crypto";
import { decode, encode, NdpackError, type ArraysInput, type NdArray } from "../src/index.js";
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

/**
 * The messages of the cuts tests: small ones, an empty one, and a 120 KB payload (which
 * connectMessages lands in place) with a small array after it.
 */
const CUT_INPUTS: ArraysInput[] = [
  { a: Int16Array.of(1, -2, 3), b: Float64Array.of(Math.PI) },
  {},
  { big: Float32Array.from({ length: 30_000 }, (_, i) => i * 0.5), tail: Uint8Array.of(9, 8, 7) },
  { z: BigInt64Array.of(5n, -6n) },
];
const CUT_MESSAGES = CUT_INPUTS.map((arrays, k) => encode(arrays, { metadata: { k } }));
const CUT_STREAM = Buffer.concat(CUT_MESSAGES);
/** Where each message ends in the stream. */
const CUT_ENDS = CUT_MESSAGES.reduce<number[]>((ends, m) => [...ends, (ends.at(-1) ?? 0) + m.length], []);
const CUT_ARRAYS = CUT_MESSAGES.map((bytes) => [...decode(bytes)]);

/**
 * The positions the stream is cut at: every byte of the two small messages, of the big one's head
 * and of its end (the last of `big`, its CRC, `tail`) and of the last message; every 997th inside
 * `big`'s payload.
 */
function cutPositions(): number[] {
  const big = decode(CUT_MESSAGES[2]!).info("big");
  const bigStart = CUT_ENDS[1]! + big.offset;
  const bigEnd = bigStart + big.byteLength;
  const positions = new Set<number>();
  for (let p = 0; p <= bigStart + 64; p++) positions.add(p);
  for (let p = bigStart; p < bigEnd; p += 997) positions.add(p);
  for (let p = bigEnd - 64; p <= CUT_STREAM.length; p++) positions.add(p);
  return [...positions].sort((a, b) => a - b);
}

/** Why message `k` of the cuts stream, as received, differs from the one sent, or `undefined`. */
function cutMismatch(k: number, metadata: unknown, arrays: readonly NdArray[]): string | undefined {
  const sent = CUT_ARRAYS[k]!;
  if (JSON.stringify(metadata) !== JSON.stringify({ k })) return `message ${k}: metadata ${JSON.stringify(metadata)}`;
  if (arrays.length !== sent.length) return `message ${k}: ${arrays.length} arrays`;
  for (const [j, got] of arrays.entries()) {
    const want = sent[j]!;
    if (got.name !== want.name || got.dtype !== want.dtype || String(got.shape) !== String(want.shape) || !sameBytes(got, want.data)) return `message ${k}: array ${got.name} differs`;
  }
  return undefined;
}

/** `k|name:dtype:shape:sha1|...`: a message of the cuts stream as messages-peer.py's `digest` gives it. */
function cutDigest(k: number): string {
  const arrays = CUT_ARRAYS[k]!.map(({ name, dtype, shape, data }) => `${name}:${dtype}:${shape.join(",")}:${createHash("sha1").update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest("hex")}`);
  return [String(k), ...arrays].join("|");
}

interface CutsResult {
  count: number;
  mismatches: string[];
  error: NdpackError | undefined;
}

/** Gives the event loop `n` turns: reads arrive meanwhile, and wait in the reader's queue. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Reads every message of a cuts stream (message i is message i % 4 of the stream sent). With
 * `lag`, the reader lags behind the socket: it gives the event loop that many turns before every
 * other message, so that reads queue up before the message's arrays are read from them.
 */
async function consumeCuts(reader: NdpackMessageReader, lag = 0): Promise<CutsResult> {
  const result: CutsResult = { count: 0, mismatches: [], error: undefined };
  try {
    for await (const message of reader) {
      if (message.index % 2 === 0) await turns(lag);
      const problem = cutMismatch(message.index % CUT_MESSAGES.length, message.header.metadata, await message.readAll());
      if (problem !== undefined) result.mismatches.push(`message ${message.index}: ${problem}`);
      result.count++;
    }
  } catch (error) {
    if (!(error instanceof NdpackError)) throw error;
    result.error = error;
  }
  return result;
}

/**
 * Sends the stream once per position, repetition r cut at `positions[r]`, then ends the
 * connection. Each piece goes out once the consumer has read every byte before it (`received`), so
 * each cut is a boundary between two reads of the consumer, whatever the kernel would have merged;
 * sending stops early when the consumer is `over` (it failed: the test then says how).
 */
async function sendCut(producer: Socket, positions: readonly number[], received: () => number, over: () => boolean): Promise<void> {
  const length = CUT_STREAM.length;
  let sent = 0;
  const sendTo = async (to: number) => {
    while (sent < to) {
      const at = sent % length;
      const n = Math.min(length - at, to - sent);
      producer.write(CUT_STREAM.subarray(at, at + n));
      sent += n;
    }
    await until(() => received() >= to || over());
  };
  for (const [r, p] of [...positions.entries(), [positions.length, 0] as const]) {
    await sendTo(r * length + p);
    if (over()) break;
  }
  producer.end();
}

/** Whether `promise` has settled, as a function to ask. */
function settledFlag(promise: Promise<unknown>): () => boolean {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return () => settled;
}

/** Why a stream ended at `p` gave `result`, or `undefined` when it is right: the whole messages before `p`, then TRUNCATED at the next one unless `p` is between two. */
function endProblem(p: number, result: { count: number; mismatches: readonly string[]; error: { code: string; recoverable?: boolean; messageIndex?: number } | null | undefined }): string | undefined {
  const whole = CUT_ENDS.filter((end) => end <= p).length;
  const clean = p === 0 || CUT_ENDS.includes(p);
  const error = result.error ?? undefined;
  const rightError = clean ? error === undefined : error?.code === "TRUNCATED" && error.recoverable === false && error.messageIndex === whole;
  if (result.count === whole && result.mismatches.length === 0 && rightError) return undefined;
  return `ended at ${p}: ${result.count} messages (expected ${whole}) ${result.mismatches.join(", ")}, error ${JSON.stringify(error && { code: error.code, recoverable: error.recoverable, messageIndex: error.messageIndex })}`;
}

describe("messages cut across TCP reads at every position (issue 17): 4 messages, 121 KB, an empty one and a 120 KB payload", () => {
  const positions = cutPositions();

  test("the positions: every byte of the small messages and around the big payload, a stride inside it", () => {
    expect(positions.length).toBeGreaterThan(1000);
    for (const end of [0, ...CUT_ENDS]) expect(positions).toContain(end);
  });

  test("decodeMessages on an accepted socket: the stream cut at each position, on one connection, gives every message whole", async () => {
    const { port, accepted } = await listen();
    const { connect } = await import("node:net");
    const client = connect(port, "127.0.0.1");
    client.setNoDelay(true);
    await once(client, "connect");
    const consumer = await accepted;
    const consuming = consumeCuts(decodeMessages(consumer));
    await sendCut(client, positions, () => consumer.bytesRead, settledFlag(consuming));
    const result = await consuming;
    expect(result.error).toBeUndefined();
    expect(result.mismatches).toEqual([]);
    expect(result.count).toBe(CUT_MESSAGES.length * positions.length);
  });

  test("connectMessages: the stream cut at each position, on one connection, gives every message whole, read at once or after reads queued up", async () => {
    const { port, accepted } = await listen();
    const { socket, messages } = connectMessages({ host: "127.0.0.1", port });
    const producer = await accepted;
    producer.setNoDelay(true);
    const consuming = consumeCuts(messages, 3);
    await sendCut(producer, positions, () => socket.bytesRead, settledFlag(consuming));
    const result = await consuming;
    expect(result.error).toBeUndefined();
    expect(result.mismatches).toEqual([]);
    expect(result.count).toBe(CUT_MESSAGES.length * positions.length);
  });

  test("decodeMessages and connectMessages (read at once, or after the bytes and the end arrived): the stream ended at each position, one connection each, gives the whole messages before it, then TRUNCATED at the next (a clean end between two)", async () => {
    const server = createServer();
    servers.push(server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    const { connect } = await import("node:net");
    const problems: string[] = [];
    for (const p of positions) {
      const prefix = CUT_STREAM.subarray(0, p);
      // decodeMessages reads the socket the server accepted.
      let connection = once(server, "connection");
      const client = connect(port, "127.0.0.1");
      let [consumer] = (await connection) as [Socket];
      client.end(prefix);
      const viaDecode = endProblem(p, await consumeCuts(decodeMessages(consumer)));
      if (viaDecode !== undefined) problems.push(`decodeMessages ${viaDecode}`);
      client.destroy();
      // connectMessages reads the socket it made; at every other position, only once the bytes
      // (and most likely the end) have arrived and wait in its queue.
      connection = once(server, "connection");
      const { socket, messages } = connectMessages({ host: "127.0.0.1", port });
      [consumer] = (await connection) as [Socket];
      consumer.end(prefix);
      if (p % 2 === 1) {
        for (let turn = 0; turn < 50 && socket.bytesRead < p; turn++) await turns(1);
        await turns(3);
      }
      const viaConnect = endProblem(p, await consumeCuts(messages));
      if (viaConnect !== undefined) problems.push(`connectMessages ${viaConnect}`);
      consumer.destroy();
    }
    expect(problems).toEqual([]);
  });

  test("Python's read_messages: the stream cut at each position on one connection, then ended at each position, one connection each", async () => {
    const server = createServer();
    servers.push(server);
    let connections = 0;
    const splitting: Promise<void>[] = [];
    const failures: unknown[] = [];
    server.on("connection", (socket: Socket) => {
      const k = connections++;
      socket.on("error", (error) => failures.push(error));
      if (k === 0) {
        // Python acknowledges each read: the bytes it has received in all, 8 bytes little-endian.
        let acked = 0;
        let pending = Buffer.alloc(0);
        socket.on("data", (chunk: Buffer) => {
          pending = Buffer.concat([pending, chunk]);
          for (; pending.length >= 8; pending = pending.subarray(8)) acked = Number(pending.readBigUInt64LE(0));
        });
        socket.setNoDelay(true);
        let closed = false;
        socket.on("close", () => (closed = true));
        splitting.push(sendCut(socket, positions, () => acked, () => closed));
      } else {
        socket.resume();
        socket.end(CUT_STREAM.subarray(0, positions[k - 1]));
      }
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    const python = peer({ port, accepted: new Promise(() => {}) }, "cuts", "1", String(positions.length));
    python.socket.catch(() => undefined); // the connections are the server's: not awaited
    await python.exit;
    await Promise.all(splitting);
    const [split, ...ends] = python.stdout().trim().split("\n").map((line) => JSON.parse(line) as { kinds: string[]; sequence: number[]; error: { code: string; recoverable: boolean; messageIndex: number } | null });
    expect(split!.error).toBeNull();
    expect(split!.kinds).toEqual(CUT_MESSAGES.map((_, k) => cutDigest(k)));
    expect(split!.sequence).toEqual(Array.from({ length: positions.length * CUT_MESSAGES.length }, (_, i) => i % CUT_MESSAGES.length));
    expect(ends).toHaveLength(positions.length);
    const problems = ends.flatMap((end, i) => {
      const mismatches = end.kinds.flatMap((kind, j) => (kind === cutDigest(j) && end.sequence[j] === j ? [] : [`message ${j}: ${kind}`]));
      const problem = endProblem(positions[i]!, { count: end.sequence.length, mismatches, error: end.error });
      return problem === undefined ? [] : [problem];
    });
    expect(problems).toEqual([]);
    expect(failures).toEqual([]);
  });
});
