import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { createInflater, decompressPayload, inflatePrefix, inflateWithPako, shuffle, throughCodec, unshuffle } from "../src/codecs.js";
import { compressPayload, deflateRaw } from "../src/compress.js";
import { createDeflater } from "../src/node/deflate.js";
import { codeOf, failure } from "./helpers/common.js";
import { withoutNativeZlib } from "./helpers/engines.js";
import { nativeZlib } from "../src/runtime.js";

const both = [
  ["native zlib", (stored: Uint8Array, nbytes: number) => decompressPayload(stored, "deflate", nbytes, 1, "a")],
  ["pako (browsers)", (stored: Uint8Array, nbytes: number) => inflateWithPako(stored, nbytes, "a")],
] as const;


const sample = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251);

describe("shuffle (FORMAT.md §5)", () => {
  test("moves byte j of word i to j * words + i, and unshuffle inverts it", () => {
    expect([...shuffle(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 4)]).toEqual([1, 5, 2, 6, 3, 7, 4, 8]);
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 4, 8), fc.uint8Array({ maxLength: 64 }), (word, raw) => {
        const bytes = raw.subarray(0, raw.length - (raw.length % word));
        const out = new Uint8Array(bytes.length);
        unshuffle(shuffle(bytes, word), word, out);
        expect(out).toEqual(bytes);
      }),
    );
  });
});

describe("compressPayload", () => {
  test("stores data it cannot shrink raw (returns undefined)", () => {
    const random = Uint8Array.from({ length: 4096 }, () => Math.floor(Math.random() * 256));
    expect(compressPayload(random, "deflate", 1, 6)).toBeUndefined();
    expect(compressPayload(new Uint8Array(4096), "deflate", 1, 6)!.length).toBeLessThan(100);
  });
});

describe.each(both)("inflating with %s", (_, inflate) => {
  test("decodes what zlib and the library deflate, at every level", () => {
    for (const level of [0, 1, 6, 9] as const) {
      expect(inflate(deflateRawSync(sample, { level }), sample.length)).toEqual(sample);
      expect(inflate(compressPayload(new Uint8Array(5000).fill(3), "deflate", 1, level) ?? deflateRawSync(new Uint8Array(5000).fill(3)), 5000)).toEqual(new Uint8Array(5000).fill(3));
    }
  });

  test("returns memory of its own holding exactly the array", () => {
    const out = inflate(deflateRawSync(new Uint8Array(100).fill(1)), 100);
    expect(out.byteOffset).toBe(0);
    expect(out.buffer.byteLength).toBe(100);
  });

  test("CODEC_ERROR for a bomb that inflates beyond the declared size, without inflating it", () => {
    const bomb = deflateRawSync(new Uint8Array(64 * 1024 * 1024), { level: 9 }); // 64 MiB of zeros in ~64 KiB
    const before = process.memoryUsage().arrayBuffers;
    expect(codeOf(() => inflate(bomb, 1000))).toBe("CODEC_ERROR");
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * 1024 * 1024);
  });

  test("CODEC_ERROR for a stream that decodes to fewer bytes than declared", () => {
    expect(codeOf(() => inflate(deflateRawSync(sample), sample.length + 1))).toBe("CODEC_ERROR");
  });

  test("CODEC_ERROR for a truncated stream, an empty payload and garbage", () => {
    const stored = deflateRawSync(sample);
    expect(codeOf(() => inflate(stored.subarray(0, stored.length - 3), sample.length))).toBe("CODEC_ERROR");
    expect(codeOf(() => inflate(new Uint8Array(0), 0))).toBe("CODEC_ERROR");
    expect(codeOf(() => inflate(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 4))).toBe("CODEC_ERROR");
  });

  test("CODEC_ERROR for bytes after the end of the stream (no data hides in a payload)", () => {
    for (const level of [0, 6] as const) {
      for (const extra of [1, 3, 2000]) {
        const stored = deflateRawSync(sample, { level });
        const padded = new Uint8Array(stored.length + extra);
        padded.set(stored);
        expect(codeOf(() => inflate(padded, sample.length))).toBe("CODEC_ERROR");
      }
    }
  });

  test("an empty array's stream decodes to nothing", () => {
    expect(inflate(deflateRawSync(new Uint8Array(0)), 0).length).toBe(0);
  });
});

