/**
 * Conversions between ndpack files and .npy, .npz and .safetensors (what each target keeps), format
 * detection, random round trips through every format, and the public surface of `ndpack/interop`
 * (an explicit list of exports, each with TSDoc).
 */
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { decode } from "../src/decode.js";
import { DTYPES, DTYPE_NAMES, type Dtype } from "../src/dtypes.js";
import { encode } from "../src/encode.js";
import * as interop from "../src/interop/index.js";
import { detectFormat, fromNdpack, fromNpy, fromNpz, fromSafetensors, toNdpack, toNpy, toNpz, toSafetensors } from "../src/interop/index.js";
import { cOrderBytes } from "../src/interop/common.js";
import { descrOf } from "../src/interop/npy.js";
import { caseBytes, dataBytes, isNpzName, rng, specOf, type Case } from "./helpers/interop-cases.js";
import { expectCode } from "./helpers/common.js";
import { exportsOf } from "./helpers/exports.js";

const sample = () =>
  encode(
    {
      weights: { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3], order: "F" },
      bf: { data: new Uint16Array([0x3f80, 0x4000]), dtype: "bfloat16" },
      zeros: { data: new Float64Array(256), shape: [16, 16], codec: "deflate" },
      f8: { data: new Uint8Array([0x38, 0x7e]), dtype: "float8_e4m3fn" },
      count: { data: new BigInt64Array([7n]), shape: [] },
    },
    { metadata: { model: "m", step: 12, tags: ["a", "b"], ratio: 0.5 } },
  );

describe("detectFormat", () => {
  test("recognises every format by its first bytes, and nothing else", () => {
    expect(detectFormat(sample())).toBe("ndpack");
    expect(detectFormat(toNpy(new Float32Array(1)))).toBe("npy");
    expect(detectFormat(toNpz({ a: new Float32Array(1) }))).toBe("npz");
    expect(detectFormat(toNpz({}))).toBe("npz");
    expect(detectFormat(toNpz({}, { forceZip64: true }))).toBe("npz");
    expect(detectFormat(toSafetensors({ a: new Float32Array(1) }))).toBe("safetensors");
    expect(detectFormat(new Uint8Array(0))).toBeUndefined();
    expect(detectFormat(new TextEncoder().encode("hello world, this is text"))).toBeUndefined();
  });
});

