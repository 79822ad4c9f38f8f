/** The viewer's row sample of large arrays (src/viewer/sample.ts): within the byte budget, in few reads, spread over the array. */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { ArrayInfo } from "../src/decode.js";
import { MAX_SAMPLE_READS, planRowSample, type RowSample } from "../src/viewer/sample.js";

const info = (shape: number[], extra: Partial<ArrayInfo> = {}): ArrayInfo => {
  const nbytes = shape.reduce((a, b) => a * b, 1) * 4;
  return { name: "a", dtype: "float32", shape, order: "C", byteOrder: "little", codec: "none", offset: 0, byteLength: nbytes, nbytes, ...extra };
};

describe("planRowSample", () => {
  test("undefined (read whole) when the array fits the budget", () => {
    expect(planRowSample(info([100, 100]), 40_000)).toBeUndefined();
  });

  test("within the budget, in at most MAX_SAMPLE_READS runs, rows increasing, first and last rows included", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 100_000 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 4_000_000 }), (rows, cols, budget) => {
        const plan = planRowSample(info([rows, cols]), budget);
        if (rows * cols * 4 <= budget) {
          expect(plan).toBeUndefined();
          return;
        }
        if (cols * 4 > budget) {
          expect(typeof plan).toBe("string");
          return;
        }
        const sample = plan as RowSample;
        expect(sample.rows.length * cols * 4).toBeLessThanOrEqual(budget);
        expect(sample.runs.length).toBeLessThanOrEqual(MAX_SAMPLE_READS);
        // One expect for all the rows, not one a row: up to 100,000 rows in each of 100 runs made this
        // test take 6 to 21 s of its 60 s with both cores busy.
        const notIncreasing = sample.rows.findIndex((row, i) => i > 0 && !(row > sample.rows[i - 1]!));
        expect(notIncreasing, `row ${notIncreasing} of the sample is not after the one before`).toBe(-1);
        expect(sample.rows[0]).toBe(0);
        if (sample.runs.length > 1) expect(sample.rows[sample.rows.length - 1]).toBe(rows - 1);
      }),
    );
  });

  test("says why a large array cannot be sampled by rows: compressed, F-order, a row over budget", () => {
    expect(planRowSample(info([1000, 1000], { codec: "deflate" }), 1000)).toMatch(/deflate/);
    expect(planRowSample(info([1000, 1000], { order: "F" }), 1000)).toMatch(/F order/);
    expect(planRowSample(info([2, 1000]), 1000)).toMatch(/larger/);
  });
});
