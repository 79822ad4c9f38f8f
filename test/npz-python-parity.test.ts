/**
 * .npz files through `open` in both languages: Python's `ndpack.open` (spec/python/ndpack/_npz.py
 * and _zip.py) reads a .npz file as TypeScript's reader does (src/formats/npz.ts, src/interop/zip.ts
 * and npz.ts), so both give the same arrays (names in order, dtypes, shapes, orders, byte orders,
 * values), metadata and ignored members for the files numpy and ndpack write, and the same code, at
 * open, at each array's read or in verify's report, for every damaged one: each byte of the end
 * records, the central records and the local headers set to a few values, the first bytes of each
 * member's content too (all of them for two deflated members longer than their .npy headers: where
 * both stop inflating a member's head), cuts, appended bytes, flipped content bytes, and handmade archives for the
 * other refusals (duplicate names, another method, a deflate bomb, every way `__ndpack__.json` can
 * be wrong).
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { NdpackError } from "../src/errors.js";
import { toNpz } from "../src/interop/index.js";
import { readZipDirectory } from "../src/interop/zip.js";
import { open } from "../src/node/index.js";
import { tempDir } from "./helpers/node-files.js";
import { NUMPY_ARRAYS_PY } from "./helpers/numpy-arrays.js";
import { runPython, runPythonInBackground } from "./helpers/python-env.js";
import { dataBytes } from "./helpers/set-files.js";

const dir = tempDir("ndpack-npz-parity-");
afterAll(() => dir.remove());

/**
 * The files numpy (and Python's zipfile, and a few bytes written by hand) make: every dtype ndpack
 * reads, big-endian, Fortran order, 0-d, empty, many members, names outside ASCII, ml_dtypes'
 * bfloat16 as numpy saves it (a void descr), other members, directories, duplicate names, bzip2,
 * an empty archive, a deflate bomb, and `__ndpack__.json` right and wrong.
 */
