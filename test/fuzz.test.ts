/**
 * The bounded fuzz campaign (issue 4, hostile input): 100,000 mutated inputs, started from every
 * generated seed and every fixture under `fixtures/`, each run through the whole read API by
 * `runCase` (test/helpers/fuzz-run.ts). Every input must end as a valid decode or an NdpackError
 * with a code FORMAT.md §9 gives; nothing may throw anything else, allocate beyond the input and
 * the limits, or touch Object.prototype (times are printed, not asserted: the 100 ms limit per case
 * is the fuzz script's, `npm run fuzz`, so a loaded machine cannot fail `npm test`); the campaign must reach every check
 * of §9; and a sample must get the same codes from the Python reference.
 *
 * Environment: NDPACK_FUZZ_SEED (default below) and NDPACK_FUZZ_CASES (default 100000) to explore;
 * `npm run fuzz -- --seconds N` runs the same cases for as long as asked.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, test } from "vitest";
import { makeCase, type FuzzCase } from "./helpers/fuzz-mutate.js";
import { disagreements, pythonOutcomesInBackground, type Outcome } from "./helpers/fuzz-python.js";
import { describeFailure, runCampaign, type CampaignStats } from "./helpers/fuzz-run.js";
import { allSeeds } from "./helpers/fuzz-seeds.js";
import { readValidationSteps, stepCodeKeys } from "./helpers/fuzz-spec.js";

const SEED = Number(process.env.NDPACK_FUZZ_SEED ?? 20_260_422);
const CASES = Number(process.env.NDPACK_FUZZ_CASES ?? 100_000);
/** Every this many cases, one is also read by the Python reference. */
const PYTHON_EVERY = 5;

const seeds = allSeeds();
let stats: CampaignStats;
/** The cases the Python reference reads too, and what it makes of them. */
const sample: FuzzCase[] = [];
let pythonSample: Promise<Outcome[]>;

const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");

describe(`fuzz campaign (seed ${SEED})`, () => {
  beforeAll(() => {
    // Python reads its sample while the campaign runs on this thread.
    for (let index = 0; index < CASES; index += PYTHON_EVERY) sample.push(makeCase(seeds, SEED, index));
    pythonSample = pythonOutcomesInBackground(sample);
    pythonSample.catch(() => undefined); // its failure is the Python test's, not an unhandled rejection
    console.log(`fuzz: seed ${SEED}, ${CASES} cases over ${seeds.length} seeds (${seeds.filter((s) => s.name.startsWith("gen:")).length} generated, ${seeds.filter((s) => !s.name.startsWith("gen:")).length} fixtures)`);
    stats = runCampaign({ seed: SEED, seeds, cases: CASES });
    console.log(
      [
        `fuzz: ${stats.cases} cases in ${(stats.elapsedMs / 1000).toFixed(1)} s; ${stats.valid} decoded; ${stats.failures.length} failed`,
        `fuzz: slowest case ${stats.maxCaseMs.toFixed(1)} ms (case ${stats.slowestIndex}), ${stats.maxRerunMs.toFixed(1)} ms at best of three re-runs`,
        `fuzz: largest allocation by one call ${(stats.maxAllocation / 1048576).toFixed(2)} MiB (through pako: ${(stats.maxPureJsAllocation / 1048576).toFixed(2)} MiB)`,
        `fuzz: decode outcomes: ${sorted(stats.outcomes)}`,
      ].join("\n"),
    );
  }, 600_000);

  test(`${CASES} mutated inputs each end as a valid decode or an NdpackError with a §9 code, within the allocation bound and Object.prototype untouched`, () => {
    expect(stats.cases).toBe(CASES);
    expect(stats.failures.slice(0, 5).map(describeFailure), `${stats.failures.length} failing cases`).toEqual([]);
  });

  test("reaches every check of FORMAT.md §9, with each of its codes", () => {
    const missing = stepCodeKeys(readValidationSteps()).filter((key) => !stats.reached.has(key));
    expect(missing).toEqual([]);
    expect(stats.valid).toBeGreaterThan(CASES / 50); // and many inputs still decode, so the read-time checks run
  });

  test(`the Python reference gives the same codes for one case in ${PYTHON_EVERY} (load, read and verify of each array)`, async () => {
    const differences = disagreements(sample, await pythonSample).flatMap(({ fuzzCase, differences: d }) => d.map((text) => `case ${fuzzCase.index} (${fuzzCase.mutations.join(", ")} on ${fuzzCase.seedName}): ${text}`));
    console.log(`fuzz: ${sample.length} cases compared with spec/python/ndpack/reference.py, ${differences.length} differences`);
    expect(differences.slice(0, 10), `${differences.length} differences`).toEqual([]);
  }, 300_000);
});

describe("FORMAT.md §9.1", () => {
  test("lists every step of §9 with each of its codes, and nothing else", () => {
    const text = readFileSync(new URL("../FORMAT.md", import.meta.url), "utf8");
    const start = text.indexOf("### 9.1 ");
    const table = text.slice(start, text.indexOf("\n## 10.", start));
    expect(start).toBeGreaterThan(0);
    const rows = [...table.matchAll(/^\| *(\d+) *\|[^|]*\| *`([A-Z_]+)` *\|/gm)].map((m) => `${m[1]}:${m[2]}`);
    expect(rows.sort()).toEqual(stepCodeKeys(readValidationSteps()).sort());
  });
});
