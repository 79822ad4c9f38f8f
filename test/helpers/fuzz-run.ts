/**
 * The fuzz campaign's case runner and loop, shared by `test/fuzz.test.ts` (bounded) and
 * `scripts/fuzz.ts` (as long as asked).
 *
 * A case passes when its input ends as a valid decode or as an NdpackError with a code FORMAT.md §9
 * gives for that phase, and nothing else goes wrong on the way. "Valid decode" is checked through
 * the whole API: `decode` returns; then `get` of every name returns or throws a read-time code;
 * iteration agrees with `get`; `verify` returns a report (never throws) that agrees with `decode`;
 * `decode(..., { verify: true })` agrees with the report; and the native and pure-JS inflaters agree
 * on every compressed array. Throughout: no other exception type, no allocation larger than the
 * input plus the limits, and no change to `Object.prototype`. Time is reported, never asserted
 * by `npm test`: only the fuzz script (`timeLimitMs`) fails a case for being slow.
 */
import { performance } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import { decode, verify, type ArrayInfo, type DecodeOptions, type NdArray, type NdpackFile, type VerifyReport } from "../../src/decode.js";
import { DTYPES } from "../../src/dtypes.js";
import { NdpackError, type ErrorCode } from "../../src/errors.js";
import type { ReadLimits } from "../../src/format.js";
import { nativeZlib } from "../../src/runtime.js";
import { makeCase, type FuzzCase } from "./fuzz-mutate.js";
import { typescriptOutcome } from "./fuzz-python.js";
import type { Seed } from "./fuzz-seeds.js";
import { readValidationSteps, stepOf } from "./fuzz-spec.js";
import { withoutNativeZlib } from "./engines.js";

const STEPS = readValidationSteps();
/** Codes `decode` may throw: those of §9 steps 1–21. */
const EAGER_CODES = new Set<string>(STEPS.filter((s) => !s.atRead).flatMap((s) => s.codes));
/** Codes `get` (and iteration) may throw: step 23's. COPY_REQUIRED only with `copy: "never"`. */
const READ_CODES = new Set<string>(STEPS.filter((s) => s.step === 23).flatMap((s) => s.codes));
/** Codes a per-array `verify` result may carry: step 22's. */
const VERIFY_CODES = new Set<string>(STEPS.filter((s) => s.step === 22).flatMap((s) => s.codes));

/** The fuzz script's time limit per case: a case slower than this at best of three runs fails there. */
export const CASE_TIME_LIMIT_MS = 100;
/** What the limit grows by per MiB of input: the limits' own vectors hold 2 MB headers, which every reader parses in full. */
const CASE_TIME_PER_MIB_MS = 100;

/** The time limit of one case of `inputBytes` bytes, from the limit of a small one: linear in the input, so that a superlinear path still fails it. */
export function caseTimeLimit(limitMs: number, inputBytes: number): number {
  return limitMs + (CASE_TIME_PER_MIB_MS * inputBytes) / (1024 * 1024);
}
/** Slack on top of the allocation bound, for the engine's own buffers. */
const ALLOCATION_MARGIN = 1024 * 1024;

/**
 * The most one call may grow external memory (`process.memoryUsage().arrayBuffers`): the input once (a copy of a
 * whole payload), plus a small multiple of the decoded-size limit, plus a margin. The multiple is
 * the inflaters' working memory: zlib collects its output in chunks, concatenates them, and the
 * result is copied to memory of its own; pako writes into a fixed buffer of the declared size;
 * unshuffling writes one more copy. A compression bomb that inflates far past the declared size,
 * or a size taken from the header and allocated before it is checked, goes beyond it.
 */
export function allocationBound(input: Uint8Array, limits: Pick<ReadLimits, "maxDecodedBytes">): number {
  return input.length + ALLOCATION_FACTOR * limits.maxDecodedBytes + ALLOCATION_MARGIN;
}

