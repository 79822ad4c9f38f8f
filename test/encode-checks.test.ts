import { describe, expect, test } from "vitest";
import { decode, encode } from "../src/index.js";
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
