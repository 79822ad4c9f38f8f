/**
 * The long fuzz campaign: the cases of `test/fuzz.test.ts`, for as long as asked.
 *
 *   tsx scripts/fuzz.ts --seconds 600 --seed 12345      run ten minutes (the seed defaults to a random one, printed)
 *   tsx scripts/fuzz.ts --seed 12345 --start 8190 --cases 1   re-run one case
 *   tsx scripts/fuzz.ts --replay fixtures/fuzz-found/<hash>.ndp   run a saved input again
 *
 * Cases run in a worker thread. The main thread watches which case is running; one that has not
 * finished after `--hang-seconds` (default 10) is a hang: the worker is stopped, the case is saved
 * and the campaign goes on with the next one. One case in `--python-every` (default 20; 0 turns it
 * off) is also read by the Python reference (spec/python/ndpack/reference.py, batched in one process per
 * 1,000 cases), and any difference in the codes is a failure too. Every failing input is written to
 * `fixtures/fuzz-found/<hash>.ndp` (or `--out`), with `<hash>.json` saying what went wrong and how
 * to reproduce it. Then the resource families of issue 16 (scripts/fuzz-resources.ts,
 * `--resource-rounds` cases each, default 2; 0 turns them off): valid files cheap in bytes and
 * costly to read, each read in a child process, with the slowest case and the largest peak RSS of
 * every family printed. The exit code is 1 when anything failed.
 *
 * `--formats` (`npm run fuzz:formats`) runs the campaign of every other input instead: .npy, .npz,
 * .safetensors, set indexes, whole sets and message streams (test/helpers/fuzz-formats.ts), under
 * the same watchdog, with one case in `--python-every` read by the installed Python package
 * (`ndpack.open`, `read_messages`, the set index parser). Its inputs are saved with their kind's
 * extension (`<hash>.npz`, `<hash>.ndpmsg` for a message stream, `<hash>.ndpset` for a set...),
 * which `--replay` reads them by.
 */
import { createHash, randomInt } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { makeCase, type FuzzCase } from "../test/helpers/fuzz-mutate.js";
import { compareWithPython } from "../test/helpers/fuzz-python.js";
import { CASE_TIME_LIMIT_MS, emptyStats, mergeStats, runCampaign, runCase, type CampaignStats, type CaseFailure } from "../test/helpers/fuzz-run.js";
import { allSeeds } from "../test/helpers/fuzz-seeds.js";
import { compareFormatsWithPython, formatSeeds, KIND_EXTENSIONS, kindOfPath, makeFormatCase, MAX_CHUNKS, DEFAULT_FORMAT_OPTIONS, storyPathOf, runFormatCampaign, runFormatCase, type FormatCase } from "../test/helpers/fuzz-formats.js";
import { formatFamilyReports, runResourceFamilies } from "./fuzz-resources.js";

