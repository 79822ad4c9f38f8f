import { describe, expect, test } from "vitest";
import { decode, encode, encodeInto, verify } from "../src/index.js";
import { NdpackError } from "../src/errors.js";

describe("encode: bool bytes other than 0 and 1 (FORMAT.md §3), checked four bytes at a time", () => {
  test("INVALID_ARGUMENT naming the first bad byte, at every position, view offset and length", () => {
    for (const length of [1, 3, 4, 5, 8, 17, 64]) {
      for (let offset = 0; offset < 4; offset++) {
        for (let bad = 0; bad < length; bad++) {
          const backing = new Uint8Array(offset + length + 3).fill(7); // bytes outside the view are not 0 or 1
          const view = backing.subarray(offset, offset + length);
          for (let i = 0; i < length; i++) view[i] = i & 1;
          view[bad] = 2 + bad;
          if (bad + 2 < length) view[bad + 2] = 200; // a later bad byte is not the one reported
          let error: unknown;
          try {
            encode({ b: { data: view, dtype: "bool" } });
          } catch (e) {
            error = e;
          }
          expect(error, `length ${length} offset ${offset} bad ${bad}`).toBeInstanceOf(NdpackError);
          expect((error as NdpackError).code).toBe("INVALID_ARGUMENT");
          expect((error as NdpackError).message).toContain(`got ${2 + bad}`);
        }
      }
    }
  });

  test("0s and 1s in any view pass, whatever the bytes around the view", () => {
    for (const length of [0, 1, 3, 4, 5, 8, 17, 64]) {
      for (let offset = 0; offset < 4; offset++) {
        const backing = new Uint8Array(offset + length + 3).fill(9);
        const view = backing.subarray(offset, offset + length);
        for (let i = 0; i < length; i++) view[i] = (i * 7) % 3 === 0 ? 1 : 0;
        const file = decode(encode({ b: { data: view, dtype: "bool" } }));
        expect([...(file.get("b").data as Uint8Array)]).toEqual([...view]);
      }
    }
  });
});

describe("encode: typed arrays whose type, length or buffer a subclass misstates are written as the memory they view", () => {
  test("a length getter that says 1 of 4 elements, a byteLength getter: the header and the payload agree and the file verifies", () => {
    class ShortLength extends Float32Array {
      override get length(): number {
        return 1;
      }
    }
    class ShortBytes extends Float32Array {
      override get byteLength(): number {
        return 4;
      }
    }
    for (const a of [new ShortLength([1, 2, 3, 4]), new ShortBytes([1, 2, 3, 4])]) {
      for (const options of [{}, { byteOrder: "big" as const }, { codec: "shuffle+deflate" as const }]) {
        const bytes = encode({ a, b: new Float32Array(100) }, options);
        expect(verify(bytes).ok).toBe(true);
        expect(Array.from(decode(bytes).get("a").data as Float32Array)).toEqual([1, 2, 3, 4]);
      }
    }
  });

  test("a Uint8Array whose Symbol.toStringTag says Float64Array is uint8 (was float64 of 8 times its bytes), a DataView that says Float32Array is INVALID_ARGUMENT", () => {
    const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    Object.defineProperty(bytes, Symbol.toStringTag, { value: "Float64Array" });
    const file = decode(encode({ a: bytes }, { byteOrder: "big" }));
    expect(file.get("a").dtype).toBe("uint8");
    expect(Array.from(file.get("a").data as Uint8Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const view = new DataView(new ArrayBuffer(8));
    Object.defineProperty(view, Symbol.toStringTag, { value: "Float32Array" });
    expect(() => encode({ a: view as unknown as Float32Array })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});

describe("encodeInto: a target whose length an own property or a subclass overstates", () => {
  test("is measured by its memory: INVALID_ARGUMENT when that is too short (was a RangeError mid-write)", () => {
    class Long extends Uint8Array {
      override get length(): number {
        return 1 << 20;
      }
    }
    const own = new Uint8Array(10);
    Object.defineProperty(own, "length", { value: 1 << 20 });
    const detached = new Uint8Array(4096);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    for (const target of [own, new Long(10), detached]) {
      expect(() => encodeInto(target, { a: new Float32Array(3) })).toThrow(expect.objectContaining({ name: "NdpackError", code: "INVALID_ARGUMENT", field: "target" }));
    }
  });
});

describe("encode: an array whose buffer was detached", () => {
  test("is INVALID_ARGUMENT naming it, with or without a shape (was a TypeError from the copy)", () => {
    class Sub extends Float32Array {
      override get length(): number {
        return 4; // says 4 even once detached
      }
    }
    for (const input of [() => new Float32Array(4), () => new Uint8Array(4), () => new Float32Array(0), () => new Sub(4)]) {
      const data = input();
      structuredClone(data.buffer, { transfer: [data.buffer] });
      for (const array of [data, { data, shape: [4] }]) {
        expect(() => encode({ ok: new Uint8Array(1), a: array })).toThrow(expect.objectContaining({ name: "NdpackError", code: "INVALID_ARGUMENT", array: "a" }));
      }
    }
  });
});
