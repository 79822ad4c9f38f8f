/**
 * Property-based round trips: every dtype x shapes (0-d, zero-size axes, up to 8 dims) x C/F order x
 * byte order x alignment x checksum x codec x Unicode names x nested metadata. Arrays are built from
 * random bytes (plus special float words: -0, NaN payloads, subnormals, infinities), so every bit
 * pattern can occur, and they are compared byte for byte.
 *
 * Besides decode(encode(x)) = x, each file is checked against an independent reading of FORMAT.md
 * (test/helpers/core-spec.ts): canonical header text, layout, padding, CRCs and stored payloads.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  decode,
  DTYPE_NAMES,
  encode,
  encodedSize,
  encodeInto,
  isNdpackError,
  verify,
  type ArrayInput,
  type ArraysInput,
  type Codec,
  type Dtype,
  type EncodeOptions,
  type NdArray,
  type NdpackFile,
} from "../src/index.js";
import {
  bytesOfView,
  canonicalJson,
  checkAgainstSpec,
  equalBytes,
  hex,
  SPEC_DTYPE_NAMES,
  SPEC_DTYPES,
  swapWords,
  type ExpectedEntry,
} from "./helpers/core-spec.js";

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Little-endian bytes of float words that random bytes almost never produce. */
const SPECIAL_WORDS: Readonly<Record<number, readonly number[][]>> = {
  2: [
    [0x00, 0x80], // -0 (float16, bfloat16)
    [0x01, 0x00], // smallest subnormal
    [0x01, 0x7c], // float16 signalling NaN with payload 1
    [0x01, 0xfe], // float16 quiet NaN, sign set, payload
    [0x81, 0x7f], // bfloat16 signalling NaN
    [0x00, 0x7c], // float16 +Inf
    [0xff, 0xff],
  ],
  4: [
    [0x00, 0x00, 0x00, 0x80], // -0
    [0x01, 0x00, 0x00, 0x00], // smallest subnormal
    [0xff, 0xff, 0x7f, 0x80], // largest negative subnormal
    [0x01, 0x00, 0x80, 0x7f], // signalling NaN, payload 1
    [0x55, 0x55, 0xc5, 0xff], // quiet NaN, sign set, payload
    [0x00, 0x00, 0x80, 0x7f], // +Inf
    [0x00, 0x00, 0x80, 0xff], // -Inf
  ],
  8: [
    [0, 0, 0, 0, 0, 0, 0, 0x80], // -0
    [1, 0, 0, 0, 0, 0, 0, 0], // smallest subnormal (and int64 1)
    [1, 0, 0, 0, 0, 0, 0xf0, 0x7f], // signalling NaN, payload 1
    [0xef, 0xbe, 0xad, 0xde, 0, 0, 0xf8, 0xff], // quiet NaN, sign set, payload 0xdeadbeef
    [0, 0, 0, 0, 0, 0, 0xf0, 0x7f], // +Inf
    [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // int64 max
    [0, 0, 0, 0, 0, 0, 0, 0x80], // int64 min / -0
  ],
};

/** One word (`wordSize` bytes, little-endian): random bits or a special float pattern. */
function wordArb(wordSize: number): fc.Arbitrary<number[]> {
  const random = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: wordSize, maxLength: wordSize });
  const specials = SPECIAL_WORDS[wordSize];
  return specials === undefined ? random : fc.oneof({ weight: 3, arbitrary: random }, { weight: 1, arbitrary: fc.constantFrom(...specials) });
}

/** The array's bytes in this machine's (little-endian) order: random, special, or compressible. */
function payloadArb(dtype: Dtype, count: number): fc.Arbitrary<Uint8Array> {
  const { itemSize, wordSize } = SPEC_DTYPES[dtype];
  const byteLength = count * itemSize;
  const words = byteLength / wordSize;
  const varied = fc.array(wordArb(wordSize), { minLength: words, maxLength: words }).map((list) => Uint8Array.from(list.flat()));
  const compressible = fc
    .tuple(fc.constantFrom(0x00, 0xff, 0x3f), fc.nat(7))
    .map(([fill, period]) => Uint8Array.from({ length: byteLength }, (_, i) => (period > 0 && i % (period * 16 + 1) === 0 ? i & 0xff : fill)));
  const bytes = fc.oneof({ weight: 4, arbitrary: varied }, { weight: 1, arbitrary: compressible });
  // FORMAT.md §3: bool bytes other than 0 and 1 are invalid data.
  return dtype === "bool" ? bytes.map((b) => b.map((x) => x & 1)) : bytes;
}

