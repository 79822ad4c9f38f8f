/**
 * The shared benchmark harness: what a case is, how one is timed (warm-up, N samples, median and
 * min), how peak memory is read, and how results become tables and JSON. Every case runs alone in
 * a fresh child process (see run.ts and child.ts), so its peak RSS is its own.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** What a row of a table is: the library under test, a physical baseline, or what users would use instead. */
export type Role = "ndpack" | "baseline" | "peer" | "python";

/** Options of one benchmark run, the same in the parent and in every child. */
export interface BenchConfig {
  /** Smaller sizes and fewer samples, for a smoke test. */
  readonly quick: boolean;
  /** Timed samples per case (after the warm-up). */
  readonly runs: number;
  /** Untimed runs before the samples. */
  readonly warmup: number;
  /** A directory for this run's temporary files (deleted at the end). */
  readonly tmpDir: string;
  /** The directory holding the built package (`index.js`, `node/index.js`). */
  readonly buildDir: string;
}

/** A case's result fields that are not timings: bytes read, compressed sizes... */
export type Extra = Record<string, number | string | boolean>;

/** One thing to time, in a JavaScript child process. */
export interface JsCase<State = unknown> {
  readonly kind: "js";
  readonly scenario: string;
  readonly step: string;
  readonly lib: string;
  readonly role: Role;
  /** Payload bytes one run processes, for throughput (the arrays' bytes, the same for every library of a step). */
  readonly bytes: number;
  /** A remark printed under the table (what the library does differently, what it cannot do). */
  readonly note?: string;
  /** Builds the inputs; not timed. */
  setup(config: BenchConfig): State | Promise<State>;
  /** One run of the operation; its result is kept until the next run so that it cannot be optimized away. */
  run(state: State): unknown;
  /** Checks (untimed, after the samples) that the last run did the job; throws when it did not. */
  check?(state: State, result: unknown): void | Promise<void>;
  /** Measurements other than time, taken after the samples (bytes read, sizes). */
  extra?(state: State): Extra | Promise<Extra>;
  teardown?(state: State): void | Promise<void>;
  /**
   * Work shared by several cases (writing a big input file), done once per `key` in a child
   * process of its own before the first case that names it, so that no case's memory or time
   * includes it.
   */
  readonly prepare?: { readonly key: string; run(config: BenchConfig): Promise<void> };
  /** Overrides the configured sample count (long cases). */
  readonly runs?: number;
  readonly warmup?: number;
}

/** One thing timed by a Python subprocess's own loop (bench/peers.py), for reference. */
export interface PythonCase {
  readonly kind: "python";
  readonly scenario: string;
  readonly step: string;
  readonly lib: string;
  readonly role: "python";
  readonly bytes: number;
  readonly note?: string;
  /** Arguments after `bench/peers.py time`; the script receives `--runs` and `--warmup` too. */
  readonly args: readonly string[];
  /** Prepares input files the script reads (in the parent, untimed). */
  prepare?(config: BenchConfig): void | Promise<void>;
  readonly runs?: number;
  readonly warmup?: number;
}

export type Case = JsCase<any> | PythonCase;

/** A case that cannot run here (a peer without the feature), reported as such rather than dropped. */
export function unsupported(scenario: string, step: string, lib: string, role: Role, why: string): JsCase<null> {
  return {
    kind: "js",
    scenario,
    step,
    lib,
    role,
    bytes: 0,
    note: why,
    setup() {
      throw new Unsupported(why);
    },
    run() {},
  };
}

/** Thrown by a setup to say the case cannot run (reported as "n/a" with the reason). */
export class Unsupported extends Error {}

export function caseId(c: Pick<Case, "scenario" | "step" | "lib">): string {
  return `${c.scenario}/${c.step}/${c.lib}`;
}