describe("ndpack -> other formats -> ndpack", () => {
  test(".npz keeps every array, dtype, order, compression and the metadata", () => {
    const original = decode(sample());
    const npz = fromNdpack(sample(), "npz");
    const back = decode(toNdpack(npz));
    expect(back.metadata).toEqual(original.metadata);
    expect(back.names).toEqual(original.names);
    for (const name of original.names) {
      const [a, b] = [original.get(name), back.get(name)];
      expect({ dtype: b.dtype, shape: b.shape, order: b.order }, name).toEqual({ dtype: a.dtype, shape: a.shape, order: a.order });
      expect(dataBytes(b), name).toEqual(dataBytes(a));
    }
    // A file with a compressed array becomes a deflated .npz, whose arrays come back compressed.
    expect([...fromNpz(npz).arrays.values()].every((a) => a.codec === "deflate")).toBe(true);
    expect(back.info("zeros").codec).toBe("deflate");
    expect(decode(toNdpack(npz, { codec: "none" })).info("zeros").codec).toBe("none");
    expect([...fromNpz(fromNdpack(sample(), "npz", { compress: false })).arrays.values()].every((a) => a.codec === "none")).toBe(true);
  });

  test(".safetensors keeps every array (Fortran ones in C order) and the metadata with its JSON types", () => {
    const original = decode(sample());
    const back = decode(toNdpack(fromNdpack(sample(), "safetensors")));
    expect(back.metadata).toEqual(original.metadata);
    expect([...back.names].sort()).toEqual([...original.names].sort());
    for (const name of original.names) {
      const [a, b] = [original.get(name), back.get(name)];
      expect({ dtype: b.dtype, shape: b.shape, order: b.order }).toEqual({ dtype: a.dtype, shape: a.shape, order: "C" });
      expect(dataBytes(b), name).toEqual(cOrderBytes(dataBytes(a), a.shape, a.order, DTYPES[a.dtype].itemSize));
    }
  });

  test(".npy holds one array: the only one, or the one named", () => {
    const single = encode({ x: { data: new Int16Array([1, 2, 3, 4]), shape: [2, 2], order: "F" } });
    const npy = fromNdpack(single, "npy");
    expect(fromNpy(npy)).toMatchObject({ dtype: "int16", shape: [2, 2], order: "F" });
    const back = decode(toNdpack(npy));
    expect(back.names).toEqual(["array"]);
    expect(decode(toNdpack(npy, { name: "x" })).get("x").order).toBe("F");
    expectCode(() => fromNdpack(sample(), "npy"), "INVALID_ARGUMENT");
    expect(fromNpy(fromNdpack(sample(), "npy", { name: "bf" }), { voidDtype: "bfloat16" }).dtype).toBe("bfloat16");
    expect(decode(toNdpack(fromNdpack(sample(), "npy", { name: "bf" }), { voidDtype: "bfloat16" })).get("array").dtype).toBe("bfloat16");
    expectCode(() => fromNdpack(sample(), "npy", { name: "missing" }), "NOT_FOUND");
  });

  test("the caller's metadata and encode options win over the source's", () => {
    const npz = toNpz({ a: new Float32Array(1) }, { metadata: { from: "npz" } });
    expect(decode(toNdpack(npz)).metadata).toEqual({ from: "npz" });
    const file = decode(toNdpack(npz, { metadata: { mine: true }, checksum: "none", alignment: 4096 }));
    expect(file.metadata).toEqual({ mine: true });
    expect(file.checksum).toBe("none");
    expect(file.alignment).toBe(4096);
  });

  test("bool bytes other than 0 and 1 in an ndpack file (read as true, FORMAT.md §3) are written as 1 in every target, as toNdpack and `ndpack convert` write them", () => {
    const file = encode({ b: { data: new Uint8Array([0, 1, 1, 0]), dtype: "bool" }, f: new Float32Array([1.5]) }, { checksum: "none" });
    file.set([2, 255], decode(file).info("b").offset + 1); // bytes no writer stores, but a reader takes as true
    expect([...fromNpy(fromNdpack(file, "npy", { name: "b" })).data]).toEqual([0, 1, 1, 0]);
    expect([...fromNpz(fromNdpack(file, "npz")).arrays.get("b")!.data]).toEqual([0, 1, 1, 0]);
    expect([...fromSafetensors(fromNdpack(file, "safetensors")).arrays.get("b")!.data]).toEqual([0, 1, 1, 0]);
    expect([...fromNpz(fromNdpack(file, "npz")).arrays.get("f")!.data]).toEqual([1.5]);
  });

  test("refusals: undetectable input, ndpack input to toNdpack, unknown formats, dtypes the target lacks", () => {
    expectCode(() => toNdpack(new Uint8Array(10)), "BAD_MAGIC");
    expectCode(() => toNdpack(sample()), "BAD_MAGIC");
    expectCode(() => toNdpack(toNpy(new Float32Array(1)), { from: "hdf5" as never }), "INVALID_ARGUMENT");
    expectCode(() => fromNdpack(sample(), "hdf5" as never), "INVALID_ARGUMENT");
    expectCode(() => fromNdpack(encode({ c: { data: new Float64Array(2), dtype: "complex128" } }), "safetensors"), "UNKNOWN_DTYPE");
    expectCode(() => toNdpack(toNpy(new Float32Array(1)), { voidDtype: { a: "bfloat16" } }), "INVALID_ARGUMENT");
    // The reader's own errors come through (here: .npz read as safetensors).
    expectCode(() => toNdpack(toNpz({ a: new Float32Array(1) }), { from: "safetensors" }), "HEADER_TOO_LARGE");
  });
});

