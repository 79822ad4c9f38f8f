// Recipe: exchange arrays with Python. The ndpack Python package (spec/python, shipped in the npm
// package; numpy only; `pip install ./spec/python` installs it) reads and writes ndpack files;
// numpy reads .npy and .npz files written by ndpack/interop.
import assert from "node:assert/strict";
import { mkdtempSync as makeTemporaryDirectory } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";

// The files this writes go to a new temporary directory, not the one it is run from.
process.chdir(makeTemporaryDirectory(joinPath(tmpdir(), "ndpack-example-")));

import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { load, save } from "ndpack/node";
import { toNpy } from "ndpack/interop";

await save("to-python.ndp", { embeddings: { data: Float32Array.from({ length: 8 }, (_, i) => i / 8), shape: [2, 4] } }, { metadata: { model: "demo" } });
writeFileSync("to-python.npy", toNpy({ data: new Int16Array([1, -2, 3]) }));

const spec = join(dirname(fileURLToPath(import.meta.resolve("ndpack/package.json"))), "spec", "python");
const printed = execFileSync("python3", ["-c", `
import sys; sys.path.insert(0, sys.argv[1])
import ndpack, numpy as np
f = ndpack.load("to-python.ndp")
print(f.metadata["model"], f["embeddings"].shape, f["embeddings"].sum(), np.load("to-python.npy"))
ndpack.save("from-python.ndp", {"doubled": f["embeddings"] * 2}, metadata={"by": "numpy"})
`, spec], { encoding: "utf8" });
const back = await load("from-python.ndp");               // what Python wrote
console.log(printed.trim(), back.get("doubled").data);

// Checks (not in the README).
assert.equal(printed.trim(), "demo (2, 4) 3.5 [ 1 -2  3]");
assert.deepEqual([...back.get("doubled").data], [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75]);
assert.deepEqual(back.metadata, { by: "numpy" });
console.log("python: ok");
