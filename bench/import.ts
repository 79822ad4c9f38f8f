/**
 * Issue 13: what `import "ndpack"` costs a Node program. Each run starts a fresh `node` that times
 * its own dynamic import (wall clock, and CPU time from process.cpuUsage, which a loaded machine
 * disturbs less) and prints them; the table's time is the whole process (spawn included), the
 * "import" column the medians of the in-process times, with an empty module as the baseline (what
 * any import costs) and zod, which the core loaded before, as a peer.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { median, type BenchConfig, type Case, type JsCase, type Role } from "./harness.js";

/** The child: time one dynamic import of `target` and print the milliseconds. */
const CHILD = "const c = process.cpuUsage(); const t = performance.now(); await import(process.argv[1]); const u = process.cpuUsage(c); process.stdout.write(`${performance.now() - t} ${(u.user + u.system) / 1000}`);";

interface State {
  readonly target: string;
  readonly importMs: number[];
  readonly importCpuMs: number[];
}

export function importCases(config: BenchConfig): Case[] {
  const targets: { lib: string; role: Role; target: string; note?: string }[] = [
    { lib: "empty module", role: "baseline", target: "data:text/javascript,export{}", note: "a data: URL module with no code: the cost of any dynamic import." },
    { lib: 'ndpack (import "ndpack")', role: "ndpack", target: pathToFileURL(join(config.buildDir, "index.js")).href },
    { lib: "ndpack/node", role: "ndpack", target: pathToFileURL(join(config.buildDir, "node", "index.js")).href },
    { lib: "ndpack/interop", role: "ndpack", target: pathToFileURL(join(config.buildDir, "interop", "index.js")).href },
    { lib: "zod", role: "peer", target: "zod", note: "zod 4, the header validator the core loaded until issue 13 (the core now interprets the JSON Schema generated from it)." },
    { lib: "pako", role: "peer", target: "pako", note: "pako, the browsers' DEFLATE engine; Node never calls it (it has zlib) but loads it with the core (its ESM build, the fastest to load): about half of what remains." },
  ];
  return targets.map(
    ({ lib, role, target, note }) =>
      ({
        kind: "js",
        scenario: "import",
        step: "import in a fresh process",
        lib,
        role,
        bytes: 0,
        ...(note === undefined ? {} : { note }),
        runs: config.quick ? 5 : 15,
        warmup: 1,
        setup: () => ({ target, importMs: [], importCpuMs: [] }),
        run(state) {
          const child = spawnSync(process.execPath, ["--input-type=module", "-e", CHILD, state.target], { encoding: "utf8", cwd: join(config.buildDir, "..", "..") });
          if (child.status !== 0) throw new Error(`import of ${state.target} failed: ${child.stderr}`);
          const [wall, cpu] = child.stdout.split(" ").map(Number);
          state.importMs.push(wall!);
          state.importCpuMs.push(cpu!);
        },
        extra: (state) => ({ importMs: median(state.importMs), importMinMs: Math.min(...state.importMs), importCpuMs: median(state.importCpuMs) }),
      }) satisfies JsCase<State>,
  );
}
