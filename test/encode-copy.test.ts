import { describe, expect, test } from "vitest";
import { decode, encode, encodeInto, encodedSize } from "../src/index.js";

/** The bytes of a typed array's view. */
function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

describe("encode copies each payload from the caller's typed array, bit for bit", () => {
  test("signalling and quiet NaN payloads of float32 and float64 keep every bit", () => {
    const f32 = new Float32Array(new Uint32Array([0x7f800001, 0xffbfffff, 0x7fc00001, 0xff800000, 0x00000001]).buffer);
    const f64 = new Float64Array(new BigUint64Array([0x7ff0000000000001n, 0xfff7ffffffffffffn, 0x7ff8000000000123n]).buffer);
    const bytes = encode({ f32, f64 });
    const file = decode(bytes);
    expect(bytesOf(file.get("f32").data)).toEqual(bytesOf(f32));
    expect(bytesOf(file.get("f64").data)).toEqual(bytesOf(f64));
  });

  test("arrays of many types, in turns and as views into larger buffers, give the same file into a target at any byte offset", () => {
    const backing = new ArrayBuffer(256);
    new Uint8Array(backing).forEach((_, i, a) => (a[i] = (i * 37 + 11) & 0xff));
    const arrays = {
      a: new Float32Array(backing, 4, 5),
      b: new Int16Array(backing, 2, 3),
      c: new Float64Array(backing, 8, 2),
      d: new Uint8ClampedArray(backing, 1, 7),
      e: new Float32Array(backing, 16, 3),
      f: new BigInt64Array(backing, 24, 2),
      g: new Uint32Array(backing, 40, 1),
      h: new Int8Array(backing, 3, 0),
    };
    const bytes = encode(arrays);
    const file = decode(bytes);
    for (const [name, data] of Object.entries(arrays)) expect(bytesOf(file.get(name).data), name).toEqual(bytesOf(data));
    for (const offset of [0, 1, 2, 3, 4, 5, 8]) {
      const target = new Uint8Array(new ArrayBuffer(offset + encodedSize(arrays) + 3), offset);
      expect(encodeInto(target, arrays)).toBe(bytes.length);
      expect(target.subarray(0, bytes.length)).toEqual(bytes);
    }
  });
});
