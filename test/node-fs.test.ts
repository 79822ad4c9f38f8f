import { execFileSync } from "node:child_process";
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { open as openHandle } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decode, encode, encodedSize, NdpackError, type ArraysInput, type EncodeOptions } from "../src/index.js";
import { load, open, save } from "../src/node/index.js";
import { buildChildScript, childOutcome, expectBytes, failure, noise, tempDir, values } from "./helpers/node-files.js";

const dir = tempDir("ndpack-fs-");
afterAll(() => dir.remove());
let counter = 0;
const fresh = (name = "f") => dir.file(`${name}-${counter++}.ndp`);

const sample = (): ArraysInput => ({
  weights: { data: Float32Array.from({ length: 24 }, (_, i) => i / 3), shape: [4, 6] },
  labels: new Int32Array([3, -1, 4, 1, 5]),
  ids: { data: new BigInt64Array([1n, -(2n ** 62n), 7n, 8n]), shape: [2, 2] },
  scalar: { data: new Float64Array([Math.E]), shape: [] },
  empty: { data: new Int16Array(0), shape: [0, 5] },
  columns: { data: Float64Array.from({ length: 6 }, (_, i) => i), shape: [3, 2], order: "F" },
  vector: { data: Float64Array.from({ length: 6 }, (_, i) => -i), order: "F" },
  noise: { data: noise(200_000), shape: [1000, 200] },
});

const OPTION_SETS: readonly EncodeOptions[] = [
  {},
  { alignment: 8, checksum: "none", metadata: { note: "café" } },
  { alignment: 4096, byteOrder: "big" },
  { codec: "shuffle+deflate" },
];

/** Files in `dir` other than the given ones: leftovers such as temporary files. */
const others = (directory: string, ...expected: string[]) => readdirSync(directory).filter((name) => !expected.includes(name));

