import { crc32 as nodeCrc32 } from "node:zlib";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { execFileSync } from "node:child_process";
import { crc32, crc32Fallback, crc32Within } from "../src/crc32.js";
import { loadFastCrc32 } from "../src/runtime.js";
import { noise } from "./helpers/common.js";

/** The optional dependency's CRC: installed by `npm ci` on every platform it has a build for, linux-x64 among them. */
const fastCrc32 = loadFastCrc32();

const implementations = [
  ["crc32", crc32],
  ["crc32Fallback", crc32Fallback],
  ["@node-rs/crc32", (bytes: Uint8Array, previous?: number) => fastCrc32!(bytes, previous ?? 0)],
] as const;

/** Lets any task crc32 might have scheduled run (it schedules none: the switch happens inside a call). */
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));


const ascii = (text: string) => new TextEncoder().encode(text);

/** A copy of `bytes` placed at `offset` inside a larger buffer filled with other bytes. */
function viewAtOffset(bytes: Uint8Array, offset: number): Uint8Array {
  const backing = new Uint8Array(offset + bytes.length + 7).fill(0xa5);
  backing.set(bytes, offset);
  return backing.subarray(offset, offset + bytes.length);
}

describe.each(implementations)("%s", (_name, crc) => {
  it("matches the standard check values", () => {
    expect(crc(new Uint8Array(0))).toBe(0);
    expect(crc(ascii("123456789"))).toBe(0xcbf43926);
    expect(crc(ascii("The quick brown fox jumps over the lazy dog"))).toBe(0x414fa339);
    expect(crc(new Uint8Array([1, 2, 3]))).toBe(0x55bc801d);
  });

  it("returns an unsigned 32-bit integer", () => {
    const value = crc(ascii("123456789"));
    expect(value).toBeGreaterThan(0x7fffffff);
    expect(Number.isInteger(value)).toBe(true);
  });

  it("matches Node's zlib on 1 MiB of pseudo-random bytes", () => {
    const bytes = noise(1 << 20);
    expect(crc(bytes)).toBe(nodeCrc32(bytes));
  });

  it("is incremental: crc(b, crc(a)) === crc(a ++ b) at any split point", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (data, cut1, cut2) => {
        const a = Math.min(cut1, cut2) % (data.length + 1);
        const b = Math.max(a, Math.max(cut1, cut2) % (data.length + 1));
        const whole = crc(data);
        expect(crc(data.subarray(a), crc(data.subarray(0, a)))).toBe(whole);
        const threeParts = crc(data.subarray(b), crc(data.subarray(a, b), crc(data.subarray(0, a))));
        expect(threeParts).toBe(whole);
      }),
    );
  });

  it("reads only the bytes of a view, at any byteOffset", () => {
    const bytes = noise(1000);
    const expected = nodeCrc32(bytes);
    for (let offset = 0; offset < 16; offset++) {
      expect(crc(viewAtOffset(bytes, offset)), `offset ${offset}`).toBe(expected);
    }
  });

  it("honours byteOffset and byteLength for random views", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 400 }), fc.nat(), fc.nat(), (data, x, y) => {
        const start = x % data.length;
        const end = start + (y % (data.length - start + 1));
        const view = new Uint8Array(data.buffer, start, end - start);
        expect(crc(view)).toBe(nodeCrc32(data.slice(start, end)));
      }),
    );
  });
});

describe("crc32Fallback against the native implementation", () => {
  it("agrees on every length 0..100 at every alignment", () => {
    for (let length = 0; length <= 100; length++) {
      const bytes = noise(length, length + 1);
      for (let offset = 0; offset < 8; offset++) {
        expect(crc32Fallback(viewAtOffset(bytes, offset)), `length ${length}, offset ${offset}`).toBe(
          nodeCrc32(bytes),
        );
      }
    }
  });

  it("agrees on random inputs and random starting values", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat({ max: 0xffffffff }), (data, previous) => {
        expect(crc32Fallback(data, previous)).toBe(nodeCrc32(data, previous));
      }),
      { numRuns: 1000 },
    );
  });
});

describe("crc32Within (the encoder's CRC of small payloads inside one buffer)", () => {
  it("agrees with zlib.crc32 on every range of lengths 0..100 at every start, and on random ranges", () => {
    const bytes = noise(4096);
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
    for (let from = 0; from < 8; from++) {
      for (let length = 0; length <= 100; length++) expect(crc32Within(bytes, words, from, from + length), `${from}+${length}`).toBe(nodeCrc32(bytes.subarray(from, from + length)));
    }
    fc.assert(
      fc.property(fc.nat({ max: 4096 }), fc.nat({ max: 4096 }), (a, b) => {
        const [from, to] = a <= b ? [a, b] : [b, a];
        expect(crc32Within(bytes, words, from, to)).toBe(nodeCrc32(bytes.subarray(from, to)));
      }),
    );
  });
});

