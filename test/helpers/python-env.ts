// Running python3 for the Python reference tests. These tests FAIL (never skip) when python3 or
// numpy is missing, with a message that says what to install.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const PYTHON = process.env.PYTHON ?? "python3";
export const REPO = fileURLToPath(new URL("../..", import.meta.url));

export interface PythonEnv {
  python: string;
  version: string;
  numpy: string;
  mlDtypes: string | null;
}

let cached: PythonEnv | undefined;

/** Check that python3 runs and imports numpy; throw a clear error otherwise. */
export function requirePython(): PythonEnv {
  if (cached) return cached;
  const probe =
    "import json, sys, numpy\n" +
    "try:\n    import ml_dtypes; ml = ml_dtypes.__version__\nexcept ImportError:\n    ml = None\n" +
    "print(json.dumps({'version': sys.version.split()[0], 'numpy': numpy.__version__, 'mlDtypes': ml}))";
  const r = spawnSync(PYTHON, ["-c", probe], { encoding: "utf8" });
  if (r.error) {
    throw new Error(
      `The Python reference tests need ${PYTHON} with numpy, and "${PYTHON}" cannot be run ` +
        `(${r.error.message}). Install Python 3 and numpy (python3 -m pip install numpy), ` +
        `or point the PYTHON environment variable at an interpreter that has them.`,
    );
  }
  if (r.status !== 0) {
    throw new Error(
      `The Python reference tests need numpy, and "${PYTHON} -c 'import numpy'" fails:\n${r.stderr.trim()}\n` +
        `Install it with: ${PYTHON} -m pip install numpy`,
    );
  }
  cached = { python: PYTHON, ...JSON.parse(r.stdout) };
  return cached!;
}

const RUN_OPTIONS = { encoding: "utf8", maxBuffer: 1 << 30, cwd: REPO } as const;

function exitedWith(script: string, status: number | null, stderr: string): Error {
  return new Error(`${PYTHON} ${script} exited with ${status}:\n${stderr}`);
}

/** Run a Python script in one process; throw with its stderr when it fails. */
export function runPython(script: string, args: string[], input?: string): string {
  requirePython();
  const r = spawnSync(PYTHON, [script, ...args], { ...RUN_OPTIONS, input });
  if (r.error) throw r.error;
  if (r.status !== 0) throw exitedWith(script, r.status, r.stderr);
  return r.stdout;
}

/** {@link runPython} without blocking: the script runs while the test does its own share of the work. */
export function runPythonInBackground(script: string, args: string[], input?: string): Promise<string> {
  requirePython();
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [script, ...args], { cwd: RUN_OPTIONS.cwd });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding(RUN_OPTIONS.encoding).on("data", (text: string) => (stdout += text));
    child.stderr.setEncoding(RUN_OPTIONS.encoding).on("data", (text: string) => (stderr += text));
    child.once("error", reject);
    child.once("close", (status) => (status === 0 ? resolve(stdout) : reject(exitedWith(script, status, stderr))));
    child.stdin.end(input);
  });
}

/** A Python script kept running to answer a file's requests, one JSON line each way. */
export interface PythonWorker {
  /** Sends `request` as one line; resolves to the answer's `result`, rejects with its `error` (or the script's stderr if it ended). */
  call(...request: unknown[]): Promise<unknown>;
  /** Ends the script's input and waits for it to exit. */
  close(): Promise<void>;
}

/**
 * Starts `script`, which answers each JSON line of its standard input with one JSON line,
 * `{"result": ...}` or `{"error": ...}`: for the tests whose every request would otherwise pay again
 * for the script's imports (torch: about two seconds). Requests are answered in the order sent.
 */
export function startPythonWorker(script: string): PythonWorker {
  requirePython();
  const child = spawn(PYTHON, [script], { cwd: REPO, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const answers = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  let previous: Promise<unknown> = Promise.resolve();
  return {
    call(...request) {
      const answer = previous.then(async () => {
        child.stdin.write(`${JSON.stringify(request)}\n`);
        const line = await answers.next();
        if (line.done) throw new Error(`${PYTHON} ${script} exited before answering ${JSON.stringify(request)}:\n${stderr}`);
        const reply = JSON.parse(line.value) as { result: unknown } | { error: string };
        if ("error" in reply) throw new Error(`${PYTHON} ${script} failed on ${JSON.stringify(request)}:\n${reply.error}`);
        return reply.result;
      });
      previous = answer.catch(() => undefined);
      return answer;
    },
    async close() {
      const exited = child.exitCode === null ? once(child, "exit") : Promise.resolve();
      child.stdin.end();
      await exited;
    },
  };
}
