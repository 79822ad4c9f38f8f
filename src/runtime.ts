/**
 * What the host runtime offers beyond ECMAScript, found without importing `node:` modules so that
 * the core stays browser-safe: Node (20.16 and later) exposes its built-ins through
 * `process.getBuiltinModule`, which bundlers do not follow and browsers do not have.
 *
 * @module
 */
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
  inflateRawSync(data: Uint8Array, options: { finishFlush: number }): Uint8Array;
  deflateRawSync(data: Uint8Array, options: { level: number }): Uint8Array;
  createInflateRaw(): NativeZlibStream;
  constants: { Z_SYNC_FLUSH: number };
}

function loadNativeZlib(): Partial<NativeZlib> {
  try {
    const getBuiltinModule = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
    const zlib = getBuiltinModule?.("zlib") as Partial<NativeZlib> | undefined;
    if (zlib === undefined) return {};
    // Older runtimes lack crc32 (Node < 20.15), which has a pure-JS fallback of its own.
    const { crc32, inflateRawSync, deflateRawSync, createInflateRaw, constants } = zlib;
    return {
      ...(typeof crc32 === "function" ? { crc32 } : {}),
      ...(typeof inflateRawSync === "function" ? { inflateRawSync, deflateRawSync, createInflateRaw, constants } : {}),
    };
  } catch {
    // Some sandboxes expose `process` but refuse built-in access; every caller has a fallback.
    return {};
  }
}

/** The functions of Node's zlib that this runtime has; empty in browsers and older runtimes. Looked up once. */
export const nativeZlib: Partial<NativeZlib> = loadNativeZlib();

/** The byte order of this machine's typed arrays. */
export const HOST_BYTE_ORDER: ByteOrder = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? "little" : "big";