const engines = [
  ["Node's zlib", <T>(fn: () => T | Promise<T>) => Promise.resolve(fn())],
  ["pako (browsers)", <T>(fn: () => T | Promise<T>) => Promise.resolve(withoutNativeZlib(fn))],
] as const;

async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return Uint8Array.from(parts.flatMap((part) => [...part]));
}

const text = Uint8Array.from({ length: 200_000 }, (_, i) => (i * i) % 61);

describe.each(engines)("the one DEFLATE entry point, with %s", (_, run) => {
  test("deflateRaw writes a raw stream that zlib inflates back", async () => {
    const stored = await run(() => deflateRaw(text, 6));
    expect(stored.length).toBeLessThan(text.length / 4);
    expect(new Uint8Array(inflateRawSync(stored))).toEqual(text);
  });

  test("a stream compressed piece by piece inflates back, through either engine", async () => {
    const stored = await run(() => collect(throughCodec(pieces(text, 7000), createDeflater(6))));
    expect(new Uint8Array(inflateRawSync(stored))).toEqual(text);
    expect(await run(() => collect(throughCodec(pieces(stored, 1000), createInflater())))).toEqual(text);
  });

  test("the streaming inflater fails on a truncated stream and on garbage", async () => {
    const stored = deflateRawSync(text);
    await expect(run(() => collect(throughCodec(pieces(stored.subarray(0, stored.length - 10), 4096), createInflater())))).rejects.toThrow();
    await expect(run(() => collect(throughCodec(pieces(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 4), createInflater())))).rejects.toThrow();
  });

  test("inflatePrefix: the start of a stream from its first bytes; CODEC_ERROR for garbage", async () => {
    const stored = deflateRawSync(text);
    const head = await run(() => inflatePrefix(stored.subarray(0, 300), 100, "a"));
    expect(head).toEqual(text.subarray(0, 100));
    const all = await run(() => inflatePrefix(stored, text.length + 5, "a"));
    expect(all).toEqual(text);
    expect(await run(() => codeOf(() => inflatePrefix(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 10, "a")))).toBe("CODEC_ERROR");
  });

  test("inflatePrefix stops once it has the bytes wanted: damage after them is not looked at", async () => {
    // 1000 bytes, then an invalid block type.
    const stored = Uint8Array.from([...deflateRawSync(text.subarray(0, 1000), { finishFlush: constants.Z_FULL_FLUSH }), 0x07]);
    expect(await run(() => inflatePrefix(stored, 100, "a"))).toEqual(text.subarray(0, 100));
    expect(await run(() => codeOf(() => inflatePrefix(stored, 1001, "a")))).toBe("CODEC_ERROR");
  });
});

test("inflatePrefix stops at the same byte in Node's zlib and in pako, a few bytes after those that give the head: each byte of a stream flipped, both give the same head or both fail", () => {
  // A .npy-like head, then zeros (the stream of a member of zeros), then an invalid block type.
  const content = Uint8Array.from({ length: 100_000 }, (_, i) => (i < 128 ? text[i]! : 0));
  const stored = Uint8Array.from([...deflateRawSync(content, { finishFlush: constants.Z_FULL_FLUSH }), 0x07]);
  const head = Array.from(content.subarray(0, 200)).join();
  const outcome = (bytes: Uint8Array) => {
    try {
      return Array.from(inflatePrefix(bytes, 200, "a")).join();
    } catch (error) {
      return (error as { code?: string }).code;
    }
  };
  let giving = 1;
  while (inflateRawSync(stored.subarray(0, giving), { finishFlush: constants.Z_SYNC_FLUSH }).length < 200) giving++;
  for (let at = 0; at < stored.length; at++) {
    for (const bit of [0x01, 0x10, 0x80]) {
      const flipped = Uint8Array.from(stored);
      flipped[at]! ^= bit;
      const zlib = outcome(flipped);
      expect(withoutNativeZlib(() => outcome(flipped)), `byte ${at} ^ ${bit}`).toBe(zlib);
      // Past the symbol that ends the head, the stream is inflated no further.
      if (at >= giving + 4) expect(zlib, `byte ${at} ^ ${bit}`).toBe(head);
    }
  }
});

/** Node's zlib without the engine calls the piecewise inflater drives: the shuffled path then takes pako. */
function withoutZlibEngine<T>(fn: () => T): T {
  const create = nativeZlib.createInflateRaw!;
  nativeZlib.createInflateRaw = () => Object.assign(create(), { _handle: undefined });
  try {
    return fn();
  } finally {
    nativeZlib.createInflateRaw = create;
  }
}

