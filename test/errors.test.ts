/**
 * One `describe` per error code the core can raise, each building the smallest input that
 * triggers it (byte literals, or the independent builder of test/helpers/fixture-builder.ts).
 * The codes of the file and stream APIs (IO_ERROR, FILE_CHANGED, WRITE_SIZE, CLOSED,
 * NOT_REGULAR_FILE) are tested with those APIs (NOT_REGULAR_FILE in test/write-targets.test.ts), those of
 * HTTP reads (HTTP_ERROR, RANGE_NOT_SUPPORTED, TIMEOUT, ABORTED) in test/remote-failures.test.ts, and SET_INVALID with sets (test/set-index.test.ts). Then:
 * hostile sizes cost nothing, and no header can touch Object.prototype.
 */
import { describe, expect, test } from "vitest";
import { crc32 } from "../src/crc32.js";
import { fromNdpack, fromNpy, fromNpz, fromSafetensors, toNdpack, toNpy, toNpz, toSafetensors } from "../src/interop/index.js";
import {
  decode,
  encode,
  encodedSize,
  encodeInto,
  ERROR_CODES,
  verify,
  type DecodeOptions,
  type ErrorCode,
} from "../src/index.js";
import { decodeStream, encodeStream } from "../src/streams.js";
import * as B from "./helpers/fixture-builder.js";
import { failure } from "./helpers/common.js";

// ---------------------------------------------------------------------------------------------
// Helpers

const decodeFailure = (bytes: Uint8Array, code: ErrorCode, options?: DecodeOptions) => failure(() => decode(bytes, options), code);

/** The 8 magic bytes. */
const M = [0x89, 0x4e, 0x44, 0x50, 0x0d, 0x0a, 0x1a, 0x0a] as const;

/** The smallest header: no arrays, no checksums. */
const EMPTY = '{"alignment":8,"checksum":"none","dataLength":0,"metadata":{},"arrays":[]}';

/** A header with one uint8 entry "a" of shape [4] and `checksum` "none" ({@link ENTRY} spliced in). */
const ENTRY = '{"name":"a","dtype":"uint8","shape":[4],"order":"C","byteOrder":"little","offset":0,"byteLength":4}';
const withEntries = (entries: string, dataLength: number) => `{"alignment":8,"checksum":"none","dataLength":${dataLength},"metadata":{},"arrays":[${entries}]}`;
const PAYLOAD = Uint8Array.of(1, 2, 3, 4);

/** A file from header text and a data section, preamble and padding computed. */
const textFile = (header: string | Uint8Array, data?: Uint8Array, extra: Partial<B.FileParts> = {}) => B.buildFile({ header, ...(data ? { data } : {}), alignment: 8, ...extra });

/** One uint8 array "a" = [1, 2, 3, 4], crc32, alignment 8: valid, as editable parts. */
const one = () => B.canonicalParts({ alignment: 8, checksum: "crc32", arrays: [{ name: "a", dtype: "uint8", shape: [4], stored: PAYLOAD }] });

/** "a" = 5 bytes at 0 (record ends at 9) and "b" = 3 bytes at 16, crc32, alignment 8. */
const two = () =>
  B.canonicalParts({
    alignment: 8,
    checksum: "crc32",
    arrays: [
      { name: "a", dtype: "uint8", shape: [5], stored: Uint8Array.of(1, 2, 3, 4, 5) },
      { name: "b", dtype: "uint8", shape: [3], stored: Uint8Array.of(6, 7, 8) },
    ],
  });

const partsFile = (parts: ReturnType<typeof B.canonicalParts>, header: object = parts.header, data = parts.data) => B.buildFile({ header, data, alignment: parts.alignment });

/** `bytes` with `byte` at `at`. */
const poke = (bytes: Uint8Array, at: number, byte: number) => {
  const out = bytes.slice();
  out[at] = byte;
  return out;
};

/** A one-array file whose payload is `stored` under `codec`, with the right CRC. */
const codecFile = (stored: Uint8Array, shape: number[], codec = "deflate", dtype = "uint8") =>
  B.canonicalFile({ alignment: 8, checksum: "crc32", arrays: [{ name: "a", dtype, shape, codec, stored }] });

const covered = new Set<ErrorCode>();
/** A describe block named after the code it tests, recorded for the coverage test at the end. */
function describeCode(code: ErrorCode, body: () => void): void {
  covered.add(code);
  describe(code, body);
}

// ---------------------------------------------------------------------------------------------
// Preamble: §9 steps 1-6

describeCode("BAD_MAGIC", () => {
  test("a wrong first byte", () => {
    const error = decodeFailure(Uint8Array.of(0x88, ...M.slice(1), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "BAD_MAGIC");
    expect(error.offset).toBe(0);
  });
  test(".npy, .npz, .safetensors, PNG, HDF5 and gzip input: the message says what it is and what reads it", () => {
    const safetensors = B.concat(Uint8Array.of(2, 0, 0, 0, 0, 0, 0, 0), new TextEncoder().encode("{}"));
    const inputs: [Uint8Array, string][] = [
      [toNpy(new Float32Array(2)), "it looks like a .npy file (numpy): read it with fromNpy from ndpack/interop"],
      [toNpz({ x: new Uint8Array(1) }), "it looks like a zip archive (a .npz file?): read it with fromNpz"],
      [toNpz({}), "an empty zip archive (an empty .npz file?)"],
      [safetensors, "it looks like a .safetensors file: read it with fromSafetensors"],
      [toSafetensors({ x: new Uint8Array(1) }), "it looks like a .safetensors file"],
      [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13), "it looks like a PNG image"],
      [Uint8Array.of(0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a), "it looks like an HDF5 file"],
      [Uint8Array.of(0x1f, 0x8b, 8, 0), "it looks like a gzip file"],
    ];
    for (const [bytes, says] of inputs) expect(decodeFailure(bytes, "BAD_MAGIC").message).toContain(says);
    expect(decodeFailure(Uint8Array.of(0x88, 1, 2), "BAD_MAGIC").message).toBe("not an ndpack file: byte 0 is 0x88, expected 0x89");
  });
  test("a short input that is not a prefix of the magic (step 1 before step 2)", () => {
    decodeFailure(Uint8Array.of(0x50, 0x4b), "BAD_MAGIC"); // "PK", a zip file
    decodeFailure(Uint8Array.of(0x89, 0x4e, 0x44, 0x58), "BAD_MAGIC");
  });
  test("newline conversions and 7-bit channels damage the magic", () => {
    const good = partsFile(one());
    const crlfToLf = B.concat(good.subarray(0, 4), good.subarray(5));
    expect(decodeFailure(crlfToLf, "BAD_MAGIC").offset).toBe(4);
    const lfToCrlf = B.concat(good.subarray(0, 7), Uint8Array.of(0x0d), good.subarray(7));
    expect(decodeFailure(lfToCrlf, "BAD_MAGIC").offset).toBe(7);
    expect(decodeFailure(good.map((b) => b & 0x7f), "BAD_MAGIC").offset).toBe(0);
  });
});

