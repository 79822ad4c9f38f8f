// Recipe: share arrays with a Worker through a SharedArrayBuffer: encoded once into shared memory,
// decoded on both sides as views of it; what one side writes, the other sees, without a copy.
// The worker's side is worker-shared-worker.mjs.
import assert from "node:assert/strict";

import { Worker } from "node:worker_threads";
import { decode, encodedSize, encodeInto } from "ndpack";

const arrays = { pixels: { data: new Uint8Array(64 * 64).fill(7), shape: [64, 64] }, done: new Int32Array(1) };
const shared = new SharedArrayBuffer(encodedSize(arrays));
encodeInto(new Uint8Array(shared), arrays);              // the one copy
const worker = new Worker(new URL("./worker-shared-worker.mjs", import.meta.url), { workerData: shared });
await new Promise((resolve) => worker.once("exit", resolve));
const file = decode(shared, { copy: "never" });          // views of the shared memory
console.log(file.get("pixels").data[0], Atomics.load(file.get("done").data, 0)); // 8 1: the worker's writes

// Checks (not in the README).
assert.ok(file.get("pixels").data.every((v) => v === 8));
assert.equal(file.get("pixels").data.buffer, shared);
assert.equal(Atomics.load(file.get("done").data, 0), 1);
console.log("worker-shared: ok");
