/**
 * Memory against hostile inputs: a file of a few kilobytes that declares gigabytes must cost a
 * reader what it holds and what really decodes from it, never what it declares. Each read runs in
 * a child process (test/helpers/memory-child.ts) that reports its peak resident memory (VmHWM).
 * Memory reserved for a payload before its bytes arrive is allowed as long as it is not touched
 * (a stream's payload lands in memory that is written only as its bytes come): what is bounded is
 * resident memory. The bound (256 MiB) is far above what a correct read takes (about 50 MiB) and
 * far below what the bad behaviour takes (over 1 GiB), so a busy machine cannot make it flaky.
 * Python's side: spec/python/tests/test_memory_hostile.py.
 */
import { deflateRawSync } from "node:zlib";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildFile, concat, utf8 } from "./helpers/fixture-builder.js";
import { childOutcome, tempDir } from "./helpers/node-files.js";

const GIB = 2 ** 30;
/** Peak resident memory a child may reach reading a hostile file of a few kilobytes. */
const MAX_PEAK_MIB = 256;

const dir = tempDir("ndpack-memory-hostile-");
const childScript = dir.file("memory-child.mjs");

beforeAll(async () => {
  const { build } = await import("esbuild");
  await build({ entryPoints: [fileURLToPath(new URL("./helpers/memory-child.ts", import.meta.url))], bundle: true, platform: "node", format: "esm", target: "node20", outfile: childScript, logLevel: "error" });
});
afterAll(() => dir.remove());

/** The outcome of the child reading `path` with `operation`. */
async function readInChild(operation: string, path: string): Promise<{ code: string | null; peakMiB: number }> {
  const { code, peakMiB } = (await childOutcome(childScript, [operation, path])) as unknown as { code: string | null; peakMiB: number };
  return { code, peakMiB };
}

/** An ndpack file (alignment 64, no checksums) of one uint8 array of `length` elements stored as `payload` with `codec`. */
function ndpackFile(length: number, payload: Uint8Array, codec?: "deflate"): Uint8Array {
  const entry = { name: "a", dtype: "uint8", shape: [length], order: "C", byteOrder: "little", ...(codec && { codec }), offset: 0, byteLength: codec ? payload.length : length };
  return buildFile({ header: { alignment: 64, checksum: "none", dataLength: entry.byteLength, metadata: {}, arrays: [entry] }, data: payload });
}

/** A version 1.0 .npy header of a uint8 vector of `length` elements. */
function npyHeader(length: number): Uint8Array {
  let text = `{'descr': '|u1', 'fortran_order': False, 'shape': (${length},), }`;
  text += " ".repeat((64 - ((10 + text.length + 1) % 64)) % 64) + "\n";
  const head = new Uint8Array(10);
  head.set([0x93, ...utf8("NUMPY"), 1, 0]);
  new DataView(head.buffer).setUint16(8, text.length, true);
  return concat(head, utf8(text));
}

/** A zip of one deflated member, `compressed`, whose headers declare `declaredSize` uncompressed bytes (and a CRC-32 of 0). */
function zipOfOneMember(name: string, compressed: Uint8Array, declaredSize: number): Uint8Array {
  const nameBytes = utf8(name);
  const local = new Uint8Array(30 + nameBytes.length);
  const lv = new DataView(local.buffer);
  lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint16(8, 8, true); lv.setUint32(18, compressed.length, true); lv.setUint32(22, declaredSize, true); lv.setUint16(26, nameBytes.length, true);
  local.set(nameBytes, 30);
  const central = new Uint8Array(46 + nameBytes.length);
  const cv = new DataView(central.buffer);
  cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 20, true); cv.setUint16(6, 20, true); cv.setUint16(10, 8, true); cv.setUint32(20, compressed.length, true); cv.setUint32(24, declaredSize, true); cv.setUint16(28, nameBytes.length, true);
  central.set(nameBytes, 46);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true); ev.setUint16(8, 1, true); ev.setUint16(10, 1, true); ev.setUint32(12, central.length, true); ev.setUint32(16, local.length + compressed.length, true);
  return concat(local, compressed, central, end);
}

/** Writes `bytes` to a file of the test's folder, checking that it is small. */
function smallFile(name: string, bytes: Uint8Array): string {
  expect(bytes.length).toBeLessThan(4096);
  const path = dir.file(name);
  writeFileSync(path, bytes);
  return path;
}

// 1 MiB of zeros deflate to about 1 KiB: a stream that decodes to 1 MiB where its shape declares 1 GiB.
const SHORT_STREAM = new Uint8Array(deflateRawSync(new Uint8Array(2 ** 20), { level: 9 }));

describe("a deflated array whose shape declares 1 GiB, in a file of about 1 KiB", () => {
  test.each(["decode", "load", "open", "decodeStream", "decodeMessages", "connectMessages"])("%s: CODEC_ERROR, its output taken only as the stream decodes", async (operation) => {
    const path = smallFile("short-deflate.ndp", ndpackFile(GIB, SHORT_STREAM, "deflate"));
    const { code, peakMiB } = await readInChild(operation, path);
    // load decompresses when an array is asked for; the child asks for every one.
    expect(code).toBe("CODEC_ERROR");
    expect(peakMiB).toBeLessThan(MAX_PEAK_MIB);
  });

  test("fromNpz of a member declaring 1 GiB: CODEC_ERROR, the same way", async () => {
    const npy = npyHeader(GIB - npyHeader(0).length);
    const member = new Uint8Array(deflateRawSync(concat(npy, new Uint8Array(2 ** 20)), { level: 9 }));
    const path = smallFile("short-member.npz", zipOfOneMember("a.npy", member, GIB));
    const { code, peakMiB } = await readInChild("fromNpz", path);
    expect(code).toBe("CODEC_ERROR");
    expect(peakMiB).toBeLessThan(MAX_PEAK_MIB);
  });
});

describe("an uncompressed array declaring 1 GiB whose file ends after the header", () => {
  test.each(["decode", "open", "decodeStream", "decodeMessages", "connectMessages"])("%s: TRUNCATED; a stream's payload memory, reserved before its bytes arrive, is never touched", async (operation) => {
    const path = smallFile("header-only.ndp", ndpackFile(GIB, new Uint8Array(0)));
    const { code, peakMiB } = await readInChild(operation, path);
    expect(code).toBe("TRUNCATED");
    expect(peakMiB).toBeLessThan(MAX_PEAK_MIB);
  });
});