describeCode("TRUNCATED", () => {
  test("an empty input has no byte to mismatch: it is truncated", () => {
    decodeFailure(new Uint8Array(0), "TRUNCATED");
    expect(verify(new Uint8Array(0)).error?.code).toBe("TRUNCATED");
  });
  test("a prefix of the magic, and 19 bytes of a file", () => {
    decodeFailure(Uint8Array.of(0x89, 0x4e, 0x44), "TRUNCATED");
    decodeFailure(Uint8Array.of(...M), "TRUNCATED");
    decodeFailure(partsFile(one()).subarray(0, 19), "TRUNCATED");
  });
  test("inside the header (step 5)", () => {
    // Claims a 16-byte header; 4 bytes of it are present.
    decodeFailure(Uint8Array.of(...M, 1, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 0x20, 0x20), "TRUNCATED");
  });
  test("inside a payload, and without the last CRC byte (step 20)", () => {
    const good = partsFile(one());
    decodeFailure(good.subarray(0, good.length - 6), "TRUNCATED");
    const error = decodeFailure(good.subarray(0, good.length - 1), "TRUNCATED");
    expect(error.expected).toBe(good.length);
    expect(error.actual).toBe(good.length - 1);
  });
});

describeCode("UNSUPPORTED_VERSION", () => {
  test("major versions 0 and 2 (header CRC correct)", () => {
    expect(decodeFailure(B.buildFile({ header: EMPTY, major: 2 }), "UNSUPPORTED_VERSION").actual).toBe(2);
    decodeFailure(B.buildFile({ header: EMPTY, major: 0 }), "UNSUPPORTED_VERSION");
  });
  test("is checked before the header length (step 3 before 4)", () => {
    decodeFailure(Uint8Array.of(...M, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0), "UNSUPPORTED_VERSION");
  });
});

describeCode("HEADER_TOO_LARGE", () => {
  test("a 20-byte file claiming a 200 MiB header", () => {
    // 200 MiB = 0x0c800000
    const error = decodeFailure(Uint8Array.of(...M, 1, 0, 0, 0, 0x00, 0x00, 0x80, 0x0c, 0, 0, 0, 0), "HEADER_TOO_LARGE");
    expect(error.limit).toBe("maxHeaderBytes");
    expect(error.actual).toBe(200 * 1024 * 1024);
  });
  test("a header over a lowered maxHeaderBytes; raising the limit reads it", () => {
    const bytes = encode({ a: new Uint8Array(1) });
    decodeFailure(bytes, "HEADER_TOO_LARGE", { maxHeaderBytes: 50 });
    expect(decode(bytes, { maxHeaderBytes: 10_000 }).names).toEqual(["a"]);
  });
});

describeCode("HEADER_CHECKSUM", () => {
  test("a flipped bit in the header text", () => {
    const good = partsFile(one());
    const at = 20 + new TextDecoder().decode(good.subarray(20)).indexOf('"a"') + 1;
    decodeFailure(poke(good, at, good[at]! ^ 0x02), "HEADER_CHECKSUM");
  });
  test("the CRC covers the version and length fields too", () => {
    const good = partsFile(one());
    decodeFailure(poke(good, 10, 1), "HEADER_CHECKSUM"); // minor 0 -> 1
  });
  test("a CRC computed over the header alone", () => {
    const header = B.utf8(EMPTY);
    decodeFailure(B.buildFile({ header, headerCrc: B.crc32(header) }), "HEADER_CHECKSUM");
  });
});

// ---------------------------------------------------------------------------------------------
// Header text and structure: steps 7-8

