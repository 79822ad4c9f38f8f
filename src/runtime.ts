/**
 * What the host runtime offers beyond ECMAScript, found without importing `node:` modules so that
 * the core stays browser-safe: Node (20.16 and later) exposes its built-ins through
 * `process.getBuiltinModule`, which bundlers do not follow and browsers do not have.
 *
 * @module
 */
import type { ByteOrder } from "./format.js";

/** The part of a Node zlib stream the core uses: a Duplex whose `bytesWritten` counts the compressed bytes used up to the stream's end. */
export interface NodeInflater extends AsyncIterable<Uint8Array> {
  readonly bytesWritten: number;
  readonly destroyed: boolean;
  write(chunk: Uint8Array): boolean;
  end(): void;
  destroy(): void;
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/** The part of Node's zlib the core uses when it is there (faster than the pure-JS fallbacks). */
export interface NativeZlib {
  crc32(data: Uint8Array, value?: number): number;
  inflateRawSync(data: Uint8Array, options: { maxOutputLength: number; info: true }): { buffer: Uint8Array; engine: { bytesWritten: number } };
  createInflateRaw(): NodeInflater;
}

function loadNativeZlib(): Partial<NativeZlib> {
  try {
    const getBuiltinModule = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
    const zlib = getBuiltinModule?.("zlib") as Partial<NativeZlib> | undefined;
    return {
      ...(typeof zlib?.crc32 === "function" ? { crc32: zlib.crc32 } : {}),
      ...(typeof zlib?.inflateRawSync === "function" ? { inflateRawSync: zlib.inflateRawSync } : {}),
      ...(typeof zlib?.createInflateRaw === "function" ? { createInflateRaw: zlib.createInflateRaw } : {}),
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