/** Up to 8 dims, some 0; the product of the non-zero dims is kept at most 48. */
const shapeArb = fc
  .array(fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 10, arbitrary: fc.integer({ min: 1, max: 4 }) }), { maxLength: 8 })
  .map((dims) => {
    let product = 1;
    return dims.map((d) => {
      if (d === 0) return 0;
      if (product * d > 48) return 1;
      product *= d;
      return d;
    });
  });

const CODECS: readonly Codec[] = ["none", "deflate", "shuffle+deflate"];

interface ArrayCase {
  readonly dtype: Dtype;
  readonly shape: number[];
  readonly order: "C" | "F";
  /** Per-array codec override, or none. */
  readonly codec: Codec | undefined;
  /** Host-order bytes of the elements. */
  readonly bytes: Uint8Array;
  /** Words of unrelated memory before the data in its ArrayBuffer (encode must honour byteOffset). */
  readonly lead: number;
  /** Give only what cannot be defaulted (bare typed array where possible). */
  readonly minimal: boolean;
  /** For uint8: hand in a Uint8ClampedArray or a Node Buffer instead of a Uint8Array. */
  readonly uint8Flavour: "Uint8Array" | "Uint8ClampedArray" | "Buffer";
}

const arrayCaseArb: fc.Arbitrary<ArrayCase> = fc
  .record({
    dtype: fc.constantFrom(...DTYPE_NAMES),
    shape: shapeArb,
    order: fc.constantFrom("C" as const, "F" as const),
    codec: fc.option(fc.constantFrom(...CODECS), { nil: undefined, freq: 3 }),
    lead: fc.nat(3),
    minimal: fc.boolean(),
    uint8Flavour: fc.constantFrom("Uint8Array" as const, "Uint8ClampedArray" as const, "Buffer" as const),
  })
  .chain((c) => payloadArb(c.dtype, c.shape.reduce((a, b) => a * b, 1)).map((bytes) => ({ ...c, bytes })));

/** Array names: any Unicode (no lone surrogates), plus names that trip naive object-keyed code. */
const nameArb = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 10 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 10 }) },
  { weight: 2, arbitrary: fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "a/b", "layer.0.weight", ".", "/", "0", "1") },
);

const metadataKeyArb = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "toString", "", "a/b", "x.y", "7") },
);

const specialNumberArb = fc.constantFrom(
  -0,
  2 ** 60,
  -(2 ** 60),
  2 ** 53,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
  1e21,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  0.1,
  1e-7,
  123456789.125,
);

const metadataValueArb = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4, stringUnit: "grapheme" }) },
  { weight: 2, arbitrary: specialNumberArb },
  { weight: 1, arbitrary: fc.array(specialNumberArb, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(metadataKeyArb, specialNumberArb, { maxKeys: 3 }) },
);

const metadataArb: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(metadataKeyArb, metadataValueArb, { maxKeys: 6 });

/** Powers of two from 8 to 65536, small ones far more often. */
const alignmentArb = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(8, 16, 32, 64) },
  { weight: 4, arbitrary: fc.constantFrom(128, 256, 512, 1024, 2048, 4096) },
  { weight: 1, arbitrary: fc.constantFrom(8192, 16384, 32768, 65536) },
);

interface FileCase {
  readonly arrays: readonly { readonly name: string; readonly array: ArrayCase }[];
  readonly options: {
    alignment: number | undefined;
    byteOrder: "little" | "big" | undefined;
    checksum: "crc32" | "none" | undefined;
    codec: Codec | undefined;
    metadata: Record<string, unknown> | undefined;
  };
  readonly form: "pairs" | "map" | "object";
}

