/**
 * The one-pass reader of compact .safetensors headers (src/interop/compact-safetensors-header.ts)
 * against the strict path it stands in for: wherever it lists tensors, the strict parser and
 * readEntries list the same tensors and metadata in the same order; and whatever text it is given,
 * `readHeaderEntries` (fast path first) and `readHeaderEntriesStrictly` end the same way, the same
 * tensors or the same error code.
 */
import { describe, expect, test } from "vitest";
import { scanCompactSafetensorsHeader } from "../src/interop/compact-safetensors-header.js";
import { readHeaderEntries, readHeaderEntriesStrictly, toSafetensors } from "../src/interop/safetensors.js";
import { rng } from "./helpers/interop-cases.js";

const MAX_NODES = 1_000_000;
const MAX_DIMS = 64;
/** The default limits, as the readers resolve them. */
const LIMITS = { maxDims: MAX_DIMS, maxDepth: 64, maxHeaderNodes: MAX_NODES };
const utf8 = new TextEncoder();

/** The outcome of a reading: the tensors (dtype by name) and metadata, or the error code. */
function outcome(read: () => ReturnType<typeof readHeaderEntries>): unknown {
  try {
    const { entries, rawMetadata } = read();
    return { entries: entries.map((e) => ({ ...e, dtype: e.dtype.name })), metadata: Object.entries(rawMetadata) };
  } catch (error) {
    return { code: (error as { code: string }).code };
  }
}

/** Both paths on `text`; returns whether the fast path took it. */
function expectSameOutcome(text: string): boolean {
  const fast = outcome(() => readHeaderEntries(utf8.encode(text), LIMITS));
  expect(fast).toStrictEqual(outcome(() => readHeaderEntriesStrictly(text, LIMITS)));
  return scanCompactSafetensorsHeader(text, MAX_NODES) !== undefined;
}

/** A header as toSafetensors writes it (byte for byte what the reference's save_file writes: test/interop-safetensors.test.ts), padding included. */
function writtenHeader(arrays: Record<string, { data: ArrayBufferView; shape: number[] }>, metadata?: Record<string, unknown>): string {
  const bytes = toSafetensors(arrays as Parameters<typeof toSafetensors>[0], metadata === undefined ? {} : { metadata });
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return new TextDecoder().decode(bytes.subarray(8, 8 + length));
}

function layers(count: number): Record<string, { data: Float32Array; shape: number[] }> {
  const arrays: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (let i = 0; i < count; i++) arrays[`model.layers.${i}.weight`] = { data: new Float32Array(6), shape: [2, 3] };
  return arrays;
}

