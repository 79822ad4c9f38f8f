import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { NdpackError, type ErrorCode } from "../src/errors.js";
import { parseHeaderJson, stringifyJson } from "../src/json.js";
import { failure } from "./helpers/common.js";
import { REPO, runPython } from "./helpers/python-env.js";

const LIMITS = { maxDepth: 64 };

type ParseOptions = Parameters<typeof parseHeaderJson>[1];

const parse = (text: string, options: ParseOptions = LIMITS): unknown => parseHeaderJson(text, options);

function parseFailure(text: string, code: ErrorCode, options: ParseOptions = LIMITS): NdpackError {
  const error = failure(() => parseHeaderJson(text, options), code);
  expect(typeof error.offset).toBe("number");
  return error;
}

const stringifyFailure = (value: unknown, code: ErrorCode, options: { maxDepth: number; path?: string } = LIMITS) =>
  failure(() => stringifyJson(value, options), code);

/** Wraps `json` as the top-level `metadata` value, where numbers are free-form. */
const inMetadata = (json: string): string => `{"metadata":${json}}`;

const SAMPLE_HEADER =
  '{"version":1,"metadata":{"note":"caf\\u00e9 \\ud83d\\ude00 \\"q\\"\\n","pi":3.14159,"neg":-2.5e-3,' +
  '"flags":[true,false,null],"nested":{"x":[]}},"arrays":[{"name":"layer.0.weight","dtype":"float32",' +
  '"shape":[8,8],"order":"C","byteOrder":"little","offset":0,"byteLength":256},{"name":"b","dtype":"int8",' +
  '"shape":[],"order":"C","byteOrder":"little","offset":320,"byteLength":1}]}';

describe("parseHeaderJson: accepted input", () => {
  test("parses a header like JSON.parse does, keeping key order", () => {
    const header = parse(SAMPLE_HEADER);
    expect(header).toStrictEqual(JSON.parse(SAMPLE_HEADER));
    expect(Object.keys(header as object)).toEqual(["version", "metadata", "arrays"]);
  });

  test("allows JSON white space between tokens and only spaces after the object", () => {
    expect(parse('{ \t\r\n"a" \n:\t[ 1 ,\r\n2 ] , "b" : { } }')).toStrictEqual({ a: [1, 2], b: {} });
    expect(parse('{"a":1}      ')).toStrictEqual({ a: 1 });
  });

  test("decodes every escape, including surrogate pairs in either hex case", () => {
    const text = '{"s":"\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041\\u00e9 \\uD83D\\uDE00 \\ud83d\\ude00"}';
    expect(parse(text)).toStrictEqual({ s: '" \\ / \b \f \n \r \t Aé 😀 😀' });
  });

  test("decodes long strings with many escapes and raw surrogate pairs", () => {
    const value = `${"ab\n\"😀\u0001é".repeat(5000)}x`;
    const text = JSON.stringify({ s: value, t: ["plain", `\\${value}`] });
    expect(parse(text)).toStrictEqual(JSON.parse(text));
  });

  test("accepts non-negative safe integer literals in the structural part", () => {
    expect(parse('{"a":0,"b":[123,9007199254740991]}')).toStrictEqual({ a: 0, b: [123, 9007199254740991] });
  });

  test("accepts any JSON number in metadata, -0 included", () => {
    const header = parse(
      inMetadata('{"f":1.5,"e":-2.5e-3,"E":1E+2,"z":-0,"zf":-0.0,"min":-9007199254740991,"big":1.152921504606847e+18,' +
        '"huge":1e21,"frac":9007199254740993.0}'),
    ) as { metadata: Record<string, number> };
    const m = header.metadata;
    expect(m).toStrictEqual({
      f: 1.5, e: -2.5e-3, E: 100, z: -0, zf: -0, min: -9007199254740991, big: 2 ** 60, huge: 1e21,
      frac: 9007199254740992,
    });
    expect(Object.is(m.z, -0)).toBe(true);
    expect(parse('{"metadata":1.5}')).toStrictEqual({ metadata: 1.5 });
  });
});