describe("save", () => {
  test.each(OPTION_SETS.map((options, i) => [i, options] as const))("writes exactly the bytes of encode (option set %i) and no temporary file is left", async (_, options) => {
    const folder = tempDir();
    try {
      const path = folder.file("out.ndp");
      await save(path, sample(), options);
      expectBytes(readFileSync(path), encode(sample(), options));
      expect(others(folder.path, "out.ndp")).toEqual([]);
    } finally {
      folder.remove();
    }
  });

  test("replaces an existing file, keeping its permission bits; accepts file: URLs, as URL objects and as strings", async () => {
    const path = fresh();
    writeFileSync(path, "old contents");
    chmodSync(path, 0o640);
    await save(new URL(`file://${path}`), { a: new Int8Array([1, 2]) }, { fsync: false });
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(values(decode(readFileSync(path)).get("a").data)).toEqual([1, 2]);
    // As a string too, as http(s):// strings are URLs (it was a relative path starting "file:").
    await save(`file://${path}`, { a: new Int8Array([3]) }, { fsync: false });
    expect(values((await load(`file://${path}`)).get("a").data)).toEqual([3]);
    await using reader = await open(`FILE://${path}`);
    expect(values((await reader.read("a")).data)).toEqual([3]);
    // One that is no URL, or names a host: INVALID_ARGUMENT (a raw TypeError, before).
    await failure(() => open("file://[bad/x.ndp"), "INVALID_ARGUMENT");
    await failure(() => save("file://server/share/x.ndp", { a: new Int8Array([3]) }), "INVALID_ARGUMENT");
  });

  test("saving through a symlink with followSymlinks replaces the file it points to and keeps the link (without it: NOT_REGULAR_FILE, test/write-targets.test.ts)", async () => {
    const real = fresh("real");
    const link = fresh("link");
    writeFileSync(real, "old");
    symlinkSync(real, link);
    await save(link, { a: new Uint8Array([9]) }, { followSymlinks: true });
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(values(decode(readFileSync(real)).get("a").data)).toEqual([9]);
  });

  test("argument errors are thrown before any file is touched", async () => {
    const folder = tempDir();
    try {
      const path = folder.file("keep.ndp");
      writeFileSync(path, "old");
      await failure(() => save(path, { a: { data: new Float32Array(2), dtype: "float128" as never } }), "UNKNOWN_DTYPE");
      await failure(() => save(path, { a: new Float32Array(2) }, { alignment: 3 }), "INVALID_ARGUMENT");
      await failure(() => save(path, { a: new Float32Array(2) }, { fsync: "yes" as never }), "INVALID_ARGUMENT");
      await failure(() => save("", { a: new Float32Array(2) }), "INVALID_ARGUMENT");
      expect(readFileSync(path, "utf8")).toBe("old");
      expect(others(folder.path, "keep.ndp")).toEqual([]);
    } finally {
      folder.remove();
    }
  });

  test("more pieces than one writev takes (IOV_MAX) are written in batches", async () => {
    const arrays = Object.fromEntries(Array.from({ length: 700 }, (_, i) => [`a${i}`, noise(65536, i + 1)]));
    const path = fresh();
    await save(path, arrays, { fsync: false });
    expectBytes(readFileSync(path), encode(arrays));
  });

  test("runs of 64 MiB of zeros are left as holes, and read back as zeros", async () => {
    const path = fresh();
    const zeros = new Float32Array(48 << 20); // 192 MiB, never touched: costs no memory
    const tail = Float32Array.of(1, 2, 3);
    await save(path, { zeros, tail }, { fsync: false });
    const stats = statSync(path);
    expect(stats.size).toBe(encodedSize({ zeros, tail }));
    expect(stats.blocks * 512).toBeLessThan(1 << 20);
    await using reader = await open(path);
    const read = await reader.read("zeros", { verify: true });
    expect(read.data.length).toBe(zeros.length);
    expect(Buffer.from(read.data.buffer, read.data.byteOffset, read.data.byteLength).equals(Buffer.alloc(zeros.byteLength))).toBe(true);
    expect(values((await reader.read("tail", { verify: true })).data)).toEqual([1, 2, 3]);
  });

  test("IO_ERROR with ENOENT as cause when the directory does not exist; nothing is created", async () => {
    const path = dir.file("missing/dir/f.ndp");
    const error = await failure(() => save(path, { a: new Int8Array(1) }), "IO_ERROR");
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
    expect(error.path).toBe(path);
  });

  test("NOT_REGULAR_FILE when the path is a directory, IO_ERROR with ENOENT as cause when its folder is missing; no temporary file is left", async () => {
    const folder = tempDir();
    try {
      mkdirSync(folder.file("target"));
      await failure(() => save(folder.file("target"), { a: new Int8Array(1) }), "NOT_REGULAR_FILE");
      const error = await failure(() => save(folder.file("missing/target"), { a: new Int8Array(1) }), "IO_ERROR");
      expect((error.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
      expect(others(folder.path, "target")).toEqual([]);
    } finally {
      folder.remove();
    }
  });
});

describe("load", () => {
  test.each(OPTION_SETS.map((options, i) => [i, options] as const))("returns the file decode returns, with zero-copy views (option set %i)", async (_, options) => {
    const path = fresh();
    await save(path, sample(), options);
    const file = await load(path, { verify: true });
    const expected = decode(encode(sample(), options));
    expect(file.names).toEqual(expected.names);
    expect(file.metadata).toEqual(expected.metadata);
    for (const name of file.names) {
      const array = file.get(name);
      const reference = expected.get(name);
      expectBytes(array.data, reference.data);
      expect(array.copied).toBe(reference.copied);
      expect(array.data.byteOffset % array.data.BYTES_PER_ELEMENT).toBe(0);
    }
    if (options.byteOrder === undefined && options.codec === undefined) {
      expect(file.get("weights").copied).toBe(false);
      // Every view is of one buffer: the file's.
      expect(file.get("weights").data.buffer).toBe(file.get("labels").data.buffer);
      expect(file.get("weights").data.buffer.byteLength).toBe(statSync(path).size);
    }
  });

  test("reads the header once: a file in one read, a header over 64 KiB (read again), padding past the header's reads (alignment 65536)", async () => {
    const many = Object.fromEntries(Array.from({ length: 900 }, (_, i) => [`layer.${i}.weight`, Float32Array.from({ length: 16 }, (_, j) => i + j / 16)]));
    const cases: [string, ArraysInput, EncodeOptions][] = [
      ["small", sample(), {}],
      ["header over 64 KiB", many, {}],
      ["header over 64 KiB, alignment 65536", many, { alignment: 65536 }],
    ];
    for (const [label, arrays, options] of cases) {
      const path = fresh();
      const bytes = encode(arrays, options);
      writeFileSync(path, bytes);
      const file = await load(path);
      const expected = decode(bytes, { verify: true });
      expect(file.names, label).toEqual(expected.names);
      for (const name of file.names) expectBytes(file.get(name).data, expected.get(name).data);
      expect(file.get(file.names[0]!).data.buffer.byteLength, label).toBe(bytes.length);
    }
    // A padding byte that is not zero past the header's reads (which end at the next 4 KiB after the header).
    const bytes = encode(many, { alignment: 65536 });
    const headerEnd = 20 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
    const at = Math.ceil(headerEnd / 4096) * 4096 + 100;
    expect([headerEnd > 64 * 1024, at < decode(bytes).info(decode(bytes).names[0]!).offset]).toEqual([true, true]);
    bytes[at] = 1;
    const path = fresh();
    writeFileSync(path, bytes);
    expect((await failure(() => load(path), "BAD_PADDING")).offset).toBe(at);
  });

  test("passes decode's options on: copy: 'never' and verify", async () => {
    const path = fresh();
    await save(path, { a: new Int32Array([1, 2]) }, { byteOrder: "big" });
    await failure(() => load(path, { copy: "never" }).then((file) => file.get("a")), "COPY_REQUIRED");
    await failure(() => load(path, { copy: "sometimes" as never }), "INVALID_ARGUMENT");
    const bytes = readFileSync(path);
    bytes[decode(bytes).info("a").offset]! ^= 1;
    writeFileSync(path, bytes);
    await failure(() => load(path, { verify: true }), "CHECKSUM");
  });

  test("format errors: BAD_MAGIC, TRUNCATED, TRAILING_BYTES, HEADER_TOO_LARGE", async () => {
    const bytes = encode({ a: new Int8Array(100) });
    const path = fresh();
    writeFileSync(path, "this is not an ndpack file");
    await failure(() => load(path), "BAD_MAGIC");
    writeFileSync(path, bytes.subarray(0, bytes.length - 1));
    await failure(() => load(path), "TRUNCATED");
    writeFileSync(path, Buffer.concat([bytes, Buffer.of(0)]));
    await failure(() => load(path), "TRAILING_BYTES");
    writeFileSync(path, bytes);
    await failure(() => load(path, { maxHeaderBytes: 16 }), "HEADER_TOO_LARGE");
    writeFileSync(path, new Uint8Array(0));
    await failure(() => load(path), "TRUNCATED");
  });

  test("IO_ERROR with ENOENT as cause for a missing file; INVALID_ARGUMENT for a directory", async () => {
    const error = await failure(() => load(dir.file("nope.ndp")), "IO_ERROR");
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
    expect(error.path).toBe(dir.file("nope.ndp"));
    await failure(() => load(dir.path), "INVALID_ARGUMENT");
  });
});

describe("open", () => {
  test("reads only the header; names, metadata and info need no I/O", async () => {
    const path = fresh();
    await save(path, { big: noise(1 << 20), small: new Int16Array([1, 2, 3]) }, { metadata: { step: 12 } });
    const reader = await open(path);
    try {
      const afterOpen = reader.bytesRead;
      expect(afterOpen).toBeLessThanOrEqual(64 * 1024); // one first read (FIRST_READ_BYTES), which holds this header
      expect(reader.names).toEqual(["big", "small"]);
      expect(reader.metadata).toEqual({ step: 12 });
      expect(reader.info("small")).toMatchObject({ dtype: "int16", shape: [3], byteLength: 6, nbytes: 6 });
      expect(reader.has("small")).toBe(true);
      expect(reader.has("other")).toBe(false);
      expect(reader.byteLength).toBe(statSync(path).size);
      expect(reader.bytesRead).toBe(afterOpen);
      expect(() => reader.info("other")).toThrow(NdpackError);
    } finally {
      await reader.close();
    }
  });

  test("read with verify: false returns each array in fresh aligned memory with one read of exactly its bytes", async () => {
    for (const options of OPTION_SETS) {
      const path = fresh();
      await save(path, sample(), options);
      const expected = decode(encode(sample(), options));
      await using reader = await open(path);
      // Last to first: arrays under 64 KiB read in order are read ahead (test/reader.test.ts).
      for (const name of [...reader.names].reverse()) {
        const before = reader.bytesRead;
        const array = await reader.read(name, { verify: false });
        expect(reader.bytesRead - before).toBe(expected.info(name).byteLength);
        const { data, copied, ...info } = array;
        const { data: expectedData, copied: _, ...expectedInfo } = expected.get(name);
        expect(info).toEqual(expectedInfo);
        expectBytes(data, expectedData);
        expect(data.constructor).toBe(expectedData.constructor);
        expect(copied).toBe(true);
        expect(data.byteOffset).toBe(0);
        expect(data.buffer.byteLength).toBe(array.nbytes);
      }
    }
  });

  test("read with verify reads the CRC and padding in the same read, and finds damage", async () => {
    const path = fresh();
    await save(path, { a: new Int32Array([1, 2, 3]), b: new Float64Array([4]) });
    const bytes = readFileSync(path);
    const file = decode(bytes);
    {
      await using reader = await open(path);
      const before = reader.bytesRead;
      await reader.read("a", { verify: true });
      expect(reader.bytesRead - before).toBe(file.info("b").offset - file.info("a").offset);
      await failure(() => reader.read("a", { verify: "yes" as never }), "INVALID_ARGUMENT");
    }
    const damaged = Buffer.from(bytes);
    damaged[file.info("a").offset + 5]! ^= 0x40;
    writeFileSync(path, damaged);
    {
      await using reader = await open(path);
      const error = await failure(() => reader.read("a", { verify: true }), "CHECKSUM");
      expect(error.array).toBe("a");
      await failure(() => reader.read("a"), "CHECKSUM"); // verified by default
      expect((await reader.read("a", { verify: false })).data[1]).not.toBe(2); // without verify the damage goes unseen
      expect(values((await reader.read("b", { verify: true })).data)).toEqual([4]);
    }
    const padded = Buffer.from(bytes);
    padded[file.info("a").offset + 12 + 4 + 3] = 7;
    writeFileSync(path, padded);
    {
      await using reader = await open(path);
      const error = await failure(() => reader.read("a", { verify: true }), "BAD_PADDING");
      expect(error.offset).toBe(file.info("a").offset + 12 + 4 + 3);
      expect(error.array).toBe("a");
    }
  });

  test("read decompresses within maxDecodedBytes", async () => {
    const path = fresh();
    await save(path, { a: new Float64Array(1000).fill(1.5) }, { codec: "deflate" });
    await using reader = await open(path, { maxDecodedBytes: 4000 });
    expect(reader.info("a").codec).toBe("deflate");
    await failure(() => reader.read("a"), "LIMIT_EXCEEDED");
    await using generous = await open(path);
    expect((await generous.read("a", { verify: true })).data.every((v) => v === 1.5)).toBe(true);
  });

  test("readRows reads a contiguous range of rows with one read of exactly those bytes", async () => {
    const path = fresh();
    const data = Float64Array.from({ length: 60 }, (_, i) => i);
    for (const byteOrder of ["little", "big"] as const) {
      await save(path, { m: { data, shape: [10, 3, 2] }, v: { data: Int16Array.of(5, 6, 7), order: "F" }, z: { data: new Int8Array(0), shape: [0, 4] } }, { byteOrder });
      await using reader = await open(path);
      const before = reader.bytesRead;
      const rows = await reader.readRows("m", 2, 5);
      expect(reader.bytesRead - before).toBe(3 * 6 * 8);
      expect(rows.shape).toEqual([3, 3, 2]);
      expect(values(rows.data)).toEqual(Array.from(data.subarray(12, 30)));
      expect(rows.offset).toBe(reader.info("m").offset + 2 * 48);
      expect(rows).toMatchObject({ nbytes: 144, byteLength: 144, byteOrder, codec: "none", copied: true });
      expect(values((await reader.readRows("m", 9, 10)).data)).toEqual(Array.from(data.subarray(54, 60)));
      expect((await reader.readRows("m", 4, 4)).shape).toEqual([0, 3, 2]);
      expect(values((await reader.readRows("v", 1, 3)).data)).toEqual([6, 7]); // 1-D F-order: same bytes as C
      expect((await reader.readRows("z", 0, 0)).data.length).toBe(0);
    }
  });

  test("readRows refuses 0-d arrays and rows out of range, and reads F-order and compressed arrays whole", async () => {
    const path = fresh();
    await save(path, {
      f: { data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3], order: "F" },
      c: { data: new Float32Array(60).fill(1), shape: [2, 30], codec: "deflate" },
      s: { data: new Float32Array(1), shape: [] },
      m: { data: new Float32Array(6), shape: [2, 3] },
    });
    await using reader = await open(path);
    expect(reader.info("c").codec).toBe("deflate");
    expect((await failure(() => reader.readRows("s", 0, 1), "INVALID_ARGUMENT")).array).toBe("s");
    // Every array has 2 rows.
    for (const [start, end] of [[0, 3], [-1, 1], [2, 1], [0.5, 1], [0, Number.NaN]] as const) {
      for (const name of ["m", "f", "c"]) await failure(() => reader.readRows(name, start, end), "INVALID_ARGUMENT");
    }
    await failure(() => reader.readRows("nope", 0, 1), "NOT_FOUND");
    await failure(() => reader.read("nope"), "NOT_FOUND");
    const before = reader.bytesRead;
    expect(values((await reader.readRows("f", 1, 2)).data)).toEqual([2, 4, 6]);
    expect(reader.bytesRead - before).toBe(reader.info("c").offset - reader.info("f").offset); // its whole record: payload, CRC, padding
    expect(values((await reader.readRows("c", 1, 2)).data)).toEqual(new Array(30).fill(1));
  });

  test("CLOSED after close; close twice is fine; await using closes", async () => {
    const path = fresh();
    await save(path, { a: new Int8Array([1]) });
    const reader = await open(path);
    await reader.close();
    await reader.close();
    expect(reader.closed).toBe(true);
    await failure(() => reader.read("a"), "CLOSED");
    await failure(() => reader.readRows("a", 0, 1), "CLOSED");
    expect(reader.names).toEqual(["a"]);
    let kept: Awaited<ReturnType<typeof open>> | undefined;
    {
      await using scoped = await open(path);
      kept = scoped;
      expect(scoped.closed).toBe(false);
    }
    expect(kept.closed).toBe(true);
  });

  test("close waits for reads in flight, which complete", async () => {
    const path = fresh();
    const data = noise(8 << 20);
    await save(path, { data });
    const reader = await open(path);
    const reads = [reader.read("data", { verify: true }), reader.readRows("data", 100, 200)];
    const closing = reader.close();
    await failure(() => reader.read("data"), "CLOSED");
    const [whole, rows] = await Promise.all(reads);
    await closing;
    expectBytes(whole!.data, data);
    expectBytes(rows!.data, data.subarray(100, 200));
  });

  test("FILE_CHANGED when the file is truncated after open, never wrong bytes", async () => {
    const path = fresh();
    await save(path, { a: noise(10_000), b: noise(10_000, 2) });
    await using reader = await open(path);
    truncateSync(path, reader.info("b").offset + 100);
    const error = await failure(() => reader.read("b"), "FILE_CHANGED");
    expect(error.path).toBe(path);
    await failure(() => reader.read("a"), "FILE_CHANGED"); // still complete, but the file is not what was opened
    await failure(() => reader.readRows("a", 0, 10), "FILE_CHANGED");
  });

  test("FILE_CHANGED when the file is modified in place with the same size", async () => {
    const path = fresh();
    await save(path, { a: noise(10_000) });
    await using reader = await open(path);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const handle = await openHandle(path, "r+");
    await handle.write(Uint8Array.of(1, 2, 3), 0, 3, reader.info("a").offset);
    await handle.close();
    await failure(() => reader.read("a"), "FILE_CHANGED");
  });

  test("a file replaced by save (rename) is not a change: the reader keeps reading the file it opened", async () => {
    const path = fresh();
    const first = noise(5000, 1);
    await save(path, { a: first });
    await using reader = await open(path);
    await save(path, { a: noise(5000, 2) });
    expectBytes((await reader.read("a", { verify: true })).data, first);
  });

  test("IO_ERROR with ENOENT as cause; INVALID_ARGUMENT for a directory and bad limits", async () => {
    const error = await failure(() => open(dir.file("missing.ndp")), "IO_ERROR");
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
    await failure(() => open(dir.path), "INVALID_ARGUMENT");
    await failure(() => open(dir.file("x"), { maxArrays: -1 }), "INVALID_ARGUMENT");
    await failure(() => open(42 as never), "INVALID_ARGUMENT");
  });

  test("format errors of steps 1–21 at open: BAD_MAGIC, TRUNCATED, BAD_PADDING", async () => {
    const bytes = encode({ a: new Int8Array(10) });
    const path = fresh();
    writeFileSync(path, Buffer.from("\x89NDQ"));
    await failure(() => open(path), "BAD_MAGIC");
    writeFileSync(path, bytes.subarray(0, 30));
    await failure(() => open(path), "TRUNCATED");
    const padding = Buffer.from(bytes);
    padding[decode(bytes).info("a").offset - 1] = 1;
    writeFileSync(path, padding);
    await failure(() => open(path), "BAD_PADDING");
  });

  test("headers longer than the first read are read in full", async () => {
    const path = fresh();
    const arrays = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`array.number.${i}`, Int32Array.of(i)]));
    await save(path, arrays, { metadata: { text: "x".repeat(10_000) } });
    await using reader = await open(path);
    expect(reader.size).toBe(300);
    expect(values((await reader.read("array.number.299", { verify: true })).data)).toEqual([299]);
  });
});

