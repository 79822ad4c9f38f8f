/**
 * encode of large outputs with checksums takes its memory from a helper thread that maps the
 * pages while the caller's thread computes the CRCs from the arrays (runtime.ts,
 * requestTouchedMemory): the bytes must be exactly those of encodeInto, which never uses it, and
 * the result must be an ordinary ArrayBuffer-backed Uint8Array.
 */
import { crc32 as zlibCrc32 } from "node:zlib";
import { afterEach, describe, expect, test, vi } from "vitest";
import { decode, encode, encodedSize, encodeInto } from "../src/index.js";
import { noise } from "./helpers/common.js";

afterEach(() => {
  vi.restoreAllMocks();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function largeArrays(): Record<string, { data: ArrayBufferView; shape: number[] }> {
  const big = noise(12 << 20);
  const odd = noise(1_000_003, 7);
  return {
    big: { data: new Float32Array(big.buffer, 0, big.length / 4), shape: [3 << 20] },
    odd: { data: odd, shape: [odd.length] },
    small: { data: new Int16Array([1, -2, 3]), shape: [3] },
    swapped: { data: new Float64Array(1 << 18).fill(Math.PI), shape: [1 << 18] },
  };
}

describe("encode of outputs over 8 MiB with checksums (memory from a helper thread)", () => {
  test("gives exactly encodeInto's bytes once the helper thread is up, in ArrayBuffer memory", async () => {
    const arrays = largeArrays();
    const expected = new Uint8Array(encodedSize(arrays));
    encodeInto(expected, arrays);
    const wait = vi.spyOn(Atomics, "wait");
    // The first call starts the helper thread and does not wait for it; later calls use it.
    let used = false;
    for (let attempt = 0; attempt < 100 && !used; attempt++) {
      const bytes = encode(arrays);
      expect(bytes.buffer).toBeInstanceOf(ArrayBuffer);
      expect(bytes.byteOffset).toBe(0);
      expect(bytes.length).toBe(expected.length);
      expect(Buffer.compare(bytes, expected)).toBe(0);
      used = wait.mock.calls.length > 0;
      if (!used) await sleep(50);
    }
    expect(used).toBe(true);
    const file = decode(encode(arrays), { verify: true });
    expect(zlibCrc32(file.get("big").data as Float32Array)).toBe(zlibCrc32(arrays.big!.data as Float32Array));
  }, 120_000);

  test("big-endian output (swapped payloads, CRC taken from the output) is the same as encodeInto's", async () => {
    const arrays = largeArrays();
    const expected = new Uint8Array(encodedSize(arrays, { byteOrder: "big" }));
    encodeInto(expected, arrays, { byteOrder: "big" });
    for (let attempt = 0; attempt < 3; attempt++) {
      expect(Buffer.compare(encode(arrays, { byteOrder: "big" }), expected)).toBe(0);
      await sleep(50);
    }
    expect(decode(encode(arrays, { byteOrder: "big" }), { verify: true }).names).toEqual(Object.keys(arrays));
  }, 120_000);

  test("an array in a SharedArrayBuffer is checksummed from the output, not from memory another thread may change", async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(9 << 20));
    shared.set(noise(shared.length, 3));
    const arrays = { shared };
    const expected = new Uint8Array(encodedSize(arrays));
    encodeInto(expected, arrays);
    for (let attempt = 0; attempt < 3; attempt++) {
      expect(Buffer.compare(encode(arrays), expected)).toBe(0);
      await sleep(50);
    }
  }, 120_000);
});