describeCode("HEADER_INVALID", () => {
  test("text: BOM, leading space, trailing newline, trailing NUL, empty header", () => {
    decodeFailure(textFile(B.concat(Uint8Array.of(0xef, 0xbb, 0xbf), B.utf8(EMPTY))), "HEADER_INVALID");
    decodeFailure(textFile(` ${EMPTY}`), "HEADER_INVALID");
    decodeFailure(textFile(`${EMPTY}\n`), "HEADER_INVALID");
    decodeFailure(textFile(`${EMPTY}\u0000`), "HEADER_INVALID");
    decodeFailure(textFile(""), "HEADER_INVALID");
    expect(decode(textFile(`${EMPTY}   `)).size).toBe(0); // spaces are allowed
  });
  test("text: invalid UTF-8, lone surrogate escapes, raw control characters, not JSON", () => {
    const meta = (json: string) => EMPTY.replace('"metadata":{}', `"metadata":${json}`);
    decodeFailure(textFile(B.concat(B.utf8(meta('{"s":"')), Uint8Array.of(0xff), B.utf8('"}')).subarray(0)), "HEADER_INVALID");
    decodeFailure(textFile(meta('{"s":"\\ud800"}')), "HEADER_INVALID");
    decodeFailure(textFile(meta('{"s":"a\tb"}')), "HEADER_INVALID");
    decodeFailure(textFile(meta('{"s":NaN}')), "HEADER_INVALID");
    decodeFailure(textFile(`${EMPTY.slice(0, -1)},}`), "HEADER_INVALID");
  });
  test("text: the header is not an object", () => {
    decodeFailure(textFile(`[${EMPTY}]`), "HEADER_INVALID");
  });
  test("structure: missing key, wrong type, unknown key at minor 0, bad alignment, empty name, bad order", () => {
    const cases: [string, number][] = [
      ['{"alignment":8,"checksum":"none","dataLength":0,"arrays":[]}', 0],
      [EMPTY.replace('"alignment":8', '"alignment":"8"'), 0],
      [EMPTY.replace('"metadata":{}', '"metadata":[]'), 0],
      [EMPTY.replace('"arrays":[]', '"arrays":[],"extra":0'), 0],
      [EMPTY.replace('"alignment":8', '"alignment":48'), 0],
      [EMPTY.replace('"alignment":8', '"alignment":4'), 0],
      [withEntries(ENTRY.replace('"name":"a"', '"name":""'), 4), 4],
      [withEntries(ENTRY.replace('"order":"C"', '"order":"X"'), 4), 4],
      [withEntries(ENTRY.replace('"byteOrder":"little"', '"byteOrder":"little","units":"m"'), 4), 4],
    ];
    for (const [header, n] of cases) {
      const error = decodeFailure(textFile(header, PAYLOAD.subarray(0, n)), "HEADER_INVALID");
      expect(error.message).toMatch(/header/i);
    }
  });
  test("unknown keys are ignored in a newer minor version", () => {
    const file = decode(textFile(withEntries(ENTRY.replace('"byteOrder":"little"', '"byteOrder":"little","units":"m"'), 4).replace('"arrays"', '"future":{"x":[1]},"arrays"'), PAYLOAD, { minor: 1 }));
    expect(file.version).toEqual({ major: 1, minor: 1 });
    expect([...file.get("a").data]).toEqual([1, 2, 3, 4]);
  });
  test("a dtype, codec or checksum of the wrong JSON type is HEADER_INVALID, not an unknown value (§9 step 8)", () => {
    // FORMAT.md §9 step 8: "a value of the wrong JSON type ... HEADER_INVALID"; UNKNOWN_DTYPE is for a
    // dtype (a string) not in section 3. src/header.ts checkStructure maps every zod "invalid_value"
    // issue on these keys to UNKNOWN_DTYPE / UNSUPPORTED_CODEC / UNSUPPORTED_CHECKSUM, numbers and null included.
    decodeFailure(textFile(withEntries(ENTRY.replace('"dtype":"uint8"', '"dtype":8'), 4), PAYLOAD), "HEADER_INVALID");
    decodeFailure(textFile(withEntries(ENTRY.replace('"byteOrder":"little"', '"byteOrder":"little","codec":null'), 4), PAYLOAD), "HEADER_INVALID");
    decodeFailure(textFile(EMPTY.replace('"checksum":"none"', '"checksum":32')), "HEADER_INVALID");
  });
});

describeCode("DUPLICATE_KEY", () => {
  test("at the top level, in an entry, in metadata, after unescaping", () => {
    decodeFailure(textFile(EMPTY.replace('"checksum":"none"', '"checksum":"none","checksum":"none"')), "DUPLICATE_KEY");
    decodeFailure(textFile(withEntries(ENTRY.replace('"dtype":"uint8"', '"dtype":"uint8","dtype":"uint8"'), 4), PAYLOAD), "DUPLICATE_KEY");
    const error = decodeFailure(textFile(EMPTY.replace('"metadata":{}', '"metadata":{"a":{"b":1,"b":2}}')), "DUPLICATE_KEY");
    expect(error.field).toBe("metadata.a.b");
    decodeFailure(textFile(EMPTY.replace('"metadata":{}', '"metadata":{"a":1,"\\u0061":2}')), "DUPLICATE_KEY");
    decodeFailure(textFile(EMPTY.replace('"metadata":{}', '"metadata":{"__proto__":1,"__proto__":2}')), "DUPLICATE_KEY");
  });
  test("is reported before a bad number that follows it", () => {
    decodeFailure(textFile(EMPTY.replace('"alignment":8', '"alignment":8,"alignment":-8')), "DUPLICATE_KEY");
  });
  test("comes after the UTF-8 check of the whole header (§9 step 7): invalid UTF-8 later in the text wins", () => {
    const header = B.concat(B.utf8(EMPTY.replace('"checksum":"none"', '"checksum":"none","checksum":"none"').replace('"metadata":{}', '"metadata":{"s":"')), Uint8Array.of(0xff), B.utf8('"}' + EMPTY.slice(EMPTY.indexOf(',"arrays"'))));
    decodeFailure(textFile(header), "HEADER_INVALID");
  });
});

describeCode("BAD_NUMBER", () => {
  test("outside metadata: minus sign, fraction, exponent, 2^53", () => {
    decodeFailure(textFile(EMPTY.replace('"alignment":8', '"alignment":-8')), "BAD_NUMBER");
    decodeFailure(textFile(EMPTY.replace('"dataLength":0', '"dataLength":-0')), "BAD_NUMBER");
    decodeFailure(textFile(EMPTY.replace('"alignment":8', '"alignment":8.0')), "BAD_NUMBER");
    decodeFailure(textFile(EMPTY.replace('"alignment":8', '"alignment":1e3')), "BAD_NUMBER");
    const error = decodeFailure(textFile(EMPTY.replace('"dataLength":0', '"dataLength":9007199254740992')), "BAD_NUMBER");
    expect(error.field).toBe("dataLength");
  });
  test("in metadata: integers beyond 2^53-1 and numbers that overflow a double", () => {
    decodeFailure(textFile(EMPTY.replace('"metadata":{}', '"metadata":{"n":18446744073709551616}')), "BAD_NUMBER");
    decodeFailure(textFile(EMPTY.replace('"metadata":{}', '"metadata":{"n":-9007199254740992}')), "BAD_NUMBER");
    decodeFailure(textFile(EMPTY.replace('"metadata":{}', '"metadata":{"n":1e400}')), "BAD_NUMBER");
    const ok = decode(textFile(EMPTY.replace('"metadata":{}', '"metadata":{"a":-1.5e-3,"b":-0,"c":9007199254740991,"d":1e21}')));
    expect(ok.metadata).toStrictEqual({ a: -1.5e-3, b: -0, c: 9007199254740991, d: 1e21 });
  });
});

