/**
 * parseCompactJson (the `JSON.parse` fast path of .safetensors headers) against the strict parser it
 * stands in for: wherever it returns a value, the strict parser (with `freeNumbersKey: null`, as
 * the safetensors reader calls it) returns the same value; wherever the strict parser refuses a
 * text, the fast path returns `undefined`, so the strict parser's error is the one the caller gets.
 */
import { describe, expect, test } from "vitest";
import { toSafetensors } from "../src/interop/safetensors.js";
import { parseCompactJson, parseHeaderJson } from "../src/json.js";
import { rng } from "./helpers/interop-cases.js";

const LIMITS = { maxDepth: 64, maxNodes: 1_000_000 };

function strict(text: string, limits = LIMITS): { value: unknown } | { code: string } {
  try {
    return { value: parseHeaderJson(text, { ...limits, freeNumbersKey: null }) };
  } catch (error) {
    return { code: (error as { code: string }).code };
  }
}

/** The fast path is either silent or agrees with the strict parser, value for value. */
function expectAgreement(text: string, limits = LIMITS): unknown {
  const fast = parseCompactJson(text, limits);
  if (fast !== undefined) expect(strict(text, limits)).toStrictEqual({ value: fast });
  return fast;
}

/** A header as toSafetensors writes it: compact JSON padded with spaces. */
function writtenHeader(count: number): string {
  const arrays: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (let i = 0; i < count; i++) arrays[`layer.${i}.weight`] = { data: new Float32Array(6), shape: [2, 3] };
  const bytes = toSafetensors(arrays, { metadata: { note: "caf\u00e9 \u{1f600}", step: 3 } });
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return new TextDecoder().decode(bytes.subarray(8, 8 + length));
}

describe("parseCompactJson: the fast path of compact headers", () => {
  test("reads a header toSafetensors wrote (padding spaces included) to what the strict parser reads", () => {
    for (const count of [1, 3, 256]) {
      const text = writtenHeader(count);
      expect(text.endsWith(" ") || text.length % 8 === 0).toBe(true);
      expect(expectAgreement(text)).toBeDefined();
    }
  });

  // Each: what the fast path cannot prove, with the strict parser's verdict (a code, or a value read slowly).
  const cases: [string, string, string | "value"][] = [
    ["a repeated key", '{"a":{"dtype":"F32"},"a":{"dtype":"F16"}}', "DUPLICATE_KEY"],
    ["white space between tokens", '{"a": 1}', "value"],
    ["a leading space", ' {"a":1}', "HEADER_INVALID"],
    ["a BOM", '\ufeff{"a":1}', "HEADER_INVALID"],
    ["a negative number", '{"a":[-1]}', "BAD_NUMBER"],
    ["a fraction", '{"a":[1.5]}', "BAD_NUMBER"],
    ["an integer written as 2.0", '{"a":[2.0]}', "BAD_NUMBER"],
    ["an exponent that JSON.stringify writes the same", '{"a":[1e+21]}', "BAD_NUMBER"],
    ["an integer past 2^53", '{"a":[9007199254740993]}', "BAD_NUMBER"],
    ["an escaped lone surrogate in a value", '{"a":"\\ud800"}', "HEADER_INVALID"],
    ["an escaped lone surrogate in a key", '{"\\udc00":1}', "HEADER_INVALID"],
    ["an escape JSON.stringify writes otherwise", '{"a":"\\u0041"}', "value"],
    ["something other than spaces after the object", '{"a":1}\n', "HEADER_INVALID"],
    ["a top-level array", "[1]", "HEADER_INVALID"],
    ["an integer-like key, reordered by JSON.parse", '{"b":1,"0":2}', "value"],
    ["text after the object", '{"a":1}{"b":2}', "HEADER_INVALID"],
  ];
  test.each(cases)("%s: left to the strict parser (%s)", (_what, text, verdict) => {
    expect(parseCompactJson(text, LIMITS)).toBeUndefined();
    const result = strict(text);
    if (verdict === "value") expect(result).toHaveProperty("value");
    else expect(result).toStrictEqual({ code: verdict });
  });

  test("nesting at maxDepth and more values than maxNodes: left to the strict parser, which says LIMIT_EXCEEDED", () => {
    const deep = `{"a":${"[".repeat(70)}${"]".repeat(70)}}`;
    expect(parseCompactJson(deep, LIMITS)).toBeUndefined();
    expect(strict(deep)).toStrictEqual({ code: "LIMIT_EXCEEDED" });
    const many = `{"a":[${Array.from({ length: 50 }, () => "0").join(",")}]}`;
    const few = { maxDepth: 64, maxNodes: 20 };
    expect(parseCompactJson(many, few)).toBeUndefined();
    expect(strict(many, few)).toStrictEqual({ code: "LIMIT_EXCEEDED" });
    // __proto__ is an own key in both, never a prototype.
    const proto = expectAgreement('{"__proto__":{"dtype":"F32"}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(["__proto__"]);
  });

  test("2,000 mutated headers: the fast path never reads a value the strict parser does not read the same", () => {
    const base = writtenHeader(4);
    const next = rng(10);
    const alphabet = ' {}[]:,"\\-.0123456789eE+ud8acF\u00e9\ufeff\n';
    let fast = 0;
    for (let trial = 0; trial < 2000; trial++) {
      let text = base;
      for (let edits = 1 + Math.floor(next() * 3); edits > 0; edits--) {
        const at = Math.floor(next() * text.length);
        const character = alphabet[Math.floor(next() * alphabet.length)]!;
        const kind = next();
        text = kind < 0.4 ? text.slice(0, at) + character + text.slice(at + 1) : kind < 0.7 ? text.slice(0, at) + character + text.slice(at) : text.slice(0, at) + text.slice(at + 1);
      }
      if (expectAgreement(text) !== undefined) fast++;
    }
    // Some mutations keep the text compact JSON (a digit for a digit); most do not.
    expect(fast).toBeGreaterThan(0);
    expect(fast).toBeLessThan(2000);
  });
});