const WRITE = `
import io, struct, sys, warnings, zipfile, zlib
import ml_dtypes, numpy as np
out = sys.argv[1]
${NUMPY_ARRAYS_PY}
arrays.update({"u4F": np.asfortranarray(np.arange(24, dtype=">u4").reshape(2, 3, 4)), "i1": np.array([-128, 127], "i1")})
np.savez(f"{out}/np-stored.npz", **arrays)
np.savez_compressed(f"{out}/np-compressed.npz", **arrays)
small = {"a": np.arange(6, dtype="<f4").reshape(2, 3), "b": np.array([1, -2], ">i2"), "c": np.array(7, "u1")}
np.savez(f"{out}/np-small-stored.npz", **small)
np.savez_compressed(f"{out}/np-small-compressed.npz", **small)
np.savez_compressed(f"{out}/np-zeros-compressed.npz", z=np.zeros(100_000, "u1"), r=(np.arange(5_000) * 7919 % 251).astype("u1"))
np.savez(f"{out}/np-many.npz", **{f"m{i}": np.arange(i % 7, dtype="i4") for i in range(300)})
np.savez(f"{out}/np-names.npz", **{"é": np.arange(3), "名前": np.ones(2), "a.b/c": np.zeros(1)})
bf16 = np.array([1, -2, 0.5, 3], ml_dtypes.bfloat16)
np.savez(f"{out}/np-void.npz", w=bf16)
np.savez(f"{out}/np-void-void-option.npz", w=bf16)

def npy(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()

def zipped(name, members, method=zipfile.ZIP_STORED):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate name
        with zipfile.ZipFile(f"{out}/{name}", "w", method) as z:
            for member, data in members:
                z.writestr(member, data)

zipped("zip-ignored.npz", [("a.npy", npy(np.arange(3))), ("readme.txt", b"hi"), ("dir/", b""), ("dir/b.npy", npy(np.ones(2)))])
zipped("zip-duplicate.npz", [("a.npy", npy(np.arange(3))), ("a.npy", npy(np.arange(2)))])
zipped("zip-bzip2.npz", [("a.npy", npy(np.arange(3)))], zipfile.ZIP_BZIP2)
zipped("zip-empty.npz", [])
zipped("zip-not-npy.npz", [("a.npy", b"PK not a .npy file")])
# Arrays named as another member: numpy.load reads that member for them (ndpack reads the names the zip holds).
zipped("zip-key-is-member.npz", [("a", npy(np.arange(2))), ("a.npy", npy(np.arange(3)))])
zipped("zip-key-is-array-member.npz", [("a.npy", npy(np.arange(2))), ("a.npy.npy", npy(np.arange(3)))])
ndpack_json = {
    "ok": '{"metadata": {"k": 1, "s": "x"}, "dtypes": {"w": "bfloat16"}}',
    "bad-json": '{"metadata": {}',
    "one-key": '{"metadata": {}}',
    "extra-key": '{"metadata": {}, "dtypes": {}, "x": "y"}',
    "unknown-dtype": '{"metadata": {}, "dtypes": {"w": "bfloat17"}}',
    "dtype-number": '{"metadata": {}, "dtypes": {"w": 3}}',
    "missing-array": '{"metadata": {}, "dtypes": {"w": "bfloat16", "v": "int8"}}',
    "mismatch": '{"metadata": {}, "dtypes": {"w": "float16"}}',
    "item-size": '{"metadata": {}, "dtypes": {"w": "float8_e5m2"}}',
    "metadata-list": '{"metadata": [], "dtypes": {"w": "bfloat16"}}',
    "dtypes-list": '{"metadata": {}, "dtypes": []}',
    "duplicate-key": '{"metadata": {}, "metadata": {}, "dtypes": {}}',
    "numbers": '{"metadata": {"x": 1.5e300, "y": -2, "z": [0.25, 1e-7]}, "dtypes": {"w": "bfloat16"}}',
    "bad-number": '{"metadata": {}, "dtypes": {}, "n": 1.5}',
    "leading-space": ' {"metadata": {}, "dtypes": {"w": "bfloat16"}}',
    "not-utf8": b'{"metadata": {"k": "\\xff"}, "dtypes": {"w": "bfloat16"}}',
    "array": '[]',
}
for label, text in ndpack_json.items():
    zipped(f"ndpack-json-{label}.npz", [("w.npy", npy(bf16)), ("__ndpack__.json", text)])
zipped("ndpack-json-deflated.npz", [("w.npy", npy(bf16)), ("__ndpack__.json", ndpack_json["ok"])], zipfile.ZIP_DEFLATED)

def deflate(content):
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(content) + compressor.flush()

def raw_zip(name, stored, method, size, crc, member=b"a.npy"):
    """One member, a.npy unless named, of the stored bytes, sizes and CRC given, whatever they hold."""
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(stored), size, len(member), 0) + member
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(stored), size, len(member), 0, 0, 0, 0, 0, 0) + member
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(stored), 0)
    with open(f"{out}/{name}", "wb") as fh:
        fh.write(local + stored + central + end)

bomb = npy(np.zeros(100, "u1")) + bytes(1_000_000)  # declared: its .npy header and 100 bytes
raw_zip("raw-bomb.npz", deflate(bomb), 8, 228, zlib.crc32(bomb[:228]))
good = npy(np.arange(10, dtype="u1"))
raw_zip("raw-short-stream.npz", deflate(good), 8, len(good) + 5, zlib.crc32(good))
raw_zip("raw-bad-crc.npz", good, 0, len(good), zlib.crc32(good) ^ 1)
raw_zip("raw-bad-crc-deflated.npz", deflate(good), 8, len(good), zlib.crc32(good) ^ 1)
# A name holding U+0000, which Python's zipfile cuts (to "w"; ndpack keeps it whole): zipfile cannot write it.
raw_zip("raw-nul-name.npz", good, 0, len(good), zlib.crc32(good), b"w\\x00a.npy")
# A stream damaged after the .npy header (an invalid block type): inflating a member's head stops
# once it has the header's bytes, so the damage is found when the member is read, not at open.
longer = npy(np.arange(1000, dtype="u1"))
compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
raw_zip("raw-damaged-after-head.npz", compressor.compress(longer) + compressor.flush(zlib.Z_FULL_FLUSH) + b"\\x07", 8, len(longer), zlib.crc32(longer))
# 1000 empty stored blocks before the stream: the header is found in the second step.
raw_zip("raw-empty-blocks-first.npz", b"\\x00\\x00\\x00\\xff\\xff" * 1000 + deflate(longer), 8, len(longer), zlib.crc32(longer))
`;

