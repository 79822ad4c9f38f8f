/**
 * .npy: numpy reads what ndpack writes and ndpack reads what numpy writes (one Python process for
 * the whole file), the writer matches np.save byte for byte, every refusal has its error code, and
 * random arrays round-trip.
 */
import fc from "fast-check";
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DTYPES, DTYPE_NAMES, type Dtype } from "../src/dtypes.js";
import { isNdpackError } from "../src/errors.js";
import { fromNpy, toNpy, type NpyReadOptions } from "../src/interop/index.js";
import { ML_DTYPES, caseBytes, dataBytes, dtypeInput, expectValues, rng, specOf, standardCases, wireOf, type Case } from "./helpers/interop-cases.js";
import { runInteropPython, tempDir, type PythonReport, type WireFile } from "./helpers/interop-python.js";
import { expectCode, failure } from "./helpers/common.js";

/** A .npy file from raw header text: magic, version, length, the text (padded numpy-style unless `pad` is false), payload. */
function npy(header: string, options: { version?: number; minor?: number; payload?: Uint8Array | number; pad?: boolean; length?: number } = {}): Uint8Array {
  const version = options.version ?? 1;
  const prefix = version === 1 ? 10 : 12;
  let text = header;
  if (options.pad !== false) {
    const total = prefix + text.length + 1;
    text += " ".repeat((64 - (total % 64)) % 64) + "\n";
  }
  const textBytes = version === 3 ? new TextEncoder().encode(text) : Uint8Array.from(text, (c) => c.charCodeAt(0));
  const payload = typeof options.payload === "number" ? new Uint8Array(options.payload) : (options.payload ?? new Uint8Array(0));
  const out = new Uint8Array(prefix + textBytes.length + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, options.minor ?? 0]);
  const view = new DataView(out.buffer);
  const length = options.length ?? textBytes.length;
  if (version === 1) view.setUint16(8, length, true);
  else view.setUint32(8, length, true);
  out.set(textBytes, prefix);
  out.set(payload, prefix + textBytes.length);
  return out;
}

const dict = (descr: string, shape: string, fortran = "False") => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;


const voidOf = (dtype: Dtype): NpyReadOptions => (ML_DTYPES.includes(dtype) ? { voidDtype: dtype } : {});

