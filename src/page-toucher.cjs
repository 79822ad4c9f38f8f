/**
 * The page toucher, Node only: `src/runtime.ts` loads this file from beside itself on first use
 * (as it loads `@node-rs/crc32`), so that the code browser bundles of the core carry is a file
 * name, not this (about 0.5 KB gzipped). A helper thread allocates the memory asked for and writes
 * a zero into each of its pages, so that the operating system maps them (a page fault per 4 KiB,
 * most of the cost of new memory) while the caller computes checksums, then hands the buffer over
 * (transferred, not copied). Plain CommonJS so that Node loads it as it is, from src/ and dist/ alike.
 */
"use strict";

const { Worker, MessageChannel, receiveMessageOnPort } = require("node:worker_threads");
const { availableParallelism } = require("node:os");

/**
 * The thread's code. `flag[0]` says an answer is waiting; `flag[1]` that the thread is up. Not
 * `require`: a thread inherits the process's flags, and under `--input-type=module` its code is
 * an ES module, without `require` (the thread died at once and the caller went without it).
 */
const SOURCE = `const{port,flag}=process.getBuiltinModule("node:worker_threads").workerData;
port.on("message",size=>{try{const b=new ArrayBuffer(size),v=new Uint8Array(b);for(let i=0;i<size;i+=4096)v[i]=0;port.postMessage(b,[b])}catch{port.postMessage(null)}Atomics.store(flag,0,1);Atomics.notify(flag,0)});
Atomics.store(flag,1,1);`;

/** How long a caller waits for touched memory before it gives up on the helper thread for good. */
const TIMEOUT_MS = 10_000;

/** The helper thread: undefined before the first use, null where there is none (one core, failure). */
let toucher;

function start() {
  toucher = null;
  try {
    // On one core the helper would only take turns with the caller.
    if (typeof SharedArrayBuffer !== "function" || availableParallelism() < 2) return;
    const { port1, port2 } = new MessageChannel();
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(SOURCE, { eval: true, workerData: { port: port2, flag }, transferList: [port2] });
    // Neither the thread nor its port keeps the process alive.
    worker.unref();
    port1.unref();
    const stop = () => {
      if (toucher?.worker === worker) toucher = null;
    };
    worker.on("error", stop);
    worker.on("exit", stop);
    toucher = { worker, port: port1, flag };
  } catch {
    toucher = null;
  }
}

/**
 * Asks the helper thread for `byteLength` bytes of fresh, zeroed memory whose pages it has already
 * touched. Returns a function that waits for the memory (undefined if it did not come), or
 * undefined when there is no helper thread ready (a single core, or the first call, which starts it).
 */
exports.requestTouchedMemory = function requestTouchedMemory(byteLength) {
  if (toucher === undefined) start();
  const helper = toucher;
  if (helper == null || Atomics.load(helper.flag, 1) !== 1) return undefined;
  Atomics.store(helper.flag, 0, 0);
  helper.port.postMessage(byteLength);
  return () => {
    const answered = Atomics.wait(helper.flag, 0, 0, TIMEOUT_MS) !== "timed-out";
    const reply = answered ? receiveMessageOnPort(helper.port) : undefined;
    if (reply === undefined) {
      // A late answer would be read as the next one's: never use this thread again.
      toucher = null;
      void helper.worker.terminate();
      return undefined;
    }
    return reply.message instanceof ArrayBuffer ? reply.message : undefined;
  };
};
