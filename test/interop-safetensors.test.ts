/**
 * .safetensors: `safetensors.safe_open` reads what ndpack writes and ndpack reads what
 * `safetensors.numpy.save_file` writes (one Python process for the whole file), the reference's own
 * serialization vectors, every refusal with its error code, metadata mapping, and round trips.
 */
import fc from "fast-check";
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DTYPES, DTYPE_NAMES } from "../src/dtypes.js";
import { isNdpackError } from "../src/errors.js";
import { fromSafetensors, SAFETENSORS_JSON_KEYS, toSafetensors } from "../src/interop/index.js";
import { cOrderBytes } from "../src/interop/common.js";
import { caseBytes, dataBytes, expectValues, rng, specOf, standardCases, wireOf, type Case } from "./helpers/interop-cases.js";
import { runInteropPython, tempDir, type PythonReport, type WireFile } from "./helpers/interop-python.js";
import { expectCode } from "./helpers/common.js";


/** A safetensors file from header text and data bytes (no padding unless the text has it). */
function st(header: string | object, data: Uint8Array | number = 0, length?: bigint): Uint8Array {
  const text = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const payload = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + text.length + payload.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(payload, 8 + text.length);
  return out;
}

const SAFETENSORS_DTYPES = DTYPE_NAMES.filter((d) => DTYPES[d].safetensors !== null);

/** The case's bytes in C order (safetensors holds nothing else). */
const cBytes = (c: Case) => cOrderBytes(c.bytes, c.shape, c.order, DTYPES[c.dtype].itemSize);

describe(".safetensors with the safetensors package (one Python process)", () => {
  const tmp = tempDir("safetensors");
  const cases = standardCases({ dtypes: SAFETENSORS_DTYPES, seed: 3 });
  const cCases = cases.filter((c) => c.order === "C");
  const metadata = { format: "pt", step: 1200, config: { layers: [1, 2], dropout: 0.1, name: "ü" }, flag: true, nothing: null };
  const rawMetadata = {
    format: "pt",
    step: "1200",
    config: '{"layers":[1,2],"dropout":0.1,"name":"ü"}',
    flag: "true",
    nothing: "null",
    [SAFETENSORS_JSON_KEYS]: '["step","config","flag","nothing"]',
  };
  let report: PythonReport;

  beforeAll(() => {
    const specs = new Map(cases.map((c) => [c.name, specOf(c)]));
    writeFileSync(tmp.path("ndpack.safetensors"), toSafetensors(specs, { metadata }));
    writeFileSync(tmp.path("ndpack-plain.safetensors"), toSafetensors(specs));
    writeFileSync(tmp.path("ndpack-empty.safetensors"), toSafetensors({}));
    const read: WireFile[] = [
      { file: "ndpack.safetensors", format: "safetensors", arrays: cases.map(wireOf), metadata: rawMetadata },
      { file: "ndpack-plain.safetensors", format: "safetensors", arrays: cases.map(wireOf) },
      { file: "ndpack-empty.safetensors", format: "safetensors", arrays: [] },
    ];
    const write: WireFile[] = [
      { file: "reference.safetensors", format: "safetensors", arrays: cCases.map(wireOf), metadata: { format: "np", note: "[1, 2]" } },
      { file: "reference-one.safetensors", format: "safetensors", arrays: [wireOf(cCases.find((c) => c.name === "float32_2d")!)], metadata: { format: "np" } },
    ];
    report = runInteropPython(tmp.dir, read, write);
  });
  afterAll(() => tmp.remove());

  test("safe_open reads every tensor ndpack writes with identical values (bfloat16 and float8 through ml_dtypes), and __metadata__", () => {
    expect(report.mismatches).toEqual([]);
    expect(report.checked).toBe(2 * cases.length);
  });

  test("ndpack reads save_file output with identical bits and values, and its metadata as strings", () => {
    const { arrays, metadata: found } = fromSafetensors(readFileSync(tmp.path("reference.safetensors")));
    expect(found).toEqual({ format: "np", note: "[1, 2]" });
    expect([...arrays.keys()].sort()).toEqual(cCases.map((c) => c.name).sort());
    const values = new Map(report.written.find((w) => w.file === "reference.safetensors")!.arrays.map((a) => [a.name, a.values]));
    for (const c of cCases) {
      const array = arrays.get(c.name)!;
      expect({ dtype: array.dtype, shape: array.shape, order: array.order }).toEqual({ dtype: c.dtype, shape: c.shape, order: "C" });
      expect(dataBytes(array), c.name).toEqual(c.bytes);
      expectValues(array, values.get(c.name)!, c.name);
      expect(array.copied, c.name).toBe(false);
    }
  });

  test("toSafetensors writes exactly the bytes save_file writes for the same tensor and metadata", () => {
    const c = cCases.find((x) => x.name === "float32_2d")!;
    const theirs = readFileSync(tmp.path("reference-one.safetensors"));
    expect(Buffer.from(toSafetensors({ [c.name]: specOf(c) }, { metadata: { format: "np" } })).equals(theirs)).toBe(true);
  });

  test("ndpack reads its own files back: metadata values regain their JSON types, Fortran arrays come back in C order", () => {
    const { arrays, metadata: found } = fromSafetensors(readFileSync(tmp.path("ndpack.safetensors")));
    expect(found).toEqual(metadata);
    for (const c of cases) {
      const array = arrays.get(c.name)!;
      expect(array.order).toBe("C");
      expect(array.shape).toEqual(c.shape);
      expect(dataBytes(array), c.name).toEqual(cBytes(c));
    }
  });
});