describe(".npy with numpy (one Python process)", () => {
  const tmp = tempDir("npy");
  const cases = standardCases({ bigEndian: true });
  const versions: [string, 1 | 2 | 3][] = [["v2", 2], ["v3", 3]];
  const versionCases = cases.filter((c) => c.dtype === "float32" || c.dtype === "complex128" || c.dtype === "bfloat16");
  let report: PythonReport;
  const fileOf = (c: Case, who: string, version = "") => `${who}-${c.name}${version}.npy`;

  beforeAll(() => {
    const read: WireFile[] = [];
    const write: WireFile[] = [];
    for (const c of cases) {
      writeFileSync(tmp.path(fileOf(c, "ndpack")), toNpy(specOf(c), { byteOrder: c.byteOrder }));
      read.push({ file: fileOf(c, "ndpack"), format: "npy", arrays: [wireOf(c)] });
      write.push({ file: fileOf(c, "numpy"), format: "npy", arrays: [wireOf(c)] });
    }
    for (const [suffix, version] of versions) {
      for (const c of versionCases) {
        writeFileSync(tmp.path(fileOf(c, "ndpack", suffix)), toNpy(specOf(c), { version, byteOrder: c.byteOrder }));
        read.push({ file: fileOf(c, "ndpack", suffix), format: "npy", arrays: [wireOf(c)] });
        write.push({ file: fileOf(c, "numpy", suffix), format: "npy", arrays: [wireOf(c)], version: [version, 0] });
      }
    }
    report = runInteropPython(tmp.dir, read, write);
  });
  afterAll(() => tmp.remove());

  test("numpy.load reads every .npy ndpack writes with identical values (all dtypes, big-endian, Fortran, 0-d, empty, versions 2.0 and 3.0)", () => {
    expect(report.mismatches).toEqual([]);
    expect(report.checked).toBe(cases.length + versions.length * versionCases.length);
  });

  test("ndpack reads every .npy np.save writes with identical bits and values (bfloat16 and float8 through ml_dtypes)", () => {
    const written = new Map(report.written.map((w) => [w.file, w.arrays[0]!.values]));
    for (const c of cases) {
      const file = fileOf(c, "numpy");
      const array = fromNpy(readFileSync(tmp.path(file)), voidOf(c.dtype));
      expect({ dtype: array.dtype, shape: array.shape, order: array.order, byteOrder: array.byteOrder }, file).toEqual({
        dtype: c.dtype,
        shape: c.shape,
        order: c.order,
        byteOrder: DTYPES[c.dtype].itemSize > 1 ? c.byteOrder : "little",
      });
      expect(dataBytes(array), file).toEqual(c.bytes);
      expectValues(array, written.get(file)!, file);
    }
  });

  test("ndpack reads numpy's version 2.0 and 3.0 files", () => {
    for (const [suffix, version] of versions) {
      for (const c of versionCases) {
        const bytes = readFileSync(tmp.path(fileOf(c, "numpy", suffix)));
        expect(bytes[6]).toBe(version);
        const array = fromNpy(bytes, voidOf(c.dtype));
        expect(dataBytes(array)).toEqual(c.bytes);
        expect(array.shape).toEqual(c.shape);
      }
    }
  });

  test("toNpy writes exactly the bytes np.save writes (ml_dtypes arrays included, but float8_e5m2)", () => {
    // np.save writes ml_dtypes' float8_e5m2 with the descr '<f1', which numpy.load cannot read; ndpack writes '<V1'.
    for (const c of cases.filter((c) => c.dtype !== "float8_e5m2")) {
      const theirs = readFileSync(tmp.path(fileOf(c, "numpy")));
      expect(Buffer.from(toNpy(specOf(c), { byteOrder: c.byteOrder })).equals(theirs), c.name).toBe(true);
    }
  });
});

describe(".npy zero-copy reads", () => {
  test("an aligned little-endian array is a view of the input; copy: 'always' copies", () => {
    const bytes = toNpy({ data: new Float64Array([1, 2, 3]) });
    const array = fromNpy(bytes);
    expect(array.copied).toBe(false);
    expect(array.data.buffer).toBe(bytes.buffer);
    expect(array.offset).toBe(128);
    expect(fromNpy(bytes, { copy: "always" }).copied).toBe(true);
  });

  test("a misaligned input is copied, or COPY_REQUIRED with copy: 'never'", () => {
    const bytes = toNpy({ data: new Float64Array([1, 2, 3]) });
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const view = shifted.subarray(1);
    const array = fromNpy(view);
    expect(array.copied).toBe(true);
    expect([...(array.data as Float64Array)]).toEqual([1, 2, 3]);
    expectCode(() => fromNpy(view, { copy: "never" }), "COPY_REQUIRED");
  });

  test("a big-endian array is swapped into a copy, or COPY_REQUIRED with copy: 'never'", () => {
    const bytes = toNpy({ data: new Int32Array([1, -2]) }, { byteOrder: "big" });
    expect(bytes.subarray(128)).toEqual(Uint8Array.of(0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe));
    const array = fromNpy(bytes);
    expect(array).toMatchObject({ byteOrder: "big", copied: true });
    expect([...(array.data as Int32Array)]).toEqual([1, -2]);
    expectCode(() => fromNpy(bytes, { copy: "never" }), "COPY_REQUIRED");
  });

  test("the result is acceptable as toNpy (and encode) input", () => {
    const bytes = toNpy({ data: new Uint16Array([1, 2, 3, 4]), dtype: "bfloat16", shape: [2, 2], order: "F" });
    const again = toNpy(fromNpy(bytes, { voidDtype: "bfloat16" }));
    expect(again).toEqual(bytes);
  });
});