const shuffledEngines = [
  ["Node's zlib, piece by piece", <T>(fn: () => T) => fn()],
  ["pako (browsers)", <T>(fn: () => T) => withoutNativeZlib(fn)],
  ["pako where zlib's engine calls are missing", <T>(fn: () => T) => withoutZlibEngine(fn)],
] as const;

describe.each(shuffledEngines)("shuffle+deflate payloads inflated straight into the array, with %s", (_, run) => {
  const decodeShuffled = (stored: Uint8Array, nbytes: number, wordSize: number) => run(() => decompressPayload(stored, "shuffle+deflate", nbytes, wordSize, "s"));

  test("the exact bytes, for pieces that span planes, end on a piece boundary, or come from a view inside a larger buffer", () => {
    // 256 KiB is one zlib piece: sizes below, at and across it, and odd word counts.
    for (const words of [0, 1, 999, 65_536, 131_072, 100_003]) {
      for (const wordSize of [2, 4, 8]) {
        const raw = Uint8Array.from({ length: words * wordSize }, (_, i) => (i * 31 + (i >> 11)) & 255);
        const stored = deflateRawSync(shuffle(raw, wordSize));
        const inside = new Uint8Array(stored.length + 9);
        inside.set(stored, 4);
        const out = decodeShuffled(inside.subarray(4, 4 + stored.length), raw.length, wordSize);
        // Buffer's compare: vitest's toEqual walks a megabyte element by element, seconds per array.
        expect(out.length).toBe(raw.length);
        expect(Buffer.compare(out, raw)).toBe(0);
      }
    }
  });

  test("CODEC_ERROR for a bomb past the declared size (64 MiB of zeros declared as 1000 bytes), without inflating it", () => {
    const bomb = deflateRawSync(new Uint8Array(64 * 1024 * 1024), { level: 9 });
    const before = process.memoryUsage().arrayBuffers;
    expect(codeOf(() => decodeShuffled(bomb, 1000, 4))).toBe("CODEC_ERROR");
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * 1024 * 1024);
  });

  test("CODEC_ERROR for a stream that decodes to fewer bytes than declared, a truncated stream, bytes after its end, an empty payload and garbage", () => {
    const raw = Uint8Array.from({ length: 400_000 }, (_, i) => (i * 7) % 251);
    const stored = deflateRawSync(shuffle(raw, 4));
    expect(codeOf(() => decodeShuffled(stored, raw.length + 4, 4))).toBe("CODEC_ERROR");
    expect(codeOf(() => decodeShuffled(stored.subarray(0, stored.length - 3), raw.length, 4))).toBe("CODEC_ERROR");
    expect(codeOf(() => decodeShuffled(stored.subarray(0, stored.length >> 1), raw.length, 4))).toBe("CODEC_ERROR");
    const trailing = new Uint8Array(stored.length + 2);
    trailing.set(stored);
    expect(codeOf(() => decodeShuffled(trailing, raw.length, 4))).toBe("CODEC_ERROR");
    expect(codeOf(() => decodeShuffled(new Uint8Array(0), 0, 4))).toBe("CODEC_ERROR");
    expect(codeOf(() => decodeShuffled(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 4, 4))).toBe("CODEC_ERROR");
  });
});

describe("an array above what one typed array can hold (a raised maxDecodedBytes): LIMIT_EXCEEDED, not a RangeError or CODEC_ERROR", () => {
  // 5 GiB declared: more than a Node 20 Buffer or typed array may hold (4 GiB); the payload is a tiny valid stream.
  const nbytes = 5 * 1024 ** 3;
  const stored = deflateRawSync(new Uint8Array(16));
  test.each([
    ["deflate, Node's zlib", () => decompressPayload(stored, "deflate", nbytes, 4, "w")],
    ["deflate, pako (browsers)", () => withoutNativeZlib(() => decompressPayload(stored, "deflate", nbytes, 4, "w"))],
    ["shuffle+deflate, Node's zlib", () => decompressPayload(stored, "shuffle+deflate", nbytes, 4, "w")],
    ["shuffle+deflate, pako (browsers)", () => withoutNativeZlib(() => decompressPayload(stored, "shuffle+deflate", nbytes, 4, "w"))],
  ])("%s", (_, inflate) => {
    const error = failure(inflate, "LIMIT_EXCEEDED");
    expect([error.array, error.actual]).toEqual(["w", nbytes]);
  });
});
