/**
 * `ndpack convert`, run as a child process of the built bin, between every pair of formats, on
 * files written by the library and by numpy and safetensors in Python; every output's values are
 * checked with the library's whole-buffer readers and then by Python (numpy.load, safetensors,
 * spec/python/ndpack/reference.py). Also: the writing options, the progress bar, atomic replacement on
 * failure, and the usage errors.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decode, DTYPES, type Dtype, type NdArray } from "../src/index.js";
import { cOrderBytes } from "../src/interop/common.js";
import { fromNpy, fromNpz, fromSafetensors } from "../src/interop/index.js";
import { save } from "../src/node/index.js";
import { describeWithNumpy } from "./helpers/cli-numpy.js";
import { CLI, errorLineOf, requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";
import { runInteropPython, type WireArray, type WireFile } from "./helpers/interop-python.js";

const tmp = tempDir("convert");

interface Source {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: number[];
  readonly order: "C" | "F";
  /** Little-endian bytes, in `order`. */
  readonly data: ArrayBufferView;
}

const hexOf = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");

const SOURCES: Source[] = [
  { name: "w.f32", dtype: "float32", shape: [3, 4], order: "C", data: Float32Array.from({ length: 12 }, (_, i) => i / 4 - 1) },
  { name: "f.f64", dtype: "float64", shape: [3, 4], order: "F", data: Float64Array.from({ length: 12 }, (_, i) => i * 1.5) },
  { name: "i64", dtype: "int64", shape: [5], order: "C", data: BigInt64Array.of(-5_000_000_000_000_000n, -1n, 0n, 1n, 2n ** 62n) },
  { name: "img", dtype: "uint8", shape: [4, 5, 3], order: "C", data: Uint8Array.from({ length: 60 }, (_, i) => (i * 37) % 256) },
  { name: "mask", dtype: "bool", shape: [6], order: "C", data: Uint8Array.of(1, 0, 0, 1, 1, 0) },
  { name: "h", dtype: "float16", shape: [4], order: "C", data: Uint16Array.of(0x3c00, 0xc000, 0x7c00, 0x0001) },
  { name: "i16", dtype: "int16", shape: [2, 2], order: "C", data: Int16Array.of(-32768, -1, 1, 32767) },
  { name: "c64", dtype: "complex64", shape: [2], order: "C", data: Float32Array.of(1, -2, 0.5, Number.NaN) },
  { name: "bf", dtype: "bfloat16", shape: [3], order: "C", data: Uint16Array.of(0x3f80, 0xc000, 0x7fc0) },
];
const METADATA = { step: 100, tags: ["a", "b"], note: "trained" };

/** What an array must hold after any conversion: its dtype, shape and C-order bytes. */
function expected(source: Source) {
  const bytes = new Uint8Array(source.data.buffer, source.data.byteOffset, source.data.byteLength);
  return { dtype: source.dtype, shape: source.shape, c: hexOf(cOrderBytes(bytes, source.shape, source.order, DTYPES[source.dtype].itemSize)) };
}

/** Every array of a file, as the whole-buffer readers give it. */
function readBack(path: string, voidDtype?: Dtype): Map<string, NdArray> {
  const bytes = readFileSync(path);
  if (path.endsWith(".ndp")) return new Map([...decode(bytes)].map((a) => [a.name, a]));
  if (path.endsWith(".npz")) return new Map(fromNpz(bytes, voidDtype === undefined ? {} : { voidDtype }).arrays);
  if (path.endsWith(".safetensors")) return new Map(fromSafetensors(bytes).arrays);
  const name = path.slice(path.lastIndexOf("/") + 1, -4);
  return new Map([[name, { ...fromNpy(bytes, voidDtype === undefined ? {} : { voidDtype }), name }]]);
}

/** Checks that `path` holds exactly `sources` (under their names), value for value. */
function expectArrays(path: string, sources: readonly Source[], voidDtype?: Dtype): Map<string, NdArray> {
  const arrays = readBack(path, voidDtype);
  expect([...arrays.keys()].sort()).toEqual(sources.map((s) => s.name).sort());
  for (const source of sources) {
    const array = arrays.get(source.name)!;
    const bytes = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
    expect({ dtype: array.dtype, shape: [...array.shape], c: hexOf(cOrderBytes(bytes, array.shape, array.order, DTYPES[array.dtype].itemSize)) }, `${path}: ${source.name}`).toEqual(expected(source));
  }
  return arrays;
}

