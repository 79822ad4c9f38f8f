/**
 * `npm run bench`: builds the package (tsup, into bench/.build), runs every case in its own child
 * process, prints one table per scenario step and the targets of issues 3, 4 and 7, and writes
 * everything to bench/results/<timestamp>.json.
 *
 *   tsx bench/run.ts [--quick] [--only S1,S2,S4/read] [--runs N] [--warmup N]
 *                    [--no-build] [--profile] [--list] [--build-only]
 *
 * --only takes scenario ids (S1 S2 S3 S4 S5 F3 scaling compression crc import) or id prefixes
 * (`S1/encode`, `S2/decode/ndpack`). --profile writes a V8 CPU profile of every JavaScript case to
 * bench/results/profiles/ (open in Chrome DevTools).
 *
 * @module
 */
import { fork, spawnSync } from "node:child_process";
import { cpus, freemem, totalmem } from "node:os";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { allCases, BENCH_DIR, BUILD_DIR, defaultConfig, REPO_DIR, SCENARIOS } from "./cases.js";
import {
  caseId,
  formatBytes,
  formatMiB,
  formatMs,
  formatRate,
  formatRatio,
  median,
  runPython,
  type BenchConfig,
  type Case,
  type CaseResult,
  type JsCase,
  type PythonCase,
} from "./harness.js";
import { evaluateTargets, type TargetResult } from "./targets.js";

interface Flags {
  quick: boolean;
  only: string[] | undefined;
  runs: number | undefined;
  warmup: number | undefined;
  build: boolean;
  buildOnly: boolean;
  profile: boolean;
  list: boolean;
}

function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = { quick: false, only: undefined, runs: undefined, warmup: undefined, build: true, buildOnly: false, profile: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const name = arg.split("=")[0];
    if (name === "--quick") flags.quick = true;
    else if (name === "--only") flags.only = value().split(",").map((s) => s.trim()).filter(Boolean);
    else if (name === "--runs") flags.runs = Number(value());
    else if (name === "--warmup") flags.warmup = Number(value());
    else if (name === "--no-build") flags.build = false;
    else if (name === "--build-only") flags.buildOnly = true;
    else if (name === "--profile") flags.profile = true;
    else if (name === "--list") flags.list = true;
    else if (name === "--help" || name === "-h") {
      console.log(readFileSync(new URL(import.meta.url), "utf8").split("*/")[0]);
      process.exit(0);
    } else throw new Error(`unknown flag ${arg} (see --help)`);
  }
  return flags;
}

function selected(c: Case, only: string[] | undefined): boolean {
  if (!only) return true;
  const id = caseId(c);
  return only.some((o) => o === c.scenario || id === o || id.startsWith(`${o}/`) || (o.includes("/") && id.startsWith(o)));
}

/** The machine, as bench/README.md records it. */
function machine(): Record<string, string | number> {
  const cpuinfo = (() => {
    try {
      return readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      return "";
    }
  })();
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? "unknown";
  const flagsLine = /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "";
  const simd = ["sse4_2", "avx2", "avx512f", "pclmulqdq"].filter((f) => flagsLine.split(" ").includes(f)).join(" ");
  const python = spawnSync("python3", ["-c", "import sys, numpy, safetensors; print('python', sys.version.split()[0] + ', numpy', numpy.__version__ + ', safetensors', safetensors.__version__)"], { encoding: "utf8" }).stdout.trim();
  const loadavg = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  return {
    cpu: model,
    cpuFlags: simd,
    nproc: cpus().length,
    memTotal: formatBytes(totalmem()),
    memFree: formatBytes(freemem()),
    node: process.version,
    python: python || "unavailable",
    loadAverageAtStart: loadavg,
    platform: `${process.platform} ${process.arch}`,
  };
}

