/**
 * Issue 4: the codecs (`deflate`, `shuffle+deflate`) on smooth float32 data, random float32, int
 * labels and sparse data: compression ratio and MB/s both ways, against numpy's
 * `np.savez_compressed` of the same bytes in the same run. And the CRC-32 speeds behind FORMAT.md
 * §6: Node's native `zlib.crc32` against the pure-JS fallback of src/crc32.ts, a pure-JS CRC-32C
 * written the same way, and Python's `zlib.crc32`.
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { crc32Fallback, slicingCrc } from "../src/crc32.js";
import { fillRandom, loadNdpack, MiB, PEERS_PY, randomFloat32, type BenchConfig, type Case, type JsCase, type Ndpack, type PythonCase } from "./harness.js";

// ---------------------------------------------------------------------------------------------
// Data

interface Kind {
  readonly id: string;
  readonly title: string;
  readonly dtype: "float32" | "int32";
  make(count: number): Float32Array | Int32Array;
}

/** Sums of a few slow sine waves with a little noise: like a sensor trace or an image row. */
function smooth(count: number): Float32Array {
  const out = new Float32Array(count);
  const noise = randomFloat32(count, 7);
  for (let i = 0; i < count; i++) out[i] = Math.sin(i * 1e-4) + 0.5 * Math.sin(i * 3.7e-3 + 1) + 0.25 * Math.cos(i * 0.021) + 1e-3 * noise[i]!;
  return out;
}

/** 99% zeros, the rest random values. */
function sparse(count: number): Float32Array {
  const out = new Float32Array(count);
  const r = randomFloat32(count, 11);
  for (let i = 0; i < count; i++) if (r[i]! > 0.98) out[i] = r[i]! * 100;
  return out;
}

/** Class labels 0 to 9. */
function labels(count: number): Int32Array {
  const bytes = fillRandom(new Uint8Array(count), 13);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = bytes[i]! % 10;
  return out;
}

const KINDS: readonly Kind[] = [
  { id: "smooth", title: "smooth float32", dtype: "float32", make: smooth },
  { id: "random", title: "random float32", dtype: "float32", make: (n) => randomFloat32(n, 5) },
  { id: "labels", title: "int32 labels 0-9", dtype: "int32", make: labels },
  { id: "sparse", title: "sparse float32 (99% zeros)", dtype: "float32", make: sparse },
];

const VARIANTS = [
  { lib: "ndpack deflate", codec: "deflate", level: 6 },
  { lib: "ndpack shuffle+deflate", codec: "shuffle+deflate", level: 6 },
  { lib: "ndpack shuffle+deflate level 1", codec: "shuffle+deflate", level: 1 },
] as const;

interface CompressState {
  nd: Ndpack;
  input: { x: { data: Float32Array | Int32Array } };
  encoded: Uint8Array;
}

function count(config: BenchConfig): number {
  return (config.quick ? 4 * MiB : 16 * MiB) / 4;
}

function rawPath(config: BenchConfig, kind: Kind): string {
  return join(config.tmpDir, `compression-${kind.id}${config.quick ? ".quick" : ""}.raw`);
}

