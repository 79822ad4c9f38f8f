/**
 * What the host runtime offers beyond ECMAScript, found without importing `node:` modules so that
 * the core stays browser-safe: Node (20.16 and later) exposes its built-ins through
 * `process.getBuiltinModule`, which bundlers do not follow and browsers do not have.
 *
 * @module
 */
import type { ByteOrder } from "./format.js";

/** The part of Node's zlib the core uses when it is there (faster than the pure-JS fallbacks). */
export interface NativeZlib {
  crc32(data: Uint8Array, value?: number): number;
  inflateRawSync(data: Uint8Array, options: { maxOutputLength: number }): Uint8Array;
}

function loadNativeZlib(): NativeZlib | undefined {
  try {
    const getBuiltinModule = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
    const zlib = getBuiltinModule?.("zlib") as Partial<NativeZlib> | undefined;
    return typeof zlib?.crc32 === "function" && typeof zlib.inflateRawSync === "function" ? (zlib as NativeZlib) : undefined;
  } catch {
    return undefined;
  }
}

/** Node's zlib, or `undefined` in browsers and older runtimes. */
export const nativeZlib: NativeZlib | undefined = loadNativeZlib();

/** The byte order of this machine's typed arrays. */
export const HOST_BYTE_ORDER: ByteOrder = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? "little" : "big";
