// The worker of worker-shared.mjs: decodes the shared memory it was given, and writes into it.
import { workerData } from "node:worker_threads";
import { decode } from "ndpack";

const file = decode(workerData, { copy: "never" });      // the same memory, in the worker
const pixels = file.get("pixels").data;
for (let i = 0; i < pixels.length; i++) pixels[i] += 1;
Atomics.store(file.get("done").data, 0, 1);
