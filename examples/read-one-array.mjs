// Recipe: read one array (or a few rows of one) from a file far larger than what you read.
// The file here is 64 MiB; the reads cost the same for 64 GiB.
import assert from "node:assert/strict";
import { mkdtempSync as makeTemporaryDirectory } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";

// The files this writes go to a new temporary directory, not the one it is run from.
process.chdir(makeTemporaryDirectory(joinPath(tmpdir(), "ndpack-example-")));

import { createWriter, open } from "ndpack/node";

// Written frame by frame: the frames are never all in memory.
const writer = await createWriter("frames.ndp", [
  { name: "frames", dtype: "float32", shape: [256, 256, 256] },
  { name: "timestamps", dtype: "float64", shape: [256] },
]);
for (let i = 0; i < 256; i++) await writer.write("frames", new Float32Array(256 * 256).fill(i));
await writer.write("timestamps", Float64Array.from({ length: 256 }, (_, i) => i / 30));
await writer.close();

const file = await open("frames.ndp");                   // reads the header only
const times = await file.read("timestamps");             // one positioned read of 2 KiB
const frame = await file.readRows("frames", 100, 101);   // frame 100 alone: one read of 256 KiB
console.log(`read ${file.bytesRead} of ${file.byteLength} bytes`);
await file.close();

// Checks (not in the README).
assert.equal(times.data[30], 1);
assert.deepEqual(frame.shape, [1, 256, 256]);
assert.equal(frame.data[0], 100);
assert.ok(file.bytesRead < 64 * 1024 + 260 * 1024); // the first read (64 KiB, the header), 2 KiB, 256 KiB
console.log("read-one-array: ok");
