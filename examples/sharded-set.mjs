// Recipe: a checkpoint too big for one file, as a sharded set: many shard files, one index.
// The same code reads a Hugging Face checkpoint (model.safetensors.index.json) as it is.
import assert from "node:assert/strict";
import { mkdtempSync as makeTemporaryDirectory, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";

// The files this writes go to a new temporary directory, not the one it is run from.
process.chdir(makeTemporaryDirectory(joinPath(tmpdir(), "ndpack-example-")));

import { createSetWriter, open, saveSet } from "ndpack/node";

const layers = {};
for (let i = 0; i < 8; i++) layers[`layers.${i}.weight`] = { data: new Float32Array(256 * 256).fill(i), shape: [256, 256] };

// 8 arrays of 256 KiB, at most 512 KiB of arrays per shard: 4 shards, then the index, written last.
const { indexPath, shards } = await saveSet("checkpoint", layers, { maxShardBytes: 512 * 1024, metadata: { step: 1200 } });

const set = await open(indexPath);                        // reads the index only
const w5 = await set.read("layers.5.weight");             // opens one shard: its header, then this array
const cost = set.bytesRead;                               // the index, the shard's first page, the array
console.log(`${shards.length} shards; read ${cost} of ${set.byteLength} bytes`);
const report = await set.verify();                        // every shard against the index, every CRC
await set.close();

// Larger than memory: declare the arrays, then write them chunk by chunk, shard after shard.
const writer = await createSetWriter("frames", [{ name: "video", dtype: "uint8", shape: [64, 480, 640] }, { name: "audio", dtype: "int16", shape: [48000] }], { maxShardBytes: 16 << 20 });
for (let frame = 0; frame < 64; frame++) await writer.write("video", new Uint8Array(480 * 640).fill(frame));
await writer.write("audio", new Int16Array(48000));
await writer.close();

// Checks (not in the README).
assert.equal(shards.length, 4);
assert.equal(w5.data[0], 5);
assert.deepEqual(set.metadata, { step: 1200 });
assert.ok(cost < 2048 + 4096 + 256 * 1024 + 64, `read ${cost}`);
assert.ok(report.ok && report.shards.length === 4);
assert.deepEqual(readdirSync("frames").filter((f) => f.endsWith(".ndp")).length, 2);
console.log("sharded-set: ok");