describe(".safetensors writer", () => {
  test("the reference's serialization vectors (safetensors tensor.rs tests)", () => {
    const data = new Float32Array([0, 1, 2, 3, 4, 5]);
    const bytes = toSafetensors({ "attn.0": { data, shape: [1, 2, 3] } });
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(bytes).toEqual(new Uint8Array([64, 0, 0, 0, 0, 0, 0, 0, ...new TextEncoder().encode(header), ...new Uint8Array(data.buffer)]));
    expect(toSafetensors({})).toEqual(new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]));
    expect(toSafetensors({}, { metadata: { framework: "pt" } })).toEqual(st('{"__metadata__":{"framework":"pt"}}     '));
    // Forced alignment: the header is padded with spaces to a multiple of 8.
    const aligned = toSafetensors({ attn0: { data, shape: [1, 1, 2, 3] } });
    expect(new DataView(aligned.buffer).getBigUint64(0, true)).toBe(72n);
    expect(new TextDecoder().decode(aligned.subarray(8, 80)).endsWith("}}       ")).toBe(true);
  });

  test("tensors are laid out by decreasing item size, so each is aligned for its type, then read back in data order", () => {
    const bytes = toSafetensors([
      ["u8", new Uint8Array(3)],
      ["f64", new Float64Array(2)],
      ["i16", new Int16Array(1)],
      ["f32", new Float32Array(1)],
    ]);
    const { arrays } = fromSafetensors(bytes);
    expect([...arrays.keys()]).toEqual(["f64", "f32", "i16", "u8"]);
    for (const array of arrays.values()) {
      expect(array.copied).toBe(false);
      expect(array.offset % DTYPES[array.dtype].itemSize).toBe(0);
    }
  });

  test("Fortran-order arrays are written in C order", () => {
    // [[1, 2, 3], [4, 5, 6]] in Fortran order is 1, 4, 2, 5, 3, 6.
    const { arrays } = fromSafetensors(toSafetensors({ m: { data: new Int32Array([1, 4, 2, 5, 3, 6]), shape: [2, 3], order: "F" } }));
    expect([...(arrays.get("m")!.data as Int32Array)]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test("refusals: dtypes without a safetensors name, the reserved name, reserved metadata key, duplicates, metadata JSON cannot hold", () => {
    expectCode(() => toSafetensors({ z: { data: new Float64Array(2), dtype: "complex128" } }), "UNKNOWN_DTYPE", /complex128/);
    expectCode(() => toSafetensors({ __metadata__: new Float32Array(1) }), "INVALID_ARGUMENT");
    expectCode(() => toSafetensors({}, { metadata: { [SAFETENSORS_JSON_KEYS]: "x" } }), "INVALID_ARGUMENT");
    expectCode(() => toSafetensors([["a", new Float32Array(1)], ["a", new Float32Array(1)]]), "DUPLICATE_NAME");
    expectCode(() => toSafetensors({}, { metadata: { x: Infinity } }), "INVALID_ARGUMENT");
    expectCode(() => toSafetensors({ a: { data: new Float32Array(3), shape: [2] } }), "SIZE_MISMATCH");
  });
});

describe(".safetensors reader: the reference's checks", () => {
  const f32 = (begin: number, end: number, shape: number[] = [(end - begin) / 4]) => ({ dtype: "F32", shape, data_offsets: [begin, end] });

  test("TRUNCATED: shorter than the length field; a header past the end; data short of the last offset", () => {
    expectCode(() => fromSafetensors(new Uint8Array(7)), "TRUNCATED");
    expectCode(() => fromSafetensors(st({ a: f32(0, 8) }, 8, 1000n)), "TRUNCATED");
    expectCode(() => fromSafetensors(st({ a: f32(0, 8) }, 7)), "TRUNCATED");
  });

  test("HEADER_TOO_LARGE: above 100,000,000 bytes (checked before reading), raised with maxHeaderBytes", () => {
    expectCode(() => fromSafetensors(st("{}", 0, 100_000_001n)), "HEADER_TOO_LARGE", /maxHeaderBytes/);
    expectCode(() => fromSafetensors(st("{}", 0, 0xffffffffffffffffn)), "HEADER_TOO_LARGE");
    expectCode(() => fromSafetensors(st("{}  ", 0), { maxHeaderBytes: 3 }), "HEADER_TOO_LARGE");
  });

  test("TRAILING_BYTES: data past the last offset (the reference's MetadataIncompleteBuffer)", () => {
    expectCode(() => fromSafetensors(st({ a: f32(0, 8) }, 9)), "TRAILING_BYTES");
  });

  test("OVERLAP and GAP: offsets that, sorted, do not follow each other from 0 (InvalidOffset)", () => {
    expectCode(() => fromSafetensors(st({ a: f32(0, 8), b: f32(4, 12) }, 12)), "OVERLAP");
    expectCode(() => fromSafetensors(st({ a: f32(0, 8), b: f32(12, 20) }, 20)), "GAP");
    expectCode(() => fromSafetensors(st({ a: f32(4, 8) }, 8)), "GAP");
    // Any order in the header is fine, as in the reference.
    expect([...fromSafetensors(st({ b: f32(8, 16), a: f32(0, 8) }, 16)).arrays.keys()]).toEqual(["a", "b"]);
  });

  test("SIZE_MISMATCH: offsets that do not span shape x dtype size (TensorInvalidInfo)", () => {
    expectCode(() => fromSafetensors(st({ a: f32(0, 8, [3]) }, 8)), "SIZE_MISMATCH");
  });

  test("BAD_SHAPE: a shape whose byte size overflows (ValidationOverflow)", () => {
    expectCode(() => fromSafetensors(st({ a: f32(0, 8, [2 ** 40, 2 ** 40]) }, 8)), "BAD_SHAPE");
  });

  test("HEADER_INVALID: a header that is not UTF-8 or JSON, or not the header structure", () => {
    const invalid: (string | object)[] = [
      "{not json}",
      " {}",
      "{} x",
      '{"__metadata__": "x"}',
      '{"__metadata__": {"a": ["b"]}}',
      '{"a": [1]}',
      { a: { dtype: "F32", shape: [1], data_offsets: [0, 4], extra: 1 } },
      { a: { dtype: "F32", shape: [1] } },
      { a: { dtype: 32, shape: [1], data_offsets: [0, 4] } },
      { a: { dtype: "F32", shape: 1, data_offsets: [0, 4] } },
      { a: { dtype: "F32", shape: [1], data_offsets: [0, 4, 8] } },
      { a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 0] } },
      { a: { dtype: "F32", shape: ["1"], data_offsets: [0, 4] } },
    ];
    for (const header of invalid) expectCode(() => fromSafetensors(st(header, 4)), "HEADER_INVALID");
    const bytes = st("{}");
    bytes[9] = 0xff;
    expectCode(() => fromSafetensors(bytes), "HEADER_INVALID", /UTF-8/);
  });

  test("`__metadata__: null` is no metadata, as the reference loader reads it (its Option)", () => {
    const { arrays, metadata } = fromSafetensors(st('{"__metadata__":null,"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}', 2));
    expect(metadata).toEqual({});
    expect([...arrays.keys()]).toEqual(["a"]);
    expect(fromSafetensors(st('{"__metadata__":null}')).arrays.size).toBe(0);
  });

  test("UNKNOWN_DTYPE: safetensors dtypes ndpack does not have", () => {
    for (const dtype of ["F4", "F6_E2M3", "F8_E8M0", "I4", "float32"]) {
      expectCode(() => fromSafetensors(st({ a: { dtype, shape: [1], data_offsets: [0, 1] } }, 1)), "UNKNOWN_DTYPE");
    }
  });

  test("LIMIT_EXCEEDED: more dimensions than maxDims", () => {
    const header = { a: { dtype: "U8", shape: Array(65).fill(1), data_offsets: [0, 1] } };
    expectCode(() => fromSafetensors(st(header, 1)), "LIMIT_EXCEEDED", /maxDims/);
    expect(fromSafetensors(st(header, 1), { maxDims: 65 }).arrays.get("a")!.shape).toHaveLength(65);
  });
});

