/**
 * The lazy reader over a user's ByteSource that misbehaves (an audit's findings, each a failure the
 * reader must turn into a typed error, or survive): a size that changes after open, a source that
 * ignores the abort signal, .npz archives whose claims would make the reader fetch gigabytes, a
 * close() that throws, a readWithCrc32 without a CRC, reads of nothing counted, and close() twice.
 */
import { describe, expect, test } from "vitest";
import { encode } from "../src/index.js";
import { FORMATS, toNpz, toNpy, toSafetensors } from "../src/interop/index.js";
import { openSource, type ByteSource } from "../src/source.js";
import { crc32 } from "../src/crc32.js";
import { failureAsync } from "./helpers/common.js";

const memory = (bytes: Uint8Array): ByteSource => ({ size: bytes.length, read: async (offset, length) => bytes.slice(offset, offset + length) });

describe("a source whose size changes after open", () => {
  const files = {
    npy: toNpy({ data: new Float32Array(12).fill(1), shape: [4, 3] }),
    ndpack: encode({ b: new Float32Array(100).fill(2), c: new Int16Array(6).fill(3) }),
    safetensors: toSafetensors({ b: new Float32Array(100).fill(2) }),
  };
  test.each(Object.keys(files))("%s: the size at open holds; a source that then gives fewer bytes is FILE_CHANGED, never a shorter array", async (format) => {
    const bytes = files[format as keyof typeof files];
    let shrunk = false;
    const live = () => (shrunk ? bytes.length - 200 : bytes.length);
    const keepsBytes = { get size() { return live(); }, read: async (offset: number, length: number) => bytes.slice(offset, offset + length) };
    const reader = await openSource(keepsBytes, { formats: FORMATS });
    shrunk = true;
    for (const name of reader.names) expect((await reader.read(name)).data.length).toBe(reader.info(name).nbytes / (reader.info(name).dtype === "int16" ? 2 : 4));
    shrunk = false;
    const cut = { get size() { return live(); }, read: async (offset: number, length: number) => bytes.slice(offset, Math.min(offset + length, live())) };
    const cutReader = await openSource(cut, { formats: FORMATS });
    shrunk = true;
    const last = cutReader.names[cutReader.names.length - 1]!;
    await failureAsync(() => cutReader.read(last), "FILE_CHANGED");
  });
});

describe("a source that ignores the abort signal (its reads never end)", () => {
  test("read, open and close still end: ABORTED, and close resolves", async () => {
    const bytes = encode({ a: new Float32Array(10) });
    let stall = false;
    const source: ByteSource = { size: bytes.length, read: (offset, length) => (stall ? new Promise(() => undefined) : Promise.resolve(bytes.slice(offset, offset + length))) };
    const reader = await openSource(source);
    stall = true;
    await failureAsync(() => reader.read("a", { signal: AbortSignal.timeout(30) }), "ABORTED");
    await reader.close();
    expect(reader.closed).toBe(true);
    await failureAsync(() => openSource({ size: bytes.length, read: () => new Promise(() => undefined) }, { signal: AbortSignal.timeout(30) }), "ABORTED");
  });
});

/** A source of `size` bytes given by `byteAt`, counting what it is asked for. */
function sparse(size: number, byteAt: (position: number) => number) {
  const asked: number[] = [];
  const source: ByteSource = {
    size,
    async read(offset, length) {
      asked.push(length);
      if (length > 64 << 20) throw new Error(`asked for ${length} bytes at once`);
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = byteAt(offset + i);
      return out;
    },
  };
  return { source, asked };
}