describe("round trips through every format (fast-check)", () => {
  const arrayArb = fc.record({
    dtype: fc.constantFrom(...DTYPE_NAMES),
    shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
    order: fc.constantFrom("C" as const, "F" as const),
    seed: fc.integer(),
  });
  const fileArb = fc.record({
    arrays: fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 6 }).filter((s) => s.isWellFormed() && s !== "__metadata__" && isNpzName(s)), arrayArb), { selector: ([name]) => name, maxLength: 4 }),
    metadata: fc.dictionary(fc.string({ maxLength: 4 }).filter((s) => s !== interop.SAFETENSORS_JSON_KEYS), fc.jsonValue({ maxDepth: 2 })),
  });

  test("ndpack -> npz -> ndpack and ndpack -> safetensors -> ndpack keep arrays and metadata", () => {
    fc.assert(
      fc.property(fileArb, fc.boolean(), ({ arrays, metadata }, compress) => {
        const cases = arrays.map(([name, a]): Case => ({ name, dtype: a.dtype, shape: a.shape, order: a.order, byteOrder: "little", bytes: caseBytes(a.dtype, a.shape.reduce((x, y) => x * y, 1), rng(a.seed)) }));
        const json = JSON.parse(JSON.stringify(metadata)) as Record<string, unknown>;
        const bytes = encode(new Map(cases.map((c) => [c.name, { ...specOf(c), codec: compress ? ("deflate" as const) : ("none" as const) }])), { metadata: json });
        const viaNpz = decode(toNdpack(fromNdpack(bytes, "npz")));
        expect(viaNpz.metadata).toEqual(json);
        for (const c of cases) {
          const array = viaNpz.get(c.name);
          expect([array.dtype, array.shape, array.order]).toEqual([c.dtype, c.shape, c.order]);
          expect(dataBytes(array)).toEqual(c.bytes);
        }
        const storable = cases.filter((c) => DTYPES[c.dtype].safetensors !== null);
        if (storable.length === cases.length) {
          const viaSafetensors = decode(toNdpack(fromNdpack(bytes, "safetensors")));
          expect(viaSafetensors.metadata).toEqual(json);
          for (const c of cases) expect(dataBytes(viaSafetensors.get(c.name))).toEqual(cOrderBytes(c.bytes, c.shape, c.order, DTYPES[c.dtype].itemSize));
        } else {
          expectCode(() => fromNdpack(bytes, "safetensors"), "UNKNOWN_DTYPE");
        }
      }),
      { numRuns: 150 },
    );
  });

  test("ndpack -> npy -> ndpack keeps one array of any dtype, order and shape", () => {
    fc.assert(
      fc.property(arrayArb, (a) => {
        const c: Case = { name: "x", dtype: a.dtype, shape: a.shape, order: a.order, byteOrder: "little", bytes: caseBytes(a.dtype, a.shape.reduce((x, y) => x * y, 1), rng(a.seed)) };
        const voidDtype: Dtype | undefined = DTYPES[a.dtype].numpy === null ? a.dtype : undefined;
        const back = decode(toNdpack(fromNdpack(encode({ x: specOf(c) }), "npy"), { name: "x", ...(voidDtype ? { voidDtype } : {}) })).get("x");
        expect([back.dtype, back.shape, back.order]).toEqual([c.dtype, c.shape, c.order]);
        expect(dataBytes(back)).toEqual(c.bytes);
      }),
      { numRuns: 200 },
    );
  });

  test("readers' output is writers' input: npz -> safetensors -> npz", () => {
    const npz = toNpz({ a: { data: new Float32Array([1, 2, 3, 4]), shape: [2, 2] }, b: { data: new Uint16Array([1, 2]), dtype: "bfloat16" } }, { metadata: { k: 1 } });
    const { arrays, metadata } = fromNpz(npz);
    const safetensors = toSafetensors(arrays, { metadata });
    const again = fromSafetensors(safetensors);
    expect(again.metadata).toEqual({ k: 1 });
    const npz2 = toNpz(again.arrays, { metadata: again.metadata });
    expect(fromNpz(npz2).arrays.get("b")!.dtype).toBe("bfloat16");
    expect(dataBytes(fromNpz(npz2).arrays.get("a")!)).toEqual(dataBytes(arrays.get("a")!));
  });
});