describe("the faster CRC of @node-rs/crc32", () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.resetModules();
  });

  it("is installed and loads on this machine", () => {
    expect(typeof fastCrc32).toBe("function");
    expect(fastCrc32!(ascii("123456789"), 0)).toBe(0xcbf43926);
  });

  it("agrees with zlib on large and misaligned views and random starting values", () => {
    const bytes = noise((4 << 20) + 13);
    for (const [from, to] of [[0, bytes.length], [1, bytes.length - 3], [4095, 4096 * 300 + 7]] as const) {
      expect(fastCrc32!(bytes.subarray(from, to), 0)).toBe(nodeCrc32(bytes.subarray(from, to)));
    }
    fc.assert(
      // Not empty: Node 20's zlib.crc32 of an empty view gives 0 whatever the starting value (crc32 keeps the value).
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 5000 }), fc.nat({ max: 0xffffffff }), (data, previous) => {
        expect(fastCrc32!(data, previous)).toBe(nodeCrc32(data, previous));
      }),
      { numRuns: 500 },
    );
  });

  it("takes over from zlib once zlib has checksummed 32 MiB, within the call that crosses it", async () => {
    vi.resetModules();
    const fresh = await import("../src/crc32.js");
    const bytes = noise(4 << 20);
    const expected = nodeCrc32(bytes.subarray(1), 5);
    for (let i = 0; i < 7; i++) expect(fresh.crc32(bytes.subarray(1), 5)).toBe(expected);
    expect(fresh.crc32(bytes.subarray(0, 4 << 10))).toBe(nodeCrc32(bytes.subarray(0, 4 << 10)));
    await nextTask(); // nothing waits for the event loop
    expect(fresh.crc32Engine()).toBe("zlib");
    expect(fresh.crc32(bytes.subarray(1), 5)).toBe(expected); // crosses 32 MiB
    expect(fresh.crc32Engine()).toBe("@node-rs/crc32");
    expect(fresh.crc32(bytes.subarray(1), 5)).toBe(expected);
    expect(fresh.crc32(new Uint8Array(0), 5)).toBe(5);
  });

  it("leaves zlib in place when the package cannot be loaded", async () => {
    const builtin = process.getBuiltinModule.bind(process);
    vi.spyOn(process, "getBuiltinModule").mockImplementation(((id: string) =>
      id === "module" ? { createRequire: () => () => { throw new Error("Cannot find module '@node-rs/crc32'"); } } : builtin(id)) as typeof process.getBuiltinModule);
    vi.resetModules();
    const fresh = await import("../src/crc32.js");
    const bytes = noise(33 << 20);
    expect(fresh.crc32(bytes)).toBe(nodeCrc32(bytes));
    expect(fresh.crc32Engine()).toBe("zlib");
    expect(fresh.crc32(bytes)).toBe(nodeCrc32(bytes));
  });

  it.each(["dist/index.js", "dist/index.cjs"])("is loaded by the built package (%s) after an encode of 32 MiB", (entry) => {
    // require.cache is shared by the CommonJS loader and createRequire, in both builds.
    const script = `const { createRequire } = await import("node:module");
      const { encode } = ${entry.endsWith(".cjs") ? `createRequire(import.meta.url)("./${entry}")` : `await import("./${entry}")`};
      encode({ a: new Float32Array(8 << 20) });
      console.log(Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes("@node-rs")).length > 0);`;
    expect(execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }).trim()).toBe("true");
  });
});

describe("implementation selection", () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.resetModules();
  });

  it("uses the native zlib.crc32 when process.getBuiltinModule provides it", async () => {
    const nativeSpy = vi.fn(nodeCrc32);
    vi.spyOn(process, "getBuiltinModule").mockImplementation(() => ({ crc32: nativeSpy }));
    vi.resetModules();
    const fresh = await import("../src/crc32.js");
    const bytes = ascii("123456789");
    expect(fresh.crc32(bytes, 7)).toBe(nodeCrc32(bytes, 7));
    expect(nativeSpy).toHaveBeenCalledWith(bytes, 7);
  });

  it("falls back to pure JS when the builtin module cannot be loaded", async () => {
    const spy = vi.spyOn(process, "getBuiltinModule").mockImplementation(() => {
      throw new Error("builtins are not available here");
    });
    vi.resetModules();
    const fresh = await import("../src/crc32.js");
    expect(fresh.crc32(ascii("123456789"))).toBe(0xcbf43926);
    const view = noise(4096).subarray(3);
    expect(fresh.crc32(view)).toBe(nodeCrc32(view));
    expect(spy).toHaveBeenCalledOnce(); // the failed lookup is not retried on every call
  });
});
