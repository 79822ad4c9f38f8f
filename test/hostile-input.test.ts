/**
 * Issue 16, hostile input part 2: files valid under the default limits (or nearly so) that cost
 * time and memory out of proportion to their bytes. One test per finding, each naming the input and
 * the outcome it must have. Inputs are built here as bytes, from FORMAT.md and the foreign formats'
 * specs; CLI commands run as child processes of the built bin. No clock is read: a hang is caught
 * by the test's timeout, a bound by what the code does (a typed error before an allocation).
 */
import { execFileSync } from "node:child_process";
import { closeSync, ftruncateSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decode, encode, isNdpackError, type NdpackError } from "../src/index.js";
import { fromNdpack, fromNpy, fromNpz, toNpz } from "../src/interop/index.js";
import { load, open } from "../src/node/index.js";
import { formatTable } from "../src/cli/output.js";
import { requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";

const tmp = tempDir("hostile");
beforeAll(requireBuiltCli);
afterAll(() => tmp.remove());

const encoder = new TextEncoder();

/** An ndpack file (FORMAT.md §1–2) whose header is `text` (padded with spaces to alignment 8) and whose data section is `data`. */
function ndpackBytes(text: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const raw = encoder.encode(text);
  const headerLength = raw.length + ((8 - ((20 + raw.length) % 8)) % 8);
  const out = new Uint8Array(20 + headerLength + data.length).fill(0x20, 20, 20 + headerLength);
  out.set([0x89, 0x4e, 0x44, 0x50, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(out.buffer);
  view.setUint16(8, 1, true);
  view.setUint32(12, headerLength, true);
  out.set(raw, 20);
  view.setUint32(16, crc32(out.subarray(20, 20 + headerLength), crc32(out.subarray(8, 16))), true);
  out.set(data, 20 + headerLength);
  return out;
}

/** A header of `count` empty uint8 arrays named by their index in base 36, and `metadata` (JSON text). */
function manyArraysHeader(count: number, metadata = "{}"): string {
  const entries = new Array<string>(count);
  for (let i = 0; i < count; i++) entries[i] = `{"name":"${i.toString(36)}","dtype":"uint8","shape":[0],"order":"C","byteOrder":"little","offset":0,"byteLength":0}`;
  return `{"alignment":8,"checksum":"none","dataLength":0,"metadata":${metadata},"arrays":[${entries.join(",")}]}`;
}

function codeOf(run: () => unknown): NdpackError {
  try {
    run();
  } catch (error) {
    if (isNdpackError(error)) return error;
    throw error;
  }
  throw new Error("expected an NdpackError");
}

async function asyncCodeOf(run: () => Promise<unknown>): Promise<NdpackError> {
  try {
    await run();
  } catch (error) {
    if (isNdpackError(error)) return error;
    throw error;
  }
  throw new Error("expected an NdpackError");
}

describe("many arrays", () => {
  test("inspect's table of 300,000 rows: no 'Maximum call stack size exceeded' (Math.max(...rows))", () => {
    const rows = Array.from({ length: 300_000 }, (_, i) => [String(i), "uint8"]);
    const table = formatTable([{ title: "name" }, { title: "dtype" }], rows);
    expect(table.split("\n")).toHaveLength(300_001);
    expect(table.split("\n")[1]).toBe("0       uint8");
  });

  test("LIMIT_EXCEEDED (maxArrays): 100,001 arrays, one more than the default (a million cost 960 MiB to open); maxArrays lifts it", () => {
    const bytes = ndpackBytes(manyArraysHeader(100_001));
    const error = codeOf(() => decode(bytes));
    expect([error.code, error.limit]).toEqual(["LIMIT_EXCEEDED", "maxArrays"]);
    expect(error.message).toMatch(/raise the maxArrays option/);
    expect(decode(bytes, { maxArrays: 100_001, maxHeaderNodes: 1_000_010 }).names).toHaveLength(100_001);
  });

  test("100,000 empty arrays (the default maxArrays): open, verify, inspect, show and convert to .npz, through the library and the CLI", async () => {
    const path = tmp.path("many.ndp");
    writeFileSync(path, ndpackBytes(manyArraysHeader(100_000)));
    const reader = await open(path);
    expect(reader.names).toHaveLength(100_000);
    expect((await reader.verify()).ok).toBe(true);
    await reader.close();

    const verified = await runCli(["verify", path]);
    expect(verified.code, verified.stderr).toBe(0);
    const inspected = await runCli(["inspect", path, "--json"]);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(JSON.parse(inspected.stdout).arrays).toHaveLength(100_000);
    const shown = await runCli(["show", path, (99_999).toString(36)]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain("[]");
    const converted = await runCli(["convert", path, tmp.path("many.npz")]);
    expect(converted.code, converted.stderr).toBe(0);
    const npz = fromNpz(readFileSync(tmp.path("many.npz")));
    expect(npz.arrays.size).toBe(100_000);
    expect(npz.arrays.get((99_999).toString(36))!.shape).toEqual([0]);
  }, 300_000);

  test("the writer's HEADER_TOO_LARGE names its own output, not the input", () => {
    const error = codeOf(() => encode({ a: new Uint8Array(1) }, { metadata: { text: "x".repeat(101 * 1024 * 1024) } }));
    expect([error.code, error.limit]).toEqual(["HEADER_TOO_LARGE", "maxHeaderBytes"]);
    expect(error.message).toMatch(/the header would be \d+ bytes, more than readers accept by default/);
  });
});

describe("metadata cheap in bytes, costly parsed: LIMIT_EXCEEDED (maxHeaderNodes) while parsing", () => {
  const shapes: [string, string][] = [
    ["a million and one zeros", `[${"0,".repeat(1_000_000)}0]`],
    ["a million small objects", `[${"{},".repeat(999_999)}{}]`],
    ["a million keys", `{${Array.from({ length: 1_000_000 }, (_, i) => `"${i.toString(36)}":0`).join(",")}}`],
  ];
  for (const [what, value] of shapes) {
    test(what, async () => {
      const bytes = ndpackBytes(`{"alignment":8,"checksum":"none","dataLength":0,"metadata":{"m":${value}},"arrays":[]}`);
      const error = codeOf(() => decode(bytes));
      expect([error.code, error.limit, error.expected]).toEqual(["LIMIT_EXCEEDED", "maxHeaderNodes", 1_000_000]);
      expect(error.message).toMatch(/raise the maxHeaderNodes option/);
      const path = tmp.path("nodes.ndp");
      writeFileSync(path, bytes);
      expect((await asyncCodeOf(() => open(path))).limit).toBe("maxHeaderNodes");
      expect(decode(bytes, { maxHeaderNodes: 1_000_010 }).metadata).toHaveProperty("m");
    }, 60_000);
  }
});

describe("load: steps 1–21 from the first read, before the file's size is allocated", () => {
  /** A 16 GiB sparse file: the header of `bytes`, then zeros; more than this process can allocate at once. */
  function sparse(name: string, bytes: Uint8Array, length: number): string {
    const path = tmp.path(name);
    const fd = openSync(path, "w");
    writeSync(fd, bytes);
    ftruncateSync(fd, length);
    closeSync(fd);
    return path;
  }
  const SIXTEEN_GIB = 16 * 1024 ** 3;

  test("HEADER_CHECKSUM: a 16 GiB file whose header CRC is wrong", async () => {
    const bytes = ndpackBytes(`{"alignment":8,"checksum":"none","dataLength":${SIXTEEN_GIB},"metadata":{},"arrays":[{"name":"a","dtype":"uint8","shape":[${SIXTEEN_GIB}],"order":"C","byteOrder":"little","offset":0,"byteLength":${SIXTEEN_GIB}}]}`);
    const path = sparse("bad-crc.ndp", bytes, bytes.length + SIXTEEN_GIB);
    // Intact, the same file is refused only for its size (one typed array cannot hold it).
    expect((await asyncCodeOf(() => load(path))).code).toBe("LIMIT_EXCEEDED");
    bytes[16]! ^= 1;
    writeFileSync(path, bytes, { flag: "r+" });
    expect((await asyncCodeOf(() => load(path))).code).toBe("HEADER_CHECKSUM");
  });

  test("TRAILING_BYTES: an empty file followed by 16 GiB of zeros", async () => {
    const bytes = ndpackBytes(manyArraysHeader(1));
    const error = await asyncCodeOf(() => load(sparse("trailing.ndp", bytes, SIXTEEN_GIB)));
    expect([error.code, error.actual]).toEqual(["TRAILING_BYTES", SIXTEEN_GIB]);
  });
});

describe("show of an empty array whose other dimensions are huge: no allocation proportional to them", () => {
  function npyBytes(shape: string): Uint8Array {
    let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
    dict += " ".repeat(63 - ((10 + dict.length) % 64)) + "\n";
    const out = new Uint8Array(10 + dict.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    new DataView(out.buffer).setUint16(8, dict.length, true);
    out.set(encoder.encode(dict), 10);
    return out;
  }
  function safetensorsBytes(shape: string): Uint8Array {
    const text = encoder.encode(`{"e":{"dtype":"F32","shape":${shape},"data_offsets":[0,0]}}`);
    const out = new Uint8Array(8 + text.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
    out.set(text, 8);
    return out;
  }
  const ndp = (shape: string) => ndpackBytes(`{"alignment":8,"checksum":"none","dataLength":0,"metadata":{},"arrays":[{"name":"e","dtype":"float32","shape":${shape},"order":"C","byteOrder":"little","offset":0,"byteLength":0}]}`);
  const cases: [string, Uint8Array][] = [
    ["e.ndp", ndp("[0,4294967296]")],
    ["e.npy", npyBytes("(0, 4294967296)")],
    ["e.safetensors", safetensorsBytes("[0,4294967296]")],
    ["f.ndp", ndp("[100000000,0]")],
  ];
  for (const [name, bytes] of cases) {
    test(`${name}: prints [] and count 0 (was RangeError "Invalid array length")`, async () => {
      const path = tmp.path(name);
      writeFileSync(path, bytes);
      const result = await runCli(["show", path, "e"]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^\[\]$/m);
      expect(result.stdout).toContain("count 0");
    }, 60_000);
  }
});

describe("non-regular files: INVALID_ARGUMENT before any read, never a hang", () => {
  test("a FIFO with no writer given to every CLI command that reads", async () => {
    const fifo = tmp.path("fifo.ndp");
    execFileSync("mkfifo", [fifo]);
    const other = tmp.path("other.ndp");
    writeFileSync(other, ndpackBytes(manyArraysHeader(1)));
    for (const args of [["inspect", fifo], ["verify", fifo], ["show", fifo, "0"], ["convert", fifo, tmp.path("out.npz")], ["extract", fifo, "-o", tmp.path("x")], ["diff", other, fifo], ["pack", tmp.path("p.ndp"), fifo]]) {
      const result = await runCli(args);
      expect(result.code, args.join(" ")).not.toBe(0);
      expect(result.stderr, args.join(" ")).toMatch(/INVALID_ARGUMENT|not a regular file|FIFO/i);
    }
    // The .npy reader of a whole buffer was never given the FIFO: fromNpy takes bytes.
    expect(codeOf(() => fromNpy(new Uint8Array(0))).code).toBe("TRUNCATED");
  }, 120_000);
});

describe("extract: names too long for a file name", () => {
  test("4,096-byte names become <prefix>%~<hash>.npy, distinct, printed; never IO_ERROR (ENAMETOOLONG)", async () => {
    const long = "a".repeat(4096);
    const longer = `${"a".repeat(300)}/${"b".repeat(3000)}`;
    const also = "é".repeat(2000);
    const path = tmp.path("names.ndp");
    writeFileSync(path, encode({ [long]: Uint8Array.of(1), [longer]: Uint8Array.of(2), [also]: Uint8Array.of(3), short: Uint8Array.of(4) }));
    const out = tmp.path("names");
    const result = await runCli(["extract", path, "-o", out]);
    expect(result.code, result.stderr).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toHaveLength(4);
    expect(files).toContain("short.npy");
    for (const file of files.filter((f) => f !== "short.npy")) {
      expect(file).toMatch(/^[^]+%~[0-9a-f]{16}\.npy$/);
      expect(encoder.encode(file).length).toBeLessThanOrEqual(255);
    }
    expect(files.filter((f) => f.startsWith("a".repeat(200)))).toHaveLength(2);
    // Each cut name is reported with the file it went to, and the file holds that array's values.
    for (const [name, value] of [[long, 1], [longer, 2], [also, 3]] as const) {
      const line = result.stderr.split("\n").find((l) => l.includes(`array ${name} is too long`))!;
      const file = /written as (.+)$/.exec(line)![1]!;
      expect(result.stdout.split("\n")).toContain(file);
      expect(Array.from(fromNpy(readFileSync(file)).data as Uint8Array)).toEqual([value]);
    }
  }, 60_000);
});

describe("DEFLATE bombs: eager readers bound what they inflate in all, before inflating anything", () => {
  const GIB = 1024 ** 3;
  test("LIMIT_EXCEEDED (maxTotalDecodedBytes): fromNdpack of three deflated arrays of 1 GiB - 1 each (each within maxDecodedBytes), not CODEC_ERROR after inflating", () => {
    const size = GIB - 1;
    const entries = ["a", "b", "c"].map((name, i) => `{"name":"${name}","dtype":"uint8","shape":[${size}],"order":"C","byteOrder":"little","codec":"deflate","offset":${i * 8},"byteLength":8}`);
    // The payloads are not deflate streams at all: inflating any of them would end in CODEC_ERROR.
    const bytes = ndpackBytes(`{"alignment":8,"checksum":"none","dataLength":24,"metadata":{},"arrays":[${entries.join(",")}]}`, new Uint8Array(24).fill(0xff));
    const error = codeOf(() => fromNdpack(bytes, "npz"));
    expect([error.code, error.limit, error.actual]).toEqual(["LIMIT_EXCEEDED", "maxTotalDecodedBytes", 3 * size]);
    expect(error.message).toMatch(/raise the maxTotalDecodedBytes option/);
    // Lifted, the first array is inflated, and its stream is found damaged.
    expect(codeOf(() => fromNdpack(bytes, "npz", { maxTotalDecodedBytes: 4 * GIB })).code).toBe("CODEC_ERROR");
  });

  test("LIMIT_EXCEEDED (maxTotalDecodedBytes): fromNpz of three deflated members each claiming 1 GiB - 1", () => {
    const bytes = toNpz({ a: new Float64Array(3), b: new Float64Array(3), c: new Float64Array(3) }, { compress: true });
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = view.getUint32(bytes.length - 6, true);
    for (let i = 0; i < 3; i++) {
      view.setUint32(at + 24, GIB - 1, true);
      at += 46 + view.getUint16(at + 28, true) + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    }
    const error = codeOf(() => fromNpz(bytes));
    expect([error.code, error.limit]).toEqual(["LIMIT_EXCEEDED", "maxTotalDecodedBytes"]);
    expect(codeOf(() => fromNpz(bytes, { maxTotalDecodedBytes: 4 * GIB })).code).not.toBe("LIMIT_EXCEEDED");
  });
});
