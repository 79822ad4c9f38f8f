/**
 * Running the built `ndpack` command line as a child process, the way users run it: `node
 * dist/cli/main.js ...` (the package's bin). `npm test` builds first; run `npm run build` before
 * running these tests on their own. A missing build fails the tests with that advice.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const CLI = join(REPO, "dist/cli/main.js");
const IO_PROBE = fileURLToPath(new URL("./cli-io-probe.mjs", import.meta.url));

/** Throws a clear error when the command line has not been built; warns when src is newer than the build. */
export async function requireBuiltCli(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build the package first (npm run build; npm test does it)`);
  const built = statSync(CLI).mtimeMs;
  const sources = (await readdir(join(REPO, "src"), { recursive: true })).filter((f) => f.endsWith(".ts"));
  const newer = sources.filter((f) => statSync(join(REPO, "src", f)).mtimeMs > built);
  if (newer.length > 0) console.warn(`dist/cli/main.js is older than ${newer.slice(0, 3).join(", ")}${newer.length > 3 ? ", ..." : ""}: run npm run build to test the current sources`);
}

/** What a run of the command line did. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Extra arguments for node, before the script. */
  readonly nodeArgs?: readonly string[];
}

/** Runs `ndpack <args>`; resolves when it exits (never rejects on a non-zero exit). */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], {
      cwd: options.cwd ?? REPO,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
  });
}

/**
 * Runs `ndpack <args>` and reports, measured at exit, the bytes the process read through read(2)
 * (Linux /proc/self/io `rchar`) and its peak resident memory.
 */
export async function runCliCountingReads(args: readonly string[], dir: string): Promise<CliResult & { rchar: number; maxRssBytes: number }> {
  const report = join(dir, `io-${Math.random().toString(16).slice(2)}.txt`);
  const result = await runCli(args, { nodeArgs: ["--import", IO_PROBE], env: { NDPACK_IO_PROBE: report } });
  const io = readFileSync(report, "utf8");
  const rchar = Number(/^rchar: (\d+)$/m.exec(io)?.[1]);
  const maxRssBytes = Number(/^maxrss_kib: (\d+)$/m.exec(io)?.[1]) * 1024;
  return { ...result, rchar, maxRssBytes };
}

/** A fresh directory under the OS temp directory. */
export function tempDir(prefix: string): { dir: string; path: (file: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `ndpack-cli-${prefix}-`));
  return { dir, path: (file) => join(dir, file), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The one line an error prints: checks its shape (no stack trace) and returns it. */
export function errorLineOf(result: CliResult): string {
  const lines = result.stderr.split("\n").filter((l) => l.length > 0);
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${result.stderr}`);
  return lines[0]!;
}
