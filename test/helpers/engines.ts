/** The library's DEFLATE engines in tests: Node's zlib by default, pako when a test takes zlib away. */
import { nativeZlib } from "../../src/runtime.js";

/**
 * Runs `fn` (sync or async) as a browser would: without Node's zlib, so src/codecs.ts takes pako.
 */
export function withoutNativeZlib<T>(fn: () => T): T {
  const native = nativeZlib.inflateRawSync;
  delete nativeZlib.inflateRawSync;
  const restore = () => {
    nativeZlib.inflateRawSync = native;
  };
  let result: T;
  try {
    result = fn();
  } catch (error) {
    restore();
    throw error;
  }
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
}
