// The ndpack demo: write a file with several dtypes, show what is in it, read it back without
// copying, and check every value. Run with `npm run demo` (which builds first).
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bfloat16ToFloat32, decode, encode, float32ToBfloat16, verify } from "../dist/index.js";

const dir = mkdtempSync(join(tmpdir(), "ndpack-demo-"));
const path = join(dir, "demo.ndp");

// 1. Arrays a model or a simulation might save.
const image = new Uint8Array(64 * 48 * 3).map((_, i) => (i * 7) % 256);
const weights = Float32Array.from({ length: 256 * 128 }, (_, i) => Math.sin(i / 100));
const arrays = {
  image: { data: image, shape: [64, 48, 3] },
  "encoder.weight": { data: weights, shape: [256, 128] },
  "encoder.weight.bf16": { data: float32ToBfloat16(weights), shape: [256, 128], dtype: "bfloat16" },
  "token_ids": new BigInt64Array([101n, 7592n, 2088n, 102n]),
  mask: { data: Uint8Array.of(1, 1, 0, 1), dtype: "bool" },
  spectrum: { data: Float64Array.of(1, 0, 0.5, -0.5, 0, 1), shape: [3], dtype: "complex128" },
  "smooth.compressed": { data: Float32Array.from({ length: 65536 }, (_, i) => i / 65536), codec: "shuffle+deflate" },
  "field.fortran": { data: Float64Array.from({ length: 12 }, (_, i) => i), shape: [3, 4], order: "F" },
  "big.endian": { data: Int32Array.of(1, -2, 3) },
};
const bytes = encode(arrays, { metadata: { model: "demo", created_by: "ndpack demo", layers: { encoder: 1 } } });
writeFileSync(path, bytes);
writeFileSync(join(dir, "big-endian.ndp"), encode({ "big.endian": arrays["big.endian"] }, { byteOrder: "big" }));
console.log(`wrote ${path} (${bytes.length} bytes)\n`);

// 2. What is inside: only the header is read.
const file = decode(readFileSync(path));
console.log(`ndpack ${file.version.major}.${file.version.minor}, alignment ${file.alignment}, checksum ${file.checksum}`);
console.log(`metadata ${JSON.stringify(file.metadata)}\n`);
const rows = file.names.map((name) => {
  const a = file.info(name);
  return [name, a.dtype, `[${a.shape.join(", ")}]`, a.order, a.byteOrder, a.codec, String(a.nbytes), String(a.byteLength), String(a.offset)];
});
const head = ["name", "dtype", "shape", "order", "byte order", "codec", "bytes", "stored", "offset"];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
for (const row of [head, ...rows]) console.log(row.map((c, i) => c.padEnd(widths[i])).join("  "));

// 3. Read back: views over the file's bytes where possible, and check every value.
const same = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
const checks = [
  ["image", same(file.get("image").data, image)],
  ["encoder.weight", same(file.get("encoder.weight").data, weights)],
  ["encoder.weight.bf16", same(bfloat16ToFloat32(file.get("encoder.weight.bf16").data), bfloat16ToFloat32(float32ToBfloat16(weights)))],
  ["token_ids", same(file.get("token_ids").data, arrays.token_ids)],
  ["smooth.compressed", same(file.get("smooth.compressed").data, arrays["smooth.compressed"].data)],
  ["field.fortran", same(file.get("field.fortran").data, arrays["field.fortran"].data)],
  ["big.endian (from the big-endian file)", same(decode(readFileSync(join(dir, "big-endian.ndp"))).get("big.endian").data, arrays["big.endian"].data)],
];
console.log("");
for (const array of file) console.log(`${array.name.padEnd(widths[0])}  ${array.copied ? "copied (" + (array.codec !== "none" ? "decompressed" : "realigned") + ")" : "zero-copy view"}`);
console.log("");
for (const [name, ok] of checks) console.log(`${ok ? "ok  " : "FAIL"} ${name}`);
const report = verify(readFileSync(path));
console.log(`${report.ok ? "ok  " : "FAIL"} checksums of all ${report.arrays.length} arrays`);
if (!report.ok || checks.some(([, ok]) => !ok)) process.exit(1);
