/**
 * Issue 13: what `import "ndpack"` costs a Node program. Each run starts a fresh `node` that times
 * its own dynamic import (wall clock, and CPU time from process.cpuUsage, which a loaded machine
 * disturbs less) and prints them; the table's time is the whole process (spawn included), with
 * `node -e ""` as the baseline (a process that imports nothing), and the "import" column the
 * medians of the in-process times, with an empty module as a peer (what any import costs) and
 * zod, which the core loaded before, as another.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { median, type BenchConfig, type Case, type Extra, type JsCase, type Role } from "./harness.js";

/** The child: time one dynamic import of `target` and print the milliseconds. */
const CHILD = "const c = process.cpuUsage(); const t = performance.now(); await import(process.argv[1]); const u = process.cpuUsage(c); process.stdout.write(`${performance.now() - t} ${(u.user + u.system) / 1000}`);";

interface State {
  /** The module imported; none for the `node -e ""` baseline. */
  readonly target: string | undefined;
  readonly importMs: number[];
  readonly importCpuMs: number[];
}

export function importCases(config: BenchConfig): Case[] {
  const entry = (path: string) => pathToFileURL(join(config.buildDir, path)).href;
  const targets: { lib: string; role: Role; target?: string; note?: string }[] = [
    { lib: 'node -e ""', role: "baseline", note: 'node -e "": a process that imports nothing (no in-process import time).' },
    { lib: "empty module", role: "peer", target: "data:text/javascript,export{}", note: "a data: URL module with no code: the cost of any dynamic import." },
    { lib: 'ndpack (import "ndpack")', role: "ndpack", target: entry("index.js") },
    { lib: "ndpack/node", role: "ndpack", target: entry("node/index.js") },
    { lib: "ndpack/interop", role: "ndpack", target: entry("interop/index.js") },
    { lib: "ndpack/source", role: "ndpack", target: entry("source/index.js") },
    { lib: "ndpack/http", role: "ndpack", target: entry("http/index.js") },
    { lib: "ndpack/sets", role: "ndpack", target: entry("sets/index.js") },
    { lib: "ndpack/streams", role: "ndpack", target: entry("streams/index.js") },
    { lib: "zod", role: "peer", target: "zod", note: "zod 4, the header validator the core loaded until issue 13 (the core now interprets the JSON Schema generated from it)." },
    { lib: "pako (lib/zlib/inflate.js)", role: "peer", target: "pako/lib/zlib/inflate.js", note: "pako's CommonJS inflater, as the core imported it from node_modules before pako was bundled into dist (Node parses it with cjs-module-lexer); bundled, the core runs the same code without that cost." },
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
          const args = state.target === undefined ? ["-e", ""] : ["--input-type=module", "-e", CHILD, state.target];
          const child = spawnSync(process.execPath, args, { encoding: "utf8", cwd: join(config.buildDir, "..", "..") });
          if (child.status !== 0) throw new Error(`import of ${state.target} failed: ${child.stderr}`);
          if (state.target === undefined) return;
          const [wall, cpu] = child.stdout.split(" ").map(Number);
          state.importMs.push(wall!);
          state.importCpuMs.push(cpu!);
        },
        extra: (state): Extra => (state.target === undefined ? {} : { importMs: median(state.importMs), importMinMs: Math.min(...state.importMs), importCpuMs: median(state.importCpuMs) }),
      }) satisfies JsCase<State>,
  );
}