/** What a case produced, as it is printed and written to JSON. */
export interface CaseResult {
  readonly id: string;
  readonly scenario: string;
  readonly step: string;
  readonly lib: string;
  readonly role: Role;
  readonly bytes: number;
  readonly note?: string;
  /** Milliseconds of each sample (one call each, after a full GC). */
  readonly samples?: readonly number[];
  /** Milliseconds of the first call in the case's fresh process (cold: nothing compiled yet). */
  readonly firstMs?: number;
  readonly medianMs?: number;
  readonly minMs?: number;
  /** Payload bytes per second at the median. */
  readonly throughput?: number;
  /** Peak resident set size of the whole process, in bytes. */
  readonly peakRss?: number;
  /** Peak resident set size once the inputs were built, before the first run, in bytes. */
  readonly setupRss?: number;
  readonly extra?: Extra;
  /** Why the case has no timing: unsupported, or failed. */
  readonly error?: string;
  readonly unsupported?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Timing

export interface MeasureOptions {
  readonly runs: number;
  readonly warmup: number;
  /** The warm-up continues until it has lasted this long (after its `warmup` calls). */
  readonly warmupMs: number;
}

/** Result of {@link measure}: milliseconds of each sample (one call each) and of the first call in the process. */
export interface Measurement {
  readonly samples: number[];
  readonly firstMs: number;
  readonly last: unknown;
}

const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc;

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

async function timeOneCall(fn: () => unknown): Promise<{ ms: number; result: unknown }> {
  const start = performance.now();
  let result = fn();
  if (isPromise(result)) result = await result;
  return { ms: performance.now() - start, result };
}

/**
 * Times `fn` as issue 14 asks, the way a program meets it: first the very first call in this fresh
 * process (after a full GC, before anything is compiled: most programs decode a file once); then
 * `warmup` untimed calls, continued until they have taken `warmupMs` in all (so that a fast
 * function is compiled by the optimizing tiers before it is timed); then `runs` samples of one call
 * each, every one after a full GC (with `--expose-gc`), so that no call's garbage is paid for by
 * the next and every library is measured with the same clean heap. With `warmup` 0 (cases of many
 * seconds) nothing runs untimed and the first call is the first sample.
 */
export async function measure(fn: () => unknown, options: MeasureOptions): Promise<Measurement> {
  gc?.();
  const first = await timeOneCall(fn);
  let last: unknown = first.result;
  const samples: number[] = [];
  if (options.warmup > 0) {
    let calls = 0;
    const started = performance.now();
    while (calls < options.warmup || (performance.now() - started < options.warmupMs && calls < 1_000_000)) {
      last = undefined;
      last = (await timeOneCall(fn)).result;
      calls++;
    }
  } else {
    samples.push(first.ms);
  }
  while (samples.length < options.runs) {
    last = undefined;
    gc?.();
    const call = await timeOneCall(fn);
    samples.push(call.ms);
    last = call.result;
  }
  return { samples, firstMs: first.ms, last };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Peak RSS of this process so far, in bytes (Linux reports kilobytes). */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** Bytes this process has read with read-like system calls so far (Linux `/proc/self/io` rchar; page-cache hits included). */
export function bytesReadSoFar(): number {
  const io = readFileSync("/proc/self/io", "utf8");
  const match = /^rchar:\s*(\d+)/m.exec(io);
  if (!match) throw new Error("/proc/self/io has no rchar line");
  return Number(match[1]);
}

/** Collects garbage when the process runs with `--expose-gc`. */
export function collectGarbage(): void {
  gc?.();
}

/**
 * Puts this process's memory allocator where a long-running program's is, the same for every case
 * (baselines included), before its setup: glibc raises its mmap and trim thresholds when it frees a
 * large mapped block, after which freed buffers of a few MiB are reused instead of going back to the
 * system and being faulted in again. Without it, processes with the same code took 0 or 650 to
 * 2,300 minor page faults per 4 MiB call (~1-2 ms of a 3-5 ms call: bench/HISTORY.md, "R1 with the
 * fast CRC-32"), which decided ratios between rows of one step. Blocks above 32 MiB (glibc's
 * largest threshold) are mapped afresh whatever happened before.
 */
export async function settleAllocator(): Promise<void> {
  // Mapped (glibc maps blocks above 128 KiB until the thresholds rise), dropped at once, freed by the collection.
  Buffer.allocUnsafeSlow(16 * 1024 * 1024);
  gc?.();
  // V8 frees an array's memory after the collection, on another thread.
  await new Promise((resolve) => setTimeout(resolve, 20));
  gc?.();
}

// ---------------------------------------------------------------------------------------------
// Loading the built package

/** The core entry of the built package (dist-equivalent, built by run.ts into `buildDir`). */
export type Ndpack = typeof import("../src/index.js");
/** The `ndpack/node` entry of the built package. */
export type NdpackNode = typeof import("../src/node/index.js");

export async function loadNdpack(config: BenchConfig): Promise<Ndpack> {
  return (await import(pathToFileURL(join(config.buildDir, "index.js")).href)) as Ndpack;
}

/** The built `ndpack/http` entry, as a user would import it. */
export async function loadNdpackHttp(config: BenchConfig): Promise<typeof import("../src/http.js")> {
  return (await import(pathToFileURL(join(config.buildDir, "http", "index.js")).href)) as typeof import("../src/http.js");
}

/** The built `ndpack/streams` entry, as a user would import it. */
export async function loadNdpackStreams(config: BenchConfig): Promise<typeof import("../src/streams.js")> {
  return (await import(pathToFileURL(join(config.buildDir, "streams", "index.js")).href)) as typeof import("../src/streams.js");
}

export async function loadNdpackNode(config: BenchConfig): Promise<NdpackNode> {
  return (await import(pathToFileURL(join(config.buildDir, "node", "index.js")).href)) as NdpackNode;
}

// ---------------------------------------------------------------------------------------------
// Data

/** Deterministic pseudo-random bytes (xorshift32), written over `bytes` 4 at a time. */
export function fillRandom(bytes: Uint8Array, seed = 0x9e3779b9): Uint8Array {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state;
  }
  for (let i = words.length * 4; i < bytes.length; i++) bytes[i] = i & 0xff;
  return bytes;
}

/** float32 values uniformly in [-1, 1), deterministic. */
export function randomFloat32(count: number, seed = 1): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = (state >>> 0) / 2147483648 - 1;
  }
  return out;
}