/** What Python's ndpack.open makes of each path (from stdin): each array's info and sha256 (or read's code), verify's codes, metadata and ignored members; or the code open fails with. */
const READ = `
import hashlib, json, sys
import ndpack
out = {}
for path in json.load(sys.stdin):
    try:
        r = ndpack.open(path, **({"void_dtype": "bfloat16"} if "void-option" in path else {}))
    except ndpack.NdpackError as ex:
        out[path] = {"code": ex.code}
        continue
    with r:
        arrays = []
        for name in r:
            info = r.info(name)
            try:
                a = r.read(name)
                native = a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))
                value = hashlib.sha256(native.tobytes(order="F" if info.order == "F" else "C")).hexdigest()
            except ndpack.NdpackError as ex:
                value = {"code": ex.code}
            arrays.append([name, info.dtype, list(info.shape), info.order, info.byte_order, value])
        verified = [[v["name"], v["ok"], v["error"] and v["error"]["code"]] for v in r.verify()]
        out[path] = {"arrays": arrays, "verify": verified, "metadata": r.metadata, "ignored": r.ignored}
print(json.dumps(out))
`;

type Outcome = { code: string } | { arrays: unknown[]; verify: unknown[]; metadata: unknown; ignored: string[] };

/** JSON with object keys sorted: metadata compared as values (Python lists keys as written, JavaScript integer-like ones first). */
function canonical(value: unknown): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted) : v !== null && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v;
  return JSON.stringify(sorted(value));
}

async function nodeOpen(path: string): Promise<Outcome> {
  const codeOf = (error: unknown) => {
    if (error instanceof NdpackError) return { code: error.code };
    throw error;
  };
  let reader;
  try {
    reader = await open(path, path.includes("void-option") ? { voidDtype: "bfloat16" } : {});
  } catch (error) {
    return codeOf(error);
  }
  try {
    const arrays = [];
    for (const name of reader.names) {
      const info = reader.info(name);
      const value = await reader.read(name).then((array) => createHash("sha256").update(dataBytes(array)).digest("hex"), codeOf);
      arrays.push([name, info.dtype, [...info.shape], info.order, info.byteOrder, value]);
    }
    const verified = (await reader.verify()).arrays.map((a) => [a.name, a.ok, a.error?.code ?? null]);
    return { arrays, verify: verified, metadata: canonical(reader.metadata), ignored: [...reader.ignored] };
  } finally {
    await reader.close();
  }
}