interface Args {
  seconds: number;
  seed: number;
  start: number;
  cases: number | undefined;
  out: string;
  hangSeconds: number;
  pythonEvery: number;
  replay: string | undefined;
  resourceRounds: number;
  /** The campaign of the other inputs (.npy, .npz, .safetensors, set indexes, message streams). */
  formats: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { seconds: 60, seed: randomInt(0, 2 ** 31), start: 0, cases: undefined, out: "fixtures/fuzz-found", hangSeconds: 10, pythonEvery: 20, replay: undefined, resourceRounds: 2, formats: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === "--formats") {
      args.formats = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    const number = () => {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} takes a non-negative number, got ${value}`);
      return n;
    };
    if (flag === "--seconds") args.seconds = number();
    else if (flag === "--seed") args.seed = Math.floor(number()) >>> 0;
    else if (flag === "--start") args.start = Math.floor(number());
    else if (flag === "--cases") args.cases = Math.floor(number());
    else if (flag === "--out") args.out = value;
    else if (flag === "--hang-seconds") args.hangSeconds = number();
    else if (flag === "--python-every") args.pythonEvery = Math.floor(number());
    else if (flag === "--replay") args.replay = value;
    else if (flag === "--resource-rounds") args.resourceRounds = Math.floor(number());
    else throw new Error(`unknown option ${flag} (options: --seconds N --seed S --start I --cases N --out DIR --hang-seconds N --python-every N --replay FILE --resource-rounds N --formats)`);
  }
  return args;
}

/** Writes a failing input and its story; returns the path of the input. */
function saveFailure(out: string, failure: CaseFailure): string {
  mkdirSync(out, { recursive: true });
  const hash = createHash("sha256").update(failure.input).digest("hex").slice(0, 16);
  const kind = failure.seedName.split(":")[0]! as keyof typeof KIND_EXTENSIONS;
  const path = join(out, `${hash}${KIND_EXTENSIONS[kind] ?? ".ndp"}`);
  writeFileSync(path, failure.input);
  const { input: _input, ...story } = failure;
  const formats = path.endsWith(".ndp") ? "" : " --formats";
  const reproduce = [`tsx scripts/fuzz.ts --replay ${path}`, `tsx scripts/fuzz.ts${formats} --seed ${failure.seed} --start ${failure.index} --cases 1`];
  writeFileSync(join(out, `${hash}.json`), `${JSON.stringify({ ...story, bytes: failure.input.length, reproduce }, null, 2)}\n`);
  return path;
}

function summary(stats: CampaignStats, seconds: number, formats: boolean): string {
  const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");
  return [
    `${stats.cases} cases in ${seconds.toFixed(1)} s (${Math.round(stats.cases / Math.max(seconds, 1e-3))}/s); ${stats.valid} decoded, ${stats.failures.length} failed; ${stats.compared} also read by the Python reference`,
    `slowest case ${stats.maxCaseMs.toFixed(1)} ms (case ${stats.slowestIndex}), ${stats.maxRerunMs.toFixed(1)} ms after re-runs; largest allocation ${(stats.maxAllocation / 1048576).toFixed(2)} MiB (through pako ${(stats.maxPureJsAllocation / 1048576).toFixed(2)} MiB)`,
    `decode outcomes: ${sorted(stats.outcomes)}`,
    formats
      ? `refused by two readers with different codes: ${sorted(stats.reached) || "never"}`
      : `§9 steps reached: ${[...stats.reached.keys()].sort((a, b) => parseInt(a) - parseInt(b)).join(" ")}`,
  ].join("\n");
}

interface WorkerTask {
  seed: number;
  pythonEvery: number;
  start: number;
  cases: number | undefined;
  seconds: number;
  current: SharedArrayBuffer;
  formats: boolean;
}

type WorkerMessage = { kind: "failure"; failure: CaseFailure } | { kind: "progress"; cases: number } | { kind: "done"; stats: CampaignStats };

/** A case the Python side disagrees on, in the terms of either campaign. */
type Disagreement = { fuzzCase: Pick<FuzzCase, "index" | "seedName" | "mutations" | "input"> & { options?: FuzzCase["options"] }; differences: readonly string[] };

async function workerMain(): Promise<void> {
  const task = workerData as WorkerTask;
  const current = new Float64Array(task.current);
  const post = (message: WorkerMessage) => parentPort!.postMessage(message);
  // Cases the Python reference reads too, compared a batch at a time.
  const python = task.formats ? "the Python package" : "spec/python/ndpack/reference.py";
  let compared = 0;
  const batches = { ndp: [] as FuzzCase[], formats: [] as { fuzzCase: FormatCase; outcome: unknown }[] };
  const flush = () => {
    const disagreements: Disagreement[] = task.formats ? compareFormatsWithPython(batches.formats) : compareWithPython(batches.ndp);
    for (const { fuzzCase, differences } of disagreements) {
      const { index, seedName, mutations, options = {}, input } = fuzzCase;
      post({ kind: "failure", failure: { seed: task.seed, index, seedName, mutations, options, input, problems: differences.map((d) => `differs from ${python}: ${d}`) } });
    }
    compared += batches.ndp.length + batches.formats.length;
    batches.ndp = [];
    batches.formats = [];
  };
  const sampled = (index: number) => task.pythonEvery > 0 && index % task.pythonEvery === 0;
  const config = {
    seed: task.seed,
    start: task.start,
    ...(task.cases === undefined ? {} : { cases: task.cases }),
    seconds: task.seconds,
    timeLimitMs: CASE_TIME_LIMIT_MS,
    onCaseStart: (index: number) => (current[0] = index),
    onFailure: (failure: CaseFailure) => post({ kind: "failure", failure }),
    onProgress: (s: CampaignStats) => post({ kind: "progress", cases: s.cases }),
  };
  const stats = task.formats
    ? await runFormatCampaign({
        ...config,
        seeds: formatSeeds(),
        progressEvery: 500,
        onCaseDone: (fuzzCase, report) => {
          if (sampled(fuzzCase.index)) batches.formats.push({ fuzzCase, outcome: report.outcomeForPython });
          if (batches.formats.length >= 200) flush();
        },
      })
    : runCampaign({
        ...config,
        seeds: allSeeds(),
        progressEvery: 5000,
        onCaseDone: (fuzzCase) => {
          if (sampled(fuzzCase.index)) batches.ndp.push(fuzzCase);
          if (batches.ndp.length >= 1000) flush();
        },
      });
  flush();
  stats.compared = compared;
  stats.failures.length = 0; // already sent one by one
  post({ kind: "done", stats });
}

/** Runs the campaign in a worker, restarting it after a hang; resolves with the merged statistics. */
async function supervise(args: Args): Promise<CampaignStats> {
  const total = emptyStats();
  const t0 = performance.now();
  const deadline = t0 + args.seconds * 1000;
  let start = args.start;
  let casesLeft = args.cases;
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const self = import.meta.url;
  const onFailure = (failure: CaseFailure) => {
    total.failures.push(failure);
    const path = saveFailure(args.out, failure);
    console.log(`FAILED case ${failure.index} (${failure.mutations.join(", ")} on ${failure.seedName}) -> ${path}\n${failure.problems.map((p) => `  - ${p}`).join("\n")}`);
  };
  while (performance.now() < deadline && (casesLeft === undefined || casesLeft > 0)) {
    const current = new SharedArrayBuffer(8);
    const currentIndex = new Float64Array(current);
    currentIndex[0] = start - 1;
    const task: WorkerTask = { seed: args.seed, pythonEvery: args.pythonEvery, start, cases: casesLeft, seconds: (deadline - performance.now()) / 1000, current, formats: args.formats };
    // tsx's loader is registered inside the worker, so this TypeScript file can run there too.
    const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(self)}); })`;
    const worker = new Worker(bootstrap, { eval: true, workerData: task });
    let progressCases = 0;
    const hung = await new Promise<number | undefined>((resolvePromise, reject) => {
      let seen = currentIndex[0]!;
      let since = performance.now();
      let lastReport = performance.now();
      const watchdog = setInterval(() => {
        const now = performance.now();
        if (currentIndex[0] !== seen) {
          seen = currentIndex[0]!;
          since = now;
        } else if (now - since > args.hangSeconds * 1000 && seen >= start) {
          clearInterval(watchdog);
          void worker.terminate().then(() => resolvePromise(seen));
        }
        if (now - lastReport > 10_000) {
          lastReport = now;
          console.log(`... ${total.cases + progressCases} cases, ${total.failures.length} failed, ${((now - t0) / 1000).toFixed(0)} s`);
        }
      }, 200);
      worker.on("message", (message: WorkerMessage) => {
        if (message.kind === "failure") onFailure(message.failure);
        else if (message.kind === "progress") progressCases = message.cases;
        else {
          clearInterval(watchdog);
          mergeStats(total, message.stats);
          resolvePromise(undefined);
        }
      });
      worker.on("error", (error) => {
        clearInterval(watchdog);
        reject(error);
      });
      // A worker whose event loop empties before the campaign ends was waiting on a promise that
      // nothing will settle: the case it was running hangs as surely as a busy loop.
      worker.on("exit", () => {
        clearInterval(watchdog);
        resolvePromise(currentIndex[0]!);
      });
    });
    if (hung === undefined) break;
    // The worker's statistics died with it; count the cases it finished before the hang.
    total.cases += hung - start;
    onFailure({ ...caseAsFailure(args, hung), problems: [`no result after ${args.hangSeconds} s: the case hangs`] });
    total.cases++;
    if (casesLeft !== undefined) casesLeft -= hung - start + 1;
    start = hung + 1;
  }
  total.elapsedMs = performance.now() - t0;
  return total;
}

