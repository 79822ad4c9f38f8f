/**
 * The bounded campaign of the other inputs (test/helpers/fuzz-formats.ts): .npy, .npz and
 * .safetensors files, set indexes, whole sets and message streams, mutated and read by every
 * reader each has. Every case must end in a value or an NdpackError, within the allocation bound,
 * with the readers of the same bytes agreeing; every kind must be both accepted and refused; and a
 * sample must give the Python package's outcomes. Times are printed, never asserted:
 * `npm run fuzz:formats` holds each case to its time limit.
 *
 * Environment: NDPACK_FUZZ_SEED (default below) and NDPACK_FUZZ_FORMAT_CASES (default 4000).
 */
import { beforeAll, describe, expect, test } from "vitest";
import { compareFormatsWithPython, formatSeeds, KIND_EXTENSIONS, makeFormatCase, runFormatCampaign, runFormatCase, type FormatCase } from "./helpers/fuzz-formats.js";
import { describeFailure, type CampaignStats } from "./helpers/fuzz-run.js";

const SEED = Number(process.env.NDPACK_FUZZ_SEED ?? 20_261_207);
const CASES = Number(process.env.NDPACK_FUZZ_FORMAT_CASES ?? 4000);
/** Every this many cases, one is also read by the Python package. */
const PYTHON_EVERY = 10;

const seeds = formatSeeds();
let stats: CampaignStats;

describe(`the formats' fuzz campaign (seed ${SEED})`, () => {
  beforeAll(async () => {
    stats = await runFormatCampaign({ seed: SEED, seeds, cases: CASES });
    const outcomes = [...stats.outcomes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");
    console.log(`fuzz:formats: ${stats.cases} cases in ${(stats.elapsedMs / 1000).toFixed(1)} s, slowest ${stats.maxCaseMs.toFixed(1)} ms, largest allocation ${(stats.maxAllocation / 1048576).toFixed(2)} MiB; ${outcomes}`);
  }, 600_000);

  test(`${CASES} mutated inputs each end in a value or an NdpackError, within the allocation bound, every reader of the same bytes agreeing`, () => {
    expect(stats.cases).toBe(CASES);
    expect(stats.failures.slice(0, 5).map(describeFailure), `${stats.failures.length} failing cases`).toEqual([]);
  });

  test("every kind of input is accepted by some cases and refused by others", () => {
    for (const kind of Object.keys(KIND_EXTENSIONS)) {
      const counts = [...stats.outcomes].filter(([key]) => key.startsWith(`${kind}:`));
      expect(counts.some(([key]) => key === `${kind}:valid`), `${kind} accepted`).toBe(true);
      expect(counts.some(([key]) => key !== `${kind}:valid`), `${kind} refused`).toBe(true);
    }
  });

  test(`the Python package gives the same outcomes for one case in ${PYTHON_EVERY}`, async () => {
    const sample: { fuzzCase: FormatCase; outcome: unknown }[] = [];
    for (let index = 0; index < CASES; index += PYTHON_EVERY) {
      const fuzzCase = makeFormatCase(seeds, SEED, index);
      sample.push({ fuzzCase, outcome: (await runFormatCase(fuzzCase.kind, fuzzCase.input, fuzzCase.chunkBytes, fuzzCase.options)).outcomeForPython });
    }
    const differences = compareFormatsWithPython(sample).flatMap(({ fuzzCase, differences: d }) => d.map((text) => `case ${fuzzCase.index} (${fuzzCase.mutations.join(", ")} on ${fuzzCase.seedName}): ${text}`));
    expect(differences.slice(0, 10), `${differences.length} differences`).toEqual([]);
  }, 300_000);
});