/** The .npz files of ndpack's writer: bfloat16 and float8 (void members named in `__ndpack__.json`), metadata, stored or deflated, ZIP64 or not. */
function writeTsFiles(): void {
  const arrays = {
    weights: { data: Float32Array.from({ length: 12 }, (_, i) => i / 3), shape: [3, 4] },
    ids: BigInt64Array.of(-3n, 0n, 9007199254740993n),
    bf: { data: Uint16Array.of(0x3f80, 0x4000, 0xbf80, 0x7fc0), dtype: "bfloat16" as const, shape: [2, 2] },
    f8: { data: Uint8Array.of(0x38, 0x40, 0xc0), dtype: "float8_e4m3fn" as const },
    e5: { data: Uint8Array.of(0x3c, 0x40), dtype: "float8_e5m2" as const },
    flag: { data: Uint8Array.of(1), dtype: "bool" as const, shape: [] },
  };
  const small = { w: { data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3] }, bf: { data: Uint16Array.of(0x3f80, 0x4000), dtype: "bfloat16" as const } };
  const metadata = { step: 3, note: "x", "10": "integer-like key", nested: { a: [1, 2.5, null, true] } };
  const files: Record<string, Uint8Array> = {
    "ts-stored": toNpz(arrays, { metadata }),
    "ts-compressed": toNpz(arrays, { metadata, compress: true }),
    "ts-zip64": toNpz(arrays, { metadata, forceZip64: true }),
    "ts-zip64-compressed": toNpz(arrays, { metadata, compress: true, forceZip64: true }),
    "ts-plain": toNpz({ x: Float64Array.of(1, 2, 3) }),
    "ts-small-stored": toNpz(small, { metadata: { k: 1 } }),
    "ts-small-zip64-compressed": toNpz(small, { metadata: { k: 1 }, compress: true, forceZip64: true }),
  };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir.path, `${name}.npz`), bytes);
}

/** Damaged copies of `base`: its structure's bytes and each member's first `contentBytes` set to a few values, cuts, appended bytes, flipped content bytes. */
function damage(base: string, write: (name: string, bytes: Uint8Array) => void, contentBytes = 12): void {
  const bytes = readFileSync(join(dir.path, `${base}.npz`));
  const entries = readZipDirectory(bytes, { maxEntries: 1 << 20 });
  const directoryStart = Math.max(...entries.map((e) => e.dataStart + e.compressedSize));
  // Every byte of the local headers (names and extra fields included), the central directory and
  // the end records; the first bytes of each member's content (a .npy prefix, or a deflate stream's start).
  const positions = new Set<number>();
  for (const e of entries) {
    for (let at = e.localOffset; at < e.dataStart; at++) positions.add(at);
    for (let at = e.dataStart; at < Math.min(e.dataStart + contentBytes, e.dataStart + e.compressedSize); at++) positions.add(at);
  }
  for (let at = directoryStart; at < bytes.length; at++) positions.add(at);
  for (const at of positions) {
    // Zero, all ones, the lowest bit, the UTF-8 name flag's bit (0x0800 of the flags) and the top bit flipped.
    for (const value of new Set([0x00, 0xff, bytes[at]! ^ 0x01, bytes[at]! ^ 0x08, bytes[at]! ^ 0x80])) {
      if (value === bytes[at]) continue;
      const changed = Uint8Array.from(bytes);
      changed[at] = value;
      write(`${base}-at${at}-${value}`, changed);
    }
  }
  // Cuts: the first bytes, every 7th byte, every byte of the directory and end records.
  for (let length = 0; length < bytes.length; length += length < 40 || length >= directoryStart - 8 ? 1 : 7) write(`${base}-cut${length}`, bytes.subarray(0, length));
  const endRecord = bytes.subarray(bytes.length - 22);
  for (const [name, extra] of [["zero", [0]], ["22-zeros", new Array(22).fill(0)], ["end-record-again", [...endRecord]], ["text", [...Buffer.from("comment")]]] as const) {
    write(`${base}-append-${name}`, Uint8Array.from([...bytes, ...extra]));
  }
  // Content bytes flipped: each member's middle and last byte (stored: CHECKSUM; deflated: CODEC_ERROR or CHECKSUM).
  for (const e of entries) {
    for (const at of [e.dataStart + (e.compressedSize >> 1), e.dataStart + e.compressedSize - 1]) {
      if (e.compressedSize === 0) continue;
      const changed = Uint8Array.from(bytes);
      changed[at]! ^= 0x01;
      write(`${base}-flip${at}`, changed);
    }
  }
}