describeCode("LIMIT_EXCEEDED", () => {
  test("nesting deeper than maxDepth (65 by default, or a lowered limit)", () => {
    const deep = (levels: number) => EMPTY.replace('"metadata":{}', `"metadata":${'{"d":'.repeat(levels - 1)}{}${"}".repeat(levels - 1)}`);
    expect(decode(textFile(deep(63))).metadata).toBeDefined(); // depth 64
    expect(decodeFailure(textFile(deep(64)), "LIMIT_EXCEEDED").limit).toBe("maxDepth"); // depth 65
    decodeFailure(textFile(deep(2)), "LIMIT_EXCEEDED", { maxDepth: 2 });
  });
  test("more entries than maxArrays (step 9)", () => {
    const error = decodeFailure(encode({ a: new Uint8Array(1), b: new Uint8Array(1) }), "LIMIT_EXCEEDED", { maxArrays: 1 });
    expect(error.limit).toBe("maxArrays");
  });
  test("a name longer than maxNameBytes, counted in UTF-8 bytes (step 10)", () => {
    const name = `a${"🙂".repeat(1024)}`; // 4097 bytes, 2049 UTF-16 code units
    const p = B.canonicalParts({ alignment: 8, checksum: "none", arrays: [{ name, dtype: "uint8", shape: [1], stored: Uint8Array.of(1) }] });
    expect(decodeFailure(partsFile(p), "LIMIT_EXCEEDED").limit).toBe("maxNameBytes");
    decodeFailure(encode({ abcd: new Uint8Array(1) }), "LIMIT_EXCEEDED", { maxNameBytes: 3 });
  });
  test("more dimensions than maxDims (step 12)", () => {
    const p = B.canonicalParts({ alignment: 8, checksum: "none", arrays: [{ name: "a", dtype: "uint8", shape: Array<number>(65).fill(1), stored: Uint8Array.of(1) }] });
    expect(decodeFailure(partsFile(p), "LIMIT_EXCEEDED").limit).toBe("maxDims");
    decodeFailure(encode({ a: { data: new Uint8Array(1), shape: [1, 1] } }), "LIMIT_EXCEEDED", { maxDims: 1 });
  });
  test("a compressed array larger than maxDecodedBytes, when it is read (step 23)", () => {
    const bytes = encode({ a: { data: new Uint8Array(4096), codec: "deflate" } });
    const file = decode(bytes, { maxDecodedBytes: 4095 });
    const error = failure(() => file.get("a"), "LIMIT_EXCEEDED");
    expect(error.limit).toBe("maxDecodedBytes");
    expect(error.array).toBe("a");
  });
  test("encoder: a name over 4096 UTF-8 bytes, 65 dimensions, metadata nested too deep", () => {
    failure(() => encode({ [`a${"🙂".repeat(1024)}`]: new Uint8Array(1) }), "LIMIT_EXCEEDED");
    failure(() => encode({ a: { data: new Uint8Array(1), shape: Array<number>(65).fill(1) } }), "LIMIT_EXCEEDED");
    let metadata: Record<string, unknown> = {};
    for (let i = 0; i < 70; i++) metadata = { d: metadata };
    failure(() => encode({}, { metadata }), "LIMIT_EXCEEDED");
  });
});

describeCode("UNKNOWN_DTYPE", () => {
  test('header: "Float32" and "float128"', () => {
    const error = decodeFailure(textFile(withEntries(ENTRY.replace('"dtype":"uint8"', '"dtype":"Float32"'), 4), PAYLOAD), "UNKNOWN_DTYPE");
    expect(error.actual).toBe("Float32");
    decodeFailure(textFile(withEntries(ENTRY.replace('"dtype":"uint8"', '"dtype":"float128"'), 4), PAYLOAD), "UNKNOWN_DTYPE");
  });
  test("header: also in a newer minor version", () => {
    decodeFailure(textFile(withEntries(ENTRY.replace('"dtype":"uint8"', '"dtype":"int4"'), 4), PAYLOAD, { minor: 9 }), "UNKNOWN_DTYPE");
  });
  test("encoder", () => {
    failure(() => encode({ a: { data: new Uint8Array(1), dtype: "float128" as never } }), "UNKNOWN_DTYPE");
  });
  test("encoder: other libraries' names are not accepted, but the message says which dtype they mean and lists the valid ones", () => {
    const meant = { "<f4": "float32", float: "float64", F32: "float32", BF16: "bfloat16", "torch.float16": "float16", half: "float16", flaot32: "float32", "np.int64": "int64" };
    for (const [alias, dtype] of Object.entries(meant)) {
      const error = failure(() => encode({ a: { data: new Float32Array(1), dtype: alias as never } }), "UNKNOWN_DTYPE");
      expect(error.message).toContain(`did you mean "${dtype}"?`);
      expect(error.message).toContain("dtypes: bool, int8, int16");
      expect(error).toMatchObject({ array: "a", actual: alias });
    }
    expect(failure(() => encode({ a: { data: new Float32Array(1), dtype: "quaternion" as never } }), "UNKNOWN_DTYPE").message).not.toContain("did you mean");
  });
});

describeCode("UNSUPPORTED_CODEC", () => {
  test('header: "zstd"', () => {
    decodeFailure(textFile(withEntries(ENTRY.replace('"byteOrder":"little"', '"byteOrder":"little","codec":"zstd"'), 4), PAYLOAD), "UNSUPPORTED_CODEC");
  });
  test("encoder: an array asking for an unknown codec", () => {
    failure(() => encode({ a: { data: new Uint8Array(1), codec: "zstd" as never } }), "UNSUPPORTED_CODEC");
  });
});

describeCode("UNSUPPORTED_CHECKSUM", () => {
  test('header: "sha256" and "CRC32"', () => {
    decodeFailure(textFile(EMPTY.replace('"checksum":"none"', '"checksum":"sha256"')), "UNSUPPORTED_CHECKSUM");
    decodeFailure(textFile(EMPTY.replace('"checksum":"none"', '"checksum":"CRC32"')), "UNSUPPORTED_CHECKSUM");
  });
});

// ---------------------------------------------------------------------------------------------
// Entries: steps 9-19

describeCode("DUPLICATE_NAME", () => {
  test("header: two entries named alike, also once unescaped", () => {
    const p = two();
    const error = decodeFailure(partsFile(p, { ...p.header, arrays: [p.header.arrays[0]!, { ...p.header.arrays[1]!, name: "a" }] }), "DUPLICATE_NAME");
    expect(error.array).toBe("a");
    const text = B.canonicalJson(p.header).replace('"name":"b"', '"name":"\\u0061"');
    decodeFailure(B.buildFile({ header: text, data: p.data, alignment: 8 }), "DUPLICATE_NAME");
  });
  test("encoder: a list of pairs naming one array twice", () => {
    failure(() => encode([["a", new Uint8Array(1)], ["a", new Uint8Array(1)]]), "DUPLICATE_NAME");
  });
});

