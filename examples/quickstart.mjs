// The README's quickstart: save arrays to a file, open it lazily, read one array.
import assert from "node:assert/strict";
import { mkdtempSync as makeTemporaryDirectory } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";

// The files this writes go to a new temporary directory, not the one it is run from.
process.chdir(makeTemporaryDirectory(joinPath(tmpdir(), "ndpack-example-")));

import { save, open } from "ndpack/node";
await save("example.ndp", { weights: { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] } });
const file = await open("example.ndp");                // reads the header only
const { data, shape } = await file.read("weights");    // Float32Array [1, 2, 3, 4, 5, 6], [2, 3]
console.log(shape, data);                              // [ 2, 3 ] Float32Array(6) [ 1, 2, 3, 4, 5, 6 ]

// Checks (not in the README).
assert.deepEqual([...data], [1, 2, 3, 4, 5, 6]);
assert.deepEqual(shape, [2, 3]);
await file.close();
console.log("quickstart: ok");