/** See {@link allocationBound}. */
const ALLOCATION_FACTOR = 8;

/**
 * Extra allowance for the pure-JS inflater (pako: runtimes without native zlib, i.e. browsers): its
 * 32 KiB window and one 64 KiB output chunk, produced before the size check sees it, whatever the
 * array's declared size. Reported with the campaign.
 */
const PURE_JS_ALLOWANCE = 1024 * 1024;

/** What one case did. */
export interface CaseReport {
  /** The code `decode` threw, or `undefined` for a valid decode. */
  readonly decodeCode: ErrorCode | undefined;
  /** `"step:CODE"` of every §9 check this case ended in (decode, get, verify). */
  readonly reached: readonly string[];
  /** Every broken invariant; empty when the case passes. */
  readonly problems: readonly string[];
  /** The largest growth of external memory (ArrayBuffers) over one call, in bytes. */
  readonly maxAllocation: number;
  /** The same, over one `get` through pako (see {@link PURE_JS_ALLOWANCE}). */
  readonly maxPureJsAllocation: number;
}

/**
 * Memory held outside the JS heap, ArrayBuffers included: the same counter as
 * `process.memoryUsage().arrayBuffers` (plus a few engine buffers), read six times faster.
 */
const externalMemory = () => getHeapStatistics().external_memory;