describe(".npy header parser: the forms numpy writes, and nothing else", () => {
  const f4 = new Uint8Array(24);

  test("accepts key order, quotes, spacing and trailing-comma variants of the dict", () => {
    for (const header of [
      `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`,
      `{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}`,
      `{"descr":"<f4","fortran_order":False,"shape":(2,3)}`,
      `  {'descr': '<f4',\n 'fortran_order': False,\t'shape': (2, 3,),}`,
    ]) {
      expect(fromNpy(npy(header, { payload: f4 })).shape, header).toEqual([2, 3]);
    }
  });

  test("accepts Python 2's long integers (2L) in versions 1.0 and 2.0 only", () => {
    expect(fromNpy(npy(dict("<f4", "(2L, 3L)"), { payload: f4 })).shape).toEqual([2, 3]);
    expect(fromNpy(npy(dict("<f4", "(2L, 3L)"), { payload: f4, version: 2 })).shape).toEqual([2, 3]);
    expectCode(() => fromNpy(npy(dict("<f4", "(2L, 3L)"), { payload: f4, version: 3 })), "HEADER_INVALID");
  });

  test("a header that failed part-way leaves nothing to the next (the parser keeps its state in its module)", () => {
    expectCode(() => fromNpy(npy(dict("<f4", "(2L, 3"), { payload: f4 })), "HEADER_INVALID");
    expectCode(() => fromNpy(npy(dict("<f4", "(2L, 3L)"), { payload: f4, version: 3 })), "HEADER_INVALID");
    expect(fromNpy(npy(dict("<f4", "(2, 3)"), { payload: f4, version: 3 })).shape).toEqual([2, 3]);
  });

  test("0-d, empty and 1-element shapes", () => {
    expect(fromNpy(npy(dict("<f8", "()"), { payload: 8 })).shape).toEqual([]);
    expect(fromNpy(npy(dict("<f8", "(0, 5)"))).shape).toEqual([0, 5]);
    expect(fromNpy(npy(dict("<f8", "(1,)"), { payload: 8 })).shape).toEqual([1]);
  });

  test("descrs: every byte order character; 1-byte descrs ignore it", () => {
    expect(fromNpy(npy(dict(">i2", "(1,)"), { payload: Uint8Array.of(1, 2) })).data[0]).toBe(0x0102);
    expect(fromNpy(npy(dict("<i2", "(1,)"), { payload: Uint8Array.of(1, 2) })).data[0]).toBe(0x0201);
    expect(fromNpy(npy(dict("=i2", "(1,)"), { payload: Uint8Array.of(1, 2) })).data[0]).toBe(0x0201);
    expect(fromNpy(npy(dict("|u1", "(1,)"), { payload: Uint8Array.of(7) })).byteOrder).toBe("little");
    expect(fromNpy(npy(dict("|b1", "(2,)"), { payload: Uint8Array.of(1, 0) }))).toMatchObject({ dtype: "bool" });
  });

  test("HEADER_INVALID: anything that is not the literal numpy writes (nothing is evaluated)", () => {
    for (const header of [
      `__import__('os').system('echo owned')`,
      `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk`,
      `{'descr': '<f4', 'fortran_order': False}`,
      `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}`,
      `{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}`,
      `{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3)}`,
      `{'descr': '<f4', 'fortran_order': False, 'shape': (6)}`,
      `{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}`,
      `{'descr': '<f4', 'fortran_order': False, 'shape': (2.0, 3)}`,
      `{'descr': '<f4', 'fortran_order': False, 'shape': (02, 3)}`,
      `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3) 'x': 1}`,
      `{'descr': '\\x3cf4', 'fortran_order': False, 'shape': (2, 3)}`,
      `{'descr': b'<f4', 'fortran_order': False, 'shape': (2, 3)}`,
      `{'descr': '<f4', 'fortran_order': False, 'shape': (1_000,)}`,
      `{'descr': 7, 'fortran_order': False, 'shape': (2, 3)}`,
      `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3),`,
      ``,
    ]) {
      expectCode(() => fromNpy(npy(header, { payload: f4 })), "HEADER_INVALID");
    }
  });

  test("HEADER_INVALID: a version 3.0 header that is not UTF-8", () => {
    const bytes = npy(dict("<f4", "(2, 3)"), { version: 3, payload: f4 });
    bytes[12 + 2] = 0xff; // inside the key 'descr'
    expectCode(() => fromNpy(bytes), "HEADER_INVALID", /UTF-8/);
  });

  test("DUPLICATE_KEY: a key given twice (Python would silently keep the last)", () => {
    expectCode(() => fromNpy(npy(`{'descr': '<f4', 'descr': '<i4', 'fortran_order': False, 'shape': (2, 3)}`, { payload: f4 })), "DUPLICATE_KEY");
  });

  test("BAD_NUMBER: a dimension above 2^53-1", () => {
    expectCode(() => fromNpy(npy(dict("<f4", "(9007199254740992,)"))), "BAD_NUMBER");
  });
});