async function convert(...args: string[]) {
  const result = await runCli(["convert", ...args]);
  expect(result.stderr, `convert ${args.join(" ")}`).toBe("");
  expect(result.code).toBe(0);
  expect(result.stdout).toBe("");
  return result;
}

/** The same array in C order. */
function inCOrder(source: Source): Source {
  const bytes = new Uint8Array(source.data.buffer, source.data.byteOffset, source.data.byteLength);
  return { ...source, order: "C", data: cOrderBytes(bytes, source.shape, source.order, DTYPES[source.dtype].itemSize) };
}

function wire(source: Source, byteOrder: "little" | "big" = "little"): WireArray {
  return { name: source.name, dtype: source.dtype, shape: source.shape, order: source.order, byteOrder, hex: hexOf(source.data) };
}

const bySafetensors = SOURCES.filter((s) => DTYPES[s.dtype].safetensors !== null);
const ONE = SOURCES[1]!; // f.f64, Fortran order
const BIG = SOURCES[6]!; // i16, written big-endian by numpy

/** Outputs for Python to read at the end, with what they must hold. */
const forPython: WireFile[] = [];
const ndpForPython: { path: string; source: Source }[] = [];

beforeAll(async () => {
  await requireBuiltCli();
  await save(tmp.path("lib.ndp"), SOURCES.map((s) => [s.name, { data: s.data, dtype: s.dtype, shape: s.shape, order: s.order }] as const), { metadata: METADATA });
  await save(tmp.path("one.ndp"), { [ONE.name]: { data: ONE.data, shape: ONE.shape, order: ONE.order } });
  runInteropPython(tmp.dir, [], [
    { file: "py.npz", format: "npz", arrays: SOURCES.map((s) => wire(s, s === BIG ? "big" : "little")) },
    { file: "py_c.npz", format: "npz_compressed", arrays: SOURCES.map((s) => wire(s)) },
    { file: "py.safetensors", format: "safetensors", arrays: bySafetensors.map((s) => wire(s)), metadata: { format: "np" } },
    { file: "py_f.npy", format: "npy", arrays: [wire(ONE)] },
    { file: "py_be.npy", format: "npy", arrays: [wire(BIG, "big")] },
  ]);
});

afterAll(() => tmp.remove());