describe("scanCompactSafetensorsHeader: the fast path of written headers", () => {
  test("headers as writers write them are read in one pass, to what the strict path reads", () => {
    const headers = [
      writtenHeader({}),
      writtenHeader(layers(300)),
      writtenHeader(layers(3), { format: "pt" }),
      writtenHeader(layers(2), { note: "caf\u00e9 \u2603", format: "pt" }),
      writtenHeader({ "caf\u00e9.\u2603": { data: new Float32Array(1), shape: [] }, empty: { data: new Int8Array(0), shape: [0, 5] }, "__proto__": { data: new Uint16Array(4), shape: [4] } }),
    ];
    for (const text of headers) expect(expectSameOutcome(text), text.slice(0, 80)).toBe(true);
    const big = scanCompactSafetensorsHeader(headers[1]!, MAX_NODES)!;
    expect(big.tensors).toHaveLength(300);
    expect(big.tensors[299]).toStrictEqual({ name: "model.layers.299.weight", dtypeName: "F32", shape: [2, 3], begin: 299 * 24, end: 300 * 24 });
  });

  test("dtype and dimension checks of a header the fast path reads: UNKNOWN_DTYPE, LIMIT_EXCEEDED, as the strict path says", () => {
    const unknown = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"Q4","shape":[1],"data_offsets":[4,5]}}';
    expect(expectSameOutcome(unknown)).toBe(true);
    expect(outcome(() => readHeaderEntries(utf8.encode(unknown), LIMITS))).toStrictEqual({ code: "UNKNOWN_DTYPE" });
    const deep = `{"a":{"dtype":"F32","shape":[${Array(65).fill(1).join(",")}],"data_offsets":[0,4]}}`;
    expect(expectSameOutcome(deep)).toBe(true);
    expect(outcome(() => readHeaderEntries(utf8.encode(deep), LIMITS))).toStrictEqual({ code: "LIMIT_EXCEEDED" });
  });

  const tensor = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
  test.each([
    ["another key order", `{"a":{"shape":[1],"dtype":"F32","data_offsets":[0,4]}}`, undefined],
    ["a space after a colon", `{"a": ${tensor}}`, undefined],
    ["a newline before the end", `{"a":${tensor}\n}`, undefined],
    ["names of digits only (objects list them first)", `{"10":${tensor.replace("0,4", "4,8")},"2":${tensor}}`, undefined],
    ["metadata keys of digits only", `{"__metadata__":{"9":"x","1":"y"},"a":${tensor}}`, undefined],
    ["a repeated tensor name", `{"a":${tensor},"a":${tensor}}`, "DUPLICATE_NAME"],
    ["a repeated metadata key", `{"__metadata__":{"k":"1","k":"2"},"a":${tensor}}`, "DUPLICATE_KEY"],
    ["__metadata__ twice", `{"__metadata__":{},"__metadata__":{}}`, "DUPLICATE_NAME"],
    ["a size beyond 2^53-1", `{"a":{"dtype":"F32","shape":[9007199254740993],"data_offsets":[0,4]}}`, "BAD_NUMBER"],
    ["a leading zero", `{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}`, "HEADER_INVALID"],
    ["a float size", `{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}`, "BAD_NUMBER"],
    ["a negative size", `{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, "BAD_NUMBER"],
    ["a lone surrogate escaped in a name", `{"\\ud800":${tensor}}`, "HEADER_INVALID"],
    ["a control character in a name", `{"a\tb":${tensor}}`, "HEADER_INVALID"],
    ["a bad escape", `{"a\\qb":${tensor}}`, "HEADER_INVALID"],
    ["a number as metadata value", `{"__metadata__":{"k":1},"a":${tensor}}`, "HEADER_INVALID"],
    ["a fourth key in a tensor", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, "HEADER_INVALID"],
    ["three data offsets", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, "HEADER_INVALID"],
    ["bytes after the object", `{"a":${tensor}} x`, "HEADER_INVALID"],
    ["an unterminated string", `{"a`, "HEADER_INVALID"],
  ])("%s: left to the strict path (%s)", (_what, text, code) => {
    expect(scanCompactSafetensorsHeader(text, MAX_NODES)).toBeUndefined();
    expectSameOutcome(text);
    const result = outcome(() => readHeaderEntries(utf8.encode(text), LIMITS));
    if (code === undefined) expect(result).toHaveProperty("entries");
    else expect(result).toStrictEqual({ code });
  });

  test("escapes and characters beyond the BMP are left to the strict path, which reads them", () => {
    // Non-string metadata is stored as JSON text, with escaped quotes.
    const texts = [`{"a\\"b\\u00e9\\n":${tensor}}`, writtenHeader(layers(2), { step: 3, nested: { a: [1, "x\ny"] } }), writtenHeader({ "\u{1f600}": { data: new Float32Array(1), shape: [] } }, { note: "\u{1f600}" })];
    for (const text of texts) expect(expectSameOutcome(text)).toBe(false);
    expect(outcome(() => readHeaderEntries(utf8.encode(texts[0]!), LIMITS))).toMatchObject({ entries: [{ name: 'a"b\u00e9\n' }] });
  });

  test("a text longer than maxNodes is left to the strict path, which applies the limit", () => {
    const text = writtenHeader(layers(3));
    expect(scanCompactSafetensorsHeader(text, text.length - 1)).toBeUndefined();
    expect(scanCompactSafetensorsHeader(text, text.length)).toBeDefined();
  });

  test("3,000 mutated headers: both paths end the same way, tensors or error code", () => {
    const base = writtenHeader(layers(4), { format: "pt", note: "caf\u00e9" });
    expect(scanCompactSafetensorsHeader(base, MAX_NODES)).toBeDefined();
    const next = rng(11);
    const alphabet = ' {}[]:,"\\-.0123456789eE+ud8acF\u00e9\ufeff\n_';
    let fast = 0;
    for (let trial = 0; trial < 3000; trial++) {
      let text = base;
      for (let edits = 1 + Math.floor(next() * 3); edits > 0; edits--) {
        const at = Math.floor(next() * text.length);
        const character = alphabet[Math.floor(next() * alphabet.length)]!;
        const kind = next();
        text = kind < 0.4 ? text.slice(0, at) + character + text.slice(at + 1) : kind < 0.7 ? text.slice(0, at) + character + text.slice(at) : text.slice(0, at) + text.slice(at + 1);
      }
      if (expectSameOutcome(text)) fast++;
    }
    // Some mutations keep the header's shape (a digit for a digit, a letter in a name); most do not.
    expect(fast).toBeGreaterThan(100);
    expect(fast).toBeLessThan(3000);
  });
});