describeCode("BAD_SHAPE", () => {
  test("header: bytes beyond 2^53-1, and a product that overflows 2^64", () => {
    const shaped = (dtype: string, shape: string) => textFile(withEntries(ENTRY.replace('"dtype":"uint8"', `"dtype":"${dtype}"`).replace('"shape":[4]', `"shape":${shape}`).replace('"byteLength":4', '"byteLength":0'), 0));
    decodeFailure(shaped("float64", "[1125899906842624]"), "BAD_SHAPE"); // 2^50 elements, 2^53 bytes
    decodeFailure(shaped("uint8", "[4294967296,4294967296,2]"), "BAD_SHAPE"); // 2^65
    decodeFailure(shaped("uint8", "[3002399751580331,3]"), "BAD_SHAPE"); // 2^53 + 1
    // A zero dimension makes the array empty, but the other dimensions stay bounded (§9 step 13).
    expect(decode(shaped("float64", "[1125899906842623,0]")).get("a").nbytes).toBe(0);
    decodeFailure(shaped("float64", "[9007199254740991,0]"), "BAD_SHAPE");
    failure(() => encode({ a: { data: new Float64Array(0), shape: [0, 2 ** 53 - 1] } }), "BAD_SHAPE");
  });
  test("encoder: negative, fractional, non-numeric and oversized shapes", () => {
    failure(() => encode({ a: { data: new Uint8Array(1), shape: [-1] } }), "BAD_SHAPE");
    failure(() => encode({ a: { data: new Uint8Array(1), shape: [1.5] } }), "BAD_SHAPE");
    failure(() => encode({ a: { data: new Uint8Array(1), shape: ["1"] as never } }), "BAD_SHAPE");
    failure(() => encode({ a: { data: new Float64Array(0), shape: [2 ** 50, 1] } }), "BAD_SHAPE");
  });
});

describeCode("SIZE_MISMATCH", () => {
  test("header: byteLength differs from the shape's size", () => {
    const error = decodeFailure(textFile(withEntries(ENTRY.replace('"byteLength":4', '"byteLength":3'), 3), PAYLOAD.subarray(0, 3)), "SIZE_MISMATCH");
    expect(error.expected).toBe(4);
    expect(error.actual).toBe(3);
  });
  test("encoder: shape and data disagree", () => {
    failure(() => encode({ a: { data: new Uint8Array(4), shape: [3] } }), "SIZE_MISMATCH");
    failure(() => encode({ a: { data: new Float32Array(3), shape: [2], dtype: "complex64" } }), "SIZE_MISMATCH");
  });
});

/** two() with the records of "a" and "b" at the given offsets. */
const twoAt = (a: number, b: number, dataLength?: number) => {
  const p = two();
  const [ea, eb] = p.header.arrays as [Record<string, unknown>, Record<string, unknown>];
  return partsFile(p, { ...p.header, ...(dataLength === undefined ? {} : { dataLength }), arrays: [{ ...ea, offset: a }, { ...eb, offset: b }] });
};

describeCode("MISALIGNED", () => {
  test("a record right after the previous one, not at the next multiple of the alignment", () => {
    expect(decodeFailure(twoAt(0, 9), "MISALIGNED").array).toBe("b");
    expect(decodeFailure(twoAt(4, 16), "MISALIGNED").array).toBe("a");
  });
});

describeCode("OVERLAP", () => {
  test("a record starting inside the previous one", () => {
    decodeFailure(twoAt(0, 8), "OVERLAP");
    decodeFailure(twoAt(0, 0), "OVERLAP");
  });
});

describeCode("GAP", () => {
  test("unaccounted bytes before the first record or between records (step 17)", () => {
    expect(decodeFailure(twoAt(8, 24, 31), "GAP").array).toBe("a");
    expect(decodeFailure(twoAt(0, 24, 31), "GAP").array).toBe("b");
  });
  test("dataLength beyond the last record (step 19)", () => {
    const p = one();
    decodeFailure(partsFile(p, { ...p.header, dataLength: 16 }, B.concat(p.data, new Uint8Array(8))), "GAP");
    decodeFailure(textFile(EMPTY.replace('"dataLength":0', '"dataLength":8'), new Uint8Array(8)), "GAP");
  });
});

describeCode("OUT_OF_BOUNDS", () => {
  test("a record ending past dataLength (the CRC left out of it)", () => {
    const p = one();
    const error = decodeFailure(partsFile(p, { ...p.header, dataLength: 4 }, p.data.subarray(0, 4)), "OUT_OF_BOUNDS");
    expect(error.array).toBe("a");
  });
});

describeCode("TRAILING_BYTES", () => {
  test("one byte, and a second file, after the end", () => {
    const good = partsFile(one());
    expect(decodeFailure(B.concat(good, new Uint8Array(1)), "TRAILING_BYTES").offset).toBe(good.length);
    decodeFailure(B.concat(good, good), "TRAILING_BYTES");
  });
});