describe(".safetensors reader: the checks the reference lacks", () => {
  test("DUPLICATE_NAME: a tensor named twice (a JSON parser would silently keep one)", () => {
    const header = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    expectCode(() => fromSafetensors(st(header, 8)), "DUPLICATE_NAME");
    const dotted = '{"a.b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a.b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}';
    try {
      fromSafetensors(st(dotted, 2));
      expect.fail("no error");
    } catch (error) {
      expect(isNdpackError(error) && [error.code, error.array]).toEqual(["DUPLICATE_NAME", "a.b"]);
    }
  });

  test("DUPLICATE_KEY: a key repeated inside a tensor entry or __metadata__", () => {
    expectCode(() => fromSafetensors(st('{"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}', 4)), "DUPLICATE_KEY");
    expectCode(() => fromSafetensors(st('{"__metadata__":{"k":"1","k":"2"}}')), "DUPLICATE_KEY");
  });

  test("BAD_NUMBER: integers above 2^53-1 (which JavaScript would round), negative or fractional numbers", () => {
    expectCode(() => fromSafetensors(st('{"a":{"dtype":"U8","shape":[9007199254740993],"data_offsets":[0,9007199254740993]}}')), "BAD_NUMBER");
    expectCode(() => fromSafetensors(st('{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}')), "BAD_NUMBER");
    expectCode(() => fromSafetensors(st('{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,0]}}')), "BAD_NUMBER");
    // Also for a tensor whose name is "metadata" (which the core's parser treats specially).
    expectCode(() => fromSafetensors(st('{"metadata":{"dtype":"U8","shape":[1.5],"data_offsets":[0,0]}}')), "BAD_NUMBER");
  });

  test("BAD_NUMBER: a float literal of integer value (2.0, 2e0) in a shape or data_offsets, even for a tensor named metadata (the reference refuses floats there)", () => {
    for (const name of ["a", "metadata"]) {
      expectCode(() => fromSafetensors(st(`{"${name}":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}}`, 2)), "BAD_NUMBER");
      expectCode(() => fromSafetensors(st(`{"${name}":{"dtype":"U8","shape":[2e0],"data_offsets":[0,2]}}`, 2)), "BAD_NUMBER");
      expectCode(() => fromSafetensors(st(`{"${name}":{"dtype":"U8","shape":[2],"data_offsets":[0,2.0]}}`, 2)), "BAD_NUMBER");
      expectCode(() => fromSafetensors(st(`{"${name}":{"dtype":"U8","shape":[2],"data_offsets":[-0,2]}}`, 2)), "BAD_NUMBER");
      expect(fromSafetensors(st(`{"${name}":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 2)).arrays.get(name)!.shape).toEqual([2]);
    }
  });

  test("the header's keys are checked in the order of its text (FORMAT.md §12.3 step 4.3), integer-like tensor names included, which JavaScript objects list first", () => {
    const unknown = '"b":{"dtype":"F8_E8M0","shape":[1],"data_offsets":[0,1]}';
    const noShape = '"0":{"dtype":"U8","data_offsets":[1,2]}';
    expectCode(() => fromSafetensors(st(`{${unknown},${noShape}}`, 2)), "UNKNOWN_DTYPE", /"b"/);
    expectCode(() => fromSafetensors(st(`{${noShape},${unknown}}`, 2)), "HEADER_INVALID", /"0"/);
    expectCode(() => fromSafetensors(st(`{"__metadata__":{"a":"x","b":1},"0":{"dtype":"F8_E8M0","shape":[1],"data_offsets":[0,1]}}`, 1)), "HEADER_INVALID", /__metadata__/);
  });

  test("names are any strings: __proto__, constructor, dots and slashes are ordinary tensors", () => {
    const names = ["__proto__", "constructor", "layer.0.weight", "a/b", "10", "2"];
    const bytes = toSafetensors(new Map(names.map((n, i) => [n, new Uint8Array([i])])));
    const { arrays } = fromSafetensors(bytes);
    expect([...arrays.keys()].sort()).toEqual([...names].sort());
    expect(Object.getPrototypeOf(fromSafetensors(toSafetensors({}, { metadata: JSON.parse('{"__proto__": {"x": 1}}') })).metadata)).toBe(Object.prototype);
  });

  test("zero-copy: views of the input where aligned; copies (or COPY_REQUIRED) where not", () => {
    const bytes = toSafetensors({ a: new Float64Array([1, 2]), b: new Uint8Array([3]) });
    expect(fromSafetensors(bytes).arrays.get("a")!.data.buffer).toBe(bytes.buffer);
    const shifted = new Uint8Array(bytes.length + 4);
    shifted.set(bytes, 4);
    const view = shifted.subarray(4);
    expect(fromSafetensors(view).arrays.get("a")!.copied).toBe(true);
    expect([...(fromSafetensors(view).arrays.get("a")!.data as Float64Array)]).toEqual([1, 2]);
    expectCode(() => fromSafetensors(view, { copy: "never" }), "COPY_REQUIRED");
    expect(fromSafetensors(bytes, { copy: "always" }).arrays.get("a")!.copied).toBe(true);
  });
});

describe(".safetensors metadata mapping", () => {
  test("strings stay strings; other JSON values round-trip through the listed keys", () => {
    const metadata = { s: "text", n: -0.5, big: 1e300, i: 42, b: false, z: null, a: [1, "x", { y: [] }], o: { nested: { deep: true } }, numeric: "123" };
    const bytes = toSafetensors({}, { metadata });
    expect(fromSafetensors(bytes).metadata).toEqual(metadata);
    const raw = JSON.parse(new TextDecoder().decode(bytes.subarray(8)).trim()).__metadata__;
    expect(raw.numeric).toBe("123");
    expect(raw.i).toBe("42");
    expect(JSON.parse(raw[SAFETENSORS_JSON_KEYS])).toEqual(["n", "big", "i", "b", "z", "a", "o"]);
  });

  test("a file without the list keeps every value a string", () => {
    expect(fromSafetensors(st('{"__metadata__":{"n":"42","a":"[1,2]"}}')).metadata).toEqual({ n: "42", a: "[1,2]" });
  });

  test("HEADER_INVALID: a list that is not a JSON list of keys, or names a value that is not JSON", () => {
    const withList = (list: string, extra: Record<string, string> = {}) => st({ __metadata__: { a: "1", [SAFETENSORS_JSON_KEYS]: list, ...extra } });
    expect(fromSafetensors(withList('["a"]')).metadata).toEqual({ a: 1 });
    for (const list of ["a", '"a"', '["missing"]', `["${SAFETENSORS_JSON_KEYS}"]`, "[1]"]) expectCode(() => fromSafetensors(withList(list)), "HEADER_INVALID");
    expectCode(() => fromSafetensors(withList('["b"]', { b: "{not json" })), "HEADER_INVALID");
    expectCode(() => fromSafetensors(withList('["b"]', { b: "1, 2" })), "HEADER_INVALID");
    expectCode(() => fromSafetensors(withList('["b"]', { b: '1},"x":{' })), "HEADER_INVALID");
  });

  test("the listed values are decoded in the list's order (FORMAT.md §12.3 step 4.6), not __metadata__'s nor a JavaScript object's (integer-like keys first), each once", () => {
    const deep = `${"[".repeat(64)}${"]".repeat(64)}`; // 65 deep as the value of {"metadata": ...}: LIMIT_EXCEEDED
    expectCode(() => fromSafetensors(st({ __metadata__: { a: "[", b: deep, [SAFETENSORS_JSON_KEYS]: '["b","a"]' } })), "LIMIT_EXCEEDED");
    expectCode(() => fromSafetensors(st({ __metadata__: { a: "[", b: deep, [SAFETENSORS_JSON_KEYS]: '["a","b"]' } })), "HEADER_INVALID");
    expectCode(() => fromSafetensors(st({ __metadata__: { a: "[", 0: deep, [SAFETENSORS_JSON_KEYS]: '["a","0"]' } })), "HEADER_INVALID");
    expect(fromSafetensors(st({ __metadata__: { a: " [1, -0.5e1]\t", [SAFETENSORS_JSON_KEYS]: '["a","a"]' } })).metadata).toEqual({ a: [1, -5] });
  });
});

describe(".safetensors round trips (fast-check)", () => {
  test("toSafetensors -> fromSafetensors keeps names, dtypes, shapes, values (in C order) and metadata", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 6 }), fc.constantFrom(...SAFETENSORS_DTYPES), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }), fc.constantFrom("C" as const, "F" as const), fc.integer()), { selector: ([name]) => name, maxLength: 5 }),
        fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })),
        (entries, rawMetadata) => {
          const cases = entries
            .filter(([name]) => name !== "__metadata__" && name.isWellFormed())
            .map(([name, dtype, shape, order, seed]): Case => ({ name, dtype, shape, order, byteOrder: "little", bytes: caseBytes(dtype, shape.reduce((a, b) => a * b, 1), rng(seed)) }));
          const metadata = JSON.parse(JSON.stringify(rawMetadata)) as Record<string, unknown>;
          delete metadata[SAFETENSORS_JSON_KEYS];
          const { arrays, metadata: found } = fromSafetensors(toSafetensors(new Map(cases.map((c) => [c.name, specOf(c)])), { metadata }));
          expect(found).toEqual(metadata);
          expect(arrays.size).toBe(cases.length);
          for (const c of cases) {
            const array = arrays.get(c.name)!;
            expect([array.dtype, array.shape]).toEqual([c.dtype, c.shape]);
            expect(dataBytes(array)).toEqual(cBytes(c));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("fromSafetensors never throws anything but an NdpackError on damaged input", () => {
    const valid = toSafetensors({ a: new Float32Array([1, 2]), b: { data: new Uint16Array(3), dtype: "bfloat16" } }, { metadata: { k: [1, 2], s: "x" } });
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (at, byte, cut) => {
        const bytes = valid.slice(0, cut % 4 === 0 ? valid.length - (cut % valid.length) : valid.length);
        if (bytes.length > 0) bytes[at % bytes.length] = byte;
        try {
          fromSafetensors(bytes);
        } catch (error) {
          expect(isNdpackError(error), String(error)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
