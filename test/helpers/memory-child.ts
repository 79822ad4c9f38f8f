/**
 * Reads one file with one read path and prints `{"code":...,"peakMiB":...}`: the NdpackError code
 * it ended with (null when it succeeded) and this process's peak resident memory (VmHWM, its own
 * pages only: ru_maxrss would count the parent's at fork). Run bundled by memory-hostile.test.ts:
 *
 *   <decode|load|open|decodeStream|decodeMessages|connectMessages|fromNpz> <path>
 */
import { createServer } from "node:net";
import { createReadStream, readFileSync } from "node:fs";
import { decode, isNdpackError } from "../../src/index.js";
import { fromNpz } from "../../src/interop/index.js";
import { connectMessages, decodeMessages, decodeStream, load, open } from "../../src/node/index.js";

/** Every array of the messages of `messages`, read and dropped. */
async function drainMessages(messages: AsyncIterable<AsyncIterable<unknown>>): Promise<void> {
  for await (const message of messages) for await (const _array of message);
}

/** The file's bytes sent by a TCP server, read with connectMessages (the socket's `onread` landing). */
async function overSocket(bytes: Uint8Array): Promise<void> {
  const server = createServer((socket) => socket.end(bytes));
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  try {
    const { port } = server.address() as { port: number };
    await drainMessages(connectMessages({ host: "127.0.0.1", port }).messages);
  } finally {
    server.close();
  }
}

async function read(operation: string, path: string): Promise<void> {
  switch (operation) {
    case "decode": {
      const file = decode(readFileSync(path));
      for (const name of file.names) file.get(name);
      return;
    }
    case "load": {
      const file = await load(path);
      for (const name of file.names) file.get(name);
      return;
    }
    case "open": {
      await using reader = await open(path);
      for (const name of reader.names) await reader.read(name);
      return;
    }
    case "decodeStream":
      for await (const _array of decodeStream(createReadStream(path)));
      return;
    case "decodeMessages":
      return drainMessages(decodeMessages(createReadStream(path)));
    case "connectMessages":
      return overSocket(readFileSync(path));
    case "fromNpz":
      fromNpz(readFileSync(path));
      return;
    default:
      throw new Error(`unknown operation ${operation}`);
  }
}

const [operation, path] = process.argv.slice(2) as [string, string];
let code: string | null = null;
try {
  await read(operation, path);
} catch (error) {
  if (!isNdpackError(error)) throw error;
  code = error.code;
}
const peakKiB = Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]);
console.log(JSON.stringify({ code, peakMiB: Math.round(peakKiB / 1024) }));
