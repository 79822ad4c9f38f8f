/**
 * Shared helpers of the ndpack/node tests: temporary directories under os.tmpdir(), byte
 * comparisons fast enough for megabytes, error assertions, and a child-process runner.
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { NdpackError, type ErrorCode, type TypedArray } from "../../src/index.js";

/** The project's root directory. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Creates a fresh directory under os.tmpdir(); `remove()` deletes it and everything in it. */
export function tempDir(prefix = "ndpack-node-"): { path: string; file(name: string): string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, file: (name) => join(path, name), remove: () => rmSync(path, { recursive: true, force: true }) };
}

export { noise } from "./common.js";

/** This process's read system calls and bytes read so far (Linux /proc/self/io), to count what the operating system was asked for beneath any layer's own count. */
export function processReads(): { calls: number; bytes: number } {
  const io = readFileSync("/proc/self/io", "latin1");
  return { calls: Number(/^syscr: (\d+)$/m.exec(io)![1]), bytes: Number(/^rchar: (\d+)$/m.exec(io)![1]) };
}

/** The elements of a decoded array as a plain list (numbers or bigints), for toEqual. */
export function values(data: TypedArray): (number | bigint)[] {
  return Array.from(data as ArrayLike<number | bigint>);
}

/** Byte equality of two views (vitest's toEqual walks typed arrays element by element: far too slow for megabytes). */
export function expectBytes(actual: ArrayBufferView, expected: ArrayBufferView, message?: string): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  expect(a.length, message).toBe(b.length);
  expect(a.equals(b), message).toBe(true);
}

/** Awaits `run` (a throw or a rejection), requires an NdpackError with `code`, and returns it. */
export async function failure(run: () => unknown, code: ErrorCode): Promise<NdpackError> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(NdpackError);
  expect((caught as NdpackError).code, (caught as Error).message).toBe(code);
  return caught as NdpackError;
}

/** A running child of {@link runChild}. */
export interface Child {
  readonly pid: number;
  /** Everything the child printed so far. */
  readonly stdout: () => string;
  /** Resolves once the child printed a line matching `pattern`; returns that line. */
  waitFor(pattern: RegExp): Promise<string>;
  /** Writes `text` to the child's stdin. */
  send(text: string): void;
  /** Resolves with the exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/**
 * `test/helpers/node-child.ts` and the library bundled into one plain .mjs file under
 * os.tmpdir(), so that child processes start in a fraction of the time `tsx` needs (the crash
 * test starts dozens). `remove()` deletes it.
 */
export async function buildChildScript(): Promise<{ path: string; remove(): void }> {
  const { build } = await import("esbuild");
  const folder = tempDir("ndpack-child-");
  const path = folder.file("node-child.mjs");
  await build({ entryPoints: [fileURLToPath(new URL("./node-child.ts", import.meta.url))], bundle: true, platform: "node", format: "esm", target: "node20", outfile: path, logLevel: "error" });
  chmodSync(folder.path, 0o755); // readable by the unprivileged user of the EACCES test
  return { path, remove: folder.remove };
}

/**
 * Starts the child script (from {@link buildChildScript}) with `args`. `shellPrefix` runs it
 * through `bash -c` after that prefix (for `ulimit`); `uid`/`gid` run it as another user.
 */
export function runChild(script: string, args: readonly string[], options: { uid?: number; gid?: number; shellPrefix?: string } = {}): Child {
  const command = [process.execPath, script, ...args];
  const quoted = command.map((part) => `'${part.replace(/'/g, "'\\''")}'`).join(" ");
  const spawnOptions = { cwd: ROOT, uid: options.uid, gid: options.gid, stdio: ["pipe", "pipe", "pipe"] as ("pipe")[] };
  const child = options.shellPrefix === undefined
    ? spawn(command[0]!, command.slice(1), spawnOptions)
    : spawn("bash", ["-c", `${options.shellPrefix}; exec ${quoted}`], spawnOptions);
  let out = "";
  let err = "";
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const find = (pattern: RegExp) => out.split("\n").find((line) => pattern.test(line));
  child.stdout.setEncoding("utf8").on("data", (text: string) => {
    out += text;
    for (const waiter of [...waiters]) {
      const line = find(waiter.pattern);
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (text: string) => (err += text));
  child.stdin.on("error", () => undefined); // a killed child closes its stdin
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stderr: err }));
  });
  return {
    pid: child.pid!,
    stdout: () => out,
    waitFor(pattern) {
      const line = find(pattern);
      if (line !== undefined) return Promise.resolve(line);
      return new Promise<string>((resolve, reject) => {
        waiters.push({ pattern, resolve });
        exited.then(({ code, signal, stderr }) => reject(new Error(`child exited (${code ?? signal}) before printing ${pattern}: ${stderr}`)), reject);
      });
    },
    send: (text) => void child.stdin.write(text),
    exited,
  };
}

/** Runs a one-shot operation of the child and returns the JSON outcome it printed. */
export async function childOutcome(script: string, args: readonly string[], options: Parameters<typeof runChild>[2] = {}): Promise<{ ok: boolean; code?: string; causeCode?: string; path?: string; message?: string; [result: string]: unknown }> {
  const child = runChild(script, args, options);
  const { code, stderr } = await child.exited;
  const line = child.stdout().trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`child ${args.join(" ")} failed (exit ${code}): ${stderr}${child.stdout()}`);
  return JSON.parse(line);
}
