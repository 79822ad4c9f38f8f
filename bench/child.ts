/**
 * Runs one benchmark case in this (fresh) process and reports its result: to the parent over IPC
 * when forked by run.ts, else as a JSON line on stdout. Running it by hand is how to profile one
 * case:
 *
 *   node --expose-gc --cpu-prof --import tsx bench/child.ts S2/decode/ndpack
 *
 * (after `npx tsx bench/run.ts --build-only`, or any run, has built the package into bench/.build).
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { allCases, defaultConfig } from "./cases.js";
import { caseId, collectGarbage, measure, median, peakRss, settleAllocator, Unsupported, type BenchConfig, type CaseResult, type JsCase } from "./harness.js";

async function runCase(c: JsCase<unknown>, config: BenchConfig): Promise<CaseResult> {
  const base = { id: caseId(c), scenario: c.scenario, step: c.step, lib: c.lib, role: c.role, bytes: c.bytes, ...(c.note === undefined ? {} : { note: c.note }) };
  let state: unknown;
  await settleAllocator();
  try {
    state = await c.setup(config);
  } catch (error) {
    if (error instanceof Unsupported) return { ...base, unsupported: true, error: error.message };
    throw error;
  }
  collectGarbage();
  const setupRss = peakRss();
  const m = await measure(() => c.run(state), { runs: c.runs ?? config.runs, warmup: c.warmup ?? config.warmup, warmupMs: config.quick ? 100 : 300 });
  await c.check?.(state, m.last);
  const extra = c.extra ? await c.extra(state) : undefined;
  const peak = peakRss();
  await c.teardown?.(state);
  const medianMs = median(m.samples);
  return {
    ...base,
    samples: m.samples,
    firstMs: m.firstMs,
    medianMs,
    minMs: Math.min(...m.samples),
    throughput: c.bytes > 0 ? c.bytes / (medianMs / 1000) : undefined,
    peakRss: peak,
    setupRss,
    ...(extra === undefined ? {} : { extra }),
  } as CaseResult;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const prepareOnly = args[0] === "--prepare";
  const [id, configJson] = prepareOnly ? args.slice(1) : args;
  if (id === undefined) throw new Error("usage: child.ts [--prepare] <scenario/step/lib> [config JSON]");
  const config: BenchConfig = configJson ? (JSON.parse(configJson) as BenchConfig) : defaultConfig({ quick: false });
  const found = allCases(config).find((c) => caseId(c) === id);
  if (!found) throw new Error(`no case ${id}`);
  if (found.kind !== "js") throw new Error(`${id} is a Python case; run.ts runs those`);
  if (prepareOnly) {
    await found.prepare?.run(config);
    if (process.send) await new Promise<void>((resolve) => process.send!({ prepared: true }, () => resolve()));
    return;
  }
  if (!configJson) {
    // Run by hand (to profile): prepare here, in the same process.
    mkdirSync(config.tmpDir, { recursive: true });
    await found.prepare?.run(config);
  }
  let result: CaseResult;
  try {
    result = await runCase(found, config);
  } catch (error) {
    const e = error as Error;
    result = { id, scenario: found.scenario, step: found.step, lib: found.lib, role: found.role, bytes: found.bytes, error: `${e.name}: ${e.message}`.slice(0, 500) };
  }
  if (process.send) await new Promise<void>((resolve) => process.send!(result, () => resolve()));
  else console.log(JSON.stringify(result));
}

await main();
process.exit(0);