/** Object.prototype's own keys and extensibility, to be compared after every case. */
function prototypeFingerprint(): string {
  const keys = (o: object) => Reflect.ownKeys(o).map(String).join(",");
  return `${keys(Object.prototype)}|${keys(Array.prototype)}|${keys(Function.prototype)}|${Object.isExtensible(Object.prototype)}`;
}
const PROTOTYPES = prototypeFingerprint();

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}\n${error.stack?.split("\n").slice(1, 6).join("\n") ?? ""}`;
  return String(error);
}

function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** `get(name)` with the pure-JS inflater (pako) instead of native zlib. */
function getWithoutNativeZlib(file: NdpackFile, name: string): NdArray {
  return withoutNativeZlib(() => file.get(name));
}

/** Runs one input through the whole API and checks every invariant (see the module comment). */
export function runCase(input: Uint8Array, options: DecodeOptions): CaseReport {
  const problems: string[] = [];
  const reached = new Set<string>();
  const { copy: _copy, verify: _verify, ...limits } = options;
  const bound = allocationBound(input, { maxDecodedBytes: options.maxDecodedBytes ?? 1024 ** 3 });
  let maxAllocation = 0;
  let maxPureJsAllocation = 0;

  /** Runs `fn`, recording its allocation; returns its result, or the NdpackError it threw. */
  const call = <T>(what: string, fn: () => T, pureJs = false): { value?: T; error?: NdpackError; failed?: true } => {
    const before = externalMemory();
    try {
      return { value: fn() };
    } catch (error) {
      if (error instanceof NdpackError) return { error };
      problems.push(`${what} threw a non-NdpackError: ${describe(error)}`);
      return { failed: true };
    } finally {
      const grown = externalMemory() - before;
      const allowed = pureJs ? bound + PURE_JS_ALLOWANCE : bound;
      if (pureJs) maxPureJsAllocation = Math.max(maxPureJsAllocation, grown);
      else maxAllocation = Math.max(maxAllocation, grown);
      if (grown > allowed) problems.push(`${what} grew external memory by ${grown} bytes, more than the bound of ${allowed}`);
    }
  };
  const record = (error: NdpackError, phase: "decode" | "read" | "verify") => {
    const step = stepOf(error, phase, input);
    if (step === undefined) problems.push(`${phase}: cannot tell which §9 step raised ${error.code} (${error.message})`);
    else reached.add(`${step}:${error.code}`);
  };

  const decoded = call("decode", () => decode(input, options));
  const report = call("verify", () => verify(input, limits));
  if (report.error) problems.push(`verify threw ${report.error.code} instead of reporting it: ${report.error.message}`);
  const file = decoded.value;
  if (decoded.error) {
    const { code } = decoded.error;
    if (!EAGER_CODES.has(code)) problems.push(`decode threw ${code}, which is not a code of FORMAT.md §9 steps 1-21: ${decoded.error.message}`);
    else record(decoded.error, "decode");
    if (report.value && (report.value.ok || report.value.error?.code !== code)) {
      problems.push(`decode threw ${code} but verify reported ${report.value.ok ? "ok" : report.value.error?.code}`);
    }
  }
  if (file && report.value) checkValidFile(file, report.value, input, options, problems, call, record);

  // The same bytes at offset 0 of memory of their own must give the same outcome.
  if (input.byteOffset !== 0 || !(input.buffer instanceof ArrayBuffer)) {
    const here = JSON.stringify(call("outcome", () => typescriptOutcome(input, options)).value);
    const plain = JSON.stringify(call("outcome of a copy", () => typescriptOutcome(input.slice(), options)).value);
    if (here !== plain) problems.push(`the input gives ${here} where it lies, but ${plain} copied to offset 0 of an ArrayBuffer`);
  }

  if (prototypeFingerprint() !== PROTOTYPES) problems.push("Object.prototype, Array.prototype or Function.prototype changed");
  for (const key in {}) problems.push(`Object.prototype gained the enumerable property ${JSON.stringify(key)}`);
  return { decodeCode: decoded.error?.code, reached: [...reached], problems, maxAllocation, maxPureJsAllocation };
}

type Call = <T>(what: string, fn: () => T, pureJs?: boolean) => { value?: T; error?: NdpackError; failed?: true };

/** The invariants of a file that decoded. */
function checkValidFile(
  file: NdpackFile,
  report: VerifyReport,
  input: Uint8Array,
  options: DecodeOptions,
  problems: string[],
  call: Call,
  record: (error: NdpackError, phase: "decode" | "read" | "verify") => void,
): void {
  const names = file.names;
  if (new Set(names).size !== names.length || file.size !== names.length) problems.push("names are not unique, or size differs from names.length");
  if (Object.getPrototypeOf(file.metadata) !== Object.prototype) problems.push("metadata's prototype is not Object.prototype");

  // verify() agrees with decode() on the structure and reports each array with a step-22 code.
  if (report.error) problems.push(`decode succeeded but verify reported ${report.error.code}`);
  if (report.arrays.length !== names.length || report.arrays.some((a, i) => a.name !== names[i])) problems.push("verify's arrays differ from the file's names");
  for (const a of report.arrays) {
    if (!a.error) continue;
    if (!VERIFY_CODES.has(a.error.code)) problems.push(`verify reported ${a.error.code} for "${a.name}", not a code of §9 step 22`);
    else record(a.error, "verify");
  }

  // get() of every name: an array of the declared size, or a read-time code.
  const outcomes = new Map<string, NdArray | NdpackError>();
  for (const name of names) {
    if (!file.has(name)) problems.push(`has(${JSON.stringify(name)}) is false for a listed name`);
    let info: ArrayInfo | undefined;
    try {
      info = file.info(name);
    } catch (error) {
      problems.push(`info(${JSON.stringify(name)}) threw: ${describe(error)}`);
    }
    const got = call(`get(${JSON.stringify(name)})`, () => file.get(name));
    if (got.failed) continue;
    if (got.error) {
      const { code } = got.error;
      outcomes.set(name, got.error);
      if (code === "COPY_REQUIRED" && options.copy === "never") continue;
      if (!READ_CODES.has(code)) problems.push(`get threw ${code}, which is not a code of §9 step 23: ${got.error.message}`);
      else record(got.error, "read");
      if (code === "LIMIT_EXCEEDED" && info && info.nbytes <= (options.maxDecodedBytes ?? Infinity)) problems.push(`get threw LIMIT_EXCEEDED for ${info.nbytes} bytes, within the limit`);
      continue;
    }
    const array = got.value!;
    outcomes.set(name, array);
    const expectedView = DTYPES[array.dtype].view;
    if (!(array.data instanceof expectedView)) problems.push(`get("${name}").data is a ${array.data.constructor.name}, not a ${expectedView.name}`);
    if (array.data.byteLength !== array.nbytes) problems.push(`get("${name}").data has ${array.data.byteLength} bytes, not nbytes ${array.nbytes}`);
    if (options.copy === "never" && array.copied) problems.push(`get("${name}") copied with copy: "never"`);
    if (options.copy === "always" && !array.copied) problems.push(`get("${name}") did not copy with copy: "always"`);
    if (!array.copied && array.data.buffer !== input.buffer) problems.push(`get("${name}") says it did not copy, but does not view the input`);
    if (array.offset + array.byteLength > input.length) problems.push(`get("${name}") has a payload past the end of the input`);
  }

  // Iteration yields what get() gave, and throws the first error get() threw.
  const firstError = names.map((n) => outcomes.get(n)).find((o) => o instanceof NdpackError);
  const iterated = call("iteration", () => [...file]);
  if (iterated.value) {
    if (firstError) problems.push(`iteration succeeded although get threw ${firstError.code}`);
    if (iterated.value.length !== names.length || iterated.value.some((a, i) => a !== outcomes.get(names[i]!))) problems.push("iteration differs from get()");
  } else if (iterated.error && (!firstError || iterated.error.code !== firstError.code)) {
    problems.push(`iteration threw ${iterated.error.code}, get threw ${firstError?.code ?? "nothing"}`);
  }

  // decode(..., { verify: true }) throws exactly when verify() finds a damaged array, with its code.
  const verified = call("decode({ verify: true })", () => decode(input, { ...options, verify: true }));
  const firstDamage = report.arrays.find((a) => !a.ok)?.error;
  if (verified.value && firstDamage) problems.push(`decode({ verify: true }) succeeded but verify reported ${firstDamage.code}`);
  if (verified.error && verified.error.code !== firstDamage?.code) problems.push(`decode({ verify: true }) threw ${verified.error.code}, verify reported ${firstDamage?.code ?? "ok"}`);

  // Native zlib and pako (the browsers' path) agree on every compressed array.
  if (nativeZlib.inflateRawSync && options.copy !== "never" && names.some((n) => file.info(n).codec !== "none")) {
    const again = call("decode (for pako)", () => decode(input, options)).value;
    for (const name of names) {
      if (!again || again.info(name).codec === "none") continue;
      const pure = call(`get(${JSON.stringify(name)}) with pako`, () => getWithoutNativeZlib(again, name), true);
      const native = outcomes.get(name);
      if (pure.failed || native === undefined) continue;
      const pureCode = pure.error?.code;
      const nativeCode = native instanceof NdpackError ? native.code : undefined;
      if (pureCode !== nativeCode) problems.push(`"${name}": native zlib gave ${nativeCode ?? "an array"}, pako gave ${pureCode ?? "an array"}`);
      else if (pure.value && !(native instanceof NdpackError) && !sameBytes(pure.value.data, native.data)) problems.push(`"${name}": native zlib and pako decoded different bytes`);
    }
  }
}

/** A case that broke an invariant, with what it takes to reproduce it. */
export interface CaseFailure {
  readonly seed: number;
  readonly index: number;
  readonly seedName: string;
  readonly mutations: readonly string[];
  /** The options the case read its input with (`DecodeOptions`, or the formats' campaign's `FormatCaseOptions`). */
  readonly options: object;
  readonly problems: readonly string[];
  readonly input: Uint8Array;
}

/** Counts of everything a campaign did. */
export interface CampaignStats {
  cases: number;
  elapsedMs: number;
  /** Cases whose input decoded. */
  valid: number;
  /** Cases per code `decode` threw (`"valid"` for none). */
  readonly outcomes: Map<string, number>;
  /** Cases per `"step:CODE"` reached (the formats' campaign: per pair of codes two readers refused one input with). */
  readonly reached: Map<string, number>;
  /** Cases per mutation label. */
  readonly mutations: Map<string, number>;
  readonly failures: CaseFailure[];
  /** Slowest case as first measured, and its index. */
  maxCaseMs: number;
  slowestIndex: number;
  /** Slowest case after re-running every case that took over the limit (minimum of three runs). */
  maxRerunMs: number;
  maxAllocation: number;
  maxPureJsAllocation: number;
  /** Cases also read by the Python reference (set by the long campaign). */
  compared: number;
}

export function emptyStats(): CampaignStats {
  return { cases: 0, elapsedMs: 0, valid: 0, outcomes: new Map(), reached: new Map(), mutations: new Map(), failures: [], maxCaseMs: 0, slowestIndex: -1, maxRerunMs: 0, maxAllocation: 0, maxPureJsAllocation: 0, compared: 0 };
}

const bump = (map: Map<string, number>, key: string, by = 1) => map.set(key, (map.get(key) ?? 0) + by);

/** Adds `more` into `into` (for campaigns split across workers or restarts). */
export function mergeStats(into: CampaignStats, more: CampaignStats): void {
  into.cases += more.cases;
  into.compared += more.compared;
  into.valid += more.valid;
  for (const key of ["outcomes", "reached", "mutations"] as const) for (const [k, v] of more[key]) bump(into[key], k, v);
  into.failures.push(...more.failures);
  if (more.maxCaseMs > into.maxCaseMs) {
    into.maxCaseMs = more.maxCaseMs;
    into.slowestIndex = more.slowestIndex;
  }
  into.maxRerunMs = Math.max(into.maxRerunMs, more.maxRerunMs);
  into.maxAllocation = Math.max(into.maxAllocation, more.maxAllocation);
  into.maxPureJsAllocation = Math.max(into.maxPureJsAllocation, more.maxPureJsAllocation);
}

export interface CampaignConfig {
  readonly seed: number;
  readonly seeds: readonly Seed[];
  /** First case index (default 0). */
  readonly start?: number;
  /** Stop after this many cases... */
  readonly cases?: number;
  /** ...or when this many seconds have passed, whichever comes first. */
  readonly seconds?: number;
  /**
   * Fail a case slower than this many milliseconds at best of three runs (the fuzz script sets
   * {@link CASE_TIME_LIMIT_MS}). Unset in `npm test`, whose cases must pass on a loaded machine:
   * there the times are only reported.
   */
  readonly timeLimitMs?: number;
  /** Called before each case runs (the long campaign's hang watchdog listens here). */
  readonly onCaseStart?: (index: number) => void;
  /** Called after each case, with the case (the long campaign samples them for the Python reference). */
  readonly onCaseDone?: (fuzzCase: FuzzCase, report: CaseReport) => void;
  readonly onFailure?: (failure: CaseFailure) => void;
  /** Called about every `progressEvery` cases with the statistics so far. */
  readonly onProgress?: (stats: CampaignStats) => void;
  readonly progressEvery?: number;
}

/** One finished case, as {@link tallyCase} counts it. */
export interface CaseTally {
  readonly index: number;
  /** Its first run's time, and its best of three when the first was over the limit. */
  readonly ms: number;
  readonly settledMs: number;
  /** `"valid"`, or the code the input was refused with. */
  readonly outcome: string;
  readonly mutations: readonly string[];
  readonly maxAllocation: number;
  readonly failure: CaseFailure | undefined;
}

/** Counts one case into `stats` (shared by this campaign and the formats' campaign of fuzz-formats.ts). */
export function tallyCase(stats: CampaignStats, tally: CaseTally): void {
  if (tally.ms > stats.maxCaseMs) {
    stats.maxCaseMs = tally.ms;
    stats.slowestIndex = tally.index;
  }
  stats.maxRerunMs = Math.max(stats.maxRerunMs, tally.settledMs);
  stats.cases++;
  if (tally.outcome === "valid" || tally.outcome.endsWith(":valid")) stats.valid++;
  bump(stats.outcomes, tally.outcome);
  for (const label of new Set(tally.mutations)) bump(stats.mutations, label);
  stats.maxAllocation = Math.max(stats.maxAllocation, tally.maxAllocation);
  if (tally.failure) stats.failures.push(tally.failure);
}

/** Times one run of a case, in milliseconds. */
function timeCase(fuzzCase: FuzzCase): { report: CaseReport; ms: number } {
  const t0 = performance.now();
  const report = runCase(fuzzCase.input, fuzzCase.options);
  return { report, ms: performance.now() - t0 };
}

/** Runs cases `start`, `start + 1`, ... of campaign `seed` until `cases` or `seconds` runs out. */
export function runCampaign(config: CampaignConfig): CampaignStats {
  const stats = emptyStats();
  const start = config.start ?? 0;
  const deadline = config.seconds === undefined ? Infinity : performance.now() + config.seconds * 1000;
  const limit = config.cases ?? Infinity;
  const every = config.progressEvery ?? 10_000;
  const t0 = performance.now();
  for (let i = 0; i < limit; i++) {
    if ((i & 63) === 0 && performance.now() >= deadline) break;
    const index = start + i;
    config.onCaseStart?.(index);
    const fuzzCase = makeCase(config.seeds, config.seed, index);
    const { report, ms } = timeCase(fuzzCase);
    const problems = [...report.problems];
    let settledMs = ms;
    const timeLimit = caseTimeLimit(config.timeLimitMs ?? CASE_TIME_LIMIT_MS, fuzzCase.input.length);
    if (ms > timeLimit) {
      // A loaded machine can stall any case; only a case slow three times running is slow.
      settledMs = Math.min(...[0, 1, 2].map(() => timeCase(fuzzCase).ms));
      if (config.timeLimitMs !== undefined && settledMs > timeLimit) problems.push(`took ${settledMs.toFixed(1)} ms at best of 3 runs (limit ${timeLimit.toFixed(0)} ms)`);
    }
    for (const key of report.reached) bump(stats.reached, key);
    stats.maxPureJsAllocation = Math.max(stats.maxPureJsAllocation, report.maxPureJsAllocation);
    const failure = problems.length > 0 ? { seed: config.seed, index, seedName: fuzzCase.seedName, mutations: fuzzCase.mutations, options: fuzzCase.options, problems, input: fuzzCase.input } : undefined;
    tallyCase(stats, { index, ms, settledMs, outcome: report.decodeCode ?? "valid", mutations: fuzzCase.mutations, maxAllocation: report.maxAllocation, failure });
    if (failure) config.onFailure?.(failure);
    config.onCaseDone?.(fuzzCase, report);
    if (config.onProgress && (i + 1) % every === 0) {
      stats.elapsedMs = performance.now() - t0;
      config.onProgress(stats);
    }
  }
  stats.elapsedMs = performance.now() - t0;
  return stats;
}

/** A one-line description of a failure, with what reproduces it. */
export function describeFailure(failure: CaseFailure): string {
  const input = failure.input.length <= 4096 ? Buffer.from(failure.input).toString("base64") : `(${failure.input.length} bytes, not shown)`;
  return [
    `case ${failure.index} of seed ${failure.seed} (from ${failure.seedName}; ${failure.mutations.join(", ")}; options ${JSON.stringify(failure.options)}):`,
    ...failure.problems.map((p) => `  - ${p}`),
    `  input (base64): ${input}`,
    `  reproduce: npx tsx scripts/fuzz.ts --seed ${failure.seed} --start ${failure.index} --cases 1`,
  ].join("\n");
}
