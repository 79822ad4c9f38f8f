/**
 * Shared memory: a file encoded into a SharedArrayBuffer decodes to views of that memory, and a
 * real worker thread decoding the same SharedArrayBuffer with the built package sees and changes
 * the very same bytes: no copy on either side.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { beforeAll, describe, expect, test } from "vitest";
import { decode, encodedSize, encodeInto, type ArrayInput } from "../src/index.js";
import { bytesOfView } from "./helpers/core-spec.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const distEntry = fileURLToPath(new URL("../dist/index.cjs", import.meta.url));

/** What the worker reports about each array it decoded. */
interface WorkerArray {
  name: string;
  dtype: string;
  shape: number[];
  copied: boolean;
  sameBuffer: boolean;
  shared: boolean;
  byteOffset: number;
  bytes: number[];
}

/**
 * Runs in the worker (plain CommonJS, eval'd): decodes the SharedArrayBuffer with the built
 * package, reports every array, then stores 42 into `counter[0]` through its own view and wakes
 * anyone waiting on it.
 */
const WORKER_CODE = `
const { parentPort, workerData } = require("node:worker_threads");
const ndpack = require(workerData.distEntry);
const { sab } = workerData;
try {
  const file = ndpack.decode(sab, { copy: "never" });
  const arrays = [];
  for (const array of file) {
    arrays.push({
      name: array.name,
      dtype: array.dtype,
      shape: [...array.shape],
      copied: array.copied,
      sameBuffer: array.data.buffer === sab,
      shared: array.data.buffer instanceof SharedArrayBuffer,
      byteOffset: array.data.byteOffset,
      bytes: Array.from(new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength)),
    });
  }
  const counter = file.get("counter").data;
  Atomics.store(counter, 0, 42);
  Atomics.notify(counter, 0);
  parentPort.postMessage({ arrays });
} catch (error) {
  parentPort.postMessage({ error: String(error && error.stack || error) });
}
`;

function runWorker(sab: SharedArrayBuffer): Promise<{ arrays?: WorkerArray[]; error?: string }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_CODE, { eval: true, workerData: { sab, distEntry } });
    worker.once("message", (message: { arrays?: WorkerArray[]; error?: string }) => {
      void worker.terminate().then(() => resolve(message));
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (code !== 0 && code !== 1) reject(new Error(`worker exited with code ${code}`));
    });
  });
}

function arraysToEncode(): [string, ArrayInput][] {
  return [
    ["counter", Int32Array.of(0, 7, -9)],
    ["weights", { data: Float64Array.of(1.5, -0, 1e-310, Number.NaN), shape: [2, 2] }],
    ["ids", BigInt64Array.of(-1n, 2n ** 62n)],
    ["pixels", { data: Uint8Array.of(0, 128, 255), shape: [1, 3] }],
    ["z", { data: Float32Array.of(1, -1, 0.5, 2), dtype: "complex64" }],
  ];
}

describe("SharedArrayBuffer and worker threads", () => {
  beforeAll(() => {
    if (!existsSync(distEntry)) execFileSync("npx", ["tsup"], { cwd: root, stdio: "ignore" });
    expect(existsSync(distEntry), `${distEntry} is missing: build the package with npx tsup`).toBe(true);
  }, 120_000);

  test("encodeInto a SharedArrayBuffer gives a file whose decoded arrays are views of that SharedArrayBuffer", () => {
    const arrays = arraysToEncode();
    const sab = new SharedArrayBuffer(encodedSize(arrays));
    expect(encodeInto(new Uint8Array(sab), arrays)).toBe(sab.byteLength);
    const file = decode(sab, { copy: "never" });
    arrays.forEach(([name, input]) => {
      const array = file.get(name);
      expect(array.copied).toBe(false);
      expect(array.data.buffer).toBe(sab);
      const source = ArrayBuffer.isView(input) ? input : input.data;
      expect(Buffer.compare(bytesOfView(array.data), bytesOfView(source))).toBe(0);
    });
  });

  test("a worker decoding the same SharedArrayBuffer reads the main thread's values and its write shows through the main thread's view", async () => {
    const arrays = arraysToEncode();
    const sab = new SharedArrayBuffer(encodedSize(arrays));
    encodeInto(new Uint8Array(sab), arrays);
    const file = decode(sab);
    const counter = file.get("counter").data as Int32Array;
    const weights = file.get("weights").data as Float64Array;
    expect(counter.buffer).toBe(sab);
    // A write by the main thread after encoding, which the worker must see.
    weights[0] = 3.25;

    const waited = Atomics.waitAsync(counter, 0, 0);
    const report = await runWorker(sab);
    expect(report.error).toBeUndefined();
    expect(await waited.value).toBe("ok");

    // The worker's store reached this thread's own, earlier view: the memory is shared, not copied.
    expect(Atomics.load(counter, 0)).toBe(42);
    expect(file.get("counter").data).toBe(counter);

    // Every array the worker decoded viewed the SharedArrayBuffer at the same place, with the
    // same bytes as here (taken before the worker's write for the counter).
    const workerArrays = report.arrays!;
    expect(workerArrays.map((a) => a.name)).toEqual(file.names);
    for (const seen of workerArrays) {
      const mine = file.get(seen.name);
      expect(seen).toMatchObject({ dtype: mine.dtype, shape: [...mine.shape], copied: false, sameBuffer: true, shared: true, byteOffset: mine.data.byteOffset });
      const expected = [...bytesOfView(mine.data)];
      if (seen.name === "counter") expected.splice(0, 4, 0, 0, 0, 0);
      expect(seen.bytes).toEqual(expected);
    }
    expect(new Float64Array(Uint8Array.from(workerArrays.find((a) => a.name === "weights")!.bytes).buffer)[0]).toBe(3.25);
  });
});
