/**
 * numpy's view of arrays (cli-numpy.py), in one Python process per call: how numpy prints them
 * and summarizes them, and their values. Fails (never skips) when python3 or numpy is missing.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { PYTHON, requirePython } from "./python-env.js";

const SCRIPT = fileURLToPath(new URL("./cli-numpy.py", import.meta.url));

/** Statistics of the finite values of a real array, or of one part of a complex one. */
export interface NumpyPart {
  readonly min: number | string | null;
  readonly max: number | string | null;
  readonly mean: number | null;
  readonly std: number | null;
}

/** What numpy says about one array. */
export interface NumpyArray extends NumpyPart {
  readonly str: string;
  readonly count: number;
  readonly dtype: string;
  readonly shape: number[];
  readonly nan?: number;
  readonly inf?: number;
  readonly trues?: number;
  readonly real?: NumpyPart;
  readonly imag?: NumpyPart;
  /** In C order: floats as Python reprs, integers as decimal strings, complex numbers as re, im. */
  readonly values: string[];
  /** The bytes in C order, little-endian, as hex. */
  readonly hex: string;
}

/** Loads each array with numpy (spec/python/ndpack/reference.py for .ndp) and describes it. */
export function describeWithNumpy(arrays: readonly { path: string; name: string }[]): NumpyArray[] {
  requirePython();
  const r = spawnSync(PYTHON, [SCRIPT], { input: JSON.stringify({ arrays }), encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${PYTHON} cli-numpy.py exited with ${r.status}:\n${r.stderr}`);
  return JSON.parse(r.stdout) as NumpyArray[];
}
