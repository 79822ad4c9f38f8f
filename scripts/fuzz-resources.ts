/**
 * The resource families of the fuzz campaign (issue 16): files that are valid, or nearly so, under
 * the default limits but cheap in bytes and costly to read. Each case is generated from the seed,
 * written to the OS temp directory and read by a child process (scripts/fuzz-resource-child.ts:
 * open, verify, read or convert, as the family asks, and the CLI's inspect, verify and show when
 * dist/ is built), which reports its time and peak RSS. A case fails when it ends in anything but
 * success or a typed NdpackError, or does not end within the hang timeout. Every run prints, per
 * family, the slowest case and the largest peak RSS: the numbers behind FORMAT.md §7's defaults
 * (each case should stay under 2 s and 512 MiB on a quiet machine). They are reported, not
 * asserted: the machine may be busy. Run alone (one family: `--family TEXT`) at the end of this file.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { crc32, deflateRawSync } from "node:zlib";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const CHILD = fileURLToPath(new URL("./fuzz-resource-child.ts", import.meta.url));
const CLI = join(REPO, "dist/cli/main.js");
const encoder = new TextEncoder();

/** A generated input and what to do with it. */
interface ResourceCase {
  readonly family: string;
  readonly label: string;
  readonly file: string;
  readonly bytes: Uint8Array;
  /** Library operations the child runs (see fuzz-resource-child.ts). */
  readonly ops: readonly string[];
  /** CLI commands, as argument lists after the file (the file is inserted first). */
  readonly cli: readonly (readonly string[])[];
}

/** What one run (a child, or one CLI command) did. */
interface Outcome {
  readonly ms: number;
  readonly maxRssMiB: number;
  readonly result: string;
  readonly failed: boolean;
}

/** Mulberry32: small, seeded, good enough to pick sizes. */
function rng(seed: number): { int: (lo: number, hi: number) => number; pick: <T>(xs: readonly T[]) => T } {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), pick: (xs) => xs[Math.floor(next() * xs.length)]! };
}

