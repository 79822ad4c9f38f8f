/**
 * .npy files through `open` in both languages: Python's `ndpack.open` (spec/python/ndpack/_npy.py)
 * parses the header as TypeScript's reader does (src/interop/npy.ts), so both read the same arrays
 * from files numpy writes (every version, byte order and memory order) and give the same code for
 * every damaged one: each byte of each header set to characters that matter to the grammar, and
 * every cut of the prefix and header.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { NdpackError } from "../src/errors.js";
import { open } from "../src/node/index.js";
import { tempDir } from "./helpers/node-files.js";
import { NUMPY_ARRAYS_PY } from "./helpers/numpy-arrays.js";
import { runPython } from "./helpers/python-env.js";

const dir = tempDir("ndpack-npy-parity-");
afterAll(() => dir.remove());

/** numpy writes the base files: each dtype ndpack reads, big-endian, Fortran order, 0-d, empty, versions 1.0 to 3.0. */
const WRITE = `
import sys, numpy as np
from numpy.lib import format as npf
out = sys.argv[1]
${NUMPY_ARRAYS_PY}
for name, a in arrays.items():
    for version in ((1, 0), (2, 0), (3, 0)) if name in ("f4", "f8F") else ((1, 0),):
        with open(f"{out}/{name}-v{version[0]}.npy", "wb") as fh:
            npf.write_array(fh, a, version=version)
`;

/** What Python's ndpack.open makes of each path: the array (dtype, shape, order, sha256 of its values as little-endian bytes in memory order) or the error code. */
const READ = `
import hashlib, json, sys
import numpy as np
import ndpack
out = {}
for path in sys.argv[1:]:
    try:
        with ndpack.open(path) as r:
            info = r.info("array")
            a = r.read("array")
            raw = a.astype(a.dtype.newbyteorder("<")).tobytes(order="F" if info.order == "F" else "C")
            out[path] = [info.dtype, list(info.shape), info.order, hashlib.sha256(raw).hexdigest()]
    except ndpack.NdpackError as ex:
        out[path] = ex.code
print(json.dumps(out))
`;

async function nodeOpen(path: string): Promise<unknown> {
  try {
    await using reader = await open(path);
    const info = reader.info("array");
    const array = await reader.read("array");
    const bytes = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
    return [info.dtype, [...info.shape], info.order, createHash("sha256").update(bytes).digest("hex")];
  } catch (error) {
    if (error instanceof NdpackError) return error.code;
    throw error;
  }
}