describe(".npy refusals, in wire order", () => {
  test("BAD_MAGIC", () => {
    const bytes = npy(dict("<f4", "(1,)"), { payload: 4 });
    bytes[5] = 0x5a; // \x93NUMPZ
    expectCode(() => fromNpy(bytes), "BAD_MAGIC");
    expectCode(() => fromNpy(Uint8Array.of(0x89, 0x4e)), "BAD_MAGIC");
  });

  test("TRUNCATED: inside the magic, the version, the length field, the header and the data", () => {
    const bytes = npy(dict("<f4", "(2,)"), { payload: 8 });
    for (const length of [0, 3, 7, 9, 60, bytes.length - 1]) expectCode(() => fromNpy(bytes.subarray(0, length)), "TRUNCATED");
    expectCode(() => fromNpy(npy(dict("<f4", "(2,)"), { version: 2, payload: 8 }).subarray(0, 11)), "TRUNCATED");
  });

  test("UNSUPPORTED_VERSION: major versions other than 1 to 3, and minor versions other than 0", () => {
    expectCode(() => fromNpy(npy(dict("<f4", "(1,)"), { version: 4, payload: 4 })), "UNSUPPORTED_VERSION");
    expectCode(() => fromNpy(npy(dict("<f4", "(1,)"), { minor: 1, payload: 4 })), "UNSUPPORTED_VERSION");
  });

  test("HEADER_TOO_LARGE: numpy's 10000-byte default cap, raised with maxHeaderBytes", () => {
    const header = dict("<f4", "(1,)") + " ".repeat(10_100);
    const bytes = npy(header, { version: 2, payload: 4 });
    expectCode(() => fromNpy(bytes), "HEADER_TOO_LARGE", /maxHeaderBytes/);
    expect(fromNpy(bytes, { maxHeaderBytes: 20_000 }).shape).toEqual([1]);
    // The cap is checked before the header is known to be there.
    expectCode(() => fromNpy(npy("", { version: 2, length: 0xffffffff, pad: false })), "HEADER_TOO_LARGE");
  });

  test("UNKNOWN_DTYPE: object arrays (pickles, never loaded), structured, strings, dates, long double", () => {
    expectCode(() => fromNpy(npy(dict("|O", "(1,)"), { payload: 8 })), "UNKNOWN_DTYPE", /pickled/);
    expectCode(() => fromNpy(npy(dict("O", "(1,)"), { payload: 8 })), "UNKNOWN_DTYPE", /never unpickles/);
    expectCode(() => fromNpy(npy(`{'descr': [('x', '<f4'), ('y', '<i4')], 'fortran_order': False, 'shape': (1,), }`, { payload: 8 })), "UNKNOWN_DTYPE", /structured/);
    expectCode(() => fromNpy(npy(`{'descr': [('x', '|O')], 'fortran_order': False, 'shape': (1,), }`, { payload: 8 })), "UNKNOWN_DTYPE");
    // Field names numpy writes: latin-1 in 1.0, UTF-8 in 3.0, escapes in its repr. Still a structured dtype, not a broken header.
    for (const [field, version] of [["\xe9", 1], ["\u65e5", 3], ["a\\\\b", 1], ['it\'s', 1]] as const) {
      expectCode(() => fromNpy(npy(`{'descr': [(${JSON.stringify(field)}, '<f4')], 'fortran_order': False, 'shape': (1,), }`, { payload: 4, version })), "UNKNOWN_DTYPE", /structured/);
    }
    for (const descr of ["<U3", "|S5", "<M8[ns]", "<m8[s]", "<f16", "<c32", "|V16", "bool"]) {
      expectCode(() => fromNpy(npy(dict(descr, "(1,)"), { payload: 16 })), "UNKNOWN_DTYPE");
    }
  });

  test("a version 1.0/2.0 header is latin-1: a byte above 0x7f is HEADER_INVALID (the grammar is ASCII), the message showing its latin-1 character", () => {
    // "\xe9" alone is not UTF-8; "\x80" is a C1 control in latin-1, "€" in windows-1252.
    for (const [descr, shown] of [["<f\xe9", "é', 'fortran"], ["<\x80", "\u0080', 'fortran"]] as const) {
      for (const version of [1, 2]) {
        const error = failure(() => fromNpy(npy(dict(descr, "(1,)"), { version, payload: 4 })), "HEADER_INVALID");
        expect(error.message).toContain(`found "${shown}`);
      }
    }
  });

  test("UNKNOWN_DTYPE: a void descr (ml_dtypes' bfloat16 or float8) without voidDtype, or with one of another size", () => {
    const bytes = npy(dict("<V2", "(2,)"), { payload: Uint8Array.of(0x80, 0x3f, 0, 0x40) });
    expectCode(() => fromNpy(bytes), "UNKNOWN_DTYPE", /voidDtype/);
    expectCode(() => fromNpy(bytes, { voidDtype: "float32" }), "UNKNOWN_DTYPE");
    const array = fromNpy(bytes, { voidDtype: "bfloat16" });
    expect(array.dtype).toBe("bfloat16");
    expect([...(array.data as Uint16Array)]).toEqual([0x3f80, 0x4000]);
    expect(fromNpy(npy(dict("|V1", "(1,)"), { payload: 1 }), { voidDtype: "float8_e5m2" }).dtype).toBe("float8_e5m2");
    // np.save's descr for ml_dtypes.float8_e5m2.
    expectCode(() => fromNpy(npy(dict("<f1", "(1,)"), { payload: 1 })), "UNKNOWN_DTYPE", /voidDtype/);
    expect(fromNpy(npy(dict("<f1", "(1,)"), { payload: 1 }), { voidDtype: "float8_e5m2" }).dtype).toBe("float8_e5m2");
  });

  test("BAD_SHAPE: a negative dimension, or more than 2^53-1 bytes", () => {
    expectCode(() => fromNpy(npy(dict("<f4", "(-1,)"))), "BAD_SHAPE");
    expectCode(() => fromNpy(npy(dict("<f4", "(4503599627370496, 4)"))), "BAD_SHAPE");
  });

  test("LIMIT_EXCEEDED: more than maxDims dimensions", () => {
    const shape = `(${Array(65).fill(1).join(", ")})`;
    expectCode(() => fromNpy(npy(dict("<f4", shape), { payload: 4 })), "LIMIT_EXCEEDED", /maxDims/);
    expect(fromNpy(npy(dict("<f4", shape), { payload: 4 }), { maxDims: 65 }).shape).toHaveLength(65);
  });

  test("TRAILING_BYTES: bytes after the data", () => {
    expectCode(() => fromNpy(npy(dict("<f4", "(2,)"), { payload: 9 })), "TRAILING_BYTES");
  });

  test("INVALID_ARGUMENT: bad options", () => {
    const bytes = toNpy(new Float32Array(1));
    expectCode(() => fromNpy(bytes, { copy: "maybe" as never }), "INVALID_ARGUMENT");
    expectCode(() => fromNpy(bytes, { voidDtype: "float128" as never }), "INVALID_ARGUMENT");
    expectCode(() => fromNpy(bytes, { maxHeaderBytes: 0 }), "INVALID_ARGUMENT");
    expectCode(() => toNpy(new Float32Array(1), { version: 4 as never }), "INVALID_ARGUMENT");
    expectCode(() => toNpy(new Float32Array(1), { byteOrder: "middle" as never }), "INVALID_ARGUMENT");
  });
});

