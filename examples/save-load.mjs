// Recipe: save and load. `save` writes atomically; `load` reads the whole file into aligned
// memory and hands out zero-copy views.
import assert from "node:assert/strict";
import { mkdtempSync as makeTemporaryDirectory } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";

// The files this writes go to a new temporary directory, not the one it is run from.
process.chdir(makeTemporaryDirectory(joinPath(tmpdir(), "ndpack-example-")));

import { load, save } from "ndpack/node";

const image = new Uint8Array(480 * 640 * 3).fill(128);
await save("frame.ndp", {
  image: { data: image, shape: [480, 640, 3] },
  boxes: { data: new Float32Array([10, 20, 110, 220, 30, 40, 80, 90]), shape: [2, 4] },
  labels: new Int32Array([3, 7]),
}, { metadata: { camera: 2, taken: "2025-06-01T12:00:00Z" } });

const file = await load("frame.ndp", { verify: true });  // and check every CRC
const boxes = file.get("boxes");                          // a Float32Array view of the loaded file
console.log(boxes.dtype, boxes.shape, boxes.data, file.metadata.camera);

// Checks (not in the README).
assert.equal(boxes.copied, false);
assert.deepEqual([...boxes.data], [10, 20, 110, 220, 30, 40, 80, 90]);
assert.deepEqual(file.get("image").shape, [480, 640, 3]);
assert.equal(file.metadata.camera, 2);
console.log("save-load: ok");