describe("parseHeaderJson: HEADER_INVALID", () => {
  test("HEADER_INVALID for empty text, BOM, leading white space and a non-object top level", () => {
    for (const text of ["", "\ufeff{}", " {}", "\n{}", "\t{}", "[]", '"x"', "1", "null"]) {
      const error = parseFailure(text, "HEADER_INVALID");
      expect(error.offset).toBe(0);
    }
  });

  test("HEADER_INVALID for anything but spaces after the object", () => {
    for (const [text, offset] of [
      ["{}\n", 2],
      ["{}  \n", 4],
      ["{}\t", 2],
      ["{}\r", 2],
      ["{} x", 3],
      ["{}{}", 2],
      ["{}\u0000", 2],
    ] as const) {
      expect(parseFailure(text, "HEADER_INVALID").offset).toBe(offset);
    }
  });

  test("HEADER_INVALID for syntax outside RFC 8259", () => {
    const cases = [
      '{"a":NaN}',
      '{"a":Infinity}',
      '{"a":-Infinity}',
      '{"a":1,}',
      '{"a":[1,]}',
      '{"a":[,1]}',
      '{,"a":1}',
      "{'a':1}",
      '{"a":\'x\'}',
      "{a:1}",
      '{"a" 1}',
      '{"a":1 "b":2}',
      '{"a":[1 2]}',
      '{"a":1;}',
      '{"a":tru}',
      '{"a":True}',
      '{"a":nul}',
      '{"a":undefined}',
      '{"a":1}//c',
      '{/*c*/"a":1}',
      '{"a"://c\n1}',
      '{"a":"\\x"}',
      '{"a":"\\U0041"}',
      '{"a":"\\u12G4"}',
      '{"a":"\\u12"}',
      '{"a":"\\\'"}',
      '{"a":}',
      '{"a"}',
      '{"a":1}}',
      '{"a":[1]]}',
      '{"a":1\u00a0}',
    ];
    for (const text of cases) parseFailure(text, "HEADER_INVALID");
  });

  test("HEADER_INVALID for invalid number grammar, in metadata and elsewhere", () => {
    for (const literal of ["01", "00", "-01", "1.", ".5", "+1", "-", "-a", "1e", "1e+", "1.e3", "0x10", "1_000"]) {
      parseFailure(`{"n":${literal}}`, "HEADER_INVALID");
      parseFailure(inMetadata(literal), "HEADER_INVALID");
    }
  });

  test("HEADER_INVALID for raw control characters in strings", () => {
    for (const code of [0x00, 0x09, 0x0a, 0x0d, 0x1f]) {
      const raw = String.fromCharCode(code);
      expect(parseFailure(`{"s":"a${raw}"}`, "HEADER_INVALID").offset).toBe(7);
      parseFailure(`{"k${raw}":1}`, "HEADER_INVALID");
      parseFailure(`{"s":"\\n${raw}"}`, "HEADER_INVALID");
    }
    expect(parse('{"s":"\u007f\u0080"}')).toStrictEqual({ s: "\u007f\u0080" });
  });

  test("HEADER_INVALID for \\u escapes that produce a lone surrogate", () => {
    const cases = [
      "\\ud800",
      "\\udbff",
      "\\udc00",
      "\\udfff",
      "\\ud800x",
      "\\ud800\\u0041",
      "\\ud800\\ud800",
      "\\udc00\\ud800",
      "\\ud800\\n",
      "a\\ud83d",
    ];
    for (const escaped of cases) {
      parseFailure(`{"s":"${escaped}"}`, "HEADER_INVALID");
      parseFailure(`{"${escaped}":1}`, "HEADER_INVALID");
    }
    // An escaped high surrogate may not pair with a raw low one.
    parseFailure('{"s":"\\ud83d\ude00"}', "HEADER_INVALID");
  });

  test("HEADER_INVALID for raw lone surrogates", () => {
    for (const raw of ["\ud800", "\udc00", "\ud800x", "\ude00\ud83d", "a\ud83d"]) {
      parseFailure(`{"s":"${raw}"}`, "HEADER_INVALID");
      parseFailure(`{"s":"\\n${raw}"}`, "HEADER_INVALID");
    }
    expect(parse('{"s":"\ud83d\ude00"}')).toStrictEqual({ s: "😀" });
  });

  test("HEADER_INVALID, never another error, for every truncation of a header", () => {
    for (let length = 0; length < SAMPLE_HEADER.length; length++) {
      parseFailure(SAMPLE_HEADER.slice(0, length), "HEADER_INVALID");
    }
  });

  test("HEADER_INVALID errors carry the offset and the field path", () => {
    const error = parseFailure('{"arrays":[{"shape":[1,x]}]}', "HEADER_INVALID");
    expect(error.offset).toBe(23);
    expect(error.field).toBe("arrays[0].shape[1]");
    expect(parseFailure('{"a":"\\ud800"}', "HEADER_INVALID").offset).toBe(6);
    expect(parseFailure('{"a":1', "HEADER_INVALID").offset).toBe(6);
  });
});