export function compressionCases(config: BenchConfig): Case[] {
  const n = count(config);
  const bytes = n * 4;
  const cases: Case[] = [];
  for (const kind of KINDS) {
    for (const step of ["encode", "decode"] as const) {
      for (const v of VARIANTS) {
        const c: JsCase<CompressState> = {
          kind: "js",
          scenario: "compression",
          step: `${kind.title} ${step}`,
          lib: v.lib,
          role: "ndpack",
          bytes,
          note: "encode and decode use Node's native zlib (pako in browsers). ratio = array bytes / stored bytes; MB/s counts array bytes.",
          runs: Math.min(config.runs, 5),
          async setup(c) {
            const nd = await loadNdpack(c);
            const input = { x: { data: kind.make(n) } };
            const options = { codec: v.codec, compressionLevel: v.level, checksum: "none" } as const;
            return { nd, input, encoded: nd.encode(input, options) };
          },
          run:
            step === "encode"
              ? (s) => s.nd.encode(s.input, { codec: v.codec, compressionLevel: v.level, checksum: "none" })
              : (s) => s.nd.decode(s.encoded).get("x").data.length,
          extra: (s) => ({ storedBytes: s.nd.decode(s.encoded).info("x").byteLength, codec: s.nd.decode(s.encoded).info("x").codec, ratio: bytes / s.nd.decode(s.encoded).info("x").byteLength }),
        };
        cases.push(c);
      }
      const py: PythonCase = {
        kind: "python",
        scenario: "compression",
        step: `${kind.title} ${step}`,
        lib: "numpy np.savez_compressed (py)",
        role: "python",
        bytes,
        note: "numpy np.savez_compressed into io.BytesIO (zip deflate, zlib level 6) of the same bytes; decode reads the member back.",
        args: ["--op", `compressed-${step}`, "--spec", rawPath(config, kind) + ".spec.json"],
        runs: Math.min(config.runs, 5),
        prepare(c) {
          const data = kind.make(n);
          writeFileSync(rawPath(c, kind), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
          writeFileSync(rawPath(c, kind) + ".spec.json", JSON.stringify([{ name: "x", dtype: kind.dtype, shape: [n], file: rawPath(c, kind) }]));
        },
      };
      cases.push(py);
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Issue 14: `ndpack convert` of a deflated .npz against numpy's load + savez_compressed

/** The arrays of the .npz to convert: one large array (the case a single DEFLATE stream serializes) and three smaller ones. */
function convertArrays(config: BenchConfig): { kind: Kind; name: string; bytes: number }[] {
  const total = config.quick ? 32 * MiB : 256 * MiB;
  const [smoothKind, randomKind, labelsKind, sparseKind] = KINDS as [Kind, Kind, Kind, Kind];
  return [
    { kind: smoothKind, name: "smooth", bytes: total / 2 },
    { kind: randomKind, name: "random", bytes: total / 4 },
    { kind: labelsKind, name: "labels", bytes: total / 8 },
    { kind: sparseKind, name: "sparse", bytes: total / 8 },
  ];
}

function convertTotal(config: BenchConfig): number {
  return convertArrays(config).reduce((sum, a) => sum + a.bytes, 0);
}

function convertInput(config: BenchConfig): string {
  return join(config.tmpDir, `convert-input${config.quick ? ".quick" : ""}.npz`);
}

/** Writes the input .npz once, with numpy's own `np.savez_compressed` (zlib level 6), as users get it. */
function writeConvertInput(config: BenchConfig): void {
  const path = convertInput(config);
  if (existsSync(path)) return;
  const spec = convertArrays(config).map(({ kind, name, bytes }) => {
    const file = join(config.tmpDir, `convert-${name}${config.quick ? ".quick" : ""}.raw`);
    const data = kind.make(bytes / 4);
    writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return { name, dtype: kind.dtype, shape: [bytes / 4], file };
  });
  const specPath = `${path}.spec.json`;
  writeFileSync(specPath, JSON.stringify(spec));
  // Named *.npz: numpy appends the extension to any other name. Renamed when complete, so that a failed run leaves no input behind.
  const partial = `${path}.partial.npz`;
  const result = spawnSync("python3", [PEERS_PY, "npz", "--spec", specPath, "--out", partial, "--compressed"], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`writing the .npz with numpy failed: ${result.stderr}`);
  for (const { file } of spec) rmSync(file);
  renameSync(partial, path);
}

/** Preloaded into the command's process: writes its peak RSS and CPU time when it exits. */
const USAGE_HOOK = join(dirname(PEERS_PY), "usage-hook.mjs");

interface ConvertState {
  readonly cli: string;
  readonly input: string;
  readonly output: string;
  readonly usageFile: string;
  readonly args: readonly string[];
  usage?: { maxRss: number; cpuMs: number; wallMs: number };
}

/** Runs `ndpack convert` in a child process, as a user would; records its resource usage. */
function runConvert(s: ConvertState): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", pathToFileURL(USAGE_HOOK).href, s.cli, "convert", ...s.args, s.input, s.output], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NDPACK_BENCH_USAGE: s.usageFile } });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`ndpack convert exited with ${code}: ${err.trim()}`));
      s.usage = JSON.parse(readFileSync(s.usageFile, "utf8")) as ConvertState["usage"];
      resolve();
    });
  });
}

/** The `convert` step's id parts, for the targets. */
export const CONVERT = {
  step: "convert: savez_compressed .npz to .ndp (child process)",
  ndpack: "ndpack convert (default: deflate kept, numpy's stream copied)",
  numpy: "numpy np.load + np.savez_compressed (py)",
} as const;

