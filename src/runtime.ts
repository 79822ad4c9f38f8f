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
  return requireBeside<{ crc32?: (data: Uint8Array, value: number) => number }>("@node-rs/crc32")?.crc32;
}

/** Node's `require` of `id` from this module's place (a package, or a file beside it); undefined where it fails or there is no Node. */
function requireBeside<T>(id: string): T | undefined {
  try {
    const node = builtinModule<{ createRequire(from: string): (id: string) => unknown }>("module")!;
    // tsup's CommonJS build gives import.meta.url from __filename.
    return node.createRequire(import.meta.url)(id) as T;
  } catch {
    // Not installed, no build for this platform, not shipped beside this module, or no Node.
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

/** The page toucher (src/page-toucher.cjs), Node only. */
interface PageToucher {
  /**
   * Asks a helper thread for `byteLength` bytes of fresh, zeroed memory whose pages it has already
   * touched, so that the caller can do other work (checksums) while the operating system maps them.
   * Returns a function that waits for the memory (undefined if it did not come), or undefined when
   * there is no helper thread ready (a single core, or the first call, which starts it).
   */
  requestTouchedMemory(byteLength: number): (() => ArrayBuffer | undefined) | undefined;
}

/** The page toucher: undefined before the first use, null where there is none (browsers, a bundle without the file). */
let pageToucher: PageToucher | null | undefined;

/**
 * {@link PageToucher.requestTouchedMemory}, from the file beside this module, loaded on first use:
 * browser bundles carry its name, not its code; undefined where it cannot be loaded.
 */
export function requestTouchedMemory(byteLength: number): (() => ArrayBuffer | undefined) | undefined {
  if (pageToucher === undefined) pageToucher = requireBeside<PageToucher>("./page-toucher.cjs") ?? null;
  return pageToucher?.requestTouchedMemory(byteLength);
}
