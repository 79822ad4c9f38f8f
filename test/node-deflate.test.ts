/**
 * node/deflate.ts: a raw DEFLATE stream compressed in pieces on several threads, each piece ended
 * with a full flush and the last with Z_FINISH, is ONE valid stream: zlib and pako (the inflaters
 * of Node and of browsers) decode it to the same bytes, the one rule of codecs.ts accepts it (no
 * bytes after its final block), and each piece is compressed on its own.
 */
import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { decompressPayload, inflateWithPako, throughCodec } from "../src/codecs.js";
import { createDeflater, PIECE_BYTES } from "../src/node/deflate.js";

/** Compressible bytes that are not trivial: a slow wave with pseudo-random noise in the low bits. */
function sample(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = ((Math.sin(i / 5000) * 100) & 0xf0) | (state & 0x03);
  }
  return out;
}

/** `bytes` in pieces of `size` bytes (the last shorter). */
async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function deflateInPieces(bytes: Uint8Array, pushSize: number, level = 6): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of throughCodec(pieces(bytes, pushSize), createDeflater(level))) parts.push(part);
  return new Uint8Array(Buffer.concat(parts));
}

const data = sample(2 * PIECE_BYTES + 12_345);

describe("createDeflater: pieces compressed in parallel make one raw DEFLATE stream", () => {
  test("zlib and pako inflate it to the input, and the one rule of codecs.ts accepts it", async () => {
    const stored = await deflateInPieces(data, 1_000_003);
    expect(stored.length).toBeLessThan(data.length / 2);
    expect(Buffer.compare(inflateRawSync(stored), data)).toBe(0);
    expect(Buffer.compare(inflateWithPako(stored, data.length, "a"), data)).toBe(0);
    expect(Buffer.compare(decompressPayload(stored, "deflate", data.length, 1, "a"), data)).toBe(0);
  });

  test("each piece is compressed on its own, ending with a full flush; the last one ends the stream", async () => {
    const stored = await deflateInPieces(data, 65_536);
    const first = deflateRawSync(data.subarray(0, PIECE_BYTES), { finishFlush: constants.Z_FULL_FLUSH });
    const second = deflateRawSync(data.subarray(PIECE_BYTES, 2 * PIECE_BYTES), { finishFlush: constants.Z_FULL_FLUSH });
    const last = deflateRawSync(data.subarray(2 * PIECE_BYTES));
    // A full flush ends with an empty stored block: 00 00 ff ff after its 3 header bits.
    expect([...first.subarray(-4)]).toEqual([0x00, 0x00, 0xff, 0xff]);
    expect(Buffer.compare(stored, Buffer.concat([first, second, last]))).toBe(0);
  });

  test("the same stream whatever sizes the input is pushed in", async () => {
    const whole = await deflateInPieces(data, data.length);
    expect(Buffer.compare(await deflateInPieces(data, 4099), whole)).toBe(0);
  });

  test.each([
    ["empty", 0],
    ["one byte", 1],
    ["exactly one piece", PIECE_BYTES],
    ["exactly two pieces", 2 * PIECE_BYTES],
  ])("%s: a valid stream of the input", async (_, length) => {
    const input = data.subarray(0, length);
    const stored = await deflateInPieces(input, 1 << 20, 1);
    expect(Buffer.compare(inflateRawSync(stored), input)).toBe(0);
    expect(Buffer.compare(inflateWithPako(stored, length, "a"), input)).toBe(0);
    expect(Buffer.compare(decompressPayload(stored, "deflate", length, 1, "a"), input)).toBe(0);
  });

  test("the bytes pushed are copied: the caller may reuse its buffer once push resolves", async () => {
    const codec = createDeflater(6);
    const buffer = new Uint8Array(1 << 20);
    const parts: Uint8Array[] = [];
    for (let at = 0; at < data.length; at += buffer.length) {
      const n = Math.min(buffer.length, data.length - at);
      buffer.set(data.subarray(at, at + n));
      parts.push(...(await codec.push(buffer.subarray(0, n))));
      buffer.fill(0xaa);
    }
    parts.push(...(await codec.end()));
    expect(codec.consumed()).toBe(data.length);
    expect(Buffer.compare(inflateRawSync(Buffer.concat(parts)), data)).toBe(0);
  });
});
