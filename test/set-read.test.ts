/**
 * Reading sharded sets as one file (FORMAT.md §12.3): `open(index)` in ndpack/node over the vectors
 * of fixtures/sets/ and over sets written by saveSet: values byte for byte, shards opened only when
 * an array of theirs is read (and the bytes that costs), every bad set a typed error with its code
 * at the moment §12.3 says, never a partial answer, and `verify` reporting each shard and array.
 */
import { createHash } from "node:crypto";
import { copyFileSync, cpSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import type { NdArray } from "../src/index.js";
import { bytesSource } from "../src/source.js";
import { open, saveSet, type SetReader } from "../src/node/index.js";
import { openSetAt, shardUrl } from "../src/set-reader.js";
import { dataBytes, SET_VECTORS as vectors, SETS } from "./helpers/set-files.js";
import { expectBytes, failure, noise, processReads, tempDir } from "./helpers/node-files.js";

const sha256 = (array: NdArray) => createHash("sha256").update(dataBytes(array)).digest("hex");

/** The bytes of rows 1 to the end of an array whose bytes are `bytes`, laid out in `order` as readRows gives them. */
function rowsAfterFirst(bytes: Uint8Array, shape: readonly number[], order: "C" | "F"): Uint8Array {
  const rows = shape[0]!;
  const rowBytes = bytes.length / rows;
  if (order === "C" || shape.length === 1) return bytes.subarray(rowBytes);
  // F order: the first index varies fastest, so each run of `rows` elements loses its first.
  const item = rowBytes / shape.slice(1).reduce((a, b) => a * b, 1);
  const runs: Uint8Array[] = [];
  for (let start = 0; start < bytes.length; start += rows * item) runs.push(bytes.subarray(start + item, start + rows * item));
  return Buffer.concat(runs);
}
const openSet = async (path: string) => (await open(path)) as SetReader;

const dir = tempDir("ndpack-set-read-");
afterAll(() => dir.remove());
let counter = 0;

describe("valid sets (fixtures/sets/valid)", () => {
  test.each(vectors.valid.map((c) => [c.name, c] as const))("%s: every array, byte for byte, by read, readMany, readRows and readChunks", async (_, c) => {
    await using set = await openSet(join(SETS, "valid", c.name, c.index));
    expect(set.names).toEqual(c.arrays.map((a) => a.name));
    expect(set.metadata).toEqual(c.metadata);
    expect(set.size).toBe(c.arrays.length);
    for (const a of c.arrays) {
      const array = await set.read(a.name);
      // As the shard stores it, never transposed: the order it has, and its bytes in that order.
      expect([array.name, array.dtype, array.shape, array.order], a.name).toEqual([a.name, a.dtype, a.shape, a.order]);
      expect(sha256(array), a.name).toBe(a.sha256);
      expect(set.info(a.name)).toMatchObject({ dtype: a.dtype, shape: a.shape, order: a.order, nbytes: a.nbytes });
      if (a.shape.length > 0 && a.shape[0]! > 1) {
        const rows = await set.readRows(a.name, 1, a.shape[0]!);
        expectBytes(dataBytes(rows), rowsAfterFirst(dataBytes(array), a.shape, a.order));
      }
      const chunks: Uint8Array[] = [];
      for await (const chunk of set.readChunks(a.name, { chunkBytes: 8 })) chunks.push(chunk);
      expectBytes(Buffer.concat(chunks), dataBytes(array));
    }
    const many = await set.readMany([...c.arrays.map((a) => a.name)].reverse());
    expect([...many.keys()]).toEqual([...c.arrays.map((a) => a.name)].reverse());
    for (const a of c.arrays) expect(sha256(many.get(a.name)!)).toBe(a.sha256);
    const report = await set.verify();
    expect(report.ok).toBe(true);
    expect(report.arrays.map((a) => a.name)).toEqual(set.names);
    expect(report.shards.map((s) => s.name)).toEqual(set.index.shards.map((s) => s.name));
  });
});

describe("invalid sets (fixtures/sets/invalid)", () => {
  test.each(vectors.invalid.filter((c) => c.when === "index").map((c) => [c.name, c.code, c] as const))("%s: %s from open(), before any shard is opened", async (_, code, c) => {
    await failure(() => open(join(SETS, "invalid", c.name, c.index)), code as never);
  });

  test.each(vectors.invalid.filter((c) => c.when === "read").map((c) => [c.name, c.code, c] as const))("%s: %s when its shard is opened; no partial answer; verify reports it", async (_, code, c) => {
    await using set = await openSet(join(SETS, "invalid", c.name, c.index));
    const error = await failure(() => set.read(c.array!), code as never);
    // The shard is named, so that the one line the CLI prints says which file is broken.
    expect(`${error.message} ${error.path ?? ""}`).toContain(set.index.shardOf.get(c.array!)!.name);
    // Again: a failed shard is not half-open.
    await failure(() => set.read(c.array!), code as never);
    const report = await set.verify();
    expect(report.ok).toBe(false);
    const shard = report.shards.find((s) => s.name === set.index.shardOf.get(c.array!)!.name)!;
    expect(shard.ok).toBe(false);
    expect(shard.error?.code ?? shard.arrays.find((a) => !a.ok)?.error?.code).toBe(code);
    for (const other of report.shards.filter((s) => s !== shard)) expect(other.ok, `${other.name}: ${other.error?.message}`).toBe(c.name !== "name-in-two-shards" || other.name.includes("00002"));
  });

  test("missing-shard: IO_ERROR with ENOENT, naming the shard's path; the other shard still reads", async () => {
    const c = vectors.invalid.find((v) => v.name === "missing-shard")!;
    await using set = await openSet(join(SETS, "invalid", c.name, c.index));
    const error = await failure(() => set.read("embed.weight"), "IO_ERROR");
    expect((error.cause as { code?: string }).code).toBe("ENOENT");
    expect(error.path).toBe(join(SETS, "invalid", c.name, set.index.shardOf.get("embed.weight")!.name));
    expect((await set.read("layers.0.bias")).shape).toEqual([16]);
  });
});

describe("laziness", () => {
  test("open reads the index alone; one array costs its shard's first page and its own record", async () => {
    const folder = dir.file(`lazy-${counter++}`);
    const arrays = Array.from({ length: 8 }, (_, i) => [`w${i}`, { data: noise(100_000, i + 1) }] as const);
    const saved = await saveSet(folder, arrays, { maxShardBytes: 200_000 });
    expect(saved.shards).toHaveLength(4);
    const indexBytes = statSync(saved.indexPath).size;
    await using set = await openSet(saved.indexPath);
    expect(set.bytesRead).toBe(indexBytes);
    expect(set.byteLength).toBe(saved.shards.reduce((sum, name) => sum + statSync(join(folder, name)).size, 0));
    await failure(async () => set.info("w5"), "INVALID_ARGUMENT");
    const w5 = await set.read("w5");
    expectBytes(dataBytes(w5), noise(100_000, 6));
    // Index + the shard's first 4 KiB (header and padding) + w5's payload and CRC (the shard's last record: no padding after it).
    expect(set.bytesRead).toBe(indexBytes + 4096 + (100_000 + 4));
    await set.read("w4");
    // w4's record, in the shard already open: payload, CRC and the padding up to w5 (100,032 = alignUp(100,004, 64)).
    expect(set.bytesRead).toBe(indexBytes + 4096 + (100_000 + 4) + 100_032);
    expect(set.info("w5").nbytes).toBe(100_000);
    expect(set.info("w4").nbytes).toBe(100_000);
    await failure(async () => set.info("w0"), "INVALID_ARGUMENT");
    await set.openShards();
    expect(set.info("w0").nbytes).toBe(100_000);
    expect(set.checksum).toBe("crc32");
  });

  test("a shard header longer than a page: read once, with the padding up to the next page; nothing read twice", async () => {
    const folder = dir.file(`long-header-${counter++}`);
    // 300 arrays of 64 KiB with long names: each shard's header is about 30 KiB.
    const arrays = Array.from({ length: 300 }, (_, i) => [`model.layers.${i}.self_attention.query_key_value.weight`, { data: noise(65_536, i + 1) }] as const);
    const saved = await saveSet(folder, arrays, { maxShardBytes: 150 * 65_536 });
    expect(saved.shards).toHaveLength(2);
    await using set = await openSet(saved.indexPath);
    const indexBytes = set.bytesRead;
    const name = arrays[160]![0];
    const before = processReads();
    await set.read(name);
    const dataStart = set.info(set.index.shardOf.get(name)!.arrays[0]!).offset;
    expect(dataStart).toBeGreaterThan(20_000);
    // Index + the header and its padding, rounded up to a page + the array's record (payload, CRC, padding to the next record).
    const shardBytes = Math.ceil(dataStart / 4096) * 4096 + 65_536 + 64;
    expect(set.bytesRead).toBe(indexBytes + shardBytes);
    // And no more from the file system, beneath the reader's count (this process's reading of /proc aside): a
    // read ahead of 256 KiB after the header's second read once went unseen by it.
    expect(processReads().bytes - before.bytes).toBeLessThan(shardBytes + 16 * 1024);
    expect(set.readCount).toBe(1 + 2 + 1);
  });

  test("concurrent reads of one shard open it once", async () => {
    const folder = dir.file(`once-${counter++}`);
    const saved = await saveSet(folder, { a: noise(10_000), b: noise(20_000), c: noise(30_000) });
    await using set = await openSet(saved.indexPath);
    const before = set.readCount;
    await Promise.all(["a", "b", "c", "a"].map((name) => set.read(name)));
    // One read of the shard's first page, then a's own, one read ahead holding b and c (short
    // reads that follow a's, started together: they share it), and a's again.
    expect(set.readCount - before).toBe(1 + 3);
    // A shard smaller than one page is read whole when it is opened: its arrays cost nothing more.
    const small = await saveSet(dir.file(`small-${counter++}`), { a: noise(10), b: noise(20) });
    await using tiny = await openSet(small.indexPath);
    await tiny.read("a");
    await tiny.read("b");
    expect(tiny.readCount).toBe(2);
  });

  test("arrays served from a shard's first page have memory of their own: transferring one leaves the others and later reads", async () => {
    const small = await saveSet(dir.file(`own-${counter++}`), { a: Float32Array.of(1, 2, 3), b: Float32Array.of(4, 5, 6), c: Float64Array.of(7) });
    await using set = await openSet(small.indexPath);
    const a = await set.read("a", "float32");
    const b = await set.read("b", "float32");
    const unchecked = await set.read("c", "float64", { verify: false });
    expect(set.readCount).toBe(2); // the index, then the shard's first page: every array came from memory
    expect([a.copied, b.copied, unchecked.copied]).toEqual([true, true, true]);
    expect(new Set([a.data.buffer, b.data.buffer, unchecked.data.buffer]).size).toBe(3);
    structuredClone(a.data.buffer, { transfer: [a.data.buffer] });
    expect([Array.from(b.data), Array.from(unchecked.data)]).toEqual([[4, 5, 6], [7]]);
    expect(Array.from((await set.read("a", "float32")).data)).toEqual([1, 2, 3]);
  });

  test("NOT_FOUND for a name the index lacks; CLOSED after close", async () => {
    const folder = dir.file(`closed-${counter++}`);
    const saved = await saveSet(folder, { a: noise(10) });
    const set = await openSet(saved.indexPath);
    await failure(() => set.read("nope"), "NOT_FOUND");
    await set.read("a");
    await set.close();
    await failure(() => set.read("a"), "CLOSED");
    expect(set.closed).toBe(true);
  });
});

  test("an aborted signal is ABORTED (its reason the cause) from open and every read, whether the shard is yet to be opened or open; the set still reads after", async () => {
    const saved = await saveSet(dir.file(`aborted-${counter++}`), { a: noise(10), b: noise(20) }, { maxShardBytes: 16 });
    const reason = new Error("stop");
    const signal = AbortSignal.abort(reason);
    const reads: [string, (set: SetReader) => Promise<unknown>][] = [
      ["read", (set) => set.read("a", { signal })],
      ["readRows", (set) => set.readRows("a", 0, 1, { signal })],
      ["readMany", (set) => set.readMany(["a", "b"], { signal })],
      ["readChunks", async (set) => { for await (const _ of set.readChunks("a", { signal })); }],
      ["verify", (set) => set.verify({ signal })],
    ];
    for (const [what, run] of reads) {
      await using set = await openSet(saved.indexPath);
      expect(set.index.shards.length, "one array a shard").toBe(2);
      const first = await failure(() => run(set), "ABORTED");
      expect(first.cause, `${what}, shard not opened`).toBe(reason);
      await set.read("a");
      await set.read("b");
      const again = await failure(() => run(set), "ABORTED");
      expect(again.cause, `${what}, shards open`).toBe(reason);
      expect(Array.from((await set.read("a")).data as Float32Array)).toEqual(Array.from(noise(10)));
    }
    // Opening the set reads its index: aborted, as opening one file is.
    expect((await failure(() => open(saved.indexPath, { signal }), "ABORTED")).cause).toBe(reason);
  });

  test("a read joining a shard's opening that another read's signal aborts still reads: the opening is shared, each wait ends at its own abort", async () => {
    const saved = await saveSet(dir.file(`joined-${counter++}`), { a: noise(10), b: noise(20) }, { maxShardBytes: 16 });
    for (let round = 0; round < 20; round++) {
      await using set = await openSet(saved.indexPath);
      const controller = new AbortController();
      const cancelled = set.read("a", { signal: controller.signal });
      const joined = set.read("a");
      controller.abort(new Error("stop"));
      await failure(() => cancelled, "ABORTED");
      expect(Array.from((await joined).data as Float32Array)).toEqual(Array.from(noise(10)));
    }
  });

describe("a shard changed after the index was written", () => {
  test("another shard of the same size: FILE_CHANGED before any of its bytes is trusted; the set's other shards read", async () => {
    const folder = dir.file(`swap-${counter++}`);
    const saved = await saveSet(folder, { a: noise(64, 1), b: noise(64, 2) }, { maxShardBytes: 64 });
    copyFileSync(join(folder, saved.shards[1]!), join(folder, saved.shards[0]!));
    await using set = await openSet(saved.indexPath);
    const error = await failure(() => set.read("a"), "FILE_CHANGED");
    expect(error.message).toMatch(/does not match the index/);
    expectBytes(dataBytes(await set.read("b")), noise(64, 2));
  });

  test("an index over 100 MiB by default, or maxIndexBytes, is LIMIT_EXCEEDED before it is read", async () => {
    const folder = dir.file(`big-${counter++}`);
    const saved = await saveSet(folder, { a: noise(10) });
    const size = statSync(saved.indexPath).size;
    expect((await failure(() => open(saved.indexPath, { maxIndexBytes: size - 1 }), "LIMIT_EXCEEDED")).limit).toBe("maxIndexBytes");
    cpSync(folder, `${folder}-copy`, { recursive: true });
    writeFileSync(join(`${folder}-copy`, "model.ndp.index.json"), readFileSync(saved.indexPath));
    expect((await open(join(`${folder}-copy`, "model.ndp.index.json"), { maxIndexBytes: size })).names).toEqual(["a"]);
  });
});

describe("a set at a URL (openSetAt, the transport-independent part of remote sets)", () => {
  /** A URL opener over the fixtures folder, as a server would map paths, recording the URLs asked for. */
  const server = (asked: string[]) => async (url: string) => {
    asked.push(url);
    const path = decodeURIComponent(new URL(url).pathname.replace(/^\/sets\//, ""));
    return bytesSource(new Uint8Array(readFileSync(join(SETS, path))));
  };

  test("shard names become one percent-encoded path segment next to the index", () => {
    const index = "https://cdn.test/a/b/model.ndp.index.json?token=x";
    expect(shardUrl(index, { name: "part #1 (50%)?.ndp" })).toBe("https://cdn.test/a/b/part%20%231%20(50%25)%3F.ndp");
    expect(shardUrl(index, { name: "données.ndp" })).toBe("https://cdn.test/a/b/donn%C3%A9es.ndp");
  });

  test.each(vectors.valid.map((c) => [c.name, c] as const))("%s: the index, then only the shards read, at their URLs; bytes as in the vectors", async (_, c) => {
    const asked: string[] = [];
    const base = `https://cdn.test/sets/valid/${encodeURIComponent(c.name)}/`;
    await using set = await openSetAt(`${base}${c.index}`, server(asked));
    expect(asked).toEqual([`${base}${c.index}`]);
    if (c.arrays.length === 0) return;
    const last = c.arrays[c.arrays.length - 1]!;
    expect(sha256(await set.read(last.name))).toBe(last.sha256);
    expect(asked).toEqual([`${base}${c.index}`, shardUrl(`${base}${c.index}`, { name: last.shard })]);
    for (const a of c.arrays) expect(sha256(await set.read(a.name))).toBe(a.sha256);
    expect(asked.length).toBe(1 + new Set(c.arrays.map((a) => a.shard)).size);
  });

  test("shards in memory (bytesSource): arrays past a shard's first page are copies, not views of the shard's bytes: transferring one leaves them and later reads", async () => {
    const saved = await saveSet(dir.file(`memory-${counter++}`), { a: Float32Array.of(1, 2, 3), big: Float64Array.from({ length: 2000 }, (_, i) => i) });
    const shards: Uint8Array[] = [];
    await using set = await openSetAt("https://cdn.test/set/model.ndp.index.json", async (url) => {
      const bytes = new Uint8Array(readFileSync(join(saved.indexPath, "..", decodeURIComponent(new URL(url).pathname.split("/").pop()!))));
      shards.push(bytes);
      return bytesSource(bytes);
    });
    const big = await set.read("big", "float64");
    const many = await set.readMany(["a", "big"]);
    const arrays = [big, ...many.values()];
    expect(arrays.map((a) => a.copied)).toEqual([true, true, true]);
    for (const array of arrays) expect(shards.some((bytes) => bytes.buffer === array.data.buffer)).toBe(false);
    structuredClone(big.data.buffer, { transfer: [big.data.buffer] });
    expect(shards.map((bytes) => bytes.byteLength > 0)).toEqual(shards.map(() => true));
    expect(Array.from((await set.read("big", "float64")).data.subarray(0, 3))).toEqual([0, 1, 2]);
  });

  test("an index over maxIndexBytes is LIMIT_EXCEEDED before it is read; an unsafe shard name is SET_INVALID before any shard is asked for", async () => {
    const asked: string[] = [];
    const error = await failure(() => openSetAt("https://cdn.test/sets/valid/ndpack-two-shards/model.ndp.index.json", server(asked), { maxIndexBytes: 100 }), "LIMIT_EXCEEDED");
    expect(error.limit).toBe("maxIndexBytes");
    asked.length = 0;
    await failure(() => openSetAt("https://cdn.test/sets/invalid/shard-parent-folder/model.ndp.index.json", server(asked)), "SET_INVALID");
    expect(asked).toHaveLength(1);
  });
});
