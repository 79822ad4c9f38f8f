/**
 * The canonical-layout header reader (src/canonical-header.ts) against the strict one: on every
 * header, either the canonical reader declines (and `readHeader` uses the strict reader, which
 * then decides the result or the error code alone) or both read the same layout. Generated
 * canonical headers, valid and broken in every way §9 checks, with random limits, and mutated
 * texts; then each case where the canonical reader declines, named.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { readCanonicalHeader } from "../src/canonical-header.js";
import { decode } from "../src/decode.js";
import { DTYPE_NAMES, DTYPES } from "../src/dtypes.js";
import { NdpackError } from "../src/errors.js";
import { alignUp, DEFAULT_LIMITS, FORMAT_VERSION, type ReadLimits } from "../src/format.js";
import { readAnyHeader, type FileLayout } from "../src/header.js";
import { stringifyJson } from "../src/json.js";
import { encode } from "../src/encode.js";

const PREAMBLE = { major: 1, minor: FORMAT_VERSION.minor as number, headerLength: 1000, headerCrc: 0 };

/** What the strict reader makes of `text`: its layout, or its error code. */
function strict(text: string, preamble = PREAMBLE, limits: ReadLimits = DEFAULT_LIMITS): FileLayout | string {
  try {
    return readAnyHeader(text, preamble, limits);
  } catch (error) {
    if (error instanceof NdpackError) return error.code;
    throw error;
  }
}

/** Everything a reader uses of a layout, as plain data. */
function summary(layout: FileLayout) {
  return {
    version: layout.version,
    header: layout.header,
    headerLength: layout.headerLength,
    dataStart: layout.dataStart,
    checksumSize: layout.checksumSize,
    fileLength: layout.fileLength,
    names: layout.names,
    size: layout.size,
    entries: layout.entries,
    recordEnds: layout.names.map((_, i) => layout.recordEnd(i)),
    indices: layout.names.map((name) => layout.indexOf(name)),
  };
}

/**
 * The property: the canonical reader declines, or reads what the strict reader reads (which then
 * must accept the header). Returns whether the canonical reader read it.
 */
function agree(text: string, preamble = PREAMBLE, limits: ReadLimits = DEFAULT_LIMITS): boolean {
  const fast = readCanonicalHeader(text, preamble, limits);
  if (fast === undefined) return false;
  const reference = strict(text, preamble, limits);
  if (typeof reference === "string") throw new Error(`the canonical reader accepted a header the strict one refuses with ${reference}: ${text.slice(0, 300)}`);
  expect(summary(fast)).toStrictEqual(summary(reference));
  return true;
}

interface EntrySpec {
  name: string;
  dtype: string;
  shape: number[];
  order: string;
  byteOrder: string;
  codec: string | undefined;
  /** Added to the right offset and byteLength (0: right). */
  offsetError: number;
  lengthError: number;
}

/** A header as ndpack's writer lays it out (§8), with the entries' sizes and offsets right unless told otherwise. */
function canonicalText(h: { alignment: number; checksum: string; metadata: Record<string, unknown>; entries: EntrySpec[]; dataLengthError: number; trailingSpaces: number }): string {
  const checksumSize = h.checksum === "none" ? 0 : 4;
  let end = 0;
  const arrays = h.entries.map((e) => {
    const itemSize = (DTYPES as Record<string, { itemSize: number } | undefined>)[e.dtype]?.itemSize ?? 4;
    const nbytes = e.shape.reduce((a, b) => a * b, 1) * itemSize;
    const offset = Math.max(0, alignUp(end, Math.max(1, h.alignment)) + e.offsetError);
    const byteLength = Math.max(0, nbytes + e.lengthError);
    end = offset + byteLength + checksumSize;
    return { name: e.name, dtype: e.dtype, shape: e.shape, order: e.order, byteOrder: e.byteOrder, ...(e.codec === undefined ? {} : { codec: e.codec }), offset, byteLength };
  });
  const dataLength = Math.max(0, end + h.dataLengthError);
  return `{"alignment":${h.alignment},"checksum":${JSON.stringify(h.checksum)},"dataLength":${dataLength},"metadata":${stringifyJson(h.metadata, { maxDepth: 62 })},"arrays":${JSON.stringify(arrays)}}${" ".repeat(h.trailingSpaces)}`;
}

/** Mostly right, sometimes wrong: `right` with weight 19, `wrong` with weight 1. */
const mostly = <T>(right: fc.Arbitrary<T>, wrong: fc.Arbitrary<T>) => fc.oneof({ arbitrary: right, weight: 19 }, { arbitrary: wrong, weight: 1 });