export function convertCases(config: BenchConfig): Case[] {
  const bytes = convertTotal(config);
  const layout = convertArrays(config).map((a) => `${a.name} ${a.kind.title} ${a.bytes / MiB} MiB`).join(", ");
  const base = { scenario: "compression", step: CONVERT.step, bytes, runs: 3, warmup: 0 } as const;
  const variants = [
    { lib: CONVERT.ndpack, args: [] as string[] },
    { lib: "ndpack convert --codec deflate (compressed again, on every core)", args: ["--codec", "deflate"] },
    { lib: "ndpack convert --compress (shuffle+deflate)", args: ["--compress"] },
    { lib: "ndpack convert --no-compress", args: ["--no-compress"] },
  ];
  const cases: Case[] = variants.map(
    (v, i): JsCase<ConvertState> => ({
      ...base,
      kind: "js",
      lib: v.lib,
      role: "ndpack",
      note: `issue 14: a ${bytes / MiB} MiB .npz written by np.savez_compressed (${layout}), converted to .ndp by the built CLI in a child process (atomic, fsynced); peak RSS, CPU time and cores (CPU / wall) are the child's, of the last sample. One process per sample, so every sample is a first call.`,
      setup(c) {
        writeConvertInput(c);
        return { cli: join(c.buildDir, "cli", "main.js"), input: convertInput(c), output: join(c.tmpDir, `convert-output-${i}.ndp`), usageFile: join(c.tmpDir, `convert-usage-${i}.json`), args: v.args };
      },
      run: runConvert,
      extra(s) {
        const u = s.usage!;
        return { storedBytes: statSync(s.output).size, childPeakRss: u.maxRss, childCpuMs: Math.round(u.cpuMs), cores: Number((u.cpuMs / u.wallMs).toFixed(2)) };
      },
      teardown(s) {
        rmSync(s.output, { force: true });
      },
    }),
  );
  const python: PythonCase = {
    ...base,
    kind: "python",
    lib: CONVERT.numpy,
    role: "python",
    note: "numpy: np.load of the same .npz, every member read, then np.savez_compressed to a file (zlib level 6, one core; written in place, not fsynced).",
    args: ["--op", "npz-convert", "--file", convertInput(config), "--out", join(config.tmpDir, "convert-output-numpy.npz")],
    prepare: writeConvertInput,
  };
  cases.push(python);
  return cases;
}

// ---------------------------------------------------------------------------------------------
// CRC

const CRC32C_POLYNOMIAL = 0x82f63b78;

/** Checks the bench's CRC-32C against its check value, so its speed is that of a correct CRC. */
function crc32c(): (bytes: Uint8Array) => number {
  const fn = slicingCrc(CRC32C_POLYNOMIAL);
  if (fn(new TextEncoder().encode("123456789")) !== 0xe3069283) throw new Error("CRC-32C check value mismatch");
  return fn;
}

export function crcCases(config: BenchConfig): Case[] {
  const sizes = config.quick ? [4096, 4 * MiB] : [4096, MiB, 64 * MiB];
  const cases: Case[] = [];
  for (const size of sizes) {
    const step = size >= MiB ? `${size / MiB} MiB` : `${size / 1024} KiB`;
    const impls: { lib: string; note?: string; role: "ndpack" | "baseline" | "peer"; load: () => Promise<(b: Uint8Array) => number> }[] = [
      {
        lib: "CRC-32 native zlib.crc32 (Node)",
        role: "baseline",
        note: "node:zlib crc32 (Node 20.15+): what ndpack uses in Node until @node-rs/crc32 is loaded, or without it.",
        load: async () => {
          const { crc32 } = await import("node:zlib");
          return (b) => crc32(b);
        },
      },
      {
        lib: "CRC-32 @node-rs/crc32 (Node, src/runtime.ts loadFastCrc32)",
        role: "ndpack",
        note: "The optional dependency's crc32fast (carry-less multiplication): what ndpack uses in Node once the first CRC of 64 KiB has loaded it.",
        load: async () => {
          const { loadFastCrc32 } = await import("../src/runtime.js");
          const crc32 = loadFastCrc32();
          if (crc32 === undefined) throw new Error("@node-rs/crc32 is not installed");
          return (b) => crc32(b, 0);
        },
      },
      {
        lib: "CRC-32 pure JS, crc32Fallback (src/crc32.ts)",
        role: "ndpack",
        note: "crc32Fallback: ndpack's slicing-by-16 fallback (browsers, old Node); imported from src/ because the package does not export it.",
        load: async () => (b) => crc32Fallback(b),
      },
      {
        lib: "CRC-32C pure JS, same slicing-by-16 loop",
        role: "peer",
        note: "slicingCrc (src/crc32.ts) with CRC-32C's polynomial: the same code as crc32Fallback, the like-for-like comparison of FORMAT.md §6.",
        load: async () => crc32c(),
      },
    ];
    for (const impl of impls) {
      cases.push({
        kind: "js",
        scenario: "crc",
        step,
        lib: impl.lib,
        role: impl.role,
        bytes: size,
        ...(impl.note === undefined ? {} : { note: impl.note }),
        async setup() {
          return { fn: await impl.load(), data: fillRandom(new Uint8Array(size), 3) };
        },
        run: (s: { fn: (b: Uint8Array) => number; data: Uint8Array }) => s.fn(s.data),
      } satisfies JsCase<{ fn: (b: Uint8Array) => number; data: Uint8Array }>);
    }
    cases.push({
      kind: "python",
      scenario: "crc",
      step,
      lib: "CRC-32 zlib.crc32 (py)",
      role: "python",
      bytes: size,
      note: "Python's zlib.crc32 (the Python reference implementation's CRC).",
      args: ["--op", "crc32", "--name", String(size)],
    });
  }
  return cases;
}
