/**
 * Cancellation and cleanup, from an audit of every async API from that one angle: after an abort,
 * an error, close() or `await using`, nothing keeps running (no read of the source once the call
 * that reads it has failed, no request), nothing is left open (file descriptors, sockets, timers)
 * or on disk (temporary files, shards), and no promise rejects unhandled. Each case names the
 * error its caller gets. Real components: files in a temporary folder, loopback TCP and HTTP.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { createServer as createHttpServer, type ServerResponse } from "node:http";
import { hostname } from "node:os";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { encode } from "../src/index.js";
import { FORMATS, toNpz } from "../src/interop/index.js";
import { createSetWriter, decodeStream, open, openSource, saveSet, type ByteSource, type SetReader } from "../src/node/index.js";
import { openUrl } from "../src/http.js";
import { buildChildScript, failure, tempDir } from "./helpers/node-files.js";

const dir = tempDir("ndpack-cancel-");
afterAll(() => dir.remove());

/** Every promise that rejected with nobody to handle it while a test ran: none may. */
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
beforeAll(() => void process.on("unhandledRejection", onUnhandled));
afterAll(() => void process.off("unhandledRejection", onUnhandled));
afterEach(async () => {
  // A rejection is reported unhandled once the microtasks after it have run: let them.
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(unhandled).toEqual([]);
});

/** This process's open descriptors of files under `folder`. */
function descriptorsUnder(folder: string): string[] {
  return readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(folder) ? [target] : [];
    } catch {
      return []; // closed meanwhile (the descriptor of readdir itself)
    }
  });
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A user's source over `bytes` whose reads take a few milliseconds (so that several are in flight
 * at once) and ignore the signal, counting the reads begun, those begun after `mark()` and after
 * `close()`. `spoil(n)` makes the n-th read from now come back short (FILE_CHANGED); `hold(n)`
 * keeps the n-th read from now, and every later one, waiting until `release()`.
 */
function countingSource(bytes: Uint8Array) {
  let reads = 0;
  let marked = Infinity;
  let closedAt = Infinity;
  let short = -1;
  let heldFrom = Infinity;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const source: ByteSource = {
    size: bytes.length,
    async read(offset, length) {
      const n = ++reads;
      await settle(5);
      if (n >= heldFrom) await held;
      return bytes.slice(offset, offset + (n === short ? length - 1 : length));
    },
    async close() {
      closedAt = Math.min(closedAt, reads);
    },
  };
  return {
    source,
    mark: () => void (marked = reads),
    spoil: (n: number) => void (short = reads + n),
    hold: (n: number) => void (heldFrom = reads + n),
    release: () => release(),
    get reads() {
      return reads;
    },
    get readsAfterMark() {
      return Math.max(0, reads - marked);
    },
    get readsAfterClose() {
      return Math.max(0, reads - closedAt);
    },
    get closed() {
      return closedAt !== Infinity;
    },
  };
}

describe("a read that fails or is aborted stops the reads it started with", () => {
  // 12 arrays of 64 KiB; every other one is read, so that each is a read of its own (maxGap 0).
  const file = encode(Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`a${i}`, new Float32Array(1 << 14).fill(i)])));

  test("readMany: one range read short is FILE_CHANGED; no read begins after readMany rejects, nor after close", async () => {
    const counted = countingSource(file);
    const reader = await openSource(counted.source);
    counted.spoil(2);
    const names = reader.names.filter((_, i) => i % 2 === 0);
    await failure(() => reader.readMany(names, { maxGap: 0, concurrency: 2 }), "FILE_CHANGED");
    counted.mark();
    await reader.close();
    await settle(100);
    expect(counted.readsAfterMark).toBe(0);
    expect(counted.readsAfterClose).toBe(0);
  });

  test("readMany: ABORTED, the signal's reason as cause, from a source that ignores the signal; no read begins after the abort", async () => {
    const counted = countingSource(file);
    const reader = await openSource(counted.source);
    counted.hold(1);
    const controller = new AbortController();
    const reading = reader.readMany(reader.names.filter((_, i) => i % 2 === 0), { maxGap: 0, concurrency: 2, signal: controller.signal });
    while (counted.reads < 2) await settle(1); // two reads waiting, never to end on their own
    controller.abort("enough");
    counted.mark();
    expect((await failure(() => reading, "ABORTED")).cause).toBe("enough");
    await reader.close();
    counted.release();
    await settle(100);
    expect(counted.readsAfterMark).toBe(0);
    // Aborting a signal whose reads are done changes nothing.
    const done = new AbortController();
    const again = await openSource(countingSource(file).source);
    await again.readMany(["a0", "a2"], { signal: done.signal });
    done.abort();
    await again.close();
  });

  // A .npz whose member headers are read four at a time while it is opened: 40 members of 160 KiB.
  const npz = toNpz(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`m${i}`, new Float32Array(40 * 1024).fill(i)])));

  test.each([
    ["FILE_CHANGED", "a member header read short"],
    ["ABORTED", "the signal aborted"],
  ] as const)("opening a .npz: %s (%s) stops the member-header reads; the source is closed and not read after", async (code, _how) => {
    const counted = countingSource(npz);
    const controller = new AbortController();
    // The 5th read is one of the member headers' (after the first 64 KiB, the directory and the first of them).
    if (code === "FILE_CHANGED") counted.spoil(5);
    else counted.hold(5);
    const opening = openSource(counted.source, { formats: FORMATS, signal: controller.signal });
    if (code === "ABORTED") {
      while (counted.reads < 5) await settle(1);
      controller.abort();
    }
    await failure(() => opening, code);
    counted.mark();
    counted.release();
    await settle(100);
    expect(counted.closed).toBe(true);
    expect(counted.readsAfterMark).toBe(0);
  });
});