const fileCaseArb: fc.Arbitrary<FileCase> = fc.record({
  arrays: fc.uniqueArray(fc.record({ name: nameArb, array: arrayCaseArb }), { maxLength: 4, selector: (entry) => entry.name }),
  options: fc.record({
    alignment: fc.option(alignmentArb, { nil: undefined, freq: 6 }),
    byteOrder: fc.option(fc.constantFrom("little" as const, "big" as const), { nil: undefined, freq: 4 }),
    checksum: fc.option(fc.constantFrom("crc32" as const, "none" as const), { nil: undefined, freq: 4 }),
    codec: fc.option(fc.constantFrom(...CODECS), { nil: undefined, freq: 3 }),
    metadata: fc.option(metadataArb, { nil: undefined, freq: 5 }),
  }),
  form: fc.constantFrom("pairs" as const, "map" as const, "object" as const),
});

// ---------------------------------------------------------------------------------------------
// Building the encoder's input and the expectations

/** The typed array a caller would hand in: a fresh copy of `bytes`, `lead` words into its buffer. */
function inputData(array: ArrayCase): ArrayBufferView {
  const row = SPEC_DTYPES[array.dtype];
  const at = array.lead * row.wordSize;
  const buffer = new ArrayBuffer(at + array.bytes.length + row.wordSize);
  new Uint8Array(buffer).fill(0xa5); // unrelated bytes around the data
  new Uint8Array(buffer, at, array.bytes.length).set(array.bytes);
  const words = array.bytes.length / row.wordSize;
  if (array.dtype === "uint8" && array.uint8Flavour === "Uint8ClampedArray") return new Uint8ClampedArray(buffer, at, words);
  if (array.dtype === "uint8" && array.uint8Flavour === "Buffer") return Buffer.from(buffer, at, words);
  return new row.input(buffer, at, words);
}

/** The dtype encode infers for a bare typed array of this dtype's input type, when it is this dtype. */
const INFERRED: Partial<Record<Dtype, true>> = {
  int8: true,
  int16: true,
  int32: true,
  int64: true,
  uint8: true,
  uint16: true,
  uint32: true,
  uint64: true,
  float32: true,
  float64: true,
};

function arrayInput(array: ArrayCase, data: ArrayBufferView): ArrayInput {
  if (!array.minimal) return { data, shape: array.shape, dtype: array.dtype, order: array.order, ...(array.codec ? { codec: array.codec } : {}) };
  const dtypeNeeded = INFERRED[array.dtype] !== true;
  const shapeNeeded = array.shape.length !== 1 || SPEC_DTYPES[array.dtype].itemSize !== SPEC_DTYPES[array.dtype].wordSize;
  if (!dtypeNeeded && !shapeNeeded && array.order === "C" && array.codec === undefined) return data;
  return {
    data,
    ...(shapeNeeded ? { shape: array.shape } : {}),
    ...(dtypeNeeded ? { dtype: array.dtype } : {}),
    ...(array.order === "C" ? {} : { order: array.order }),
    ...(array.codec ? { codec: array.codec } : {}),
  };
}

/** The encoder's arguments, and the names in the order the file must list them. */
function encoderInput(file: FileCase): { arrays: ArraysInput; names: string[]; inputs: ArrayBufferView[] } {
  const inputs = file.arrays.map(({ array }) => inputData(array));
  const pairs = file.arrays.map(({ name, array }, i) => [name, arrayInput(array, inputs[i]!)] as const);
  if (file.form === "map") return { arrays: new Map(pairs), names: pairs.map(([n]) => n), inputs };
  if (file.form === "pairs") return { arrays: pairs, names: pairs.map(([n]) => n), inputs };
  // A plain object: own properties (so "__proto__" is an ordinary key); the object's own key order
  // (integer-like names first) is the order the caller gave.
  const object: Record<string, ArrayInput> = {};
  for (const [name, input] of pairs) Object.defineProperty(object, name, { value: input, enumerable: true, writable: true, configurable: true });
  return { arrays: object, names: Object.keys(object), inputs };
}

function encodeOptions(file: FileCase): EncodeOptions {
  const o = file.options;
  return {
    ...(o.alignment === undefined ? {} : { alignment: o.alignment }),
    ...(o.byteOrder === undefined ? {} : { byteOrder: o.byteOrder }),
    ...(o.checksum === undefined ? {} : { checksum: o.checksum }),
    ...(o.codec === undefined ? {} : { codec: o.codec }),
    ...(o.metadata === undefined ? {} : { metadata: o.metadata }),
  };
}