describe("permissions and full disks", () => {
  let child: Awaited<ReturnType<typeof buildChildScript>>;
  beforeAll(async () => {
    child = await buildChildScript();
  });
  afterAll(() => child.remove());
  const isRoot = process.getuid?.() === 0;
  const asOther = isRoot ? { uid: 65534, gid: 65534 } : {};

  test("EACCES: IO_ERROR with the OS error as cause, for save, load, open and createWriter", async () => {
    const folder = tempDir();
    try {
      chmodSync(folder.path, 0o755);
      const locked = folder.file("locked");
      mkdirSync(locked, { mode: 0o555 });
      chmodSync(locked, 0o555);
      const secret = folder.file("secret.ndp");
      writeFileSync(secret, encode({ a: new Int8Array(1) }));
      chmodSync(secret, 0o000);
      const target = `${locked}/f.ndp`;
      const operations = [["save", target, "100"], ["writer", target, "100"], ["load", secret], ["open", secret]] as const;
      const outcomes = await Promise.all(operations.map((args) => childOutcome(child.path, args, asOther)));
      outcomes.forEach((outcome, i) => expect(outcome, operations[i]![0]).toMatchObject({ ok: false, code: "IO_ERROR", causeCode: "EACCES" }));
      expect(readdirSync(locked)).toEqual([]);
    } finally {
      chmodSync(folder.path, 0o700);
      folder.remove();
    }
  });

  /**
   * Runs `check` against a file system that is full after about 1 MiB: a 1 MiB tmpfs when this
   * process may mount one (root on Linux), else a child whose file size limit is 1 MiB (`ulimit -f`,
   * EFBIG). Fails, never skips, when neither can be arranged.
   */
  async function withFullDisk(check: (directory: string, viaChild: boolean) => Promise<void>): Promise<void> {
    const folder = tempDir();
    let mounted = false;
    try {
      // NDPACK_TEST_NO_MOUNT=1 exercises the fallback where mounting is possible.
      if (process.env.NDPACK_TEST_NO_MOUNT !== "1") {
        try {
          execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "ndpack-test", folder.path], { stdio: "pipe" });
          mounted = true;
        } catch {
          // Not allowed to mount here: fall back to a file size limit in a child process.
        }
      }
      await check(folder.path, !mounted);
    } finally {
      if (mounted) execFileSync("umount", [folder.path]);
      folder.remove();
    }
  }

  test("ENOSPC (or EFBIG): IO_ERROR with the OS error as cause; the old file is intact and no temporary file is left", async () => {
    await withFullDisk(async (directory, viaChild) => {
      const path = `${directory}/data.ndp`;
      const old = encode({ old: new Int8Array([1, 2, 3]) });
      writeFileSync(path, old);
      const size = String(3 << 20);
      if (viaChild) {
        let outcome;
        try {
          outcome = await childOutcome(child.path, ["save", path, size], { shellPrefix: "ulimit -f 1024" });
        } catch (error) {
          throw new Error(`cannot arrange a full disk: mounting a tmpfs failed and so did a child with ulimit -f (${String(error)})`);
        }
        expect(outcome).toMatchObject({ ok: false, code: "IO_ERROR" });
        expect(["ENOSPC", "EFBIG"]).toContain(outcome.causeCode);
        expect(await childOutcome(child.path, ["writer", path, size], { shellPrefix: "ulimit -f 1024" })).toMatchObject({ ok: false, code: "IO_ERROR" });
        expect(await childOutcome(child.path, ["writer-shuffle", path, size], { shellPrefix: "ulimit -f 1024" })).toMatchObject({ ok: false, code: "IO_ERROR" });
      } else {
        const { save: saveHere, createWriter } = await import("../src/node/index.js");
        const error = await failure(() => saveHere(path, { data: noise(3 << 20) }), "IO_ERROR");
        expect((error.cause as NodeJS.ErrnoException).code).toBe("ENOSPC");
        const writer = await createWriter(path, [{ name: "data", dtype: "uint8", shape: [3 << 20] }]);
        const chunk = noise(1 << 16);
        let writeError: unknown;
        try {
          for (let i = 0; i < 48; i++) await writer.write("data", chunk);
          await writer.close();
        } catch (caught) {
          writeError = caught;
        }
        expect(writeError).toBeInstanceOf(NdpackError);
        expect((writeError as NdpackError).code).toBe("IO_ERROR");
        expect(((writeError as NdpackError).cause as NodeJS.ErrnoException).code).toBe("ENOSPC");
        await failure(() => writer.close(), "IO_ERROR");
        // shuffle+deflate fills its scratch file first: the same IO_ERROR (it was the bare ENOSPC).
        const shuffled = await createWriter(path, [{ name: "data", dtype: "float32", shape: [3 << 18], codec: "shuffle+deflate" }]);
        let shuffleError: unknown;
        try {
          for (let i = 0; i < 48; i++) await shuffled.write("data", chunk);
          await shuffled.close();
        } catch (caught) {
          shuffleError = caught;
        }
        expect(shuffleError).toBeInstanceOf(NdpackError);
        expect([(shuffleError as NdpackError).code, ((shuffleError as NdpackError).cause as NodeJS.ErrnoException).code]).toEqual(["IO_ERROR", "ENOSPC"]);
      }
      expectBytes(readFileSync(path), old);
      expect(readdirSync(directory)).toEqual(["data.ndp"]);
    });
  });
});