function caseAsFailure(args: Args, index: number): Omit<CaseFailure, "problems"> {
  const fuzzCase = args.formats ? makeFormatCase(formatSeeds(), args.seed, index) : makeCase(allSeeds(), args.seed, index);
  return { seed: args.seed, index, seedName: fuzzCase.seedName, mutations: fuzzCase.mutations, options: fuzzCase.options, input: fuzzCase.input };
}

/** The options a saved input was read with, from its story; `fallback` when it has none. */
function storyOptions<T extends object>(path: string, fallback: T): T {
  const story = storyPathOf(path);
  return existsSync(story) ? ((JSON.parse(readFileSync(story, "utf8")) as { options?: T }).options ?? fallback) : fallback;
}

async function replay(path: string): Promise<number> {
  const input = new Uint8Array(readFileSync(path));
  const kind = kindOfPath(path);
  if (kind !== undefined) {
    const options = storyOptions(path, DEFAULT_FORMAT_OPTIONS);
    // Whole, then in the smallest chunks a case has: the two chunkings stream readers differ most between.
    let failed = 0;
    for (const chunkBytes of [Math.max(1, input.length), Math.max(1, Math.ceil(input.length / MAX_CHUNKS))]) {
      const t0 = performance.now();
      const report = await runFormatCase(kind, input, chunkBytes, options);
      console.log(`${path} (${kind}, ${input.length} bytes, chunks of ${chunkBytes}, options ${JSON.stringify(options)}): ${report.outcome} in ${(performance.now() - t0).toFixed(1)} ms`);
      for (const problem of report.problems) console.log(`  - ${problem}`);
      failed += report.problems.length;
    }
    return failed > 0 ? 1 : 0;
  }
  const options = storyOptions(path, {});
  const t0 = performance.now();
  const report = runCase(input, options);
  console.log(`${path} (${input.length} bytes, options ${JSON.stringify(options)}): ${report.decodeCode ?? "decoded"} in ${(performance.now() - t0).toFixed(1)} ms; reached ${report.reached.join(" ") || "-"}`);
  for (const problem of report.problems) console.log(`  - ${problem}`);
  return report.problems.length > 0 ? 1 : 0;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.replay !== undefined) return await replay(args.replay);
  if (args.formats) {
    const seeds = formatSeeds();
    const kinds = Object.keys(KIND_EXTENSIONS).map((kind) => `${seeds.filter((s) => s.kind === kind).length} ${kind}`);
    console.log(`ndpack fuzz --formats: seed ${args.seed}, start ${args.start}, ${args.cases ?? "unlimited"} cases, ${args.seconds} s, ${seeds.length} seeds (${kinds.join(", ")})`);
  } else {
    const seeds = allSeeds();
    const generated = seeds.filter((s) => s.name.startsWith("gen:")).length;
    console.log(`ndpack fuzz: seed ${args.seed}, start ${args.start}, ${args.cases ?? "unlimited"} cases, ${args.seconds} s, ${seeds.length} seeds (${generated} generated, ${seeds.length - generated} fixtures)`);
  }
  console.log(`failing inputs go to ${resolve(args.out)}`);
  const stats = await supervise(args);
  console.log(summary(stats, stats.elapsedMs / 1000, args.formats));
  let resourceFailures = 0;
  if (args.resourceRounds > 0 && !args.formats) {
    console.log(`resource families: ${args.resourceRounds} rounds each, seed ${args.seed}${existsSync(resolve("dist/cli/main.js")) ? "" : " (dist/ not built: CLI commands skipped; npm run build)"}`);
    const reports = await runResourceFamilies(args.seed, args.resourceRounds);
    console.log(formatFamilyReports(reports));
    resourceFailures = reports.reduce((sum, r) => sum + r.failures.length, 0);
  }
  return stats.failures.length > 0 || resourceFailures > 0 ? 1 : 0;
}

if (isMainThread) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(2);
    },
  );
} else {
  void workerMain();
}