const nameArb = mostly(
  fc.stringMatching(/^[a-z]{1,6}(\.[0-9]{1,3}){0,2}$/),
  fc.oneof(fc.constant(""), fc.string({ unit: "binary", maxLength: 8 }), fc.constantFrom("a\"b", "a\\b", "tab\t", "é", "😀", "__proto__", "x".repeat(1400))),
);

const entryArb: fc.Arbitrary<EntrySpec> = fc.record({
  name: nameArb,
  dtype: mostly(fc.constantFrom(...DTYPE_NAMES), fc.constantFrom("float33", "", "Float32", "toString")),
  shape: mostly(fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 4 }), fc.array(fc.constantFrom(0, 1, 2 ** 30, 2 ** 52, 2 ** 53 - 1), { maxLength: 5 })),
  order: mostly(fc.constantFrom("C", "F"), fc.constantFrom("c", "A")),
  byteOrder: mostly(fc.constantFrom("little", "big"), fc.constantFrom("native", "")),
  codec: mostly(fc.constantFrom(undefined, undefined, undefined, "none", "deflate", "shuffle+deflate"), fc.constantFrom("zstd", "")),
  offsetError: mostly(fc.constant(0), fc.integer({ min: -70, max: 70 })),
  lengthError: mostly(fc.constant(0), fc.integer({ min: -5, max: 5 })),
});

const metadataArb: fc.Arbitrary<Record<string, unknown>> = mostly(
  fc.oneof(fc.constant({}), fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 })),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.constantFrom(2 ** 60, -0, 1e300, [[[[[[1]]]]]]), { maxKeys: 2 }),
) as fc.Arbitrary<Record<string, unknown>>;

const headerArb = fc.record({
  alignment: mostly(fc.constantFrom(8, 64, 4096, 65536), fc.constantFrom(0, 1, 4, 24, 131072)),
  checksum: mostly(fc.constantFrom("crc32", "none"), fc.constantFrom("md5", "")),
  metadata: metadataArb,
  entries: fc.array(entryArb, { maxLength: 8 }),
  dataLengthError: mostly(fc.constant(0), fc.integer({ min: -10, max: 10 })),
  trailingSpaces: mostly(fc.constant(0), fc.integer({ min: 1, max: 3 })),
});

/** Limits around what the generated headers hold, so that every limit is met and exceeded. */
const limitsArb: fc.Arbitrary<ReadLimits> = mostly(
  fc.constant(DEFAULT_LIMITS),
  fc.record({
    maxHeaderBytes: fc.constant(DEFAULT_LIMITS.maxHeaderBytes),
    maxHeaderNodes: fc.integer({ min: 1, max: 200 }),
    maxDepth: fc.integer({ min: 1, max: 8 }),
    maxArrays: fc.integer({ min: 1, max: 8 }),
    maxDims: fc.integer({ min: 1, max: 5 }),
    maxNameBytes: fc.integer({ min: 1, max: 30 }),
    maxDecodedBytes: fc.constant(DEFAULT_LIMITS.maxDecodedBytes),
  }),
);

const minorArb = mostly(fc.constant(FORMAT_VERSION.minor), fc.constant(FORMAT_VERSION.minor + 1));

