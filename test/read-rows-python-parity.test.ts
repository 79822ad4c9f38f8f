/**
 * `readRows` (TypeScript) and `read_rows` (Python's `ndpack.open`) give the same rows of the same
 * files: shape, order and values (the bytes in the array's order, this machine's byte order), or
 * the same code, for every array of ndpack files of each codec and byte order, .npz files numpy
 * and ndpack write (stored and deflated, F order, big-endian), an F-order .npy file, and damaged
 * compressed payloads, over the same row ranges.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { encode } from "../src/index.js";
import { toNpz } from "../src/interop/index.js";
import { NdpackError } from "../src/errors.js";
import { open } from "../src/node/index.js";
import { tempDir } from "./helpers/node-files.js";
import { NUMPY_ARRAYS_PY } from "./helpers/numpy-arrays.js";
import { runPython } from "./helpers/python-env.js";
import { allArrays, damagedDeflate, rangesOf } from "./helpers/row-arrays.js";
import { dataBytes } from "./helpers/set-files.js";

const dir = tempDir("ndpack-rows-parity-");
afterAll(() => dir.remove());

/** numpy's files: .npz stored and deflated (every dtype ndpack reads, F order of 2 to 4 dimensions, big-endian), an F-order big-endian .npy, and a .npz whose deflated member has a flipped byte. */
const WRITE = `
import io, sys, zipfile
import numpy as np
out = sys.argv[1]
${NUMPY_ARRAYS_PY}
arrays.update({
    "u4F3": np.asfortranarray(np.arange(60, dtype=">u4").reshape(5, 3, 4)),
    "f8F4": np.asfortranarray(np.arange(120, dtype="<f8").reshape(4, 3, 2, 5)),
    "c16F": np.asfortranarray((np.arange(12) * (1 - 1j)).astype(">c16").reshape(4, 3)),
    "b1F": np.asfortranarray(np.arange(12).reshape(3, 4) % 3 == 0),
    "i8C": np.arange(24, dtype=">i8").reshape(4, 3, 2),
})
np.savez(f"{out}/np-stored.npz", **arrays)
np.savez_compressed(f"{out}/np-compressed.npz", **arrays)
np.save(f"{out}/np-F.npy", np.asfortranarray(np.arange(24, dtype=">f4").reshape(2, 3, 4)))
# Random values: the middle of the stream is far past the .npy header (which TypeScript inflates at open).
np.savez_compressed(f"{out}/np-damaged.npz", a=np.random.default_rng(0).random((2000, 10)))
with open(f"{out}/np-damaged.npz", "r+b") as fh:
    data = bytearray(fh.read())
    member = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0]
    at = member.header_offset + 30 + len(member.filename) + member.compress_size // 2
    data[at] ^= 0x10
    fh.seek(0)
    fh.write(data)
`;

/** What Python's read_rows gives for each path and array, over the ranges given (stdin: {path: {name: [[start, end], ...]}}). */
const READ = `
import hashlib, json, sys
import ndpack
out = {}
for path, arrays in json.load(sys.stdin).items():
    with ndpack.open(path) as r:
        got = out[path] = {}
        for name, ranges in arrays.items():
            info = r.info(name)
            got[name] = []
            for start, end in ranges:
                try:
                    a = r.read_rows(name, start, end)
                    native = a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))
                    got[name].append([list(a.shape), info.order, hashlib.sha256(native.tobytes(order=info.order)).hexdigest()])
                except ndpack.NdpackError as ex:
                    got[name].append({"code": ex.code})
print(json.dumps(out))
`;

test("readRows and read_rows: the same rows (shape, order, values) or the same code, for every array and range of the same files", async () => {
  runPython("-c", [WRITE, dir.path]);
  const files: Record<string, Uint8Array> = {
    "ts-compressed.npz": toNpz(allArrays("none"), { compress: true }),
    "ts-damaged-checksum.ndp": damagedDeflate(false),
    "ts-damaged-stream.ndp": damagedDeflate(true),
  };
  for (const codec of ["none", "deflate", "shuffle+deflate"] as const) for (const byteOrder of ["little", "big"] as const) files[`ts-${codec}-${byteOrder}.ndp`] = encode(allArrays(codec), { byteOrder });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir.path, name), bytes);
  const paths = [...Object.keys(files), "np-stored.npz", "np-compressed.npz", "np-F.npy", "np-damaged.npz"].map((name) => join(dir.path, name));

  const asked: Record<string, Record<string, [number, number][]>> = {};
  const node: Record<string, Record<string, unknown[]>> = {};
  let compressed = 0;
  let fOrder = 0;
  for (const path of paths) {
    await using reader = await open(path);
    asked[path] = {};
    node[path] = {};
    for (const name of reader.names) {
      const info = reader.info(name);
      if (info.shape.length === 0) continue;
      if (info.codec !== "none") compressed++;
      else if (info.order === "F" && info.shape.length > 1) fOrder++;
      const ranges = (asked[path]![name] = rangesOf(info.shape[0]!));
      node[path]![name] = [];
      for (const [start, end] of ranges) {
        try {
          const rows = await reader.readRows(name, start, end);
          node[path]![name]!.push([[...rows.shape], rows.order, createHash("sha256").update(dataBytes(rows)).digest("hex")]);
        } catch (error) {
          if (!(error instanceof NdpackError)) throw error;
          node[path]![name]!.push({ code: error.code });
        }
      }
    }
  }
  const python = JSON.parse(runPython("-c", [READ], JSON.stringify(asked))) as typeof node;
  const differ: string[] = [];
  for (const path of paths) {
    for (const name of Object.keys(node[path]!)) {
      const [ours, theirs] = [JSON.stringify(node[path]![name]), JSON.stringify(python[path]![name])];
      if (ours !== theirs) differ.push(`${path.slice(dir.path.length + 1)} ${name}: node ${ours}, python ${theirs}`);
    }
  }
  expect(differ.slice(0, 10)).toEqual([]);
  // What the rows are read whole for, and the damage, were there to compare.
  expect(compressed).toBeGreaterThan(300);
  expect(fOrder).toBeGreaterThan(100);
  const codes = new Set(Object.values(node).flatMap((arrays) => Object.values(arrays).flat().flatMap((r) => ("code" in (r as object) ? [(r as { code: string }).code] : []))));
  expect([...codes].sort()).toEqual(["CHECKSUM", "CODEC_ERROR"]);
}, 120_000);
