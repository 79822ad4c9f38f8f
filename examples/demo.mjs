// The ndpack demo (`npm run demo`, which builds first): write a file with several dtypes, look
// inside it with the command line, read one array lazily, verify every checksum, and read the
// file from Python. Exits non-zero if any check fails.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bfloat16ToFloat32, float32ToBfloat16 } from "ndpack";
import { open, save } from "ndpack/node";

const CLI = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
const SPEC = fileURLToPath(new URL("../spec/python", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "ndpack-demo-"));
const path = join(dir, "demo.ndp");
const failures = [];
const check = (what, ok) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
};
const title = (text) => console.log(`\n== ${text}\n`);
/** A requirement of the demo that is not there: reported as a failed check, without a stack. */
class Missing extends Error {}
const ndpack = (...args) => {
  console.log(`$ ndpack ${args.map((a) => (a === path ? "demo.ndp" : a)).join(" ")}`);
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  process.stdout.write(run.stdout.replaceAll(path, "demo.ndp") + run.stderr);
  return run.status;
};

try {
  // 1. Arrays a model or a simulation might save: several dtypes, shapes, orders, a codec.
  title("1. save arrays of several dtypes to one file");
  const frames = new Uint8Array(64 * 512 * 512).map((_, i) => (i * 7) % 256);
  const weights = Float32Array.from({ length: 256 * 128 }, (_, i) => Math.sin(i / 100));
  const arrays = {
    frames: { data: frames, shape: [64, 512, 512] },
    "encoder.weight": { data: weights, shape: [256, 128] },
    "encoder.weight.bf16": { data: float32ToBfloat16(weights), shape: [256, 128], dtype: "bfloat16" },
    token_ids: new BigInt64Array([101n, 7592n, 2088n, 102n]),
    mask: { data: Uint8Array.of(1, 1, 0, 1), dtype: "bool" },
    spectrum: { data: Float64Array.of(1, 0, 0.5, -0.5, 0, 1), shape: [3], dtype: "complex128" },
    "smooth.compressed": { data: Float32Array.from({ length: 65536 }, (_, i) => i / 65536), codec: "shuffle+deflate" },
    "field.fortran": { data: Float64Array.from({ length: 12 }, (_, i) => i), shape: [3, 4], order: "F" },
  };
  await save(path, arrays, { metadata: { model: "demo", created_by: "ndpack demo", layers: { encoder: 1 } } });
  console.log(`wrote ${path} (${statSync(path).size} bytes)`);

  // 2. What is inside, from the command line: only the header is read.
  title("2. look inside with the command line");
  check("ndpack inspect exits 0", ndpack("inspect", path) === 0);
  console.log("");
  check("ndpack show exits 0", ndpack("show", path, "encoder.weight") === 0);

  // 3. One array, lazily: the header, then that array's bytes, nothing else.
  title("3. read one array lazily");
  const file = await open(path);
  const header = file.bytesRead;
  const ids = await file.read("token_ids");
  console.log(`token_ids ${ids.dtype} [${ids.shape}] = ${[...ids.data].join(", ")}`);
  console.log(`read ${file.bytesRead} bytes of the file's ${file.byteLength}: ${header} for the header, ${file.bytesRead - header} for token_ids`);
  check("token_ids read back", ids.data.every((v, i) => v === arrays.token_ids[i]));
  // read() checks the CRC: the 32 bytes come with their CRC and the padding up to the next array.
  check("only the header and token_ids' 32 bytes (with their CRC) were read", file.bytesRead - header <= 32 + 64 && header <= 64 * 1024);
  const weight = await file.read("encoder.weight", { verify: true });
  check("encoder.weight read back (and its CRC checked)", weight.data.every((v, i) => Object.is(v, weights[i])));
  check("bfloat16 round trip", bfloat16ToFloat32((await file.read("encoder.weight.bf16")).data).every((v, i) => Math.abs(v - weights[i]) <= Math.abs(weights[i]) / 128));
  await file.close();

  // 4. Every checksum.
  title("4. verify every checksum");
  check("ndpack verify exits 0", ndpack("verify", path) === 0);

  // 5. The same file from Python, with the ndpack Python package (numpy only), from the clone.
  title("5. read the file from Python (spec/python: import ndpack)");
  // The demo's one requirement outside the clone: without it this step fails with one line
  // saying what to install, not with Python's traceback under Node's.
  const probe = spawnSync("python3", ["-c", "import numpy"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Missing(`this step needs python3 with numpy (${probe.error !== undefined ? "no python3 found" : "numpy cannot be imported"}): python3 -m pip install numpy`);
  }
  const python = `
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, ndpack
f = ndpack.load(sys.argv[2], verify=True)
print("metadata", f.metadata)
for name in f.names:
    a = f[name]
    numeric = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
    print(f"{name:22} {str(a.dtype):14} {str(a.shape):16} mean {numeric.mean():.6g}")
w = f["encoder.weight"]
print("CHECK", float(w.sum()), int(f["token_ids"].sum()), bool((f["field.fortran"] == np.arange(12.0).reshape(3, 4, order="F")).all()))
`;
  const printed = execFileSync("python3", ["-c", python, SPEC, path], { encoding: "utf8" });
  process.stdout.write(printed.split("\n").filter((l) => !l.startsWith("CHECK")).join("\n"));
  const [, sum, idSum, fortranOk] = /^CHECK (\S+) (\S+) (\S+)$/m.exec(printed);
  const jsSum = weights.reduce((a, b) => a + b, 0);
  check("Python sees the same encoder.weight (sum)", Math.abs(Number(sum) - jsSum) < 1e-3);
  check("Python sees the same token_ids", BigInt(idSum) === arrays.token_ids.reduce((a, b) => a + b, 0n));
  check("Python sees field.fortran in Fortran order", fortranOk === "True");
} catch (error) {
  if (error instanceof Missing) check(error.message, false);
  else {
    failures.push(String(error?.stack ?? error));
    console.error(error);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(failures.length === 0 ? "\nevery check passed" : `\n${failures.length} check(s) failed`);
if (failures.length > 0) process.exit(1);