// ---------------------------------------------------------------------------------------------
// Public surface of ndpack/interop (STYLE.md rule 8)

const INDEX = fileURLToPath(new URL("../src/interop/index.ts", import.meta.url));

describe("public API of ndpack/interop", () => {
  const exported = exportsOf(INDEX);

  test("exports exactly these names (a change here is an API change)", () => {
    expect(exported.map((e) => `${e.kind} ${e.name}`)).toEqual([
      "type CopyMode",
      "value FORMATS",
      "type FromNdpackOptions",
      "type InteropFormat",
      "value NPY_MAGIC",
      "value NPY_MAX_HEADER_BYTES",
      "value NPZ_NDPACK_MEMBER",
      "type NdArray",
      "type NpyArray",
      "type NpyReadOptions",
      "type NpyVersion",
      "type NpyWriteOptions",
      "type NpzContents",
      "type NpzReadOptions",
      "type NpzWriteOptions",
      "value SAFETENSORS_JSON_KEYS",
      "value SAFETENSORS_MAX_HEADER_BYTES",
      "type SafetensorsContents",
      "type SafetensorsReadOptions",
      "type SafetensorsWriteOptions",
      "type ToNdpackOptions",
      "value detectFormat",
      "value fromNdpack",
      "value fromNpy",
      "value fromNpz",
      "value fromSafetensors",
      "value toNdpack",
      "value toNpy",
      "value toNpz",
      "value toSafetensors",
    ]);
    expect(Object.keys(interop).sort()).toEqual(exported.filter((e) => e.kind === "value").map((e) => e.name));
  });

  test("every export has a TSDoc comment", () => {
    expect(exported.filter((e) => !e.documented).map((e) => e.name)).toEqual([]);
  });
});

describe("FORMAT.md Appendix C", () => {
  test("the dtype mapping table matches the library's dtype table", () => {
    const text = readFileSync(fileURLToPath(new URL("../FORMAT.md", import.meta.url)), "utf8");
    const section = text.slice(text.indexOf("## Appendix C. Dtype mappings for interchange"));
    const rows = section
      .split("\n")
      .filter((line) => /^\| `[a-z0-9_]+`/.test(line))
      .map((line) => line.split(/(?<!\\)\|/).slice(1, -1).map((cell) => cell.trim().replace(/\\\|/g, "|")));
    expect(rows.map((r) => r[0])).toEqual(DTYPE_NAMES.map((d) => `\`${d}\``));
    const codeNames: Record<number, string> = { 0: "kDLInt", 1: "kDLUInt", 2: "kDLFloat", 4: "kDLBfloat", 5: "kDLComplex", 6: "kDLBool", 10: "kDLFloat8_e4m3fn", 12: "kDLFloat8_e5m2" };
    for (const row of rows) {
      const info = DTYPES[row[0]!.slice(1, -1) as Dtype];
      const descrs = new Set([descrOf(info, "little"), descrOf(info, "big")]);
      const expectedDescr = info.numpy === null ? `\`${descrOf(info, "little")}\` ²` : [...descrs].map((d) => `\`${d}\``).join(" / ");
      expect(row[1], info.name).toBe(expectedDescr);
      expect(row[2]!.replace(/ ³$/, ""), info.name).toBe(info.safetensors === null ? "—" : `\`${info.safetensors}\``);
      expect(row[3]!.replace(/ ¹$/, ""), info.name).toBe(info.arrow === null ? "—" : `\`${info.arrow}\` (\`${info.arrowFormat}\`)`);
      expect(row[4], info.name).toBe(`${codeNames[info.dlpack.code]} (${info.dlpack.code}, ${info.dlpack.bits})`);
    }
  });
});
