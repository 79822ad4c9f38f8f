/**
 * Big files in the four formats for the remote-reading tests and benchmark, cheap to make: one
 * big array of zeros (its pages are never touched, so writing it costs little beyond the disk)
 * with noise in its first and last rows, between small noisy arrays. The .ndp file is written by
 * ndpack's own streaming writer; .npy, .npz and .safetensors by numpy and safetensors (the
 * reference implementations), so that what is read remotely is what those tools write.
 *
 * Every file has, in this order: `head` (1000 float32), `big` (`[rows, 1024]` float32), `x`, `y`,
 * `z` (three neighbours of 20 000 int32 each, for coalesced reads) and `tail` (`[1024, 1024]`
 * float32: 4 MiB). The .npy file holds `big` alone.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createWriter } from "../../src/node/index.js";
import { noise } from "./common.js";
import { PYTHON } from "./python-env.js";

/** Names of the arrays, in file order. */
export const NAMES = ["head", "big", "x", "y", "z", "tail"] as const;

/** Columns of `big` and rows of `tail`. */
const COLUMNS = 1024;

/** The four formats. */
export type Format = "ndpack" | "npy" | "npz" | "safetensors";

/** File names of the four formats. */
export const BIG_FILES: Readonly<Record<Format, string>> = { ndpack: "big.ndp", npy: "big.npy", npz: "big.npz", safetensors: "big.safetensors" };

function floats(count: number, seed: number): Float32Array {
  const bytes = noise(count * 4, seed);
  const values = new Float32Array(bytes.buffer);
  // Noise bytes make NaNs too; keep them finite so that values compare with ===.
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) values[i] = i;
  return values;
}

async function writeNdpack(path: string, rows: number): Promise<void> {
  const rowBytes = COLUMNS * 4;
  const writer = await createWriter(path, [
    { name: "head", dtype: "float32", shape: [1000] },
    { name: "big", dtype: "float32", shape: [rows, COLUMNS] },
    { name: "x", dtype: "int32", shape: [20_000] },
    { name: "y", dtype: "int32", shape: [20_000] },
    { name: "z", dtype: "int32", shape: [20_000] },
    { name: "tail", dtype: "float32", shape: [COLUMNS, COLUMNS] },
  ], { fsync: false });
  await writer.write("head", floats(1000, 1));
  const zeros = new Uint8Array(16 * 1024 * 1024);
  const zeroRows = zeros.length / rowBytes;
  await writer.write("big", floats(8 * COLUMNS, 2));
  let written = 8;
  while (written < rows - 8) {
    const count = Math.min(zeroRows, rows - 8 - written);
    await writer.write("big", zeros.subarray(0, count * rowBytes));
    written += count;
  }
  await writer.write("big", floats(8 * COLUMNS, 3));
  for (const [name, seed] of [["x", 4], ["y", 5], ["z", 6]] as const) await writer.write(name, noise(80_000, seed));
  await writer.write("tail", floats(COLUMNS * COLUMNS, 7));
  await writer.close();
}

const PYTHON_WRITER = `
import sys, numpy as np
from safetensors.numpy import save_file
out, rows = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(10)
big = np.zeros((rows, ${COLUMNS}), np.float32)
big[:8] = rng.standard_normal((8, ${COLUMNS}), np.float32)
big[-8:] = rng.standard_normal((8, ${COLUMNS}), np.float32)
arrays = {
  "head": rng.standard_normal(1000, np.float32),
  "big": big,
  "x": rng.integers(-2**31, 2**31, 20000, np.int32),
  "y": rng.integers(-2**31, 2**31, 20000, np.int32),
  "z": rng.integers(-2**31, 2**31, 20000, np.int32),
  "tail": rng.standard_normal((${COLUMNS}, ${COLUMNS}), np.float32),
}
np.save(out + "/big.npy", big)
np.savez(out + "/big.npz", **arrays)
save_file(arrays, out + "/big.safetensors")
`;

/**
 * Writes the four files into `dir`, each about `rows` × 4 KiB (256 MiB for 65 536 rows).
 * Needs python3 with numpy and safetensors (the tests fail, never skip, without them).
 */
export async function writeBigFiles(dir: string, rows: number): Promise<void> {
  const python = new Promise<void>((resolve, reject) => {
    const run = spawn(PYTHON, ["-c", PYTHON_WRITER, dir, String(rows)], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    run.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
    const fail = (why: string) => reject(new Error(`writing the .npy, .npz and .safetensors test files needs ${PYTHON} with numpy and safetensors (python3 -m pip install numpy safetensors):\n${why}`));
    run.on("error", (error) => fail(error.message));
    run.on("close", (code) => (code === 0 ? resolve() : fail(stderr)));
  });
  await Promise.all([writeNdpack(join(dir, BIG_FILES.ndpack), rows), python]);
}
