import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { DTYPE_NAMES } from "../src/dtypes.js";
import { isCertainlyValidHeader, lenientHeaderSchema, strictHeaderSchema } from "../src/schema.js";

// Values each field may take: mostly valid ones, plus the kinds of wrong values a hostile file holds.
const anyJson = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double(), fc.string(), fc.constant([]), fc.constant({}));
const size = fc.oneof({ weight: 30, arbitrary: fc.nat() }, { weight: 1, arbitrary: fc.constantFrom(-1, 0.5, 2 ** 53, Number.NaN) }, { weight: 1, arbitrary: anyJson });
const pick = <T>(valid: readonly T[]) => fc.oneof({ weight: 30, arbitrary: fc.constantFrom(...valid) }, { weight: 1, arbitrary: anyJson });

/** Adds an unknown key now and then: valid in lenient mode only. */
const rarelyExtra = <T extends object>(arbitrary: fc.Arbitrary<T>) =>
  fc.tuple(arbitrary, fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: anyJson })).map(([value, extra]) => (extra === undefined ? value : { ...value, extra }));

const entry = rarelyExtra(fc.record(
  {
    name: fc.oneof({ weight: 8, arbitrary: fc.string() }, { weight: 1, arbitrary: anyJson }),
    dtype: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...DTYPE_NAMES) }, { weight: 1, arbitrary: fc.constantFrom("Float32", "float128", "") }),
    shape: fc.oneof({ weight: 8, arbitrary: fc.array(size, { maxLength: 4 }) }, { weight: 1, arbitrary: anyJson }),
    order: pick(["C", "F"]),
    byteOrder: pick(["little", "big"]),
    codec: pick(["none", "deflate", "shuffle+deflate"]),
    offset: size,
    byteLength: size,
  },
  { requiredKeys: ["name", "dtype", "shape", "order", "byteOrder", "offset", "byteLength"] },
));

const header = rarelyExtra(fc.record(
  {
    alignment: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(8, 64, 4096, 65536) }, { weight: 1, arbitrary: fc.constantFrom(4, 48, 131072) }, { weight: 1, arbitrary: anyJson }),
    checksum: pick(["crc32", "none"]),
    dataLength: size,
    metadata: fc.oneof({ weight: 8, arbitrary: fc.dictionary(fc.string(), fc.jsonValue()) }, { weight: 1, arbitrary: anyJson }),
    arrays: fc.oneof({ weight: 8, arbitrary: fc.array(entry, { maxLength: 3 }) }, { weight: 1, arbitrary: anyJson }),
  },
  { requiredKeys: ["alignment", "checksum", "dataLength", "metadata", "arrays"] },
));

describe("isCertainlyValidHeader agrees with the zod schema it accelerates", () => {
  test("strict (a file whose minor version the reader knows): same verdict on every generated header", () => {
    fc.assert(
      fc.property(header, (value) => {
        expect(isCertainlyValidHeader(value, false)).toBe(strictHeaderSchema.safeParse(value).success);
      }),
      { numRuns: 5000 },
    );
  });

  test("lenient (a newer minor version): same verdict on every generated header", () => {
    fc.assert(
      fc.property(header, (value) => {
        expect(isCertainlyValidHeader(value, true)).toBe(lenientHeaderSchema.safeParse(value).success);
      }),
      { numRuns: 5000 },
    );
  });

  test("the generator produces both verdicts often enough to make the comparison meaningful", () => {
    const verdicts = fc.sample(header, 2000).map((value) => strictHeaderSchema.safeParse(value).success);
    expect(verdicts.filter(Boolean).length).toBeGreaterThan(100);
    expect(verdicts.filter((v) => !v).length).toBeGreaterThan(100);
  });
});