describe("parseHeaderJson: DUPLICATE_KEY", () => {
  test("DUPLICATE_KEY at the top level, naming the key and pointing at its second occurrence", () => {
    const error = parseFailure('{"version":1,"version":1}', "DUPLICATE_KEY");
    expect(error.field).toBe("version");
    expect(error.offset).toBe(13);
    expect(error.message).toContain('"version"');
    expect(parseFailure('{"metadata":{},"arrays":[],"metadata":{}}', "DUPLICATE_KEY").field).toBe("metadata");
  });

  test("DUPLICATE_KEY nested in metadata", () => {
    expect(parseFailure(inMetadata('{"a":{"b":1,"c":2,"b":1}}'), "DUPLICATE_KEY").field).toBe("metadata.a.b");
  });

  test("DUPLICATE_KEY in an array entry", () => {
    const text = '{"arrays":[{"name":"x"},{"name":"y","dtype":"int8","name":"z"}]}';
    expect(parseFailure(text, "DUPLICATE_KEY").field).toBe("arrays[1].name");
  });

  test("DUPLICATE_KEY compares keys after unescaping", () => {
    expect(parseFailure('{"a":1,"\\u0061":2}', "DUPLICATE_KEY").field).toBe("a");
    expect(parseFailure(inMetadata('{"a b":1,"a\\u0020b":2}'), "DUPLICATE_KEY").field).toBe('metadata["a b"]');
    expect(parseFailure('{"__proto__":1,"__proto__":2}', "DUPLICATE_KEY").field).toBe("__proto__");
  });
});