describe("readers: nothing left open after an abort, close() (twice) or `await using`", () => {
  test("a read of 64 MiB aborted while the file is read is ABORTED; close() then leaves no descriptor, and no error of a closed handle surfaces", async () => {
    const path = dir.file("big.ndp");
    writeFileSync(path, encode({ big: new Float32Array(16 << 20).fill(1), small: new Float32Array(4) }));
    const reader = await open(path);
    expect(descriptorsUnder(dir.path)).toEqual([path]);
    const controller = new AbortController();
    const reading = reader.read("big", { signal: controller.signal }); // its pieces' reads begin within the call
    controller.abort("stop");
    expect((await failure(() => reading, "ABORTED")).cause).toBe("stop");
    const first = reader.close();
    await reader.close();
    expect(descriptorsUnder(dir.path)).toEqual([]);
    await first;
    await failure(() => reader.read("small"), "CLOSED");
    {
      await using scoped = await open(path);
      expect((await scoped.read("small")).shape).toEqual([4]);
    }
    expect(descriptorsUnder(dir.path)).toEqual([]);
  });

  test("close() after an aborted read closes the file once the read's pieces are in, never under one (strace)", async () => {
    const path = dir.file("pieces.ndp");
    writeFileSync(path, encode({ big: new Float32Array(32 << 20).fill(1) })); // 128 MiB: four pieces read at once
    const child = await buildChildScript();
    try {
      const log = dir.file("strace.log");
      const run = spawnSync("strace", ["-f", "-y", "-e", "trace=pread64,close", "-o", log, process.execPath, child.path, "abort-read", path, "20"], { encoding: "utf8" });
      expect(run.error, "strace must be installed (.ci/run installs it)").toBeUndefined();
      expect(run.status, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout.trim().split("\n").pop()!)).toEqual({ ok: true, codes: Array(20).fill("ABORTED") });
      // Threads whose pread of the file has begun and not returned ("<unfinished ...>", then "resumed>"), at each close of it.
      const reading = new Set<string>();
      const closedUnderARead: string[] = [];
      let closes = 0;
      for (const line of readFileSync(log, "utf8").split("\n")) {
        const thread = line.split(" ", 1)[0]!;
        if (line.includes("pread64(") && line.includes(`<${path}>`) && line.includes("<unfinished ...>")) reading.add(thread);
        else if (line.includes("<... pread64 resumed>")) reading.delete(thread);
        else if (line.includes("close(") && line.includes(`<${path}>`)) {
          closes++;
          if (reading.size > 0) closedUnderARead.push(line);
        }
      }
      expect(closes).toBe(20);
      expect(closedUnderARead).toEqual([]);
    } finally {
      child.remove();
    }
  }, 120_000);

  test("a set's reader: close() called twice resolves, both times, once every shard file is closed; `await using` closes them too", async () => {
    const arrays = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`a${i}`, new Float32Array(1024).fill(i)]));
    const { indexPath } = await saveSet(dir.file("set"), arrays, { maxShardBytes: 1, fsync: false });
    const set = (await open(indexPath)) as SetReader;
    await set.readMany(set.names);
    expect(descriptorsUnder(dir.path)).toHaveLength(4);
    const first = set.close();
    await set.close();
    expect(descriptorsUnder(dir.path)).toEqual([]);
    await first;
    await failure(() => set.read("a0"), "CLOSED");
    {
      await using scoped = await open(indexPath);
      await scoped.read("a3");
      expect(descriptorsUnder(dir.path)).toHaveLength(1);
    }
    expect(descriptorsUnder(dir.path)).toEqual([]);
  });
});

