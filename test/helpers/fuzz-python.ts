/**
 * Differential fuzzing against the Python reference (`spec/python/ndpack/reference.py`): FORMAT.md §9 says
 * two readers that follow it "reject each bad file with the same code", so for every input both
 * must give the same code at load time, and, for a file that loads, the same result for reading
 * and for verifying each array. One Python process reads every case from stdin.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decode, verify, type DecodeOptions } from "../../src/decode.js";
import { NdpackError } from "../../src/errors.js";
import type { FuzzCase } from "./fuzz-mutate.js";

/** What a reader made of one input, in terms both implementations share. */
export interface Outcome {
  /** The code loading threw, or `null` when the file loaded. */
  readonly load: string | null;
  /** For a file that loaded: each array's read result (a code, `null` for success) and verify result. */
  readonly arrays: readonly { readonly name: string; readonly read: string | null; readonly verify: string | null }[];
}

const PYTHON_DIR = fileURLToPath(new URL("../../spec/python", import.meta.url));

// Reads frames (u32 LE options length, options JSON, u32 LE input length, input) until stdin ends;
// prints one JSON outcome per frame. A Python exception other than NdpackError is an outcome too
// ("python:<type>"), and so is an array numpy cannot represent ("unrepresentable").
const DRIVER = String.raw`
import json, struct, sys
sys.path.insert(0, sys.argv[1])
from ndpack import reference as ndpack
data = sys.stdin.buffer.read()
pos = 0
out = []
def code_of(fn):
    try:
        fn()
        return None
    except ndpack.NdpackError as e:
        return e.code
    except ValueError as e:
        return "unrepresentable" if "numpy cannot represent" in str(e) else "python:ValueError:" + str(e)[:200]
    except Exception as e:
        return "python:" + type(e).__name__ + ":" + str(e)[:200]
while pos < len(data):
    (n,) = struct.unpack_from("<I", data, pos); pos += 4
    options = json.loads(data[pos:pos + n]); pos += n
    (n,) = struct.unpack_from("<I", data, pos); pos += 4
    buf = data[pos:pos + n]; pos += n
    box = {}
    load = code_of(lambda: box.setdefault("f", ndpack.loads(buf, raw_bits=True, **options)))
    arrays = []
    if load is None:
        f = box["f"]
        verified = {a["name"]: (a["error"] or {}).get("code") for a in f.verify()}
        for name in f.names:
            arrays.append({"name": name, "read": code_of(lambda: f.read(name)), "verify": verified.get(name)})
    out.append(json.dumps({"load": load, "arrays": arrays}))
sys.stdout.write("\n".join(out) + ("\n" if out else ""))
`;

/** An option's name in ndpack.py's spelling: `maxHeaderBytes` is `max_header_bytes`. */
export const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The limits of `options` in ndpack.py's spelling (`copy` and `verify` are not limits). */
export function pythonLimits(options: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(options)) if (key.startsWith("max") && typeof value === "number") out[snakeCase(key)] = value;
  return out;
}

type PythonCase = { input: Uint8Array; options: DecodeOptions };

/** One case as the driver reads it: u32 LE options length, options JSON, u32 LE input length, input. */
function frameOf({ input, options }: PythonCase): Buffer[] {
  const json = Buffer.from(JSON.stringify(pythonLimits(options)));
  const header = Buffer.alloc(4);
  header.writeUInt32LE(json.length);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(input.length);
  return [header, json, length, Buffer.from(input.buffer, input.byteOffset, input.byteLength)];
}

/** The driver's output: one JSON outcome a line. */
function outcomesOf(stdout: string): Outcome[] {
  return stdout.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Outcome);
}

function checkCount(outcomes: readonly Outcome[], cases: readonly PythonCase[]): void {
  if (outcomes.length !== cases.length) throw new Error(`ndpack.py gave ${outcomes.length} outcomes for ${cases.length} cases`);
}

/** Runs every input through ndpack.py in one process (inputs are batched to bound the pipe's size). */
export function pythonOutcomes(cases: readonly PythonCase[], python = process.env.PYTHON ?? "python3"): Outcome[] {
  const outcomes: Outcome[] = [];
  const BATCH_BYTES = 64 * 1024 * 1024;
  for (let i = 0; i < cases.length; ) {
    const frames: Buffer[] = [];
    let bytes = 0;
    for (; i < cases.length && (bytes < BATCH_BYTES || frames.length === 0); i++) {
      const frame = frameOf(cases[i]!);
      frames.push(...frame);
      bytes += frame.reduce((sum, part) => sum + part.length, 0);
    }
    const run = spawnSync(python, ["-c", DRIVER, PYTHON_DIR], { input: Buffer.concat(frames), maxBuffer: 1024 * 1024 * 1024 });
    if (run.error || run.status !== 0) throw new Error(`${python} failed: ${run.error?.message ?? run.stderr.toString()}`);
    outcomes.push(...outcomesOf(run.stdout.toString()));
  }
  checkCount(outcomes, cases);
  return outcomes;
}