interface Expected extends ExpectedEntry {
  /** Host-order bytes (what decoded `data` must hold). */
  readonly hostBytes: Uint8Array;
  /** The codec asked for (per array unless that is "none", else file-wide, else "none"). */
  readonly requestedCodec: Codec;
  /** True when the data compresses so well that §5 gives the writer no excuse to skip the codec. */
  readonly mustCompress: boolean;
}

function expectations(file: FileCase, names: readonly string[]): Expected[] {
  const byName = new Map(file.arrays.map((a) => [a.name, a.array]));
  return names.map((name) => {
    const array = byName.get(name)!;
    const row = SPEC_DTYPES[array.dtype];
    const byteOrder = row.itemSize === 1 ? "little" : (file.options.byteOrder ?? "little");
    const requestedCodec = array.codec !== undefined && array.codec !== "none" ? array.codec : (file.options.codec ?? "none");
    const compressible = array.bytes.length >= 256 && array.bytes.every((b) => b === array.bytes[0]);
    return {
      name,
      dtype: array.dtype,
      shape: array.shape,
      order: array.order,
      byteOrder,
      fileOrderBytes: byteOrder === "big" ? swapWords(array.bytes, row.wordSize) : array.bytes,
      allowedCodecs: requestedCodec === "none" ? ["none"] : compressible ? [requestedCodec] : [requestedCodec, "none"],
      hostBytes: array.bytes,
      requestedCodec,
      mustCompress: requestedCodec !== "none" && compressible,
    };
  });
}

/** Strict JSON comparison: key order, -0 and every double's exact value count. */
function expectSameJson(actual: unknown, expected: unknown): void {
  expect(canonicalJson(actual)).toBe(canonicalJson(expected));
}

function expectArrayMatches(array: NdArray, expected: Expected, storedCodec: string): void {
  const row = SPEC_DTYPES[expected.dtype];
  const count = expected.shape.reduce((a, b) => a * b, 1);
  expect(array.name).toBe(expected.name);
  expect(array.dtype).toBe(expected.dtype);
  expect(array.shape).toEqual(expected.shape);
  expect(array.order).toBe(expected.order);
  expect(array.byteOrder).toBe(expected.byteOrder);
  expect(array.codec).toBe(storedCodec);
  expect(array.nbytes).toBe(count * row.itemSize);
  expect(array.data.constructor).toBe(row.decoded);
  expect(array.data.length).toBe((count * row.itemSize) / row.wordSize);
  const got = bytesOfView(array.data);
  expect(equalBytes(got, expected.hostBytes), `bytes of ${JSON.stringify(expected.name)}: ${hex(got)} != ${hex(expected.hostBytes)}`).toBe(true);
}

