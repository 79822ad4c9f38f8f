/**
 * Every benchmark case of every scenario, in run order, and the default configuration. The parent
 * (run.ts) and each child (child.ts) build the same list from the same configuration and agree on
 * cases by id.
 *
 * @module
 */
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compressionCases, convertCases, crcCases } from "./compression.js";
import { coreCases } from "./core.js";
import { fileCases } from "./files.js";
import { importCases } from "./import.js";
import { lazyCases } from "./lazy.js";
import { messageCases } from "./messages.js";
import { manyArraysCases } from "./many-arrays.js";
import type { BenchConfig, Case } from "./harness.js";
import { peerCases } from "./peers.js";
import { remoteCases } from "./remote.js";
import { scalingCases } from "./scaling.js";
import { setCases } from "./sets.js";

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = dirname(BENCH_DIR);
/** Where run.ts builds the package (tsup, the project's own config): a private copy, so that other builds of dist/ cannot change it mid-run. */
export const BUILD_DIR = join(BENCH_DIR, ".build");

/** Scenario ids in run order, with what each measures. */
export const SCENARIOS: Readonly<Record<string, string>> = {
  S1: "one big array",
  S2: "many small arrays",
  S3: "mixed dtypes",
  S4: "lazy read of one array from a big file",
  S5: "files: save and load",
  F3: "issue 3: big files (save 2 GiB, createWriter 8 GiB)",
  L: "issues 10 and 12: one 4 MiB array through the one lazy reader (.ndp, .safetensors, .npz), verified and not",
  R1: "issue 10: one array of a remote file (HTTP Range requests to nginx on loopback)",
  M: "issue 16: 1,000,000 empty arrays (open, verify, inspect) and the CLI at the default maxArrays",
  scaling: "decode time against payload size and array count",
  compression: "issue 4: codecs on four kinds of data; issue 14: `ndpack convert` of a deflated .npz",
  crc: "issue 4 / FORMAT.md §6: CRC-32 implementations",
  import: "issue 13: importing the package in a fresh Node process",
  messages: "issue 17: message streams over loopback TCP",
  sets: "issue 11: sharded sets (one array from a 16-shard set; saveSet)",
};

export function defaultConfig(overrides: Partial<BenchConfig>): BenchConfig {
  const quick = overrides.quick ?? false;
  return {
    quick,
    runs: overrides.runs ?? (quick ? 3 : 7),
    warmup: overrides.warmup ?? (quick ? 1 : 2),
    tmpDir: overrides.tmpDir ?? join(tmpdir(), "ndpack-bench"),
    buildDir: overrides.buildDir ?? BUILD_DIR,
  };
}

export function allCases(config: BenchConfig): Case[] {
  const all: Case[] = [...coreCases(config), ...peerCases(config), ...fileCases(config), ...lazyCases(config), ...scalingCases(config), ...compressionCases(config), ...convertCases(config), ...crcCases(config), ...importCases(config), ...messageCases(config), ...remoteCases(config), ...manyArraysCases(config), ...setCases(config)];
  const order = Object.keys(SCENARIOS);
  // Stable sort by scenario, keeping each scenario's own order (core cases before peers).
  return all
    .map((c, i) => ({ c, i }))
    .sort((a, b) => order.indexOf(a.c.scenario) - order.indexOf(b.c.scenario) || a.i - b.i)
    .map(({ c }) => c);
}