describe("convert between every pair of formats, values checked", () => {
  const targets = ["ndp", "npz", "safetensors"] as const;

  test.concurrent.each(targets)("library-written .ndp -> .%s, with the metadata", async (target) => {
    const out = tmp.path(`from-lib.${target}`);
    const sources = SOURCES; // every dtype here has a safetensors name
    await convert(tmp.path("lib.ndp"), out);
    expectArrays(out, sources);
    if (target === "ndp") {
      expect(readFileSync(out).equals(readFileSync(tmp.path("lib.ndp")))).toBe(true);
      ndpForPython.push(...sources.map((source) => ({ path: out, source })));
    } else {
      forPython.push({ file: `from-lib.${target}`, format: target, arrays: sources.map((s) => wire(s)), metadata: target === "npz" ? METADATA : { step: "100", tags: '["a","b"]', note: "trained", __ndpack_json__: '["step","tags"]' } });
    }
    const roundTrip = tmp.path(`round-trip-${target}.ndp`);
    await convert(out, roundTrip);
    expect(decode(readFileSync(roundTrip)).metadata).toEqual(METADATA);
  });

  test.concurrent.each([
    ["py.npz", "ndp"],
    ["py.npz", "safetensors"],
    ["py_c.npz", "ndp"],
    ["py_c.npz", "npz"],
    ["py.safetensors", "ndp"],
    ["py.safetensors", "npz"],
    ["py.safetensors", "safetensors"],
  ] as const)("numpy/safetensors-written %s -> .%s", async (input, target) => {
    const out = tmp.path(`${input.replace(".", "-")}.${target}`);
    const fromSafetensorsFile = input.endsWith(".safetensors");
    let sources = fromSafetensorsFile ? bySafetensors : SOURCES;
    if (target === "safetensors") sources = sources.filter((s) => DTYPES[s.dtype].safetensors !== null);
    // numpy stores bfloat16 as raw 2-byte items: --void-dtype says what they are. Compressed
    // members are converted uncompressed here (see the test of compressed .ndp output below).
    const flags = [...(input.endsWith(".npz") ? ["--void-dtype", "bfloat16"] : []), ...(target === "ndp" ? ["--no-compress"] : [])];
    await convert(tmp.path(input), out, ...flags);
    expectArrays(out, sources);
    // Arrays that went through .safetensors are in C order.
    const asWritten = fromSafetensorsFile || target === "safetensors" ? sources.map(inCOrder) : sources;
    if (target === "ndp") ndpForPython.push(...sources.map((source) => ({ path: out, source })));
    else forPython.push({ file: out.slice(tmp.dir.length + 1), format: target, arrays: asWritten.map((s) => wire(s)), ...(target === "npz" ? {} : { metadata: fromSafetensorsFile ? { format: "np" } : null }) });
  });

  test.concurrent.each([
    ["py_f.npy", "ndp"],
    ["py_f.npy", "npz"],
    ["py_f.npy", "safetensors"],
    ["py_be.npy", "npy"],
    ["one.ndp", "npy"],
  ] as const)("one array: %s -> .%s", async (input, target) => {
    const source = input === "py_be.npy" ? BIG : ONE;
    const out = tmp.path(`${input.replace(".", "-")}.${target}`);
    await convert(tmp.path(input), out);
    const name = input.endsWith(".npy") && target !== "npy" ? input.slice(0, -4) : target === "npy" ? out.slice(out.lastIndexOf("/") + 1, -4) : source.name;
    expectArrays(out, [{ ...source, name }]);
    if (target === "npy") {
      // Byte order and memory order carry over; the bytes are what np.save writes.
      const again = fromNpy(readFileSync(out));
      // Memory order carries over; the byte order is little-endian unless --big-endian says otherwise.
      expect([again.order, again.byteOrder]).toEqual(input === "py_be.npy" ? ["C", "little"] : ["F", "little"]);
    }
  });
});

