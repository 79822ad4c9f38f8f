/**
 * The third-party side of the interop tests: one Python process per test file
 * (`interop-check.py`) that reads the files ndpack wrote with `numpy.load` and
 * `safetensors.safe_open`, compares them with what they should hold, and writes files with
 * `np.save`, `np.savez`, `np.savez_compressed` and `safetensors.numpy.save_file` for ndpack to
 * read. Python reports everything as JSON.
 *
 * These tests FAIL, never skip, when python3, numpy, safetensors or ml_dtypes is missing.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const PYTHON = process.env.PYTHON ?? "python3";
const SCRIPT = fileURLToPath(new URL("./interop-check.py", import.meta.url));

/** One array as both sides describe it: its bytes are hex, little-endian, in `order`. */
export interface WireArray {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly order: "C" | "F";
  /** Byte order Python writes the array in (its `hex` is always little-endian). */
  readonly byteOrder: "little" | "big";
  readonly hex: string;
}

/** A file for Python to check (written by ndpack) or to write (for ndpack to read). */
export interface WireFile {
  readonly file: string;
  readonly format: "npy" | "npz" | "npz_compressed" | "safetensors";
  readonly arrays: readonly WireArray[];
  /** npz: the ndpack metadata expected in `__ndpack__.json` (null: no such member); safetensors: `__metadata__`. */
  readonly metadata?: Readonly<Record<string, unknown>> | null;
  /** npy files Python writes: the format version to write (np.lib.format.write_array). */
  readonly version?: readonly [number, number];
  /** For files with very many arrays: check only every n-th array's values (all names are still checked). */
  readonly sampleEvery?: number;
  /** npz: numpy.load must list exactly the arrays (no `__ndpack__.json` member). */
  readonly onlyArrays?: boolean;
}

/** What Python reports. */
export interface PythonReport {
  readonly versions: { readonly python: string; readonly numpy: string; readonly safetensors: string; readonly mlDtypes: string };
  /** Arrays compared in files ndpack wrote. */
  readonly checked: number;
  readonly mismatches: readonly { readonly file: string; readonly name?: string; readonly problem: string }[];
  /** For each file Python wrote: every array's values as numpy (with ml_dtypes) sees them, as strings, flattened in the array's order (complex: re, im). */
  readonly written: readonly { readonly file: string; readonly arrays: readonly { readonly name: string; readonly values: readonly string[] }[] }[];
}

/** Checks that python3 runs and imports numpy, safetensors and ml_dtypes; throws a clear error otherwise. */
export function requireInteropPython(): void {
  const probe = "import numpy, safetensors, ml_dtypes";
  const r = spawnSync(PYTHON, ["-c", probe], { encoding: "utf8" });
  if (r.error) {
    throw new Error(
      `The interop tests need ${PYTHON} with numpy, safetensors and ml_dtypes, and "${PYTHON}" cannot be run (${r.error.message}). ` +
        `Install Python 3, then: ${PYTHON} -m pip install numpy safetensors ml_dtypes (or set PYTHON to an interpreter that has them).`,
    );
  }
  if (r.status !== 0) {
    throw new Error(
      `The interop tests need numpy, safetensors and ml_dtypes, and "${PYTHON} -c '${probe}'" fails:\n${r.stderr.trim()}\n` +
        `Install them with: ${PYTHON} -m pip install numpy safetensors ml_dtypes`,
    );
  }
}

/** Runs interop-check.py once: it checks the `read` files, writes the `write` files, and reports. */
export function runInteropPython(dir: string, read: readonly WireFile[], write: readonly WireFile[]): PythonReport {
  requireInteropPython();
  const r = spawnSync(PYTHON, [SCRIPT], { input: JSON.stringify({ dir, read, write }), encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${PYTHON} interop-check.py exited with ${r.status}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as PythonReport;
}

/** A fresh directory under the OS temp directory, and a function that removes it. */
export function tempDir(prefix: string): { dir: string; path: (file: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `ndpack-${prefix}-`));
  return { dir, path: (file) => join(dir, file), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