test("numpy's and ndpack's .npz files read the same in both languages, and every damaged one fails with the same code at the same step", async () => {
  runPython("-c", [WRITE, dir.path]);
  writeTsFiles();
  const paths = readdirSync(dir.path).filter((name) => name.endsWith(".npz")).sort().map((name) => join(dir.path, name));
  const written = new Set(paths);
  const write = (name: string, bytes: Uint8Array) => {
    const path = join(dir.path, `${name}.npz`);
    writeFileSync(path, bytes);
    if (!written.has(path)) paths.push(path); // a member's middle byte may be its last
    written.add(path);
  };
  for (const base of ["np-small-stored", "np-small-compressed", "ts-small-stored", "ts-small-zip64-compressed", "zip-ignored"]) damage(base, write);
  damage("np-zeros-compressed", write, 4096);

  // Python reads every file while Node does: both cores busy.
  const pythonOutcomes = runPythonInBackground("-c", [READ], JSON.stringify(paths));
  const nodeOutcomes: Outcome[] = [];
  for (const path of paths) nodeOutcomes.push(await nodeOpen(path));
  const python = JSON.parse(await pythonOutcomes) as Record<string, Outcome>;
  const codes = new Set<string>();
  const differ: string[] = [];
  let opened = 0;
  for (const [i, path] of paths.entries()) {
    const node = nodeOutcomes[i]!;
    const py = python[path]!;
    if ("metadata" in py) py.metadata = canonical(py.metadata);
    if ("code" in node) codes.add(node.code);
    else {
      opened++;
      for (const [, , , , , value] of node.arrays as unknown[][]) if (typeof value === "object") codes.add((value as { code: string }).code);
      for (const [, , code] of node.verify as unknown[][]) if (typeof code === "string") codes.add(`verify:${code}`);
    }
    if (JSON.stringify(node) !== JSON.stringify(py)) differ.push(`${path.slice(dir.path.length + 1)}: node ${JSON.stringify(node)}, python ${JSON.stringify(py)}`);
  }
  expect(differ.slice(0, 20)).toEqual([]);
  // Names numpy.load reads as other names: both read the names the zip holds.
  const namesOf = (file: string) => {
    const outcome = python[join(dir.path, file)]!;
    return "arrays" in outcome ? [outcome.arrays.map((a) => (a as unknown[])[0]), outcome.ignored] : outcome;
  };
  expect([namesOf("raw-nul-name.npz"), namesOf("zip-key-is-member.npz"), namesOf("zip-key-is-array-member.npz")]).toEqual([[["w\0a"], []], [["a"], ["a"]], [["a", "a.npy"], []]]);
  // Opened, with the damage found when the member is read.
  expect(python[join(dir.path, "raw-damaged-after-head.npz")]).toMatchObject({ arrays: [["a", "uint8", [1000], "C", "little", { code: "CODEC_ERROR" }]], verify: [["a", false, "CODEC_ERROR"]] });
  expect(paths.length).toBeGreaterThan(10_000);
  expect(opened).toBeGreaterThan(4000); // the bases, and the changes that leave a file a zip reader reads
  // Every refusal of the zip, .npy and __ndpack__.json readers, at open, read and verify.
  expect([...codes].sort()).toEqual([
    "BAD_MAGIC", "BAD_NUMBER", "CHECKSUM", "CODEC_ERROR", "DUPLICATE_KEY", "DUPLICATE_NAME", "HEADER_INVALID",
    "HEADER_TOO_LARGE", "LIMIT_EXCEEDED", "OUT_OF_BOUNDS", "OVERLAP", "SIZE_MISMATCH", "TRAILING_BYTES", "TRUNCATED",
    "UNKNOWN_DTYPE", "UNSUPPORTED_CODEC", "UNSUPPORTED_VERSION", "verify:CHECKSUM", "verify:CODEC_ERROR",
  ]);
}, 600_000);