describe("a set writer aborted while a call is in flight", () => {
  test("the calls in flight end CLOSED and the folder is left empty (no shard, temporary file or lock), or close() was first and the set is whole; no descriptor stays open", async () => {
    const outcomes = new Set<string>();
    // The abort comes after 0 to 79 turns of the event loop: while the first write opens or
    // closes its shard, the second writes, close() seals the shards or writes the index.
    for (let turns = 0; turns < 80; turns++) {
      const folder = dir.file(`abort-${turns}`);
      const writer = await createSetWriter(folder, [{ name: "a", dtype: "uint8", shape: [100] }, { name: "b", dtype: "uint8", shape: [100] }], { maxShardBytes: 100, fsync: turns % 2 === 0 });
      const calls = [writer.write("a", new Uint8Array(100).fill(1)), writer.write("b", new Uint8Array(100).fill(2)), writer.close()];
      const results = calls.map((call) => call.then(() => "done", (error: { code?: string }) => error.code));
      for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
      await writer.abort();
      const [first, second, closed] = await Promise.all(results);
      const left = readdirSync(folder);
      if (closed === "done") {
        expect(left).toHaveLength(3);
        await using set = await open(join(folder, "model.ndp.index.json"));
        expect((await set.verify()).ok).toBe(true);
      } else {
        expect(closed).toBe("CLOSED");
        expect(left, `after ${turns} turns: ${first}, ${second}, ${closed}`).toEqual([]);
      }
      for (const outcome of [first, second]) expect(["done", "CLOSED"]).toContain(outcome);
      expect(descriptorsUnder(folder)).toEqual([]);
      outcomes.add(closed!);
    }
    expect(outcomes.has("CLOSED")).toBe(true);
  });

  test("abort() while close() waits for another writer's lock on the index: close() ends CLOSED without waiting for the lock, the new shards are removed, the other writer's lock stays", async () => {
    const folder = dir.file("locked");
    const writer = await createSetWriter(folder, [{ name: "a", dtype: "uint8", shape: [100] }], { fsync: false });
    await writer.write("a", new Uint8Array(100));
    // Held by a live process of this host (this one): not stale, so close() waits for it (up to a minute).
    const lock = join(folder, "model.ndp.index.json.lock");
    writeFileSync(lock, `${process.pid}@${hostname()}`);
    const closing = writer.close().then(() => "closed", (error: { code?: string }) => error.code);
    await settle(100); // close() seals the shard, then waits for the lock
    await writer.abort();
    expect(await closing).toBe("CLOSED");
    expect(readdirSync(folder)).toEqual(["model.ndp.index.json.lock"]);
    expect(descriptorsUnder(folder)).toEqual([]);
  });
});

describe("streams: cancelled or left early, the source is released", () => {
  test("header() asked after cancel() is CLOSED (the stream did not end: it was cancelled), ndpack or sniffed", async () => {
    const bytes = encode({ a: new Float32Array(100) });
    for (const options of [{}, { formats: FORMATS }]) {
      let cancelled = false;
      const stream = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(bytes.subarray(0, 10)), cancel: () => void (cancelled = true) });
      const reader = decodeStream(stream, options);
      await reader.cancel();
      expect(cancelled).toBe(true);
      await failure(() => reader.header(), "CLOSED");
      expect(await reader.next()).toEqual({ done: true, value: undefined });
    }
  });

  test("breaking out of decodeStream over a TCP socket destroys the socket; the peer sees the connection close", async () => {
    const file = encode(Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`a${i}`, new Float32Array(1 << 18).fill(i)])));
    let peerClosed: Promise<unknown> = Promise.resolve();
    const server = createServer((peer) => {
      peer.on("error", () => undefined); // the reader's end goes away mid-write (ECONNRESET)
      peerClosed = new Promise((resolve) => peer.on("close", resolve));
      peer.end(file);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const socket: Socket = connect((server.address() as AddressInfo).port, "127.0.0.1");
      for await (const array of decodeStream(socket)) {
        expect(array.name).toBe("a0");
        break;
      }
      expect(socket.destroyed).toBe(true);
      await peerClosed;
    } finally {
      server.close();
    }
  });
});

describe("HTTP: an aborted read leaves no connection or timer behind", () => {
  test("a read aborted mid-body is ABORTED, the signal's reason as cause; the server sees its connection close, and the request's timer is cleared", async () => {
    const file = encode({ head: new Float32Array(4), big: new Float32Array(1 << 20).fill(1) });
    let stalled: ServerResponse | undefined;
    const server = createHttpServer((request, response) => {
      const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? "")!.map(Number) as [number, number, number];
      const end = Math.min(to, file.length - 1);
      response.writeHead(206, { "content-range": `bytes ${from}-${end}/${file.length}`, "content-length": end - from + 1, etag: '"v1"' });
      if (from === 0) return response.end(file.subarray(0, end + 1));
      // The array's request: its first bytes, then nothing.
      stalled = response;
      response.write(file.subarray(from, from + 1000));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;
    try {
      const reader = await openUrl(`http://127.0.0.1:${(server.address() as AddressInfo).port}/f.ndp`);
      const before = timers();
      const controller = new AbortController();
      const reading = reader.read("big", { signal: controller.signal });
      while (stalled === undefined) await settle(5);
      const connectionClosed = new Promise((resolve) => stalled!.socket!.on("close", resolve));
      controller.abort("user left");
      expect((await failure(() => reading, "ABORTED")).cause).toBe("user left");
      await connectionClosed;
      expect(timers()).toBeLessThanOrEqual(before);
      await reader.close();
      await failure(() => reader.read("head"), "CLOSED");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