function build(): void {
  process.stderr.write(`building the package into ${BUILD_DIR} (tsup, the project's config) ... `);
  const r = spawnSync("npx", ["tsup", "--out-dir", BUILD_DIR, "--no-dts", "--silent"], { cwd: REPO_DIR, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tsup failed:\n${r.stdout}\n${r.stderr}`);
  // --out-dir sends the command line's bundle (dist/cli/main.js in tsup.config.ts) to the top of
  // the build too; the cases run it from cli/, where dist/ has it (one file: no shared chunks).
  mkdirSync(join(BUILD_DIR, "cli"), { recursive: true });
  for (const file of ["main.js", "main.js.map"]) renameSync(join(BUILD_DIR, file), join(BUILD_DIR, "cli", file));
  // The page toucher the core loads from beside its code (src/runtime.ts): beside the command's bundle too.
  copyFileSync(join(BUILD_DIR, "page-toucher.cjs"), join(BUILD_DIR, "cli", "page-toucher.cjs"));
  process.stderr.write("done\n");
}

const CHILD_TIMEOUT_MS = 30 * 60 * 1000;

const prepared = new Set<string>();

async function runJsCase(c: JsCase<unknown>, config: BenchConfig, profile: boolean): Promise<CaseResult> {
  const base = { id: caseId(c), scenario: c.scenario, step: c.step, lib: c.lib, role: c.role, bytes: c.bytes };
  if (c.prepare && !prepared.has(c.prepare.key)) {
    const ok = await new Promise<boolean>((resolve) => {
      const child = fork(join(BENCH_DIR, "child.ts"), ["--prepare", caseId(c), JSON.stringify(config)], { cwd: REPO_DIR, execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
      let done = false;
      child.on("message", () => (done = true));
      child.on("exit", () => resolve(done));
    });
    if (!ok) return { ...base, error: `preparing ${c.prepare.key} failed` };
    prepared.add(c.prepare.key);
  }
  return new Promise((resolve) => {
    const execArgv = ["--expose-gc", "--import", "tsx"];
    if (profile) execArgv.push("--cpu-prof", "--cpu-prof-dir", join(BENCH_DIR, "results", "profiles"), "--cpu-prof-name", `${caseId(c).replace(/[^A-Za-z0-9.-]+/g, "_")}.cpuprofile`);
    const child = fork(join(BENCH_DIR, "child.ts"), [caseId(c), JSON.stringify(config)], { cwd: REPO_DIR, execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let result: CaseResult | undefined;
    const timer = setTimeout(() => child.kill("SIGKILL"), CHILD_TIMEOUT_MS);
    child.on("message", (m) => (result = m as CaseResult));
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve(result ?? { ...base, error: `child exited with ${signal ?? code} and no result` });
    });
  });
}

async function runPythonCase(c: PythonCase, config: BenchConfig): Promise<CaseResult> {
  const base = { id: caseId(c), scenario: c.scenario, step: c.step, lib: c.lib, role: c.role, bytes: c.bytes, ...(c.note === undefined ? {} : { note: c.note }) };
  try {
    await c.prepare?.(config);
    const runs = c.runs ?? config.runs;
    const warmup = c.warmup ?? config.warmup;
    const r = await runPython(["time", ...c.args, "--runs", String(runs), "--warmup", String(warmup), "--warmup-ms", config.quick ? "100" : "300"]);
    const samples = r.samples as number[];
    const medianMs = median(samples);
    return {
      ...base,
      samples,
      firstMs: r.firstMs as number,
      medianMs,
      minMs: Math.min(...samples),
      ...(c.bytes > 0 ? { throughput: c.bytes / (medianMs / 1000) } : {}),
      peakRss: r.peakRss as number,
      setupRss: r.setupRss as number,
      extra: r.extra as CaseResult["extra"] & object,
    };
  } catch (error) {
    return { ...base, error: (error as Error).message.slice(0, 500) };
  }
}

// ---------------------------------------------------------------------------------------------
// Report

/** Median of the step's reference: its baseline row (the first one, when there are several). */
function stepBaseline(rows: readonly CaseResult[]): CaseResult | undefined {
  return rows.find((r) => r.role === "baseline" && r.medianMs !== undefined);
}

function bestJsPeer(rows: readonly CaseResult[]): CaseResult | undefined {
  return rows.filter((r) => r.role === "peer" && r.medianMs !== undefined).sort((a, b) => a.medianMs! - b.medianMs!)[0];
}

function stepTable(rows: readonly CaseResult[]): string {
  const baseline = stepBaseline(rows);
  const peer = bestJsPeer(rows);
  const ratioOf = (r: CaseResult) => (typeof r.extra?.ratio === "number" ? r.extra.ratio : typeof r.extra?.storedBytes === "number" && r.scenario === "compression" ? r.bytes / r.extra.storedBytes : undefined);
  const hasRatio = rows.some((r) => ratioOf(r) !== undefined);
  const hasPerItem = rows.some((r) => typeof r.extra?.arrays === "number");
  const hasBytesRead = rows.some((r) => typeof r.extra?.bytesRead === "number");
  const hasImport = rows.some((r) => typeof r.extra?.importMs === "number");
  const hasCpu = rows.some((r) => typeof r.extra?.producerCpuMs === "number");
  const hasChild = rows.some((r) => typeof r.extra?.childPeakRss === "number");
  const header = ["library", "median", "min", "first call", "throughput", "peak RSS", "RSS over setup"];
  if (hasPerItem) header.push("per array");
  const hasHeap = rows.some((r) => typeof r.extra?.heapPerArray === "number");
  if (hasHeap) header.push("heap per array");
  if (hasRatio) header.push("ratio");
  if (hasBytesRead) header.push("bytes read");
  if (hasImport) header.push("import (in process: median wall, min wall, median CPU)");
  if (hasCpu) header.push("CPU per run (median): producer, consumer");
  if (hasChild) header.push("child process (peak RSS, CPU, cores = CPU / wall)");
  header.push(baseline ? `vs ${shortName(baseline.lib)}` : "vs baseline", peer ? `vs best JS peer (${shortName(peer.lib)})` : "vs best JS peer");
  const lines = [`| ${header.join(" | ")} |`, `|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`];
  for (const r of rows) {
    const cells: string[] = [roleMark(r) + r.lib];
    if (r.medianMs === undefined) {
      cells.push(r.unsupported ? `n/a: ${r.error}` : `FAILED: ${r.error}`);
      while (cells.length < header.length) cells.push("");
    } else {
      cells.push(formatMs(r.medianMs), formatMs(r.minMs), r.firstMs === undefined ? "" : formatMs(r.firstMs), formatRate(r.throughput), formatMiB(r.peakRss), formatMiB(r.peakRss! - r.setupRss!));
      if (hasPerItem) cells.push(typeof r.extra?.arrays === "number" ? formatMs(r.medianMs / r.extra.arrays) : "");
      if (hasHeap) cells.push(typeof r.extra?.heapPerArray === "number" ? `${r.extra.heapPerArray.toLocaleString("en-US")} B` : "");
      if (hasRatio) cells.push(ratioOf(r) !== undefined ? `${ratioOf(r)!.toFixed(2)}${r.extra?.codec === "none" ? " (stored raw)" : ""}` : "");
      if (hasBytesRead) cells.push(typeof r.extra?.bytesRead === "number" ? `${r.extra.bytesRead.toLocaleString("en-US")}${typeof r.extra.allowedBytes === "number" ? ` (allowed ${r.extra.allowedBytes.toLocaleString("en-US")})` : ""}` : "");
      if (hasImport) cells.push(typeof r.extra?.importMs === "number" ? `${formatMs(r.extra.importMs)}, ${formatMs(Number(r.extra.importMinMs))}, CPU ${formatMs(Number(r.extra.importCpuMs))}` : "");
      if (hasCpu) cells.push(typeof r.extra?.producerCpuMs === "number" ? `${formatMs(r.extra.producerCpuMs)}, ${typeof r.extra.consumerCpuMs === "number" ? formatMs(r.extra.consumerCpuMs) : "-"}` : "");
      if (hasChild) cells.push(typeof r.extra?.childPeakRss === "number" ? `${formatMiB(r.extra.childPeakRss)}, ${formatMs(Number(r.extra.childCpuMs))}, ${String(r.extra.cores)}` : "");
      cells.push(baseline && r !== baseline ? formatRatio(baseline.medianMs! / r.medianMs) : "");
      cells.push(peer && r !== peer ? formatRatio(peer.medianMs! / r.medianMs) : "");
    }
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

function shortName(lib: string): string {
  return lib.replace(/ \(.*\)$/, "");
}

function roleMark(r: CaseResult): string {
  return r.role === "baseline" ? "_baseline_: " : r.role === "python" ? "" : "";
}

/**
 * The one table of the run: every target with ndpack's row, the peers of the same step (fastest
 * first, with their times and the first call), the ratio measured, the target and whether it is met.
 */
function summaryTable(results: readonly CaseResult[], targets: readonly TargetResult[]): string {
  const byId = new Map(results.map((r) => [r.id, r]));
  const lines = ["| target | ndpack: median (first call) | peers in the same run: median (first call) | measured | required | met |", "|---|---:|---|---:|---:|---|"];
  for (const t of targets) {
    const row = t.id === undefined ? undefined : byId.get(t.id);
    const peers = row === undefined ? [] : results.filter((r) => r.scenario === row.scenario && r.step === row.step && (r.role === "peer" || r.role === "python") && r.medianMs !== undefined).sort((a, b) => a.medianMs! - b.medianMs!);
    const time = (r: CaseResult) => `${formatMs(r.medianMs)}${r.firstMs === undefined ? "" : ` (${formatMs(r.firstMs)})`}`;
    const ndpackCell = row?.medianMs === undefined ? "" : time(row);
    const peersCell = peers.map((p) => `${shortName(p.lib)} ${time(p)}`).join("; ");
    lines.push(`| ${t.name} | ${ndpackCell} | ${peersCell} | ${t.measured} | ${t.required} | ${t.met === undefined ? "not measured" : t.met ? "yes" : "**no**"} |`);
  }
  return lines.join("\n");
}

function report(results: readonly CaseResult[], targets: readonly TargetResult[], config: BenchConfig, info: Record<string, string | number>): string {
  const out: string[] = [];
  out.push(`## Run of ${new Date().toISOString()}${config.quick ? " (--quick: smaller sizes)" : ""}`, "");
  out.push(Object.entries(info).map(([k, v]) => `- ${k}: ${v}`).join("\n"), "");
  if (targets.length) out.push("### Targets", "", summaryTable(results, targets), "");
  out.push(`Each row: the first call in a fresh process, ${config.warmup} or more warm-up run(s), then ${config.runs} samples of one call each, a full GC before each (fewer samples where a case says so); each case in a fresh process. Ratios are speed ratios at the median (reference time / row time: above 1 is faster than the reference). Throughput counts the arrays' bytes, in decimal units. RSS over setup: peak RSS minus the peak once the inputs existed.`, "");
  for (const scenario of Object.keys(SCENARIOS)) {
    const ofScenario = results.filter((r) => r.scenario === scenario);
    if (ofScenario.length === 0) continue;
    out.push(`### ${scenario}: ${SCENARIOS[scenario]}`, "");
    const steps = [...new Set(ofScenario.map((r) => r.step))];
    for (const step of steps) {
      const rows = ofScenario.filter((r) => r.step === step);
      out.push(`**${step}** (${formatBytes(rows[0]!.bytes)} of arrays)`, "", stepTable(rows), "");
    }
    const notes = [...new Set(ofScenario.map((r) => r.note).filter((n): n is string => n !== undefined))];
    if (notes.length) out.push(notes.map((n) => `- ${n}`).join("\n"), "");
  }
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const tmpDir = mkdtempSync(join(tmpdir(), "ndpack-bench-"));
  const config = defaultConfig({ quick: flags.quick, tmpDir, buildDir: BUILD_DIR, ...(flags.runs ? { runs: flags.runs } : {}), ...(flags.warmup !== undefined ? { warmup: flags.warmup } : {}) });
  const cases = allCases(config).filter((c) => selected(c, flags.only));
  if (flags.list) {
    for (const c of cases) console.log(`${caseId(c)}${c.kind === "python" ? "  (python)" : ""}`);
    rmSync(tmpDir, { recursive: true, force: true });
    return;
  }
  if (flags.build || flags.buildOnly) build();
  if (flags.buildOnly) return;
  if (cases.length === 0) throw new Error(`no case matches --only ${flags.only?.join(",")}`);
  const info = machine();
  const results: CaseResult[] = [];
  const started = Date.now();
  try {
    for (const [i, c] of cases.entries()) {
      process.stderr.write(`[${i + 1}/${cases.length}] ${caseId(c)} ... `);
      const t0 = Date.now();
      const r = c.kind === "python" ? await runPythonCase(c, config) : await runJsCase(c, config, flags.profile);
      results.push(r);
      process.stderr.write(`${r.medianMs !== undefined ? `${formatMs(r.medianMs)} (${formatRate(r.throughput)}, peak RSS ${formatMiB(r.peakRss)})` : r.unsupported ? `n/a (${r.error})` : `FAILED: ${r.error}`} [${((Date.now() - t0) / 1000).toFixed(1)} s]\n`);
    }
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
  const targets = evaluateTargets(results);
  const text = report(results, targets, config, info);
  console.log(text);
  const resultsDir = join(BENCH_DIR, "results");
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const jsonPath = join(resultsDir, `${stamp}${config.quick ? "-quick" : ""}.json`);
  writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), config: { ...config, tmpDir: undefined }, flags, machine: info, durationSeconds: (Date.now() - started) / 1000, targets, results }, null, 1));
  writeFileSync(jsonPath.replace(/\.json$/, ".md"), text);
  process.stderr.write(`\nresults: ${jsonPath} (and .md); ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

await main();