describe("writing options", () => {
  test("--alignment, --big-endian, --checksum none, --codec, --level", async () => {
    await convert(tmp.path("lib.ndp"), tmp.path("a4096.ndp"), "--alignment", "4096");
    const aligned = decode(readFileSync(tmp.path("a4096.ndp")));
    expect(aligned.alignment).toBe(4096);
    for (const name of aligned.names) expect(aligned.info(name).offset % 4096).toBe(0);

    await convert(tmp.path("lib.ndp"), tmp.path("big.ndp"), "--big-endian", "--checksum", "none");
    const big = decode(readFileSync(tmp.path("big.ndp")));
    expect(big.checksum).toBe("none");
    expect(big.info("w.f32").byteOrder).toBe("big");
    expectArrays(tmp.path("big.ndp"), SOURCES);

    await convert(tmp.path("py_f.npy"), tmp.path("big.npy"), "--big-endian");
    expect(fromNpy(readFileSync(tmp.path("big.npy"))).byteOrder).toBe("big");
    await convert(tmp.path("lib.ndp"), tmp.path("big.npz"), "--big-endian");
    expect(fromNpz(readFileSync(tmp.path("big.npz"))).arrays.get("w.f32")!.byteOrder).toBe("big");
    expectArrays(tmp.path("big.npz"), SOURCES);
    forPython.push({ file: "big.npz", format: "npz", arrays: SOURCES.map((s) => wire(s, DTYPES[s.dtype].itemSize > 1 && DTYPES[s.dtype].numpy !== null ? "big" : "little")) });

    await convert(tmp.path("lib.ndp"), tmp.path("compressed.npz"), "--compress", "--level", "9");
    const npz = fromNpz(readFileSync(tmp.path("compressed.npz")));
    expect([...npz.arrays.values()].every((a) => a.codec === "deflate")).toBe(true);
    expectArrays(tmp.path("compressed.npz"), SOURCES);
  });

  test("--compress to .ndp (shuffle+deflate), .npz members kept deflated", async () => {
    await convert(tmp.path("lib.ndp"), tmp.path("shuffled.ndp"), "--compress");
    const shuffled = decode(readFileSync(tmp.path("shuffled.ndp")));
    expect(shuffled.info("w.f32").codec).toBe("shuffle+deflate");
    expectArrays(tmp.path("shuffled.ndp"), SOURCES);
    await convert(tmp.path("lib.ndp"), tmp.path("deflated.ndp"), "--codec", "deflate");
    expect(decode(readFileSync(tmp.path("deflated.ndp"))).info("img").codec).toBe("deflate");
    expectArrays(tmp.path("deflated.ndp"), SOURCES);
  });

  // fflate's streaming Deflate (fflate issue #260) emits back-references into the zeros before the
  // first chunk: it made this array undecodable when createWriter used it.
  test("--codec deflate to .ndp: an array fflate's streaming Deflate mangles (fflate #260) decodes", async () => {
    await save(tmp.path("z.ndp"), { z: { data: Float64Array.of(1, 2, 3, -4.5), dtype: "complex128" } });
    await convert(tmp.path("z.ndp"), tmp.path("z-deflated.ndp"), "--codec", "deflate");
    expect(Array.from(decode(readFileSync(tmp.path("z-deflated.ndp"))).get("z").data as Float64Array)).toEqual([1, 2, 3, -4.5]);
    await convert(tmp.path("z.ndp"), tmp.path("z.npz"), "--compress");
    expect(Array.from(fromNpz(readFileSync(tmp.path("z.npz"))).arrays.get("z")!.data as Float64Array)).toEqual([1, 2, 3, -4.5]);
  });

  test("options a format cannot honour are usage errors (exit 2)", async () => {
    const cases: [string[], RegExp][] = [
      [["lib.ndp", "x.npz", "--alignment", "128"], /--alignment applies to \.ndp output, not npz/],
      [["lib.ndp", "x.safetensors", "--big-endian"], /always little-endian/],
      [["lib.ndp", "x.npy"], /a \.npy file holds one array, and there are 9/],
      [["lib.ndp", "x.npy", "--compress"], /--compress\/--codec applies to \.ndp and \.npz output/],
      [["lib.ndp", "x.txt"], /cannot tell the format of .*x\.txt from its extension/],
      [["lib.ndp", "x.ndp", "--alignment", "100"], /'--alignment <bytes>' argument '100' is invalid\. must be a power of two from 8 to 65536/],
      [["lib.ndp", "x.ndp", "--codec", "zstd"], /argument 'zstd' is invalid/],
      [["lib.ndp", "x.ndp", "--no-compress", "--codec", "deflate"], /contradict/],
      [["lib.ndp", "x.npz", "--compress", "--codec", "none"], /--compress and --codec none contradict/],
      [["lib.ndp", "x.safetensors", "--level", "9"], /--level applies to \.ndp and \.npz output, not safetensors/],
      [["lib.ndp", "x.npz", "--no-compress", "--level", "9"], /--level is for compressed arrays/],
    ];
    for (const [args, pattern] of cases) {
      const result = await runCli(["convert", ...args.map((a, i) => (i < 2 ? tmp.path(a) : a))]);
      expect(result.code, args.join(" ")).toBe(2);
      expect(errorLineOf(result)).toMatch(pattern);
      expect(result.stderr).toContain("(INVALID_ARGUMENT)");
      expect(existsSync(tmp.path(args[1]!))).toBe(false);
    }
    const complex = await runCli(["convert", tmp.path("lib.ndp"), tmp.path("x.safetensors")]);
    expect(complex.code).toBe(0);
    await save(tmp.path("c128.ndp"), { z: { data: Float64Array.of(1, 2), dtype: "complex128" } });
    const refused = await runCli(["convert", tmp.path("c128.ndp"), tmp.path("z.safetensors")]);
    expect(refused.code).toBe(2);
    expect(errorLineOf(refused)).toBe(`ndpack convert: ${tmp.path("z.safetensors")}: array "z": dtype complex128 has no safetensors equivalent (UNKNOWN_DTYPE)`);
  });

  test("a failure leaves the output as it was: a damaged .npz member fails at its CRC-32 (exit 2)", async () => {
    const damaged = readFileSync(tmp.path("py.npz"));
    damaged[fromNpz(damaged, { voidDtype: "bfloat16" }).arrays.get("img")!.offset + 10]! ^= 0xff; // inside img's data
    writeFileSync(tmp.path("damaged.npz"), damaged);
    writeFileSync(tmp.path("kept.safetensors"), "previous contents");
    const result = await runCli(["convert", tmp.path("damaged.npz"), tmp.path("kept.safetensors"), "--void-dtype", "bfloat16"]);
    expect(result.code).toBe(2);
    expect(errorLineOf(result)).toMatch(/^ndpack convert: .*damaged\.npz: zip: member "img\.npy": CRC-32 mismatch, the member is damaged .*\(CHECKSUM\)$/);
    expect(readFileSync(tmp.path("kept.safetensors"), "utf8")).toBe("previous contents");
    const missing = await runCli(["convert", tmp.path("missing.ndp"), tmp.path("x.ndp")]);
    expect(missing.code).toBe(1);
    expect(errorLineOf(missing)).toMatch(/cannot open .*missing\.ndp: ENOENT.*\(IO_ERROR\)$/);
  });
});