/** An ndpack file whose header is `text` (padded with spaces to alignment 8), then `data`. */
function ndpack(text: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
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

const entry = (name: string, dtype: string, shape: readonly number[], extra = "", offset = 0, byteLength = 0) =>
  `{"name":${JSON.stringify(name)},"dtype":"${dtype}","shape":[${shape.join(",")}],"order":"C","byteOrder":"little"${extra},"offset":${offset},"byteLength":${byteLength}}`;
const header = (metadata: string, entries: readonly string[], dataLength = 0, checksum = "none") =>
  `{"alignment":8,"checksum":"${checksum}","dataLength":${dataLength},"metadata":${metadata},"arrays":[${entries.join(",")}]}`;

function manyArrays(count: number): Uint8Array {
  const entries = new Array<string>(count);
  for (let i = 0; i < count; i++) entries[i] = entry(i.toString(36), "uint8", [0]);
  return ndpack(header("{}", entries));
}

function npy(descr: string, shape: string): Uint8Array {
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  dict += " ".repeat(63 - ((10 + dict.length) % 64)) + "\n";
  const out = new Uint8Array(10 + dict.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, dict.length, true);
  out.set(encoder.encode(dict), 10);
  return out;
}

function safetensors(tensors: readonly string[]): Uint8Array {
  const text = encoder.encode(`{${tensors.join(",")}}`);
  const out = new Uint8Array(8 + text.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  return out;
}

/** A stored (method 0) zip of `count` empty .npy members: the directory is what costs. */
function npzOfEmpty(count: number): Uint8Array {
  const member = npy("<f4", "(0,)");
  const memberCrc = crc32(member);
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const name = encoder.encode(`${i.toString(36)}.npy`);
    const local = new Uint8Array(30 + name.length + member.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(14, memberCrc, true);
    lv.setUint32(18, member.length, true);
    lv.setUint32(22, member.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    local.set(member, 30 + name.length);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(16, memberCrc, true);
    cv.setUint32(20, member.length, true);
    cv.setUint32(24, member.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local);
    centrals.push(central);
    offset += local.length;
  }
  const directorySize = centrals.reduce((sum, c) => sum + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, count, true);
  ev.setUint16(10, count, true);
  ev.setUint32(12, directorySize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + directorySize + 22);
  let at = 0;
  for (const piece of [...locals, ...centrals, end]) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

const MiB = 1024 * 1024;

/** The generators, one per family; each returns a case for round `round` of the run. */
const FAMILIES: Record<string, (r: ReturnType<typeof rng>, dir: string, round: number) => Omit<ResourceCase, "family">> = {
  "many arrays (.ndp)": (r, dir) => {
    const count = r.pick([10_000, 50_000, 100_000, 100_001]);
    return { label: `${count} empty arrays`, file: join(dir, "many.ndp"), bytes: manyArrays(count), ops: ["open", "open-retained", "verify", "load", "decode"], cli: [["inspect"], ["verify"], ["show", (count - 1).toString(36)]] };
  },
  "wide metadata": (r, dir) => {
    const count = r.pick([500_000, 999_990, 1_000_000, 2_000_000, 30_000_000]);
    const shape = r.pick(["zeros", "objects", "arrays", "strings", "keys"]);
    const item = { zeros: () => "0", objects: () => "{}", arrays: () => "[]", strings: () => '""', keys: () => "" }[shape]!;
    const value =
      shape === "keys"
        ? `{${Array.from({ length: Math.min(count, 5_000_000) }, (_, i) => `"${i.toString(36)}":0`).join(",")}}`
        : `[${new Array<string>(count).fill(item()).join(",")}]`;
    return { label: `${count} ${shape} (${(value.length / MiB).toFixed(0)} MiB)`, file: join(dir, "wide.ndp"), bytes: ndpack(header(`{"m":${value}}`, [])), ops: ["open", "decode"], cli: [["inspect"]] };
  },
  "deep metadata": (r, dir) => {
    const depth = r.pick([60, 62, 63, 64, 1000]);
    const copies = r.int(1, 100_000);
    const one = `${"[".repeat(depth - 2)}${"]".repeat(depth - 2)}`;
    return { label: `${copies} x depth ${depth}`, file: join(dir, "deep.ndp"), bytes: ndpack(header(`{"m":[${new Array<string>(copies).fill(one).join(",")}]}`, [])), ops: ["open", "decode"], cli: [["inspect"]] };
  },
  "long strings": (r, dir) => {
    const length = r.pick([1, 16, 64, 99]) * MiB;
    const escaped = r.pick([false, true]);
    const text = escaped ? "\\u00e9".repeat(Math.floor(length / 6)) : "x".repeat(length);
    return { label: `${length / MiB} MiB ${escaped ? "escaped " : ""}string`, file: join(dir, "string.ndp"), bytes: ndpack(header(`{"s":"${text}"}`, [])), ops: ["open", "decode"], cli: [["inspect"]] };
  },
  "many numbers": (r, dir) => {
    const count = r.pick([100_000, 999_000, 1_000_001]);
    const literal = r.pick(["0.12345678901234567e-300", "-1.7976931348623157e308", "9007199254740991", "5e-324"]);
    return { label: `${count} x ${literal}`, file: join(dir, "numbers.ndp"), bytes: ndpack(header(`{"n":[${new Array<string>(count).fill(literal).join(",")}]}`, [])), ops: ["open", "decode"], cli: [["inspect"]] };
  },
  "codecs and bombs": (r, dir) => {
    const size = r.pick([16, 64, 256]) * MiB;
    const arrays = r.int(1, 4);
    const shuffled = r.pick([false, true]);
    const stored = deflateRawSync(new Uint8Array(size), { level: 9 });
    const entries = Array.from({ length: arrays }, (_, i) => entry(`z${i}`, "float32", [size / 4], `,"codec":"${shuffled ? "shuffle+deflate" : "deflate"}"`, i * (stored.length + ((8 - (stored.length % 8)) % 8)), stored.length));
    const step = stored.length + ((8 - (stored.length % 8)) % 8);
    const data = new Uint8Array(step * (arrays - 1) + stored.length);
    for (let i = 0; i < arrays; i++) data.set(stored, i * step);
    return { label: `${arrays} x ${size / MiB} MiB ${shuffled ? "shuffle+deflate" : "deflate"} from ${(stored.length / 1024).toFixed(0)} KiB`, file: join(dir, "bomb.ndp"), bytes: ndpack(header("{}", entries, data.length), data), ops: ["open", "read-all", "fromNdpack"], cli: [["show", "z0"], ["verify"]] };
  },
  "one 1 GiB array (codecs)": (r, dir) => {
    // Peak RSS ≈ the declared size, shuffle included: the inflater writes straight into the array.
    const codec = r.pick(["deflate", "shuffle+deflate"]);
    const dtype = r.pick(["float32", "float64"]);
    const size = 1024 * MiB;
    const stored = deflateRawSync(new Uint8Array(size), { level: 9 });
    const shape = [size / (dtype === "float32" ? 4 : 8)];
    return { label: `${dtype} [${shape[0]}] ${codec} from ${(stored.length / 1024).toFixed(0)} KiB`, file: join(dir, "gib.ndp"), bytes: ndpack(header("{}", [entry("g", dtype, shape, `,"codec":"${codec}"`, 0, stored.length)], stored.length), stored), ops: ["read-all"], cli: [["verify"]] };
  },
  "empty arrays, huge dims": (r, dir) => {
    const dim = r.pick([2 ** 32, 1e8, 2 ** 52]);
    const format = r.pick(["ndp", "npy", "safetensors"]);
    const bytes =
      format === "ndp" ? ndpack(header("{}", [entry("e", "float32", [0, dim])])) : format === "npy" ? npy("<f4", `(0, ${dim})`) : safetensors([`"e":{"dtype":"F32","shape":[0,${dim}],"data_offsets":[0,0]}`]);
    return { label: `[0, ${dim}] .${format}`, file: join(dir, `e.${format}`), bytes, ops: ["open", "read-all"], cli: [["show", "e"], ["inspect"]] };
  },
  "foreign: many members/tensors": (r, dir) => {
    const count = r.pick([10_000, 70_000]);
    if (r.pick([false, true])) return { label: `${count}-member .npz`, file: join(dir, "many.npz"), bytes: npzOfEmpty(count), ops: ["open", "verify"], cli: [["inspect"], ["verify"]] };
    const tensors = Array.from({ length: count }, (_, i) => `"${i.toString(36)}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
    return { label: `${count}-tensor .safetensors`, file: join(dir, "many.safetensors"), bytes: safetensors(tensors), ops: ["open", "verify"], cli: [["inspect"], ["verify"]] };
  },
};

/** Runs `args` under node; resolves with what the child reported (or a hang). */
function runChild(args: readonly string[], hangMs: number): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NDPACK_FUZZ_RSS: "1" } });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), hangMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      const rss = /^maxrss_mib: (\d+)$/m.exec(out + err);
      const maxRssMiB = rss ? Number(rss[1]) : NaN;
      if (signal === "SIGKILL") return resolve({ ms, maxRssMiB, result: `hang (killed after ${hangMs} ms)`, failed: true });
      const line = /^result: (.*)$/m.exec(out)?.[1];
      if (line !== undefined) return resolve({ ms, maxRssMiB, result: line, failed: line.startsWith("UNTYPED") });
      // A CLI command: exit 0 or a one-line typed error with its code in parentheses.
      const typed = /\(([A-Z_]+)\)\s*$/.exec(err.replace(/^maxrss_mib: \d+$/m, "").trim());
      const failed = code !== 0 && typed === null;
      resolve({ ms, maxRssMiB, result: code === 0 ? "ok" : typed ? typed[1]! : `exit ${code}: ${err.replace(/^maxrss_mib: \d+$/m, "").trim().split("\n").pop()}`, failed });
    });
  });
}

/** Per family: cases, failures, the slowest case and the largest peak RSS. */
export interface FamilyReport {
  readonly family: string;
  cases: number;
  readonly failures: string[];
  slowest: { ms: number; what: string } | undefined;
  largest: { maxRssMiB: number; what: string } | undefined;
}

/** Runs `rounds` cases of every family from `seed`, printing each; returns the reports. */
export async function runResourceFamilies(seed: number, rounds: number, hangMs = 60_000, only?: string): Promise<FamilyReport[]> {
  const dir = mkdtempSync(join(tmpdir(), "ndpack-fuzz-resources-"));
  const reports: FamilyReport[] = [];
  const probe = fileURLToPath(new URL("./fuzz-rss-probe.mjs", import.meta.url));
  try {
    for (const [family, generate] of Object.entries(FAMILIES)) {
      if (only !== undefined && !family.includes(only)) continue;
      const report: FamilyReport = { family, cases: 0, failures: [], slowest: undefined, largest: undefined };
      const random = rng(seed ^ hash(family));
      for (let round = 0; round < rounds; round++) {
        const made = generate(random, dir, round);
        writeFileSync(made.file, made.bytes);
        const outcomes: [string, Outcome][] = [];
        // One at a time: the peak RSS and time of each must be its own.
        for (const op of made.ops) outcomes.push([op, await runChild(["--expose-gc", "--import", "tsx", "--import", probe, CHILD, made.file, op], hangMs)]);
        if (existsSync(CLI)) {
          for (const command of made.cli) {
            const [name, ...rest] = command;
            const outcome = await runChild(["--import", probe, CLI, name!, made.file, ...rest], hangMs);
            outcomes.push([`ndpack ${command.join(" ")}`, outcome]);
          }
        }
        for (const [op, outcome] of outcomes) {
          report.cases++;
          const what = `${made.label}: ${op} -> ${outcome.result}`;
          console.log(`  [${family}] ${what} (${outcome.ms.toFixed(0)} ms, ${Number.isNaN(outcome.maxRssMiB) ? "?" : outcome.maxRssMiB} MiB)`);
          if (outcome.failed) report.failures.push(what);
          if (report.slowest === undefined || outcome.ms > report.slowest.ms) report.slowest = { ms: outcome.ms, what };
          if (!Number.isNaN(outcome.maxRssMiB) && (report.largest === undefined || outcome.maxRssMiB > report.largest.maxRssMiB)) report.largest = { maxRssMiB: outcome.maxRssMiB, what };
        }
        rmSync(made.file, { force: true });
      }
      reports.push(report);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return reports;
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** The table printed at the end of every run. */
export function formatFamilyReports(reports: readonly FamilyReport[]): string {
  const lines = ["resource families (slowest case and largest peak RSS of each; goal: < 2 s and < 512 MiB on a quiet machine):"];
  for (const r of reports) {
    lines.push(`  ${r.family}: ${r.cases} runs, ${r.failures.length} failed`);
    if (r.slowest) lines.push(`    slowest ${r.slowest.ms.toFixed(0)} ms: ${r.slowest.what}`);
    if (r.largest) lines.push(`    largest ${r.largest.maxRssMiB} MiB: ${r.largest.what}`);
    for (const f of r.failures) lines.push(`    FAILED: ${f}`);
  }
  return lines.join("\n");
}

// Run alone (`tsx scripts/fuzz-resources.ts [--seed S] [--rounds N] [--family TEXT]`): the families
// whose name contains TEXT, without the byte-level campaign of scripts/fuzz.ts.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const option = (flag: string) => {
    const at = process.argv.indexOf(flag);
    return at < 0 ? undefined : process.argv[at + 1];
  };
  const seed = Number(option("--seed") ?? Date.now() % 2 ** 31);
  console.log(`resource families, seed ${seed}`);
  const reports = await runResourceFamilies(seed, Number(option("--rounds") ?? 2), 60_000, option("--family"));
  console.log(formatFamilyReports(reports));
  process.exitCode = reports.some((r) => r.failures.length > 0) ? 1 : 0;
}
