/**
 * A random-access source over a `Blob` (a `File` the user dropped or picked): each read slices the
 * Blob, so the browser reads only those bytes from disk, whatever the file's size.
 *
 * @module
 */
import { NdpackError } from "../errors.js";
import { refuseIfAborted, type ByteSource } from "./source.js";

/**
 * A {@link ByteSource} over `blob`: `read(offset, length)` slices the Blob and reads only the
 * slice, so `openSource(blobSource(file))` reads a dropped file lazily.
 *
 * @example
 * ```ts
 * const reader = await openSource(blobSource(file), { name: file.name });
 * ```
 */
export function blobSource(blob: Blob): ByteSource {
  return {
    size: blob.size,
    async read(offset, length, options) {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
        throw new NdpackError("INVALID_ARGUMENT", `blob read: offset and length must be non-negative integers, got ${offset} and ${length}`);
      }
      refuseIfAborted(options?.signal);
      const end = Math.min(blob.size, offset + length);
      if (end <= offset) return new Uint8Array(0);
      try {
        return new Uint8Array(await blob.slice(offset, end).arrayBuffer());
      } catch (cause) {
        throw new NdpackError("IO_ERROR", `blob read of ${end - offset} bytes at ${offset} failed (the file may have changed or been removed)`, { offset, cause });
      }
    },
  };
}
