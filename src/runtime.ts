/**
 * What the host runtime offers beyond ECMAScript, found without importing `node:` modules so that
 * the core stays browser-safe: Node (20.16 and later) exposes its built-ins through
 * `process.getBuiltinModule`, which bundlers do not follow and browsers do not have.
 *
 * @module
 */
import { freshBytes } from "./bytes.js";
import type { ByteOrder } from "./format.js";

/** A Node zlib stream: the part of `stream.Duplex` that codecs.ts drives; `bytesWritten` counts the compressed bytes used up to the stream's end. */
export interface NativeZlibStream {
  readonly bytesWritten: number;
  write(chunk: Uint8Array, callback: (error?: Error | null) => void): boolean;
  end(): void;
  destroy(): void;
  on(event: "data", listener: (chunk: Uint8Array) => void): this;
  on(event: "end", listener: () => void): this;
  on(event: "error", listener: (error: Error) => void): this;
}

/** The part of Node's zlib the core uses when it is there (faster than the pure-JS fallbacks). */
export interface NativeZlib {
  crc32(data: Uint8Array, value?: number): number;
  inflateRawSync(data: Uint8Array, options: { maxOutputLength: number; chunkSize: number; info: true }): { buffer: Uint8Array; engine: { bytesWritten: number } };
  deflateRawSync(data: Uint8Array, options: { level: number }): Uint8Array;
  createInflateRaw(): NativeZlibStream;
}

/** Node's built-in module `id`: undefined in browsers, before Node 20.16, and in sandboxes that refuse it. */
function builtinModule<T>(id: string): T | undefined {
  try {
    return (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.(id) as T | undefined;
  } catch {
    return undefined;
  }
}

function loadNativeZlib(): Partial<NativeZlib> {
  const zlib = builtinModule<Partial<NativeZlib>>("zlib");
  if (zlib === undefined) return {};
  // Older runtimes lack crc32 (Node < 20.15), which has a pure-JS fallback of its own.
  const { crc32, inflateRawSync, deflateRawSync, createInflateRaw } = zlib;
  return {
    ...(typeof crc32 === "function" ? { crc32 } : {}),
    ...(typeof inflateRawSync === "function" ? { inflateRawSync, deflateRawSync, createInflateRaw } : {}),
  };
}

/** The functions of Node's zlib that this runtime has; empty in browsers and older runtimes. Looked up once. */
export const nativeZlib: Partial<NativeZlib> = loadNativeZlib();

/**
 * The CRC-32 of the optional dependency `@node-rs/crc32` (Rust's crc32fast, folding with carry-less
 * multiplication: 17.9 GB/s on the bench machine against 7.7 for Node's zlib.crc32, the fastest
 * CRC-32 Node itself offers), or undefined where it is not installed or has no build for this
 * platform. Loading it costs 1-2 ms (module resolution, telling glibc from musl, dlopen), so
 * crc32.ts does it once, and only after zlib has checksummed 32 MiB.
 */
export function loadFastCrc32(): ((data: Uint8Array, value: number) => number) | undefined {
  try {
    const node = builtinModule<{ createRequire(from: string): (id: string) => { crc32?: (data: Uint8Array, value: number) => number } }>("module")!;
    // tsup's CommonJS build gives import.meta.url from __filename.
    return node.createRequire(import.meta.url)("@node-rs/crc32").crc32;
  } catch {
    // Not installed, no build for this platform, or no Node.
    return undefined;
  }
}

/** The part of Node's `buffer` module that {@link unzeroedBytes} uses. */
interface NodeBuffer {
  Buffer: { allocUnsafeSlow(size: number): Uint8Array };
  constants: { MAX_LENGTH: number };
}

/** Node's `buffer` module, looked up on first use (`null`: not there). */
let nodeBuffer: NodeBuffer | null | undefined;

/**
 * `byteLength` bytes of memory of their own (a plain Uint8Array over a whole ArrayBuffer) that are
 * NOT zeroed where the runtime allows it (Node's `Buffer.allocUnsafeSlow`, as `fs.readFile` and
 * `fetch`'s `arrayBuffer()` allocate; zeroed elsewhere): for a read that overwrites every byte
 * before anyone sees them. Zeroed memory of a few MiB often comes fresh from the OS, and the read
 * then pays a page fault per 4 KiB page: a 4 MiB read from the page cache took up to 1.8 ms into
 * zeroed memory against 0.6 ms into this (medians, a full GC before each). Callers must never hand
 * out such memory unless the read filled all of it. Above Buffer's limit (4 GiB on Node 20, below
 * ArrayBuffer's) the memory is zeroed.
 */
export function unzeroedBytes(byteLength: number): Uint8Array {
  if (nodeBuffer === undefined) {
    nodeBuffer = builtinModule<NodeBuffer>("buffer") ?? null;
  }
  if (nodeBuffer === null || byteLength > nodeBuffer.constants.MAX_LENGTH) return freshBytes(byteLength);
  const bytes = nodeBuffer.Buffer.allocUnsafeSlow(byteLength);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, byteLength);
}