describe(".npy writer", () => {
  test("headers are padded to 64 bytes and end in a newline", () => {
    for (const dtype of DTYPE_NAMES) {
      const bytes = toNpy({ data: new (dtypeInput(dtype))(new ArrayBuffer(DTYPES[dtype].itemSize * 3), 0, (DTYPES[dtype].itemSize * 3) / dtypeInput(dtype).BYTES_PER_ELEMENT), dtype });
      const headerEnd = 10 + new DataView(bytes.buffer).getUint16(8, true);
      expect(headerEnd % 64, dtype).toBe(0);
      expect(bytes[headerEnd - 1]).toBe(0x0a);
    }
  });

  test("version 1.0 by default, as np.save writes it; 2.0 and 3.0 on request", () => {
    expect(toNpy(new Float32Array(2))[6]).toBe(1);
    expect(toNpy(new Float32Array(2), { version: 2 })[6]).toBe(2);
    expect(toNpy(new Float32Array(2), { version: 3 })[6]).toBe(3);
  });
});

describe(".npy round trips (fast-check)", () => {
  const dtypeArb = fc.constantFrom(...DTYPE_NAMES);
  const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 });

  test("toNpy -> fromNpy keeps dtype, shape, order and every bit, in every byte order and version", () => {
    fc.assert(
      fc.property(dtypeArb, shapeArb, fc.constantFrom("C" as const, "F" as const), fc.constantFrom("little" as const, "big" as const), fc.constantFrom(1 as const, 2 as const, 3 as const), fc.integer(), (dtype, shape, order, byteOrder, version, seed) => {
        const count = shape.reduce((a, b) => a * b, 1);
        const c: Case = { name: "x", dtype, shape, order, byteOrder, bytes: caseBytes(dtype, count, rng(seed)) };
        const bytes = toNpy(specOf(c), { byteOrder, version });
        const array = fromNpy(bytes, voidOf(dtype));
        expect(array.dtype).toBe(dtype);
        expect(array.shape).toEqual(shape);
        expect(array.order).toBe(order);
        expect(dataBytes(array)).toEqual(c.bytes);
        expect(array.nbytes).toBe(c.bytes.length);
      }),
      { numRuns: 300 },
    );
  });

  test("fromNpy never throws anything but an NdpackError on damaged input", () => {
    const valid = toNpy({ data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: valid.length }), (at, byte, cut) => {
        const bytes = valid.slice(0, cut);
        if (at < bytes.length) bytes[at] = byte;
        try {
          fromNpy(bytes);
        } catch (error) {
          expect(isNdpackError(error), String(error)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("ml_dtypes types are always written little-endian (a void descr has no byte order)", () => {
  test("bfloat16 and float8 asked for big-endian come out as <V2/<V1 little-endian bytes that read back right", () => {
    const bf16 = Uint16Array.of(0x3f80, 0x4000); // 1.0, 2.0
    const bytes = toNpy({ data: bf16, dtype: "bfloat16" }, { byteOrder: "big" });
    const text = new TextDecoder().decode(bytes.subarray(10, 60));
    expect(text).toContain("'descr': '<V2'");
    expect([...bytes.subarray(bytes.length - 4)]).toEqual([0x80, 0x3f, 0x00, 0x40]);
    expect([...fromNpy(bytes, { voidDtype: "bfloat16" }).data]).toEqual([0x3f80, 0x4000]);
    const f8 = toNpy({ data: Uint8Array.of(0x38), dtype: "float8_e4m3fn" }, { byteOrder: "big" });
    expect(new TextDecoder().decode(f8.subarray(10, 60))).toContain("'descr': '<V1'");
  });
});
