/**
 * `open` of one file in both languages: Python's `ndpack.open` reads a .safetensors file written
 * by Node (names in the same order, dtypes, shapes, values, metadata), and for bytes that no format
 * or only a damaged one describes, both tell the format the same way (first bytes, then the
 * extension) and fail with the same code.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { toSafetensors } from "../src/interop/index.js";
import { open } from "../src/node/index.js";
import { NdpackError } from "../src/errors.js";
import { tempDir } from "./helpers/node-files.js";
import { dataBytes } from "./helpers/set-files.js";
import { runPython } from "./helpers/python-env.js";

const dir = tempDir("ndpack-open-formats-python-");
afterAll(() => dir.remove());
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** What Python's `ndpack.open` makes of each path: its arrays (name, dtype, shape, sha256) and metadata, or the error code. */
const PYTHON_OPEN = `
import hashlib, json, sys
import ndpack
out = {}
for path in sys.argv[1:]:
    try:
        with ndpack.open(path) as r:
            arrays = [[n, r.info(n).dtype, list(r.info(n).shape), hashlib.sha256(r.read(n).tobytes()).hexdigest()] for n in r]
            out[path] = {"kind": type(r).__name__, "arrays": arrays, "metadata": r.metadata}
    except ndpack.NdpackError as ex:
        out[path] = {"code": ex.code}
print(json.dumps(out))
`;

function pythonOpen(paths: string[]): Record<string, { kind?: string; arrays?: [string, string, number[], string][]; metadata?: unknown; code?: string }> {
  return JSON.parse(runPython("-c", [PYTHON_OPEN, ...paths]));
}

test("a .safetensors file written by Node reads in Python through ndpack.open: order, dtypes, shapes, values, metadata", async () => {
  const path = join(dir.path, "model.safetensors");
  const arrays = {
    "embed.weight": { data: Float32Array.from({ length: 96 }, (_, i) => Math.sin(i)), shape: [12, 8] },
    "ids": { data: BigInt64Array.of(-3n, 0n, 9007199254740993n) },
    "mask": { data: Uint8Array.of(1, 0, 1, 1), dtype: "bool" as const },
    "scale": { data: Uint16Array.of(0x3c00), shape: [], dtype: "float16" as const },
  };
  writeFileSync(path, toSafetensors(arrays, { metadata: { step: 12, note: "x", nested: { a: [1, 2] } } }));
  await using reader = await open(path);
  const expected = await Promise.all(reader.names.map(async (name) => {
    const array = await reader.read(name);
    return [name, array.dtype, array.shape, sha256(dataBytes(array))];
  }));
  const got = pythonOpen([path])[path]!;
  expect(got.kind).toBe("SafetensorsReader");
  expect(got.arrays).toEqual(expected);
  expect(got.metadata).toEqual(reader.metadata);
  expect(reader.metadata).toEqual({ step: 12, note: "x", nested: { a: [1, 2] } });
});

test("bytes no format or a damaged one describes: the same code in both languages, the extension choosing whose checks run", async () => {
  const header = (text: string) => {
    const json = new TextEncoder().encode(text);
    const bytes = new Uint8Array(8 + json.length);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(json, 8);
    return bytes;
  };
  const valid = header('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}');
  const cases: Record<string, { bytes: Uint8Array; code: string }> = {
    "empty.ndp": { bytes: new Uint8Array(0), code: "TRUNCATED" },
    "empty.safetensors": { bytes: new Uint8Array(0), code: "TRUNCATED" },
    "empty.bin": { bytes: new Uint8Array(0), code: "BAD_MAGIC" },
    "text.ndp": { bytes: new TextEncoder().encode("hello, world"), code: "BAD_MAGIC" },
    "text.safetensors": { bytes: new TextEncoder().encode("hello, world"), code: "HEADER_TOO_LARGE" },
    "empty-header.safetensors": { bytes: header(""), code: "HEADER_INVALID" },
    "length-cut.safetensors": { bytes: header("").subarray(0, 5), code: "TRUNCATED" },
    "short-data.safetensors": { bytes: valid, code: "TRUNCATED" },
    "short-data-no-extension": { bytes: valid, code: "TRUNCATED" },
    "trailing.safetensors": { bytes: Uint8Array.from([...valid, 1, 2, 3]), code: "TRAILING_BYTES" },
    "overlap.safetensors": { bytes: Uint8Array.from([...header('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}'), 0, 0, 0]), code: "OVERLAP" },
    "bad-dtype.safetensors": { bytes: Uint8Array.from([...header('{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}}'), 0]), code: "UNKNOWN_DTYPE" },
    "duplicate.safetensors": { bytes: Uint8Array.from([...header('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'), 0]), code: "DUPLICATE_NAME" },
  };
  const paths = Object.keys(cases).map((name) => join(dir.path, name));
  for (const [name, { bytes }] of Object.entries(cases)) writeFileSync(join(dir.path, name), bytes);
  const python = pythonOpen(paths);
  for (const [name, { code }] of Object.entries(cases)) {
    const path = join(dir.path, name);
    const node = await open(path).then(async (reader) => { await reader.close(); return "opened"; }, (error: unknown) => (error instanceof NdpackError ? error.code : String(error)));
    expect([name, node, python[path]?.code]).toEqual([name, code, code]);
  }
});