describeCode("BAD_PADDING", () => {
  test("a non-zero byte between the header and the data section (step 21)", () => {
    const good = partsFile(one());
    const d = B.dataStart(good, 8);
    expect(d).toBeGreaterThan(20 + B.canonicalJson(one().header).length);
    expect(decodeFailure(poke(good, d - 1, 0x20), "BAD_PADDING").offset).toBe(d - 1);
  });
  test("a non-zero byte between records, when verifying (step 22)", () => {
    const good = partsFile(two());
    const bad = poke(good, B.dataStart(good, 8) + 12, 1);
    expect(decode(bad).get("a").data).toEqual(Uint8Array.of(1, 2, 3, 4, 5));
    decodeFailure(bad, "BAD_PADDING", { verify: true });
    const report = verify(bad);
    expect(report.arrays.map((a) => [a.name, a.ok, a.error?.code])).toEqual([
      ["a", false, "BAD_PADDING"],
      ["b", true, undefined],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Payloads: steps 22-23

describeCode("CHECKSUM", () => {
  test("a damaged payload: decode succeeds, verification names the array", () => {
    const good = partsFile(two());
    const bad = poke(good, B.dataStart(good, 8) + 16, 0);
    expect(decode(bad).names).toEqual(["a", "b"]);
    const error = decodeFailure(bad, "CHECKSUM", { verify: true });
    expect(error.array).toBe("b");
    const report = verify(bad);
    expect(report.ok).toBe(false);
    expect(report.checksum).toBe("crc32");
    expect(report.arrays.map((a) => a.error?.code)).toEqual([undefined, "CHECKSUM"]);
  });
  test("the CRC of a compressed array covers the stored bytes, not the decoded ones", () => {
    const decoded = new Uint8Array(64);
    const stored = B.rawDeflate(decoded);
    const p = B.canonicalParts({ alignment: 8, checksum: "crc32", arrays: [{ name: "a", dtype: "uint8", shape: [64], codec: "deflate", stored }] });
    expect(verify(partsFile(p)).ok).toBe(true);
    p.data.set(B.u32le(B.crc32(decoded)), stored.length);
    decodeFailure(partsFile(p), "CHECKSUM", { verify: true });
  });
  test("crc32() carries a running CRC across an empty chunk, whatever memory backs it", () => {
    // Streaming readers and writers fold chunks into one CRC with crc32(chunk, previous); an empty
    // chunk must leave it unchanged. src/crc32.ts hands the chunk to Node's native zlib.crc32, which
    // returns 0 for an empty view over a zero-length ArrayBuffer (new Uint8Array(new ArrayBuffer(0)),
    // new TextEncoder().encode("")), so the running CRC is lost and a spurious CHECKSUM follows.
    // The pure-JS fallback gets it right.
    const previous = crc32(Uint8Array.of(1, 2, 3));
    expect(crc32(new Uint8Array(8).subarray(4, 4), previous)).toBe(previous);
    expect(crc32(new Uint8Array(new ArrayBuffer(0)), previous)).toBe(previous);
    expect(crc32(new TextEncoder().encode(""), previous)).toBe(previous);
  });
});

describeCode("CODEC_ERROR", () => {
  test("a damaged stream, a stream that ends short, a stream that decodes short", () => {
    const stream = B.rawDeflate(Uint8Array.from({ length: 64 }, (_, i) => i % 7));
    for (const stored of [Uint8Array.of(0x07), stream.subarray(0, stream.length >> 1), B.rawDeflate(new Uint8Array(63)), new Uint8Array(0)]) {
      const file = decode(codecFile(stored, [64]));
      const error = failure(() => file.get("a"), "CODEC_ERROR");
      expect(error.array).toBe("a");
    }
  });
  test("a bomb: 16 MiB of zeros declared as 16 bytes stops at the declared size", () => {
    const file = decode(codecFile(B.rawDeflate(new Uint8Array(16 << 20)), [16]));
    const before = process.memoryUsage().arrayBuffers;
    failure(() => file.get("a"), "CODEC_ERROR");
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
  });
  test("shuffle+deflate decoding to the wrong size", () => {
    failure(() => decode(codecFile(B.rawDeflate(new Uint8Array(15)), [4], "shuffle+deflate", "float32")).get("a"), "CODEC_ERROR");
  });
});

// ---------------------------------------------------------------------------------------------
// API use

describeCode("COPY_REQUIRED", () => {
  test("copy: never, and the array is big-endian, compressed, or at a misaligned address", () => {
    const big = encode({ x: new Float32Array([1, 2]) }, { byteOrder: "big" });
    expect(failure(() => decode(big, { copy: "never" }).get("x"), "COPY_REQUIRED").array).toBe("x");
    const compressed = encode({ x: { data: new Float32Array(1024), codec: "deflate" } });
    failure(() => decode(compressed, { copy: "never" }).get("x"), "COPY_REQUIRED");
    const little = encode({ x: new Float32Array([1, 2]) });
    const shifted = new Uint8Array(little.length + 1);
    shifted.set(little, 1);
    failure(() => decode(shifted.subarray(1), { copy: "never" }).get("x"), "COPY_REQUIRED");
    const copied = decode(shifted.subarray(1)).get("x");
    expect(copied.copied).toBe(true);
    expect([...copied.data]).toEqual([1, 2]);
  });
});

describeCode("NOT_FOUND", () => {
  test("the message lists the names there are (the first five and how many more) and the nearest one", () => {
    const names = ["weights", "bias", "a", "b", "c", "d", "e"];
    const file = decode(encode(Object.fromEntries(names.map((n) => [n, new Uint8Array(1)]))));
    const error = failure(() => file.get("weight"), "NOT_FOUND");
    expect(error.message).toBe('no array named "weight" in this file; did you mean "weights"? (it holds 7 arrays: "weights", "bias", "a", "b", "c" and 2 more)');
    expect(failure(() => file.info("zzzzzz"), "NOT_FOUND").message).toBe('no array named "zzzzzz" in this file (it holds 7 arrays: "weights", "bias", "a", "b", "c" and 2 more)');
    expect(failure(() => decode(encode({})).get("x"), "NOT_FOUND").message).toContain("it holds no arrays");
  });
  test("get and info of a name the file does not hold, Object.prototype's names included", () => {
    const file = decode(encode({ a: new Uint8Array(1) }));
    for (const name of ["missing", "__proto__", "toString", "constructor", "hasOwnProperty", ""]) {
      expect(file.has(name)).toBe(false);
      expect(failure(() => file.get(name), "NOT_FOUND").array).toBe(name);
      failure(() => file.info(name), "NOT_FOUND");
    }
  });
});

describeCode("INVALID_ARGUMENT", () => {
  test("decode: bad options and input that is not bytes", () => {
    const bytes = encode({});
    failure(() => decode(bytes, { copy: "sometimes" as never }), "INVALID_ARGUMENT");
    failure(() => decode(bytes, { maxDepth: 0 }), "INVALID_ARGUMENT");
    failure(() => decode(bytes, { maxDepth: 1001 }), "INVALID_ARGUMENT");
    failure(() => decode(bytes, { maxHeaderBytes: 1.5 }), "INVALID_ARGUMENT");
    failure(() => decode(123 as never), "INVALID_ARGUMENT");
    failure(() => decode("\x89NDP" as never), "INVALID_ARGUMENT");
    failure(() => decode([0x89] as never), "INVALID_ARGUMENT");
  });
  test("encode: bad options", () => {
    failure(() => encode({}, { alignment: 48 }), "INVALID_ARGUMENT");
    failure(() => encode({}, { alignment: 4 }), "INVALID_ARGUMENT");
    failure(() => encode({}, { byteOrder: "middle" as never }), "INVALID_ARGUMENT");
    failure(() => encode({}, { checksum: "md5" as never }), "INVALID_ARGUMENT");
    failure(() => encode({}, { codec: "zstd" as never }), "INVALID_ARGUMENT");
    failure(() => encode({}, { compressionLevel: 10 }), "INVALID_ARGUMENT");
  });
  test("encode: a bool byte other than 0 or 1 (FORMAT.md §3: writers store only 0 and 1)", () => {
    failure(() => encode({ b: { data: Uint8Array.of(0, 1, 2), dtype: "bool" } }), "INVALID_ARGUMENT");
    failure(() => encode({ b: { data: Uint8Array.of(255), dtype: "bool", codec: "deflate" } }), "INVALID_ARGUMENT");
    expect(decode(encode({ b: { data: Uint8Array.of(0, 1, 1), dtype: "bool" } })).get("b").data).toEqual(Uint8Array.of(0, 1, 1));
    // The same bytes are any uint8 values.
    expect(() => encode({ u: { data: Uint8Array.of(0, 1, 2), dtype: "uint8" } })).not.toThrow();
  });
  test("encode: data that is not a typed array, or not of the dtype's type", () => {
    failure(() => encode({ a: [1, 2, 3] as never }), "INVALID_ARGUMENT");
    failure(() => encode({ a: { data: [1, 2, 3] as never } }), "INVALID_ARGUMENT");
    failure(() => encode({ a: new DataView(new ArrayBuffer(4)) }), "INVALID_ARGUMENT");
    failure(() => encode({ a: null as never }), "INVALID_ARGUMENT");
    failure(() => encode({ a: { data: new Float32Array(1), dtype: "int32" } }), "INVALID_ARGUMENT");
    failure(() => encode(5 as never), "INVALID_ARGUMENT");
  });
  test("encode, encodeStream, toNpz, toSafetensors: a bare typed array says to name it", () => {
    for (const write of [encode, encodedSize, encodeStream, toNpz, toSafetensors] as ((arrays: never) => unknown)[]) {
      const error = failure(() => write(new Float32Array(3) as never), "INVALID_ARGUMENT");
      expect(error.message).toContain("arrays must be named: pass { name: array } (for example { x: new Float32Array(...) })");
    }
  });
  test("every function taking options rejects an unknown option name, naming the closest and all known ones", () => {
    const bytes = encode({ x: new Uint8Array(1) });
    const error = failure(() => encode({}, { compresion: 9 } as never), "INVALID_ARGUMENT");
    expect(error.message).toBe('encode: unknown option "compresion"; did you mean "compressionLevel"? (encode takes metadata, alignment, byteOrder, checksum, codec, compressionLevel)');
    expect(error.field).toBe("compresion");
    expect(failure(() => decode(bytes, { verfy: true } as never), "INVALID_ARGUMENT").message).toContain('did you mean "verify"?');
    const calls: [string, () => unknown][] = [
      ["encodedSize", () => encodedSize({}, { x: 1 } as never)],
      ["encodeInto", () => encodeInto(new Uint8Array(1024), {}, { x: 1 } as never)],
      ["verify", () => verify(bytes, { copy: "never" } as never)],
      ["encodeStream", () => encodeStream({}, { chunkSize: 1 } as never)],
      ["decodeStream", () => decodeStream(new Blob([new Uint8Array(bytes)]).stream(), { x: 1 } as never)],
      ["toNpz", () => toNpz({}, { compression: true } as never)],
      ["fromNpz", () => fromNpz(toNpz({}), { x: 1 } as never)],
      ["toNpy", () => toNpy(new Uint8Array(1), { x: 1 } as never)],
      ["fromNpy", () => fromNpy(toNpy(new Uint8Array(1)), { x: 1 } as never)],
      ["toSafetensors", () => toSafetensors({}, { x: 1 } as never)],
      ["fromSafetensors", () => fromSafetensors(toSafetensors({}), { x: 1 } as never)],
      ["toNdpack", () => toNdpack(toNpz({}), { x: 1 } as never)],
      ["fromNdpack", () => fromNdpack(bytes, "npz", { x: 1 } as never)],
    ];
    for (const [fn, call] of calls) expect(failure(call, "INVALID_ARGUMENT").message).toMatch(new RegExp(`^${fn}: unknown option "\\w+"`));
    failure(() => decode(bytes, [] as never), "INVALID_ARGUMENT");
    failure(() => decode(bytes, "verify" as never), "INVALID_ARGUMENT");
  });
  test("verify: a bad limit value or input that is not bytes is thrown, as decode and Python's verify throw them, not reported as the file's error", () => {
    const bytes = encode({ x: new Uint8Array(1) });
    for (const limits of [{ maxDepth: 0 }, { maxHeaderBytes: -1 }, { maxArrays: 1.5 }]) failure(() => verify(bytes, limits), "INVALID_ARGUMENT");
    failure(() => verify(123 as never), "INVALID_ARGUMENT");
    expect(verify(bytes, { maxArrays: 1 }).ok).toBe(true);
    expect(verify(bytes.subarray(0, 10)).error?.code).toBe("TRUNCATED");
  });
  test("encode: arrays given as null", () => {
    // src/encode.ts entriesOf reads null[Symbol.iterator] before checking for null: a TypeError escapes.
    failure(() => encode(null as never), "INVALID_ARGUMENT");
  });
  test("encode: empty names and names with a lone surrogate", () => {
    failure(() => encode({ "": new Uint8Array(1) }), "INVALID_ARGUMENT");
    failure(() => encode({ "\ud800": new Uint8Array(1) }), "INVALID_ARGUMENT");
  });
  test("encode: metadata JSON cannot hold exactly", () => {
    class Point {
      x = 1;
    }
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    const bad: [string, unknown][] = [
      ["NaN", { x: NaN }],
      ["Infinity", { x: -Infinity }],
      ["undefined", { x: undefined }],
      ["BigInt", { x: 1n }],
      ["a class instance", { x: new Point() }],
      ["a Date", { x: new Date(0) }],
      ["a Map", { x: new Map() }],
      ["a function", { x: () => 1 }],
      ["a symbol", { x: Symbol("s") }],
      ["a cycle", cycle],
      ["a sparse list", { x: [1, , 3] }],
      ["a lone surrogate", { x: "\udc00" }],
      ["a symbol key", { [Symbol("k")]: 1 }],
      ["a list as metadata", []],
      ["a class instance as metadata", new Point()],
    ];
    for (const [what, metadata] of bad) {
      const error = failure(() => encode({}, { metadata: metadata as never }), "INVALID_ARGUMENT");
      expect(error.message, what).toMatch(/metadata/);
    }
  });
  test("encodeInto: a target too small, or not a Uint8Array", () => {
    const arrays = { a: new Uint8Array(1) };
    const error = failure(() => encodeInto(new Uint8Array(10), arrays), "INVALID_ARGUMENT");
    expect(error.expected).toBe(encode(arrays).length);
    failure(() => encodeInto(new Uint16Array(1024) as never, arrays), "INVALID_ARGUMENT");
  });
});

// ---------------------------------------------------------------------------------------------

describe("hostile sizes cost nothing", () => {
  /** Runs `run`, which must fail with `code`, within a few milliseconds and without allocating. */
  function cheapFailure(run: () => unknown, code: ErrorCode): void {
    const before = process.memoryUsage().arrayBuffers;
    failure(run, code);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
  }

  test("the largest header length a preamble can claim (2^32-1; 10 GiB does not fit in its u32)", () => {
    const preamble = Uint8Array.of(...M, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);
    cheapFailure(() => decode(preamble), "HEADER_TOO_LARGE");
    cheapFailure(() => decode(preamble, { maxHeaderBytes: Number.MAX_SAFE_INTEGER }), "TRUNCATED");
  });
  test("a header claiming 2^60 elements", () => {
    cheapFailure(() => decode(textFile(withEntries(ENTRY.replace('"shape":[4]', '"shape":[1073741824,1073741824]').replace('"byteLength":4', '"byteLength":0'), 0))), "BAD_SHAPE");
  });
  test("a header claiming a 4 PiB payload (2^52 bytes, a valid shape)", () => {
    const huge = 2 ** 52;
    cheapFailure(() => decode(textFile(withEntries(ENTRY.replace('"shape":[4]', `"shape":[${huge}]`).replace('"byteLength":4', `"byteLength":${huge}`), huge))), "TRUNCATED");
  });
  test("a compressed array claiming 4 PiB, also with maxDecodedBytes raised to the maximum", () => {
    const bytes = codecFile(Uint8Array.of(0x03, 0x00), [2 ** 52]);
    cheapFailure(() => decode(bytes).get("a"), "LIMIT_EXCEEDED");
    // Raised, the array is more than one typed array may hold: LIMIT_EXCEEDED still (it was a CODEC_ERROR, as if the stream were damaged).
    cheapFailure(() => decode(bytes, { maxDecodedBytes: Number.MAX_SAFE_INTEGER }).get("a"), "LIMIT_EXCEEDED");
  });
  test("a million-entry claim is bounded by maxArrays before any entry is looked at", () => {
    cheapFailure(() => decode(encode({ a: new Uint8Array(1), b: new Uint8Array(1), c: new Uint8Array(1) }), { maxArrays: 2 }), "LIMIT_EXCEEDED");
  });
});

describe("headers cannot touch Object.prototype", () => {
  test('"__proto__", "constructor" and friends are ordinary keys and names', () => {
    const snapshot = () => Object.getOwnPropertyNames(Object.prototype).map((k) => [k, Object.getOwnPropertyDescriptor(Object.prototype, k)]);
    const before = snapshot();
    const metadata = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"nested":{"__proto__":{"polluted":true}}}';
    const entries = ["__proto__", "constructor", "toString"].map((name, i) => ENTRY.replace('"name":"a"', `"name":"${name}"`).replace('"offset":0', `"offset":${i * 8}`)).join(",");
    const header = withEntries(entries, 20).replace('"metadata":{}', `"metadata":${metadata}`).replace('"arrays"', '"__proto__":{"polluted":true},"arrays"');
    const data = B.concat(PAYLOAD, new Uint8Array(4), PAYLOAD, new Uint8Array(4), PAYLOAD);
    const file = decode(textFile(header, data, { minor: 1 }), { verify: true });

    expect(file.names).toEqual(["__proto__", "constructor", "toString"]);
    for (const name of file.names) expect([...file.get(name).data]).toEqual([1, 2, 3, 4]);
    expect(file.has("hasOwnProperty")).toBe(false);
    const meta = file.metadata as Record<string, unknown>;
    expect(Object.getPrototypeOf(meta)).toBe(Object.prototype);
    expect(Object.keys(meta)).toEqual(["__proto__", "constructor", "nested"]);
    expect(Object.getOwnPropertyDescriptor(meta, "__proto__")?.value).toEqual({ polluted: true });
    expect(Object.getPrototypeOf(meta.nested)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(snapshot()).toEqual(before);

    // And back: the decoded metadata is written again with its "__proto__" key.
    const again = decode(encode({}, { metadata: meta }));
    expect(Object.getOwnPropertyDescriptor(again.metadata, "__proto__")?.value).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describeCode("DTYPE_MISMATCH", () => {
  test("get(name, dtype) of an array of another dtype, before any payload byte is read", () => {
    const file = decode(encode({ x: new Int32Array([1, 2]) }));
    const error = failure(() => file.get("x", "float32"), "DTYPE_MISMATCH");
    expect(error).toMatchObject({ array: "x", field: "dtype", expected: "float32", actual: "int32" });
    expect(file.get("x", "int32").data).toEqual(new Int32Array([1, 2]));
  });
});

describe("coverage", () => {
  test("every code the core can raise has a describe block above", () => {
    const fileApi: readonly ErrorCode[] = ["IO_ERROR", "FILE_CHANGED", "WRITE_SIZE", "CLOSED", "NOT_REGULAR_FILE", "HTTP_ERROR", "RANGE_NOT_SUPPORTED", "TIMEOUT", "ABORTED", "SET_INVALID"];
    expect([...covered].sort()).toEqual(ERROR_CODES.filter((c) => !fileApi.includes(c)).sort());
  });
});