describe(".npz claims that would make the reader fetch gigabytes", () => {
  test("a central directory claimed far larger than its members' records can be: SIZE_MISMATCH, after reading kilobytes", async () => {
    const real = toNpz({ a: { data: new Float32Array(4), shape: [4] } });
    const view = new DataView(real.buffer, real.byteOffset);
    let end = real.length - 22;
    while (view.getUint32(end, true) !== 0x06054b50) end--;
    const cdOffset = view.getUint32(end + 16, true);
    const size = 1 << 30;
    const record = real.slice(end, end + 22);
    new DataView(record.buffer).setUint32(12, size - 22 - cdOffset, true); // the directory "reaches" the end record
    const { source, asked } = sparse(size, (p) => (p >= size - 22 ? record[p - (size - 22)]! : p < end ? real[p]! : 0));
    const error = await failureAsync(() => openSource(source, { formats: FORMATS }), "SIZE_MISMATCH");
    expect(error.message).toMatch(/1 members cannot fill/);
    expect(asked.reduce((a, b) => a + b, 0)).toBeLessThan(1 << 20);
  });

  test("a central directory above 100 MiB (the archive's header, bounded as an ndpack header) is HEADER_TOO_LARGE before it is read", async () => {
    const real = toNpz(Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`a${i}`, new Float32Array(4)])));
    const view = new DataView(real.buffer, real.byteOffset);
    let end = real.length - 22;
    while (view.getUint32(end, true) !== 0x06054b50) end--;
    const cdSize = 110 << 20; // above 100 MiB, within what 600 records can hold (600 x 196,651 bytes)
    const size = real.length + cdSize;
    const record = real.slice(end, end + 22);
    new DataView(record.buffer).setUint32(12, cdSize, true);
    new DataView(record.buffer).setUint32(16, size - 22 - cdSize, true);
    const { source, asked } = sparse(size, (p) => (p >= size - 22 ? record[p - (size - 22)]! : p < end ? real[p]! : 0));
    const error = await failureAsync(() => openSource(source, { formats: FORMATS }), "HEADER_TOO_LARGE");
    expect([error.limit, error.actual]).toEqual(["maxHeaderBytes", cdSize]);
    expect(asked.reduce((a, b) => a + b, 0)).toBeLessThan(1 << 20);
  });

  test("the directory bound is the core's header limit, not the members' .npy one: a .npz of 1,000 members opens, also with maxHeaderBytes 10,000", async () => {
    const many = toNpz(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`member-${i}`, Float32Array.of(i)])));
    for (const options of [{}, { maxHeaderBytes: 10_000 }]) {
      const reader = await openSource(memory(many), { formats: FORMATS, ...options });
      expect(reader.names.length).toBe(1000);
      expect((await reader.read("member-999")).data[0]).toBe(999);
    }
  });

  test("a deflated member of empty blocks claiming 2 GB: CODEC_ERROR after searching a bounded prefix for its .npy header", async () => {
    const compressedSize = 2_000_000_000;
    const name = new TextEncoder().encode("a.npy");
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint16(8, 8, true); lv.setUint32(18, compressedSize, true); lv.setUint32(22, 1000, true); lv.setUint16(26, name.length, true); local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 20, true); cv.setUint16(6, 20, true); cv.setUint16(10, 8, true); cv.setUint32(20, compressedSize, true); cv.setUint32(24, 1000, true); cv.setUint16(28, name.length, true); cd.set(name, 46);
    const cdOffset = local.length + compressedSize;
    const eocd = new Uint8Array(22);
    const ev = new DataView(eocd.buffer);
    ev.setUint32(0, 0x06054b50, true); ev.setUint16(8, 1, true); ev.setUint16(10, 1, true); ev.setUint32(12, cd.length, true); ev.setUint32(16, cdOffset, true);
    const emptyStoredBlock = [0, 0, 0, 0xff, 0xff];
    const { source, asked } = sparse(cdOffset + cd.length + 22, (p) => (p < local.length ? local[p]! : p < cdOffset ? emptyStoredBlock[(p - local.length) % 5]! : p < cdOffset + cd.length ? cd[p - cdOffset]! : eocd[p - cdOffset - cd.length]!));
    await failureAsync(() => openSource(source, { formats: FORMATS }), "CODEC_ERROR");
    expect(asked.reduce((a, b) => a + b, 0)).toBeLessThan(1 << 20);
  });
});

describe("sources with odd close() and readWithCrc32()", () => {
  test("opening fails: the reason (BAD_MAGIC) comes out, whatever the source's close does", async () => {
    const junk = new Uint8Array(100).fill(7);
    const closes = [() => undefined, () => { throw new Error("close failed"); }, () => Promise.reject(new Error("close failed"))];
    for (const close of closes) await failureAsync(() => openSource({ ...memory(junk), close: close as () => Promise<void> }), "BAD_MAGIC");
  });

  test("a readWithCrc32 that gives no CRC is INVALID_ARGUMENT; a signed one (JavaScript's bitwise result) is taken", async () => {
    const bytes = encode({ a: new Float32Array(1000).fill(1.5) });
    const withCrc = (crcOf: (covered: Uint8Array) => unknown): ByteSource => ({
      ...memory(bytes),
      readWithCrc32: async (offset, length, crcLength) => ({ bytes: bytes.slice(offset, offset + length), crc: crcOf(bytes.subarray(offset, offset + crcLength)) as number }),
    });
    for (const missing of [() => undefined, () => "12", () => 1.5, () => 2 ** 32]) {
      await failureAsync(async () => (await openSource(withCrc(missing))).read("a"), "INVALID_ARGUMENT");
    }
    const signed = await openSource(withCrc((covered) => crc32(covered) | 0));
    expect((await signed.read("a")).data[999]).toBe(1.5);
  });
});

describe("the reader's counts and close()", () => {
  test("readCount counts reads made on the source: none for an empty array", async () => {
    const bytes = encode({ empty: new Float32Array(0), a: new Float32Array(4) }, { checksum: "none" });
    let reads = 0;
    const reader = await openSource({ size: bytes.length, read: async (offset, length) => (reads++, bytes.slice(offset, offset + length)) });
    const [before, countedBefore] = [reads, reader.readCount];
    expect(countedBefore).toBe(before);
    await reader.read("empty");
    expect([reads, reader.readCount]).toEqual([before, countedBefore]);
    await reader.read("a");
    expect(reader.readCount - countedBefore).toBe(reads - before);
  });

  test("close() twice: both resolve once the source is closed, after the reads in flight", async () => {
    const bytes = encode({ a: new Float32Array(4) });
    let release!: () => void;
    let slow = false;
    let closed = false;
    const source: ByteSource = {
      size: bytes.length,
      read: async (offset, length) => {
        if (slow) await new Promise<void>((resolve) => (release = resolve));
        return bytes.slice(offset, offset + length);
      },
      close: async () => void (closed = true),
    };
    const reader = await openSource(source);
    slow = true;
    const reading = reader.read("a");
    await new Promise((resolve) => setTimeout(resolve, 5));
    const first = reader.close().then(() => closed);
    const second = reader.close().then(() => closed);
    release();
    await reading;
    expect(await Promise.all([first, second])).toEqual([true, true]);
  });
});