/**
 * {@link pythonOutcomes} in a process that reads its cases from a file and writes its outcomes to
 * another, so that it runs to the end while this thread is busy (the fuzz campaign never yields
 * to the event loop that would feed a pipe).
 */
export function pythonOutcomesInBackground(cases: readonly PythonCase[], python = process.env.PYTHON ?? "python3"): Promise<Outcome[]> {
  const dir = mkdtempSync(join(tmpdir(), "ndpack-fuzz-python-"));
  const [input, output] = [join(dir, "cases"), join(dir, "outcomes")];
  writeFileSync(input, Buffer.concat(cases.flatMap(frameOf)));
  const [stdin, stdout] = [openSync(input, "r"), openSync(output, "w")];
  const child = spawn(python, ["-c", DRIVER, PYTHON_DIR], { stdio: [stdin, stdout, "pipe"] });
  closeSync(stdin);
  closeSync(stdout);
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (text: string) => (stderr += text)); // stdio[2] is a pipe
  return new Promise<Outcome[]>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (status) => {
      try {
        if (status !== 0) throw new Error(`${python} failed with ${status}: ${stderr}`);
        const outcomes = outcomesOf(readFileSync(output, "utf8"));
        checkCount(outcomes, cases);
        resolve(outcomes);
      } catch (error) {
        reject(error);
      }
    });
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    if (error instanceof NdpackError) return error.code;
    throw error;
  }
}

/** The TypeScript reader's {@link Outcome} (with `copy: "auto"`, ndpack.py's default). */
export function typescriptOutcome(input: Uint8Array, options: DecodeOptions): Outcome {
  const { copy: _copy, verify: _verify, ...limits } = options;
  let file;
  try {
    file = decode(input, limits);
  } catch (error) {
    if (error instanceof NdpackError) return { load: error.code, arrays: [] };
    throw error;
  }
  const report = verify(input, limits);
  return {
    load: null,
    arrays: file.names.map((name, i) => ({ name, read: codeOf(() => file.get(name)), verify: report.arrays[i]?.error?.code ?? null })),
  };
}

/** How two outcomes differ (empty when they agree); arrays numpy cannot represent are not compared on read. */
export function outcomeDifferences(ts: Outcome, py: Outcome): string[] {
  if (ts.load !== py.load) return [`load: TypeScript ${ts.load ?? "ok"}, Python ${py.load ?? "ok"}`];
  const out: string[] = [];
  if (ts.arrays.length !== py.arrays.length || ts.arrays.some((a, i) => a.name !== py.arrays[i]!.name)) return ["the two list different arrays"];
  ts.arrays.forEach((a, i) => {
    const p = py.arrays[i]!;
    if (p.read !== "unrepresentable" && a.read !== p.read) out.push(`read "${a.name}": TypeScript ${a.read ?? "ok"}, Python ${p.read ?? "ok"}`);
    if (a.verify !== p.verify) out.push(`verify "${a.name}": TypeScript ${a.verify ?? "ok"}, Python ${p.verify ?? "ok"}`);
  });
  return out;
}

/** A case on which the two readers disagree. */
export interface Disagreement {
  readonly fuzzCase: FuzzCase;
  readonly differences: readonly string[];
}

/** Compares `cases` (a batch, read by one Python process) and returns those the readers disagree on. */
export function compareWithPython(cases: readonly FuzzCase[]): Disagreement[] {
  return cases.length === 0 ? [] : disagreements(cases, pythonOutcomes(cases));
}

/** The cases whose TypeScript outcome differs from Python's (`python`, in the order of `cases`). */
export function disagreements(cases: readonly FuzzCase[], python: readonly Outcome[]): Disagreement[] {
  return cases
    .map((fuzzCase, i) => ({ fuzzCase, differences: outcomeDifferences(typescriptOutcome(fuzzCase.input, fuzzCase.options), python[i]!) }))
    .filter((d) => d.differences.length > 0);
}