describe("parseHeaderJson: __proto__ and other Object.prototype names", () => {
  test("a __proto__ key becomes an own data property and no prototype changes", () => {
    const before = Object.getOwnPropertyNames(Object.prototype);
    const header = parse(
      '{"a":1,"__proto__":{"polluted":true},"metadata":{"__proto__":{"polluted":true}},"z":2}',
    ) as Record<string, unknown>;
    expect(Object.getPrototypeOf(header)).toBe(Object.prototype);
    expect(Object.keys(header)).toEqual(["a", "__proto__", "metadata", "z"]);
    expect(Object.getOwnPropertyDescriptor(header, "__proto__")).toStrictEqual({
      value: { polluted: true },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    const metadata = header.metadata as object;
    expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
    expect(Object.hasOwn(metadata, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype)).toEqual(before);
  });

  test("constructor, toString and hasOwnProperty are ordinary own keys", () => {
    const text = '{"constructor":{"prototype":{"polluted":true}},"toString":1,"hasOwnProperty":"x"}';
    const header = parse(text) as Record<string, unknown>;
    // toStrictEqual compares `constructor` properties, so compare through JSON text instead.
    expect(JSON.stringify(header)).toBe(text);
    expect(Object.getPrototypeOf(header)).toBe(Object.prototype);
    expect(Object.keys(header)).toEqual(["constructor", "toString", "hasOwnProperty"]);
    expect(Object.prototype.constructor).toBe(Object);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("parseHeaderJson: LIMIT_EXCEEDED", () => {
  test("LIMIT_EXCEEDED one level past maxDepth, objects and arrays alike, counting the header as 1", () => {
    const options = { maxDepth: 3 };
    expect(parse('{"a":{"b":{}}}', options)).toStrictEqual({ a: { b: {} } });
    expect(parse('{"a":[[]]}', options)).toStrictEqual({ a: [[]] });
    const error = parseFailure('{"a":{"b":{"c":{}}}}', "LIMIT_EXCEEDED", options);
    expect(error.limit).toBe("maxDepth");
    expect(error.field).toBe("a.b.c");
    expect(error.offset).toBe(15);
    expect(parseFailure('{"a":[[[]]]}', "LIMIT_EXCEEDED", options).field).toBe("a[0][0]");
    expect(parse("{}", { maxDepth: 1 })).toStrictEqual({});
    expect(parseFailure('{"a":[]}', "LIMIT_EXCEEDED", { maxDepth: 1 }).limit).toBe("maxDepth");
  });

  test("LIMIT_EXCEEDED at 1001 with maxDepth 1000, which itself parses without overflowing the stack", () => {
    const nested = (depth: number) => `{"a":${"[".repeat(depth - 1)}${"]".repeat(depth - 1)}}`;
    expect(() => parse(nested(1000), { maxDepth: 1000 })).not.toThrow();
    parseFailure(nested(1001), "LIMIT_EXCEEDED", { maxDepth: 1000 });
    parseFailure(`{"a":${"[".repeat(1_000_000)}`, "LIMIT_EXCEEDED", { maxDepth: 1000 });
  });
});

describe("parseHeaderJson: BAD_NUMBER", () => {
  test("BAD_NUMBER for every non-plain or unsafe integer in the structural part", () => {
    for (const literal of ["-1", "-0", "1.0", "0.5", "1e3", "1E3", "1e+3", "9007199254740992", "12345678901234567890"]) {
      const error = parseFailure(`{"arrays":[{"shape":[1,${literal}]}]}`, "BAD_NUMBER");
      expect(error.field).toBe("arrays[0].shape[1]");
      expect(error.offset).toBe(23);
    }
    expect(parseFailure('{"version":1.5}', "BAD_NUMBER").field).toBe("version");
  });

  test("BAD_NUMBER for the key metadata below the top level, which is structural", () => {
    expect(parseFailure('{"x":{"metadata":1.5}}', "BAD_NUMBER").field).toBe("x.metadata");
  });

  test("BAD_NUMBER for integer literals beyond 2^53-1 in metadata", () => {
    for (const literal of ["9007199254740992", "-9007199254740992", "18446744073709551616", "1".repeat(400)]) {
      expect(parseFailure(inMetadata(`{"a":[0,${literal}]}`), "BAD_NUMBER").field).toBe("metadata.a[1]");
    }
    expect(parseFailure(inMetadata("9007199254740993"), "BAD_NUMBER").field).toBe("metadata");
  });
});

describe("parses one after another: one that failed leaves nothing to the next", () => {
  // The parser keeps its state in its module (src/json.ts says why); each parse starts afresh.
  test("after a failure deep in metadata: the next header's numbers are strict again, and its errors carry its own path", () => {
    parseFailure(inMetadata('{"a":[1.5,{"b":-2,"c":}]}'), "HEADER_INVALID");
    const error = parseFailure('{"alignment":1.5}', "BAD_NUMBER");
    expect(error.field).toBe("alignment");
    expect(error.offset).toBe(13);
    expect(parseFailure('{"x":[1,{"y":@}]}', "HEADER_INVALID").field).toBe("x[1].y");
    expect(parseFailure("{@", "HEADER_INVALID").field).toBeUndefined();
  });

  test("after LIMIT_EXCEEDED: the next parse counts its own values and depth, under its own limits", () => {
    expect(parseFailure('{"a":[0,0,0,0]}', "LIMIT_EXCEEDED", { maxDepth: 64, maxNodes: 3 }).limit).toBe("maxHeaderNodes");
    expect(parse('{"a":[0,0,0,0]}', { maxDepth: 64, maxNodes: 6 })).toStrictEqual({ a: [0, 0, 0, 0] });
    parseFailure('{"a":{"b":{}}}', "LIMIT_EXCEEDED", { maxDepth: 2 });
    expect(parse('{"a":{"b":{}}}', { maxDepth: 3 })).toStrictEqual({ a: { b: {} } });
  });

  test("a string with escapes after one that failed mid-escape", () => {
    parseFailure('{"a":"\\u12"}', "HEADER_INVALID");
    expect(parse('{"a":"x\\n\\u00e9y"}')).toStrictEqual({ a: "x\néy" });
  });
});

describe("stringifyJson", () => {
  test("writes compact JSON identical to JSON.stringify for ordinary values, in key order", () => {
    const value = { z: 1, a: [true, false, null, "s\n\"\u0001é😀", 0.1, -3, 1e-7, 5e-324], m: {}, e: [] };
    expect(stringifyJson(value, LIMITS)).toBe(JSON.stringify(value));
    expect(stringifyJson("x", LIMITS)).toBe('"x"');
    expect(stringifyJson(null, LIMITS)).toBe("null");
  });

  test("writes -0 as -0 and unsafe integers in exponent form", () => {
    const cases: [number, string][] = [
      [-0, "-0"],
      [0, "0"],
      [2 ** 53 - 1, "9007199254740991"],
      [-(2 ** 53 - 1), "-9007199254740991"],
      [2 ** 53, "9.007199254740992e+15"],
      [2 ** 60, "1.152921504606847e+18"],
      [-(2 ** 60), "-1.152921504606847e+18"],
      [1e21, "1e+21"],
      [1e300, "1e+300"],
      [Number.MAX_VALUE, "1.7976931348623157e+308"],
      [1.5, "1.5"],
      [5e-324, "5e-324"],
    ];
    for (const [value, text] of cases) {
      expect(stringifyJson(value, LIMITS)).toBe(text);
      const back = parse(stringifyJson({ metadata: value }, LIMITS)) as { metadata: number };
      expect(Object.is(back.metadata, value)).toBe(true);
    }
  });

  test("keeps an own __proto__ key and accepts null-prototype objects", () => {
    const value = JSON.parse('{"a":1,"__proto__":{"b":2}}') as unknown;
    expect(stringifyJson(value, LIMITS)).toBe('{"a":1,"__proto__":{"b":2}}');
    const bare = Object.assign(Object.create(null) as object, { k: 1 });
    expect(stringifyJson(bare, LIMITS)).toBe('{"k":1}');
  });

  test("allows the same object twice when it is not a cycle", () => {
    const shared = { x: 1 };
    expect(stringifyJson({ a: shared, b: [shared, shared] }, LIMITS)).toBe('{"a":{"x":1},"b":[{"x":1},{"x":1}]}');
  });

  test("INVALID_ARGUMENT for values JSON cannot hold exactly, with the path to them", () => {
    class Point {
      x = 1;
    }
    const cases: unknown[] = [
      undefined,
      10n,
      () => 1,
      Symbol("s"),
      new Date(0),
      new Map(),
      new Set(),
      new Uint8Array(2),
      new Point(),
      /re/,
      new Error("e"),
      Object(1),
      Object("s"),
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      "lone \ud800",
      "\udc00",
    ];
    for (const bad of cases) {
      expect(stringifyFailure({ a: [0, 1, { b: bad }] }, "INVALID_ARGUMENT").field).toBe("metadata.a[2].b");
    }
    expect(stringifyFailure(undefined, "INVALID_ARGUMENT").field).toBe("metadata");
  });

  test("INVALID_ARGUMENT for sparse array holes", () => {
    expect(stringifyFailure({ a: [1, , 3] }, "INVALID_ARGUMENT").field).toBe("metadata.a[1]");
    expect(stringifyFailure(new Array(2), "INVALID_ARGUMENT").field).toBe("metadata[0]");
  });

  test("INVALID_ARGUMENT for enumerable symbol keys and keys with lone surrogates", () => {
    expect(stringifyFailure({ a: { [Symbol("k")]: 1 } }, "INVALID_ARGUMENT").field).toBe("metadata.a");
    const hidden = Object.defineProperty({ k: 1 }, Symbol("h"), { value: 1, enumerable: false });
    expect(stringifyJson(hidden, LIMITS)).toBe('{"k":1}');
    expect(stringifyFailure({ "\ud800": 1 }, "INVALID_ARGUMENT").field).toBe('metadata["\\ud800"]');
  });

  test("INVALID_ARGUMENT for cycles, through objects and arrays", () => {
    const object: Record<string, unknown> = { a: {} };
    (object.a as Record<string, unknown>).back = object;
    expect(stringifyFailure(object, "INVALID_ARGUMENT", { maxDepth: 1000 }).field).toBe("metadata.a.back");
    const array: unknown[] = [1];
    array.push({ self: array });
    expect(stringifyFailure(array, "INVALID_ARGUMENT", { maxDepth: 1000 }).field).toBe("metadata[1].self");
  });

  test("INVALID_ARGUMENT field uses the given path prefix", () => {
    expect(stringifyFailure({ a: [0, 0, { b: Number.NaN }] }, "INVALID_ARGUMENT", { maxDepth: 8, path: "" }).field).toBe(
      "a[2].b",
    );
    const error = stringifyFailure({ "x y": undefined }, "INVALID_ARGUMENT", { maxDepth: 8, path: "header.metadata" });
    expect(error.field).toBe('header.metadata["x y"]');
  });

  test("LIMIT_EXCEEDED one level past maxDepth, counting the value itself as 1", () => {
    expect(stringifyJson({ a: [{}] }, { maxDepth: 3 })).toBe('{"a":[{}]}');
    const error = stringifyFailure({ a: [{ b: [] }] }, "LIMIT_EXCEEDED", { maxDepth: 3 });
    expect(error.limit).toBe("maxDepth");
    expect(error.field).toBe("metadata.a[0].b");
    expect(stringifyJson(1, { maxDepth: 0 })).toBe("1");
    expect(stringifyFailure([], "LIMIT_EXCEEDED", { maxDepth: 0 }).field).toBe("metadata");
  });
});

describe("round trip", () => {
  const specialNumbers = fc.constantFrom(
    -0,
    2 ** 53,
    2 ** 60,
    -(2 ** 60),
    1e21,
    1e300,
    -1e300,
    5e-324,
    Number.MAX_VALUE,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
  );
  const leaf = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, min: -Number.MAX_VALUE, max: Number.MAX_VALUE }),
    specialNumbers,
    fc.string({ unit: "binary" }),
  );
  const key = fc.oneof(fc.string({ unit: "binary" }), fc.constantFrom("__proto__", "constructor", "toString", "0", "1"));
  const { value: tree } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.array(tie("value"), { maxLength: 5 }),
      fc.dictionary(key, tie("value"), { maxKeys: 5, noNullPrototype: true }),
    ),
  }));
  const jsonLike = fc.oneof(fc.jsonValue(), tree);

  /**
   * Deep equality with Object.is on numbers, same prototypes and same key order. (toStrictEqual
   * would read an own `constructor` key as the object's type.)
   */
  function sameJson(a: unknown, b: unknown): boolean {
    if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) return Object.is(a, b);
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    const keysA = Object.keys(a);
    const keysB = Object.keys(b);
    return (
      keysA.length === keysB.length &&
      keysA.every(
        (k, i) =>
          k === keysB[i] && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
      )
    );
  }

  /** True when JSON.stringify would write `value` differently: it holds -0 or an unsafe integer. */
  function hasSpecialNumber(value: unknown): boolean {
    if (typeof value === "number") {
      return Object.is(value, -0) || (Number.isInteger(value) && !Number.isSafeInteger(value));
    }
    if (typeof value !== "object" || value === null) return false;
    return Object.values(value).some(hasSpecialNumber);
  }

  test("stringify then parse gives back an equal value, and JSON.stringify's text when it can", () => {
    fc.assert(
      fc.property(jsonLike, (value) => {
        const text = stringifyJson({ metadata: value }, { maxDepth: 1000 });
        expect(sameJson(parseHeaderJson(text, { maxDepth: 1000 }), { metadata: value })).toBe(true);
        if (!hasSpecialNumber(value)) expect(stringifyJson(value, { maxDepth: 1000 })).toBe(JSON.stringify(value));
      }),
      { numRuns: 500 },
    );
  });

  /** True when JSON.stringify writes a number in `value` as an integer literal beyond 2^53-1. */
  function hasUnsafeIntegerLiteral(value: unknown): boolean {
    if (typeof value === "number") return !Number.isSafeInteger(value) && Number.isInteger(value) && Math.abs(value) < 1e21;
    if (typeof value !== "object" || value === null) return false;
    return Object.values(value).some(hasUnsafeIntegerLiteral);
  }

  test("metadata written by JSON.stringify, with any white space, parses as JSON.parse does or is BAD_NUMBER", () => {
    fc.assert(
      fc.property(jsonLike, fc.constantFrom(undefined, 2, "\t", "\r\n"), (value, space) => {
        const text = `{"metadata":${JSON.stringify(value, null, space)}}`;
        if (hasUnsafeIntegerLiteral(value)) {
          failure(() => parseHeaderJson(text, { maxDepth: 1000 }), "BAD_NUMBER");
        } else {
          expect(sameJson(parseHeaderJson(text, { maxDepth: 1000 }), JSON.parse(text))).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("BAD_NUMBER for metadata numbers that overflow to infinity", () => {
  test("rejects 1e400 and -1e400 in metadata, and accepts 1e308", () => {
    for (const literal of ["1e400", "-1e400", "2e308"]) {
      let error: unknown;
      try {
        parseHeaderJson(`{"metadata":{"x":${literal}}}`, { maxDepth: 64 });
      } catch (e) {
        error = e;
      }
      expect((error as NdpackError).code).toBe("BAD_NUMBER");
    }
    expect(parseHeaderJson(`{"metadata":{"x":1e308}}`, { maxDepth: 64 })).toEqual({ metadata: { x: 1e308 } });
  });
});

describe("FORMAT.md §2.1: where a number ends", () => {
  // Every text of up to 4 characters from the characters that matter, after a key outside and
  // inside metadata, against the rule as FORMAT.md states it and against the Python reference.
  const ATOMS = ["-", "+", "0", "1", ".", "e", "E", "x", ",", " "];
  const texts: string[] = [];
  const grow = (prefix: string, left: number): void => {
    for (const atom of ATOMS) {
      const text = prefix + atom;
      if (/^[-0-9]/.test(text)) texts.push(text);
      if (left > 1) grow(text, left - 1);
    }
  };
  grow("", 4);
  const headers = texts.flatMap((t) => [`{"offset":${t}}`, `{"metadata":{"x":${t}}}`]);

  /** §2.1 as written: the number's text, malformed or well-formed; then only white space may follow before the closing braces. */
  function specCode(header: string): string {
    const inMetadata = header.startsWith('{"metadata"');
    const value = header.slice(inMetadata ? 17 : 10, inMetadata ? -2 : -1);
    const number = /^-?[0-9]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]*)?/.exec(value)![0];
    if (!/^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$/.test(number)) return "HEADER_INVALID";
    if (!inMetadata && !/^(?:0|[1-9][0-9]*)$/.test(number)) return "BAD_NUMBER";
    return /^ *$/.test(value.slice(number.length)) ? "OK" : "HEADER_INVALID";
  }

  function tsCode(header: string): string {
    try {
      parseHeaderJson(header, { maxDepth: 64 });
      return "OK";
    } catch (error) {
      return (error as NdpackError).code;
    }
  }

  test("the TypeScript parser follows the rule", () => {
    expect(headers.length).toBeGreaterThan(5000);
    const differ = headers.filter((h) => tsCode(h) !== specCode(h));
    expect(differ.slice(0, 10).map((h) => `${h}: ${tsCode(h)}, FORMAT.md ${specCode(h)}`)).toEqual([]);
  });

  test("the Python reference gives the same codes (both its fast and its exact parser)", () => {
    const dir = mkdtempSync(join(tmpdir(), "ndpack-numbers-"));
    try {
      const script = join(dir, "number_codes.py");
      writeFileSync(
        script,
        [
          "import json, os, sys",
          `sys.path.insert(0, os.path.join(${JSON.stringify(REPO)}, "spec", "python"))`,
          "import conformance  # imports ndpack the way the conformance runner does",
          "nd = conformance.ndpack",
          "def code(run):",
          "    try:",
          "        run()",
          "        return 'OK'",
          "    except nd.NdpackError as e:",
          "        return e.code",
          "out = []",
          "for h in json.load(sys.stdin):",
          "    out.append([code(lambda: nd._parse_header_json(h.encode(), 64, 1000000)), code(lambda: nd._parse_strict(h, 64, 1000000))])",
          "json.dump(out, sys.stdout)",
        ].join("\n"),
      );
      const codes = JSON.parse(runPython(script, [], JSON.stringify(headers))) as [string, string][];
      const differ = headers.flatMap((h, i) => (codes[i]![0] !== tsCode(h) || codes[i]![1] !== tsCode(h) ? [`${h}: TypeScript ${tsCode(h)}, Python ${codes[i]!.join("/")}`] : []));
      expect(differ.slice(0, 10)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