/** The byte order of this machine's typed arrays. */
export const HOST_BYTE_ORDER: ByteOrder = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? "little" : "big";

/** The part of Node's worker_threads the page toucher uses. */
interface WorkerThreads {
  Worker: new (source: string, options: { eval: true; workerData: unknown; transferList: unknown[] }) => {
    unref(): void;
    terminate(): unknown;
    on(event: "error" | "exit", listener: () => void): unknown;
  };
  MessageChannel: new () => { port1: WorkerPort; port2: WorkerPort };
  receiveMessageOnPort(port: WorkerPort): { message: unknown } | undefined;
}

interface WorkerPort {
  postMessage(value: unknown): void;
  unref?(): void;
  close(): void;
}

/**
 * The page toucher's code: it allocates the memory asked for, writes a zero into each page so that
 * the operating system maps it (a page fault per 4 KiB, most of the cost of new memory), and hands
 * the buffer over (transferred, not copied). `flag[0]` says an answer is waiting; `flag[1]` that
 * the thread is up.
 */
// Kept compact: this text is shipped as it is, with every browser bundle of the core.
const TOUCHER_SOURCE = `const{port,flag}=require("node:worker_threads").workerData;
port.on("message",size=>{try{const b=new ArrayBuffer(size),v=new Uint8Array(b);for(let i=0;i<size;i+=4096)v[i]=0;port.postMessage(b,[b])}catch{port.postMessage(null)}Atomics.store(flag,0,1);Atomics.notify(flag,0)});
Atomics.store(flag,1,1);`;

/** How long a caller waits for touched memory before it gives up on the helper thread for good. */
const TOUCH_TIMEOUT_MS = 10_000;

interface Toucher {
  readonly threads: WorkerThreads;
  readonly worker: InstanceType<WorkerThreads["Worker"]>;
  readonly port: WorkerPort;
  readonly flag: Int32Array;
}

/** The helper thread: undefined before the first use, null where there is none (browsers, one core, failure). */
let toucher: Toucher | null | undefined;

function startToucher(): void {
  toucher = null;
  try {
    const threads = builtinModule<WorkerThreads>("worker_threads");
    const os = builtinModule<{ availableParallelism?: () => number }>("os");
    // On one core the helper would only take turns with the caller.
    if (threads === undefined || typeof SharedArrayBuffer !== "function" || (os?.availableParallelism?.() ?? 1) < 2) return;
    const { port1, port2 } = new threads.MessageChannel();
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const worker = new threads.Worker(TOUCHER_SOURCE, { eval: true, workerData: { port: port2, flag }, transferList: [port2] });
    // Neither the thread nor its port keeps the process alive.
    worker.unref();
    port1.unref?.();
    const stop = () => {
      if (toucher?.worker === worker) toucher = null;
    };
    worker.on("error", stop);
    worker.on("exit", stop);
    toucher = { threads, worker, port: port1, flag };
  } catch {
    toucher = null;
  }
}

/**
 * Asks a helper thread for `byteLength` bytes of fresh, zeroed memory whose pages it has already
 * touched, so that the caller can do other work (checksums) while the operating system maps them.
 * Returns a function that waits for the memory (undefined if it did not come), or undefined when
 * there is no helper thread ready (browsers, a single core, or the first call, which starts it).
 */
export function requestTouchedMemory(byteLength: number): (() => ArrayBuffer | undefined) | undefined {
  if (toucher === undefined) startToucher();
  const helper = toucher;
  if (helper == null || Atomics.load(helper.flag, 1) !== 1) return undefined;
  Atomics.store(helper.flag, 0, 0);
  helper.port.postMessage(byteLength);
  return () => {
    const answered = Atomics.wait(helper.flag, 0, 0, TOUCH_TIMEOUT_MS) !== "timed-out";
    const reply = answered ? helper.threads.receiveMessageOnPort(helper.port) : undefined;
    if (reply === undefined) {
      // A late answer would be read as the next one's: never use this thread again.
      toucher = null;
      void helper.worker.terminate();
      return undefined;
    }
    return reply.message instanceof ArrayBuffer ? reply.message : undefined;
  };
}