describe("progress bar: on standard error, only on a terminal for large inputs, or with --progress", () => {
  test("silent on a pipe; --progress forces it; --no-progress silences a terminal", async () => {
    await save(tmp.path("large.ndp"), { zeros: new Uint8Array(80 << 20), ones: new Float32Array(1 << 20).fill(1) });
    const quiet = await runCli(["convert", tmp.path("large.ndp"), tmp.path("large.npz")]);
    expect([quiet.code, quiet.stderr]).toEqual([0, ""]);
    const forced = await runCli(["convert", tmp.path("lib.ndp"), tmp.path("small.npz"), "--progress"]);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/\rwriting small\.npz \[#+\] 100%  \d+ bytes of \d+ bytes/);
    expect(forced.stderr.endsWith("\n")).toBe(true);
    // A terminal: `script` runs the command with a pseudo-terminal as its standard error.
    const tty = (args: string) => spawnSync("script", ["-qec", `node ${CLI} convert ${args}`, "/dev/null"], { encoding: "utf8" });
    const shown = tty(`${tmp.path("large.ndp")} ${tmp.path("large2.npz")}`);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toMatch(/writing large2\.npz \[#{10,}\] 100%  84\.0 MiB of 84\.0 MiB/);
    const small = tty(`${tmp.path("lib.ndp")} ${tmp.path("small2.npz")}`);
    expect(small.stdout).not.toContain("%");
    const silenced = tty(`${tmp.path("large.ndp")} ${tmp.path("large3.npz")} --no-progress`);
    expect(silenced.stdout).not.toContain("%");
    expect(statSync(tmp.path("large3.npz")).size).toBe(statSync(tmp.path("large2.npz")).size);
    // pack's bar too: its inputs' bytes (84 MiB), not their count of arrays, pass the 64 MiB mark.
    const packed = spawnSync("script", ["-qec", `node ${CLI} pack ${tmp.path("packed.ndp")} ${tmp.path("large.ndp")}`, "/dev/null"], { encoding: "utf8" });
    expect(packed.status).toBe(0);
    expect(packed.stdout).toMatch(/writing packed\.ndp \[#{10,}\] 100%/);
  });
});

describe("Python reads what the command line wrote", () => {
  test("Python reads every output: numpy.load and safetensors for .npy/.npz/.safetensors, spec/python/ndpack/reference.py for .ndp", () => {
    expect(forPython.length).toBeGreaterThanOrEqual(6);
    const report = runInteropPython(tmp.dir, forPython, []);
    expect(report.mismatches).toEqual([]);
    expect(report.checked).toBeGreaterThan(40);
    const seen = describeWithNumpy(ndpForPython.map(({ path, source }) => ({ path, name: source.name })));
    expect(seen.length).toBeGreaterThanOrEqual(SOURCES.length * 3);
    ndpForPython.forEach(({ path, source }, i) => {
      expect({ shape: seen[i]!.shape, c: seen[i]!.hex }, `${path}: ${source.name}`).toEqual({ shape: source.shape, c: expected(source).c });
    });
  });
});
