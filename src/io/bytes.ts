/**
 * The in-memory {@link ByteSource}: bytes already in memory, read as views (no copies).
 *
 * @module
 */
import { inputBytes, type DecodeInput } from "../decode.js";
import type { ByteSource } from "./source.js";

/** Sources made by {@link bytesSource}: their reads are views of the caller's memory. */
const memorySources = new WeakSet<ByteSource>();

/**
 * A {@link ByteSource} over bytes in memory: every read is a view of `input` (honouring a view's
 * offset and length), so arrays read through it are zero-copy views where alignment and byte
 * order allow, as with `decode`.
 *
 * @example
 * ```ts
 * const reader = await openSource(bytesSource(await blob.bytes()));
 * ```
 */
export function bytesSource(input: DecodeInput): ByteSource {
  const bytes = inputBytes(input);
  const source: ByteSource = {
    size: bytes.length,
    read: (offset, length) => Promise.resolve(bytes.subarray(offset, offset + length)),
  };
  memorySources.add(source);
  return source;
}

/** True for sources made by {@link bytesSource}, whose bytes belong to the caller. */
export function isMemorySource(source: ByteSource): boolean {
  return memorySources.has(source);
}
