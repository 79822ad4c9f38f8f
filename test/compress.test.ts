/**
 * The browsers' compressor (src/compress.ts without Node's zlib: pako's zlib port, the same library
 * as the browsers' inflater) against Node's zlib: it writes streams zlib inflates back, within
 * zlib's output bound whatever the input (random bytes, the worst case, at every level), and with
 * the newer match hash the very bytes Node's `deflateRawSync` writes at levels 1 to 9, so a file
 * compressed in a browser is byte for byte the file Node writes. (Level 0, stored blocks only, cuts
 * its blocks where the output buffer ends, which differs: zlib's one call writes 16 KiB at a time.)
 */
import { randomBytes } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { deflateRaw } from "../src/compress.js";
import { encode } from "../src/index.js";
import { withoutNativeZlib } from "./helpers/engines.js";

const LEVELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

function samples(): Array<[string, Uint8Array]> {
  const wave = new Float32Array(40_000);
  for (let i = 0; i < wave.length; i++) wave[i] = Math.sin(i / 10) * 1000;
  return [
    ["empty", new Uint8Array(0)],
    ["one byte", new Uint8Array([7])],
    ["zeros, 1 MiB", new Uint8Array(1 << 20)],
    ["random, 1 MiB + 3 (incompressible: stored blocks)", randomBytes((1 << 20) + 3)],
    ["float32 sine, 160 KB", new Uint8Array(wave.buffer)],
    ["text", new TextEncoder().encode("the quick brown fox jumps over the lazy dog; ".repeat(2000))],
  ];
}

describe("the browsers' compressor (pako)", () => {
  test.each(samples())("%s: zlib inflates it back at every level, and its bytes are Node's zlib's at levels 1 to 9", (_, bytes) => {
    for (const level of LEVELS) {
      const stored = withoutNativeZlib(() => deflateRaw(bytes, level));
      expect(Buffer.from(inflateRawSync(stored)).equals(Buffer.from(bytes)), `level ${level}`).toBe(true);
      if (level > 0) expect(Buffer.from(stored).equals(deflateRawSync(bytes, { level })), `level ${level}: bytes differ from zlib ${process.versions.zlib}`).toBe(true);
    }
  });

  test("encode in a browser and in Node write the same file with codec shuffle+deflate", () => {
    const data = new Float64Array(10_000).map((_, i) => Math.round(Math.cos(i / 50) * 100) / 4);
    const arrays = { data: { data, shape: [100, 100] } };
    const inBrowser = withoutNativeZlib(() => encode(arrays, { codec: "shuffle+deflate" }));
    expect(Buffer.from(inBrowser).equals(Buffer.from(encode(arrays, { codec: "shuffle+deflate" })))).toBe(true);
  });
});