test("numpy's files read the same in both languages, and every damaged header fails with the same code", async () => {
  runPython("-c", [WRITE, dir.path]);
  const bases = ["f4-v1", "f4-v2", "f4-v3", "i8be-v1", "f8F-v1", "f8F-v3", "b1-v1", "c8-v1", "u2empty-v1", "i2scalar-v1", "f2-v1", "u1-v1", "c16be-v1"];
  const paths: string[] = [];
  const write = (name: string, bytes: Uint8Array) => {
    const path = join(dir.path, `${name}.npy`);
    writeFileSync(path, bytes);
    paths.push(path);
  };
  // Characters the header grammar turns on: quotes, brackets, separators, signs, digits, letters, white space, bytes outside ASCII.
  const replacements = [..."'\"(),:{}[]- 0179LTFx\\"].map((c) => c.charCodeAt(0)).concat([0x00, 0x0a, 0x93, 0xff]);
  for (const base of bases) {
    const bytes = readFileSync(join(dir.path, `${base}.npy`));
    paths.push(join(dir.path, `${base}.npy`));
    const version = bytes[6]!;
    const prefix = version === 1 ? 10 : 12;
    const headerEnd = prefix + (version === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8));
    for (let at = 0; at < headerEnd; at++) {
      for (const value of at < prefix || base === "f4-v1" || base === "f8F-v1" ? replacements : replacements.slice(0, 8)) {
        if (bytes[at] === value) continue;
        const changed = Uint8Array.from(bytes);
        changed[at] = value;
        write(`${base}-at${at}-${value}`, changed);
      }
    }
    for (let length = 0; length <= headerEnd + 2; length += at(length, prefix)) write(`${base}-cut${length}`, bytes.subarray(0, length));
    write(`${base}-trailing`, Uint8Array.from([...bytes, 0]));
  }
  // Headers no mutation above makes: a repeated key, numbers past 2^53-1, a negative zero, more
  // dimensions than maxDims, Python 2's long suffix (1.0 only), text outside ASCII (3.0 only).
  const handmade: Record<string, [number, string, number]> = {
    duplicate: [1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8],
    huge: [1, "{'descr': '<f4', 'fortran_order': False, 'shape': (9007199254740992,), }", 0],
    "5000-digits": [1, `{'descr': '<f4', 'fortran_order': False, 'shape': (${"1".repeat(5000)},), }`, 0],
    "huge-product": [1, "{'descr': '<f8', 'fortran_order': False, 'shape': (9007199254740991, 2), }", 0],
    "zero-and-huge": [1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 9007199254740991, 2), }", 0],
    "minus-zero": [1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-0, 3), }", 0],
    "dims-65": [1, `{'descr': '|u1', 'fortran_order': False, 'shape': (${"1, ".repeat(65)}), }`, 1],
    "long-v1": [1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }", 8],
    "long-v3": [3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }", 8],
    "unicode-v3": [3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'é': 1, }", 8],
    "double-quotes": [1, '{"descr": "<i2", "fortran_order": True, "shape": (2, 1), }', 4],
    "no-trailing-comma": [1, "{'descr':'<i2','fortran_order':False,'shape':(2,)}", 4],
    "structured": [1, "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }", 8],
    "void": [1, "{'descr': '|V2', 'fortran_order': False, 'shape': (1,), }", 2],
    "object": [1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 8],
    "string": [1, "{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", 12],
    "one-no-comma": [1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", 8],
    "leading-zero": [1, "{'descr': '<f4', 'fortran_order': False, 'shape': (02,), }", 8],
    "extra-key": [1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1, }", 8],
  };
  for (const [name, [version, text, payload]] of Object.entries(handmade)) {
    const header = new TextEncoder().encode(text);
    const prefix = version === 1 ? 10 : 12;
    const padded = Math.ceil((prefix + header.length + 1) / 64) * 64 - prefix;
    const bytes = new Uint8Array(prefix + padded + payload).fill(0x20, prefix, prefix + padded);
    bytes.set([0x93, ..."NUMPY"].map((c) => (typeof c === "number" ? c : c.charCodeAt(0))), 0);
    bytes[6] = version;
    const view = new DataView(bytes.buffer);
    if (version === 1) view.setUint16(8, padded, true);
    else view.setUint32(8, padded, true);
    bytes.set(header, prefix);
    bytes[prefix + padded - 1] = 0x0a;
    write(`handmade-${name}`, bytes);
  }
  const python = JSON.parse(runPython("-c", [READ, ...paths])) as Record<string, unknown>;
  const codes = new Set(Object.values(python).map((v) => (Array.isArray(v) ? "read" : v)));
  expect([...codes].sort()).toEqual(["BAD_MAGIC", "BAD_NUMBER", "BAD_SHAPE", "DUPLICATE_KEY", "HEADER_INVALID", "HEADER_TOO_LARGE", "LIMIT_EXCEEDED", "TRAILING_BYTES", "TRUNCATED", "UNKNOWN_DTYPE", "UNSUPPORTED_VERSION", "read"]);
  const differ: string[] = [];
  let read = 0;
  for (const path of paths) {
    const node = await nodeOpen(path);
    if (Array.isArray(node)) read++;
    if (JSON.stringify(node) !== JSON.stringify(python[path])) differ.push(`${path.slice(dir.path.length + 1)}: node ${JSON.stringify(node)}, python ${JSON.stringify(python[path])}`);
  }
  expect(differ).toEqual([]);
  expect(paths.length).toBeGreaterThan(5000);
  expect(read).toBeGreaterThan(13); // the bases, and the changes that leave a file numpy reads
}, 120_000);

/** Every cut through the prefix, then every 7th byte of the header. */
function at(length: number, prefix: number): number {
  return length < prefix + 2 ? 1 : 7;
}
