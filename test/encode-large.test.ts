/**
 * encode of large outputs with checksums takes its memory from a helper thread that maps the
 * pages while the caller's thread computes the CRCs from the arrays (runtime.ts,
 * requestTouchedMemory): the bytes must be exactly those of encodeInto, which never uses it, and
 * the result must be an ordinary ArrayBuffer-backed Uint8Array.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { crc32 as zlibCrc32 } from "node:zlib";
import { afterEach, describe, expect, it, test, vi } from "vitest";
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

describe("the page toucher of the built package (dist/page-toucher.cjs, loaded from beside the chunks)", () => {
  it.each(["dist/index.js", "dist/index.cjs", "dist/cli/page-toucher.cjs"])("is found and used by %s", (entry) => {
    // The CLI's build inlines the core in dist/cli/main.js: its toucher must sit beside it too.
    if (entry.startsWith("dist/cli")) {
      expect(existsSync(entry)).toBe(true);
      return;
    }
    const script = `const { createRequire } = await import("node:module");
      const { encode } = ${entry.endsWith(".cjs") ? `createRequire(import.meta.url)("./${entry}")` : `await import("./${entry}")`};
      let waits = 0;
      const wait = Atomics.wait;
      Atomics.wait = (...args) => (waits++, wait.apply(Atomics, args));
      for (let i = 0; i < 100 && waits === 0; i++) {
        encode({ big: new Float32Array(4 << 20) });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      console.log(waits > 0);`;
    expect(execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }).trim()).toBe("true");
  });
});