describe("the canonical-layout reader reads what the strict reader reads, or declines", () => {
  test("generated canonical headers, valid and broken, under random limits", () => {
    let read = 0;
    let runs = 0;
    fc.assert(
      fc.property(headerArb, limitsArb, minorArb, (header, limits, minor) => {
        runs++;
        if (agree(canonicalText(header), { ...PREAMBLE, minor }, limits)) read++;
      }),
      { numRuns: 3000 },
    );
    // The comparison means something only if the canonical reader reads most valid headers.
    expect(read).toBeGreaterThan(runs / 20);
  });

  test("every valid generated header in the canonical layout is read by the canonical reader", () => {
    const valid = headerArb.map((h) => ({
      ...h,
      alignment: [8, 64, 4096, 65536].includes(h.alignment) ? h.alignment : 64,
      checksum: h.checksum === "none" ? "none" : "crc32",
      metadata: {},
      dataLengthError: 0,
      trailingSpaces: 0,
      entries: h.entries.map((e, i) => ({ ...e, name: `a${i}`, dtype: DTYPE_NAMES.includes(e.dtype as never) ? e.dtype : "int8", shape: e.shape.map((d) => d % 10), order: "C", byteOrder: "little", codec: undefined, offsetError: 0, lengthError: 0 })),
    }));
    fc.assert(
      fc.property(valid, (header) => {
        const text = canonicalText(header);
        expect(typeof strict(text)).toBe("object");
        expect(agree(text)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  test("mutated canonical texts: a character replaced, inserted or deleted, a slice repeated", () => {
    const mutation = fc.record({
      kind: fc.constantFrom("replace", "insert", "delete", "repeat"),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: 40 }),
      char: fc.constantFrom(..."{}[]\":,0123456789 -.eE\\unaxt\u00e9\t\n".split("")),
    });
    fc.assert(
      fc.property(headerArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), limitsArb, (header, mutations, limits) => {
        let text = canonicalText(header);
        for (const m of mutations) {
          const at = m.at % (text.length + 1);
          if (m.kind === "replace") text = text.slice(0, at) + m.char + text.slice(at + 1);
          else if (m.kind === "insert") text = text.slice(0, at) + m.char + text.slice(at);
          else if (m.kind === "delete") text = text.slice(0, at) + text.slice(at + m.length);
          else text = text.slice(0, at) + text.slice(at, at + m.length) + text.slice(at);
        }
        agree(text, PREAMBLE, limits);
      }),
      { numRuns: 6000 },
    );
  });
});

const ENTRY = '{"name":"w","dtype":"float32","shape":[2],"order":"C","byteOrder":"little","offset":0,"byteLength":8}';
const HEADER = `{"alignment":64,"checksum":"crc32","dataLength":12,"metadata":{},"arrays":[${ENTRY}]}`;

/** The canonical reader declines `text`, and the strict reader gives `expected` (a code, or "ok"). */
function declines(text: string, expected: string, preamble = PREAMBLE, limits: ReadLimits = DEFAULT_LIMITS): void {
  expect(readCanonicalHeader(text, preamble, limits)).toBeUndefined();
  const reference = strict(text, preamble, limits);
  expect(typeof reference === "string" ? reference : "ok").toBe(expected);
}

describe("what the canonical reader reads", () => {
  test("the writer's own headers, with and without metadata, codecs and checksums", () => {
    const arrays = { w: new Float32Array([1, 2]), "layer.0.bias": { data: new Int8Array(3), shape: [3, 1] }, empty: new Float64Array(0) };
    for (const options of [{}, { checksum: "none" as const }, { metadata: { a: [1, -0, 2.5e300], "é": { "__proto__": null } } }, { codec: "deflate" as const }]) {
      const bytes = encode(arrays, options);
      const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
      const text = new TextDecoder().decode(bytes.subarray(20, 20 + length));
      expect(agree(text)).toBe(true);
      expect(decode(bytes).get("layer.0.bias").shape).toEqual([3, 1]);
    }
  });

  test("an explicit codec none, spaces after the header, and a header at every limit", () => {
    expect(agree(HEADER.replace('"offset"', '"codec":"none","offset"'))).toBe(true);
    expect(agree(`${HEADER}   `)).toBe(true);
    // 1 + alignment, checksum, dataLength, metadata, arrays + an entry of 8 values and 1 dimension.
    const exact = { ...DEFAULT_LIMITS, maxHeaderNodes: 15, maxDepth: 4, maxArrays: 1, maxDims: 1, maxNameBytes: 3 };
    expect(agree(HEADER, PREAMBLE, exact)).toBe(true);
  });
});

describe("each header the canonical reader declines, and what the strict reader says", () => {
  test("valid headers in another layout: white space, key order, escapes, surrogate pairs, a newer minor version", () => {
    declines(HEADER.replace('"checksum":', ' "checksum": '), "ok");
    declines(HEADER.replace('"order":"C","byteOrder":"little"', '"byteOrder":"little","order":"C"'), "ok");
    declines(HEADER.replace('"name":"w"', '"name":"w\\u0041"'), "ok");
    declines(HEADER.replace('"name":"w"', '"name":"w\\""'), "ok");
    declines(HEADER.replace('"name":"w"', '"name":"😀"'), "ok");
    declines(HEADER.replace('"dataLength":12', '"dataLength":12.0'), "BAD_NUMBER");
    declines(HEADER, "ok", { ...PREAMBLE, minor: FORMAT_VERSION.minor + 1 });
    declines(HEADER.replace('"offset"', '"extra":1,"offset"'), "ok", { ...PREAMBLE, minor: FORMAT_VERSION.minor + 1 });
  });

  test("a name that may be within maxNameBytes (more than a third of it in characters) is measured by the strict reader", () => {
    declines(HEADER, "ok", PREAMBLE, { ...DEFAULT_LIMITS, maxNameBytes: 2 });
    declines(HEADER.replace('"name":"w"', '"name":"é"'), "ok", PREAMBLE, { ...DEFAULT_LIMITS, maxNameBytes: 2 });
    declines(HEADER.replace('"name":"w"', '"name":"éé"'), "LIMIT_EXCEEDED", PREAMBLE, { ...DEFAULT_LIMITS, maxNameBytes: 3 });
  });

  test("every §9 refusal of steps 7 to 19, with its code", () => {
    const two = HEADER.replace(ENTRY, `${ENTRY},${ENTRY.replace('"offset":0', '"offset":64')}`).replace('"dataLength":12', '"dataLength":76');
    declines(two, "DUPLICATE_NAME");
    declines(HEADER.replace('"name":"w"', '"name":""'), "HEADER_INVALID");
    declines(HEADER.replace("float32", "float33"), "UNKNOWN_DTYPE");
    declines(HEADER.replace('"offset"', '"codec":"zstd","offset"'), "UNSUPPORTED_CODEC");
    declines(HEADER.replace('"checksum":"crc32"', '"checksum":"md5"'), "UNSUPPORTED_CHECKSUM");
    declines(HEADER.replace('"alignment":64', '"alignment":24'), "HEADER_INVALID");
    declines(HEADER.replace('"byteLength":8', '"byteLength":9').replace('"dataLength":12', '"dataLength":13'), "SIZE_MISMATCH");
    declines(HEADER.replace('"offset":0', '"offset":64').replace('"dataLength":12', '"dataLength":76'), "GAP");
    declines(HEADER.replace('"dataLength":12', '"dataLength":20'), "GAP");
    declines(HEADER.replace('"dataLength":12', '"dataLength":11'), "OUT_OF_BOUNDS");
    declines(HEADER.replace('"offset":0', '"offset":8').replace('"dataLength":12', '"dataLength":20'), "MISALIGNED");
    declines(HEADER.replace(ENTRY, `${ENTRY},${ENTRY.replace('"name":"w"', '"name":"v"')}`), "OVERLAP");
    declines(HEADER.replace('"shape":[2]', '"shape":[9007199254740991,2]'), "BAD_SHAPE");
    declines(HEADER.replace('"shape":[2]', '"shape":[02]'), "HEADER_INVALID");
    declines(HEADER.replace('"shape":[2]', '"shape":[9007199254740992]'), "BAD_NUMBER");
    declines(HEADER.replace('"metadata":{}', '"metadata":{"a":1,"a":2}'), "DUPLICATE_KEY");
    declines(HEADER.replace('"metadata":{}', '"metadata":[]'), "HEADER_INVALID");
    declines(HEADER.replace('"metadata":{}', '"metadata":{"a":NaN}'), "HEADER_INVALID");
    declines(`${HEADER}\n`, "HEADER_INVALID");
    declines(`\ufeff${HEADER}`, "HEADER_INVALID");
  });

  test("each limit of §7, one below what the header needs", () => {
    const exact = { ...DEFAULT_LIMITS, maxHeaderNodes: 15, maxDepth: 4, maxArrays: 1, maxDims: 1 };
    declines(HEADER, "LIMIT_EXCEEDED", PREAMBLE, { ...exact, maxHeaderNodes: 14 });
    declines(HEADER, "LIMIT_EXCEEDED", PREAMBLE, { ...exact, maxDepth: 3 });
    declines(HEADER.replace(ENTRY, `${ENTRY},${ENTRY.replace('"name":"w"', '"name":"v"').replace('"offset":0', '"offset":64')}`).replace('"dataLength":12', '"dataLength":76'), "LIMIT_EXCEEDED", PREAMBLE, exact);
    declines(HEADER.replace('"shape":[2]', '"shape":[1,2]'), "LIMIT_EXCEEDED", PREAMBLE, exact);
    declines(HEADER.replace('"metadata":{}', '"metadata":{"a":[[[1]]]}'), "LIMIT_EXCEEDED", PREAMBLE, { ...DEFAULT_LIMITS, maxDepth: 4 });
    declines(HEADER.replace('"metadata":{}', '"metadata":{"a":[1,2]}'), "LIMIT_EXCEEDED", PREAMBLE, { ...exact, maxHeaderNodes: 17 });
  });
});