/** Reads every view's first and last element, so a lazy library has to produce each one. */
export function touch(views: Iterable<ArrayLike<unknown>>): number {
  let n = 0;
  for (const view of views) {
    if (view.length > 0 && view[0] !== undefined && view[view.length - 1] !== undefined) n++;
  }
  return n;
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

// ---------------------------------------------------------------------------------------------
// Python

const here = dirname(fileURLToPath(import.meta.url));
export const PEERS_PY = join(here, "peers.py");

/** Runs `python3 bench/peers.py ...args` and parses the JSON object it prints last. */
export function runPython(args: readonly string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", [PEERS_PY, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`python3 peers.py ${args.join(" ")} exited with ${code}: ${err.trim().split("\n").slice(-3).join(" | ")}`));
      const line = out.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        reject(new Error(`python3 peers.py printed no JSON: ${out.slice(0, 200)} ${err.slice(0, 200)}`));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Formatting

export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return "-";
  if (ms < 0.001) return `${(ms * 1e6).toFixed(0)} ns`;
  if (ms < 1) return `${(ms * 1e3).toFixed(ms < 0.01 ? 2 : ms < 0.1 ? 1 : 0)} µs`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** Decimal units: 1 MB/s is 10^6 bytes per second. */
export function formatRate(bytesPerSecond: number | undefined): string {
  if (bytesPerSecond === undefined || !Number.isFinite(bytesPerSecond)) return "-";
  if (bytesPerSecond >= 1e9) return `${(bytesPerSecond / 1e9).toFixed(2)} GB/s`;
  if (bytesPerSecond >= 1e6) return `${(bytesPerSecond / 1e6).toFixed(0)} MB/s`;
  return `${(bytesPerSecond / 1e3).toFixed(0)} kB/s`;
}

export function formatMiB(bytes: number | undefined): string {
  return bytes === undefined ? "-" : `${(bytes / MiB).toFixed(0)} MiB`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(bytes % GiB ? 2 : 0)} GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(bytes % MiB ? 2 : 0)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(bytes % 1024 ? 1 : 0)} KiB`;
  return `${bytes} B`;
}

/** A speed ratio `reference / time` (above 1: faster than the reference). */
export function formatRatio(ratio: number | undefined): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return "";
  return ratio >= 100 ? `${ratio.toFixed(0)}x` : ratio >= 10 ? `${ratio.toFixed(1)}x` : `${ratio.toFixed(2)}x`;
}

/** A plain text table with right-aligned columns after the first. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