function isCopyRequired(run: () => unknown): boolean {
  try {
    run();
    return false;
  } catch (error) {
    if (isNdpackError(error) && error.code === "COPY_REQUIRED") return true;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Properties

const RUNS = 400;

describe("round trip over every dtype, shape, order, byte order, alignment, checksum, codec, name and metadata", () => {
  test("the tests' dtype table lists exactly the library's dtypes, in FORMAT.md order", () => {
    expect([...DTYPE_NAMES]).toEqual(SPEC_DTYPE_NAMES);
  });

  test("decode(encode(x)) gives back every array bit for bit, with its description and the metadata", () => {
    fc.assert(
      fc.property(fileCaseArb, (file) => {
        const { arrays, names } = encoderInput(file);
        const options = encodeOptions(file);
        const bytes = encode(arrays, options);
        const expected = expectations(file, names);
        const spec = checkAgainstSpec(bytes, {
          alignment: file.options.alignment ?? 64,
          checksum: file.options.checksum ?? "crc32",
          metadata: file.options.metadata ?? {},
          entries: expected,
        });

        const decoded: NdpackFile = decode(bytes);
        expect(decoded.names).toEqual(names);
        expect(decoded.size).toBe(names.length);
        expect(decoded.alignment).toBe(file.options.alignment ?? 64);
        expect(decoded.checksum).toBe(file.options.checksum ?? "crc32");
        expect(decoded.version).toEqual({ major: 1, minor: 0 });
        expectSameJson(decoded.metadata, file.options.metadata ?? {});
        expected.forEach((e, i) => {
          const storedCodec = spec.entries[i]!.codec;
          if (e.mustCompress) expect(storedCodec, `${JSON.stringify(e.name)} compresses, so it must be stored with its codec`).toBe(e.requestedCodec);
          expect(decoded.has(e.name)).toBe(true);
          const info = decoded.info(e.name);
          expect(info.offset).toBe(spec.entries[i]!.start);
          expect(info.byteLength).toBe(spec.entries[i]!.byteLength);
          expectArrayMatches(decoded.get(e.name), e, storedCodec);
        });
        // Iteration yields the same arrays, in file order.
        expect([...decoded].map((a) => a.name)).toEqual(names);
      }),
      { numRuns: RUNS },
    );
  });

  test("encoding is deterministic, leaves its input untouched, and encodedSize is the encoded length", () => {
    fc.assert(
      fc.property(fileCaseArb, (file) => {
        const { arrays, inputs } = encoderInput(file);
        const before = inputs.map((view) => bytesOfView(view).slice());
        const options = encodeOptions(file);
        const first = encode(arrays, options);
        const second = encode(arrays, options);
        expect(equalBytes(first, second)).toBe(true);
        expect(encodedSize(arrays, options)).toBe(first.length);
        inputs.forEach((view, i) => expect(equalBytes(bytesOfView(view), before[i]!), "encode changed its input").toBe(true));
      }),
      { numRuns: RUNS },
    );
  });

  test("encodeInto a dirty larger buffer writes exactly encode's bytes and nothing past them (or before, at an offset)", () => {
    fc.assert(
      fc.property(fileCaseArb, fc.nat(40), fc.integer({ min: 1, max: 33 }), (file, before, after) => {
        const { arrays } = encoderInput(file);
        const options = encodeOptions(file);
        const reference = encode(arrays, options);

        const target = new Uint8Array(reference.length + after).fill(0xff);
        expect(encodeInto(target, arrays, options)).toBe(reference.length);
        expect(equalBytes(target.subarray(0, reference.length), reference)).toBe(true);
        expect(target.subarray(reference.length).every((b) => b === 0xff), "bytes past the end were written").toBe(true);

        const outer = new Uint8Array(before + reference.length + after).fill(0xff);
        expect(encodeInto(outer.subarray(before), arrays, options)).toBe(reference.length);
        expect(equalBytes(outer.subarray(before, before + reference.length), reference)).toBe(true);
        expect(outer.subarray(0, before).every((b) => b === 0xff), "bytes before the target's offset were written").toBe(true);
        expect(outer.subarray(before + reference.length).every((b) => b === 0xff), "bytes past the end were written").toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  test("uncompressed native-order arrays decode as views of the input at aligned offsets; all others are copies", () => {
    fc.assert(
      fc.property(fileCaseArb, (file) => {
        const { arrays, names } = encoderInput(file);
        const bytes = encode(arrays, encodeOptions(file));
        const alignment = file.options.alignment ?? 64;
        const expected = expectations(file, names);
        const auto = decode(bytes);
        const never = decode(bytes, { copy: "never" });
        for (const e of expected) {
          const array = auto.get(e.name);
          const viewable = array.codec === "none" && (e.byteOrder === "little" || SPEC_DTYPES[e.dtype].itemSize === 1);
          if (viewable) {
            expect(array.copied).toBe(false);
            expect(array.data.buffer).toBe(bytes.buffer);
            expect(array.data.byteOffset % alignment).toBe(0);
            expect(never.get(e.name).data.buffer).toBe(bytes.buffer);
          } else {
            expect(array.copied).toBe(true);
            expect(array.data.buffer).not.toBe(bytes.buffer);
            expect(isCopyRequired(() => never.get(e.name)), `copy "never" must refuse ${JSON.stringify(e.name)}`).toBe(true);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  test("every encoded file passes verify and decode with verify: true", () => {
    fc.assert(
      fc.property(fileCaseArb, (file) => {
        const { arrays, names } = encoderInput(file);
        const bytes = encode(arrays, encodeOptions(file));
        const report = verify(bytes);
        expect(report.error).toBeUndefined();
        expect(report.ok).toBe(true);
        expect(report.checksum).toBe(file.options.checksum ?? "crc32");
        expect(report.arrays.map((a) => [a.name, a.ok])).toEqual(names.map((n) => [n, true]));
        expect(decode(bytes, { verify: true }).names).toEqual(names);
      }),
      { numRuns: 100 },
    );
  });
});
